#!/usr/bin/python
# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pynet_sandbox
short_description: Manage sandboxes (network namespaces at a path) for containers
version_added: 0.1.0
description:
  - A sandbox is a network namespace bind-mounted at its key, a path, as C(ip netns add) makes them.
  - If the path is already a network namespace, pynet adopts it and never removes it.
    A path that exists and is not a network namespace is never overwritten.
  - pynet removes only the namespace it made, in this boot (it records the namespace's inode and the boot id);
    after a reboot, a namespace another tool mounted at the key is adopted.
  - The key is reached without following symbolic links, and pynet acts through what it checked, so a symlink
    put on the path by someone who can write a directory there never redirects it.
  - A sandbox pynet made has its loopback up.
  - The key V(host) is not a path but the host's own namespace (that of pynet's caller), the sandbox of the endpoints
    of a host network (O(pynet.libnetwork.pynet_network#module:driver=host)) and of no other. V(present) records it,
    V(absent) forgets it; pynet never makes, mounts, changes or removes anything in it.
author:
  - pynet developers (@pynet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pynet.libnetwork.common
  - pynet.libnetwork.common.attributes
options:
  key:
    description:
      - Absolute, normalised path of the namespace file, such as V(/run/pynet/netns/web1); or V(host), the host's own
        namespace, for host networks.
      - Refused with a symbolic link anywhere on the path (give the real path), under V(/proc), or when it
        holds the host's own network namespace (that of pynet's caller or of PID 1); for that, use the key V(host).
      - Keep keys in directories that only root can write.
      - Mutually exclusive with O(sandboxes).
    type: path
    aliases: [path]
  sandboxes:
    description:
      - Many sandboxes in one task (one Python start-up for all of them, much faster than C(loop)).
      - Every item is checked before the first change; errors name the item, such as C(sandboxes[3].key).
    type: list
    elements: dict
    suboptions:
      key:
        description: As O(key).
        type: path
        required: true
      state:
        description: As O(state); default the task's O(state).
        type: str
        choices: [present, absent]
  state:
    description:
      - V(present) makes or adopts the namespace (and remakes one pynet made that has gone).
      - V(absent) removes a namespace pynet made and forgets an adopted one; refused while endpoints use it.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: pynet.libnetwork.pynet_endpoint
"""

EXAMPLES = r"""
- name: A sandbox for container web1
  pynet.libnetwork.pynet_sandbox:
    key: /run/pynet/netns/web1

- name: The host's own namespace, for the endpoints of a host network
  pynet.libnetwork.pynet_sandbox:
    key: host

- name: Sandboxes for many containers in one task, and one removed
  pynet.libnetwork.pynet_sandbox:
    sandboxes:
      - key: /run/pynet/netns/c1
      - key: /run/pynet/netns/c2
      - key: /run/pynet/netns/old
        state: absent
"""

RETURN = r"""
sandboxes:
  description: With O(sandboxes), one entry per item, in order, as RV(sandbox) with C(changed) and C(state) added.
  returned: when O(sandboxes) is given
  type: list
  elements: dict
sandbox:
  description: The sandbox after the task (in check mode, as it would be); null when absent.
  returned: when O(key) is given
  type: dict
  contains:
    key:
      description: Its path (V(host) for the host's own namespace).
      type: str
      sample: /run/pynet/netns/web1
    created:
      description:
        - Whether pynet made the sandbox (and so will remove it). A namespace at the key must be the one pynet
          made, in this boot; one that someone else mounted there (after a reboot, say) is adopted.
        - Never for the key V(host).
      type: bool
    exists:
      description: Whether the namespace is mounted at the key.
      type: bool
    interfaces:
      description: The interfaces that pynet's endpoints put in the sandbox.
      type: list
      elements: dict
      sample: [{"network": "web", "endpoint": "web1", "src_name": "pnv5f1c9a0e6b2d", "dst_name": "eth0",
                "address": "10.89.10.2/24", "address_ipv6": null, "mac": "02:5f:1c:9a:0e:6b"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pynet.libnetwork.plugins.module_utils import module_support
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import sandboxes


def main():
    module = AnsibleModule(
        argument_spec=module_support.argument_spec(
            key=dict(type="path", aliases=["path"]),
            sandboxes=dict(type="list", elements="dict", options=dict(
                key=dict(type="path", required=True),
                state=dict(type="str", choices=["present", "absent"]),
            )),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        mutually_exclusive=[("key", "sandboxes")],
        required_one_of=[("key", "sandboxes")],
        supports_check_mode=True,
    )
    module_support.run(module, lambda controller: sandboxes.ensure_sandbox_params(
        controller, module.params, module.check_mode))


if __name__ == "__main__":
    main()
