#!/usr/bin/python
# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pynet_info
short_description: Read pynet's drivers, networks (with endpoints) and sandboxes
version_added: 0.1.0
description:
  - Returns what pynet has recorded on the host, with each network's endpoints and their sandbox_info (those a
    container runtime made with their CNI container id), and the host settings pynet changed and will put back.
  - Changes nothing.
author:
  - pynet developers (@pynet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pynet.libnetwork.common
  - pynet.libnetwork.common.info_attributes
options:
  networks:
    description: Return only the networks of these names (default all).
    type: list
    elements: str
    aliases: [name]
  sandboxes:
    description: Return only the sandboxes of these keys (default all).
    type: list
    elements: path
seealso:
  - module: pynet.libnetwork.pynet_network
"""

EXAMPLES = r"""
- name: Everything pynet manages on the host
  pynet.libnetwork.pynet_info:
  register: pynet

- name: Does network web exist?
  pynet.libnetwork.pynet_info:
    networks: [web]
  register: web

- ansible.builtin.debug:
    msg: "{{ web.networks[0].endpoints | map(attribute='sandbox_info') }}"
  when: web.exists
"""

RETURN = r"""
exists:
  description: Whether every network named in O(networks) exists (false when O(networks) is not given).
  returned: always
  type: bool
drivers:
  description: The configured drivers with their options.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "bridge", "options": {"default_address_pool": "10.89.0.0/16", "default_subnet_size": 24}}]
networks:
  description: The networks, each with id, name, driver, options, state and endpoints.
  returned: always
  type: list
  elements: dict
  contains:
    endpoints:
      description:
        - The network's endpoints, each with id, name, network, sandbox, options, state, sandbox_info (as
          M(pynet.libnetwork.pynet_endpoint) returns it) and ports, and who made it.
        - An endpoint a container runtime made through pynet's CNI plugin has C(owner) V(cni) and the runtime's
          C(container_id); with its C(sandbox_info)'s interface name (C(dst_name)) that is the CNI attachment. A
          playbook or the library's endpoint has both V(null).
      type: list
      elements: dict
      sample: [{"name": "cni.4d23e.eth0", "owner": "cni", "container_id": "4d23e", "sandbox": "/run/netns/cni-4d23e",
                "state": "ready", "options": {"ifname": "eth0"}, "ports": [], "sandbox_info": {"interfaces": [
                {"src_name": "pnv5f1c9a0e6b2d", "dst_name": "eth0", "address": "10.89.10.2/24", "address_ipv6": null,
                 "mac": "02:5f:1c:9a:0e:6b"}], "gateway": "10.89.10.1", "gateway_ipv6": null, "default_route": true,
                "default_route_ipv6": false}}]
sandboxes:
  description: The sandboxes, each with key, created, exists and the interfaces pynet put in it.
  returned: always
  type: list
  elements: dict
host_changes:
  description:
    - The settings of the host that pynet changed for its networks, with the value each had before. pynet puts
      each back when the last network that needs it is removed, unless it no longer holds the value pynet wrote.
    - A setting is C(sysctl:<path under /proc/sys>), C(mtu:<link>) or C(up:<link>) (V(1) up, V(0) down), or
      C(rules:<family> filter <chain>), pynet's accept rules in that chain of iptables-nft (such as C(DOCKER-USER)),
      whose value is their comment (pynet's table name); or C(firewalld:<bridge>), a bridge in firewalld's zone
      C(pynet), and C(firewalld:zone), that zone, which pynet made.
  returned: always
  type: list
  elements: dict
  contains:
    setting:
      description: What was changed.
      type: str
      sample: sysctl:net/ipv4/ip_forward
    original:
      description: Its value before pynet changed it.
      type: str
      sample: "0"
    value:
      description: The value pynet wrote.
      type: str
      sample: "1"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pynet.libnetwork.plugins.module_utils import module_support
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import info


def main():
    module = AnsibleModule(
        argument_spec=module_support.argument_spec(
            networks=dict(type="list", elements="str", aliases=["name"]),
            sandboxes=dict(type="list", elements="path"),
        ),
        supports_check_mode=True,
    )
    module_support.run(module, lambda controller: info.gather_info(
        controller, module.params["networks"], module.params["sandboxes"]), read_only=True)


if __name__ == "__main__":
    main()
