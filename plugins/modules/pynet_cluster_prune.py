#!/usr/bin/python
# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pynet_cluster_prune
short_description: Forget the hosts that left an overlay cluster and free their address blocks
version_added: 1.0.0
description:
  - The explicit GC step of the overlay driver's cluster (the collection's README, Overlay networks), run from any
    host whose V(overlay) driver is configured (M(pynet.libnetwork.pynet_driver)); once per run is enough
    (C(run_once)).
  - A member of the cluster that O(fleet) does not name is forgotten, unless it ran within its C(liveness_ttl)
    (an option of the overlay driver, default 600 seconds), so that a partial or wrong list never costs a live
    host its addresses. Forgetting a host deletes its membership in etcd, then frees every address block it
    held and its endpoint records. Every block of a host that is no member is freed too, which finishes a
    prune that was cut off.
  - The other hosts stop flooding to a forgotten host at their next run of M(pynet.libnetwork.pynet_network)
    (or C(network.repair())).
  - A host that leaves by a run of its own (M(pynet.libnetwork.pynet_driver) with
    O(pynet.libnetwork.pynet_driver#module:state=absent)) needs no prune. The role R(pynet.libnetwork.fleet_network,
    ansible_collections.pynet.libnetwork.fleet_network_role) runs it when given C(fleet_network_fleet).
author:
  - pynet developers (@pynet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pynet.libnetwork.common
  - pynet.libnetwork.common.attributes
options:
  fleet:
    description:
      - The name in the cluster (the overlay driver's C(host_name), default the hostname) of every host of the fleet.
      - It must name the host the task runs on; an empty list is refused.
    type: list
    elements: str
    required: true
seealso:
  - module: pynet.libnetwork.pynet_driver
  - module: pynet.libnetwork.pynet_network
"""

EXAMPLES = r"""
- name: Forget the hosts that the inventory's group fleet no longer names
  pynet.libnetwork.pynet_cluster_prune:
    fleet: "{{ groups['fleet'] }}"
  run_once: true
"""

RETURN = r"""
forgotten:
  description: The hosts whose membership was deleted (in check mode, would be).
  returned: always
  type: list
  elements: str
  sample: [pnh5]
spared:
  description: The members that O(fleet) leaves out but that ran within their liveness TTL, kept.
  returned: always
  type: list
  elements: str
freed:
  description: The address blocks freed (in check mode, that would be), with their network's id.
  returned: always
  type: list
  elements: dict
  contains:
    network_id:
      description: The overlay network's id.
      type: str
    block:
      description: The block, a CIDR.
      type: str
      sample: 10.251.3.0/26
members:
  description: The cluster's members after the task.
  returned: always
  type: list
  elements: str
  sample: [pnh1, pnh2, pnh3, pnh4]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pynet.libnetwork.plugins.module_utils import module_support
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import cluster


def main():
    module = AnsibleModule(
        argument_spec=module_support.argument_spec(
            fleet=dict(type="list", elements="str", required=True),
        ),
        supports_check_mode=True,
    )
    module_support.run(module, lambda controller: cluster.prune(controller, module.params, module.check_mode))


if __name__ == "__main__":
    main()
