#!/usr/bin/python
# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pynet_driver
short_description: Configure a pynet network driver on a host
version_added: 0.1.0
description:
  - Records a driver's host-wide options, as libnetwork's C(NewNetworkDriver) does.
  - A driver that is not configured can still be used with its defaults.
author:
  - pynet developers (@pynet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pynet.libnetwork.common
  - pynet.libnetwork.common.attributes
options:
  name:
    description: The driver. V(simplebridge) is an alias of V(bridge).
    type: str
    required: true
    choices: [bridge, simplebridge, "null", host, macvlan, ipvlan, overlay]
  options:
    description:
      - The driver's complete set of host-wide options; options left out take their defaults.
      - When omitted, a configured driver keeps its options and a new one gets the defaults.
      - "V(bridge): C(default_address_pool) (IPv4 CIDR, default V(10.89.0.0/16)), where networks without O(ignore:ipam)
        get their subnet; C(default_subnet_size) (prefix length, default V(24)); C(enable_ip_forward) (default V(true)):
        turn IP forwarding on when a network needs it (IPv6 forwarding for dual-stack networks, after giving the
        host's interfaces that accept router advertisements C(accept_ra=2)), recorded and put back when the last
        such network goes (see RV(pynet.libnetwork.pynet_info#module:host_changes)), V(false) refuses networks that
        are not internal; C(enable_firewall) (default V(true)): program pynet's nftables table, C(inet pynet) for
        the default O(state_dir) and C(inet pynet_<8 hex digits of the sha256 of the state_dir path>) for another
        one, which also keeps tenants from the host's 127.0.0.1 and internal networks from the host's addresses;
        V(false) leaves nftables alone; C(default_address_pools) (default none), as Docker's daemon option of that
        name: a list of C(base) (a CIDR, IPv4 or IPv6) and C(size) (the prefix length of the subnets cut from it),
        used in order for networks that give no pool of that IP version, the IPv4 ones instead of
        C(default_address_pool) and C(default_subnet_size); without an IPv6 one, networks with C(enable_ipv6)
        and no IPv6 pool get a unique local /64 of their own."
      - V(null), V(macvlan) and V(ipvlan) take no options; V(ipvlan) is refused, naming the missing feature, on a
        kernel without ipvlan (C(CONFIG_IPVLAN)).
      - "V(overlay) (networks that span hosts over VXLAN, recorded in etcd; the collection's README, Overlay networks):
        C(cluster_store) (required: V(etcd://host:port), or V(etcds://host:port) for TLS; several members of one etcd
        cluster as a list or separated by commas), C(ca_file), C(cert_file) and C(key_file) (TLS), C(username) and
        C(password) (etcd's authentication), C(advertise_address) (required: this host's address on the underlay,
        its VXLAN tunnel end point), C(vxlan_port) (default V(4789)), C(host_name) (this host's name in the
        cluster, default its hostname), C(liveness_ttl) (default V(600): seconds after each run during which
        M(pynet.libnetwork.pynet_cluster_prune) never forgets the host). Configuring it makes the host a member of
        the cluster, and O(state=absent) makes it leave; an etcd that cannot be reached fails naming C(cluster_store), with nothing recorded."
    type: dict
  state:
    description: V(absent) forgets the configuration; refused while networks use the driver.
    type: str
    choices: [present, absent]
    default: present
seealso:
  - module: pynet.libnetwork.pynet_network
"""

EXAMPLES = r"""
- name: Bridge networks take their subnets from 10.200.0.0/16, as /26
  pynet.libnetwork.pynet_driver:
    name: bridge
    options:
      default_address_pool: 10.200.0.0/16
      default_subnet_size: 26

- name: Default pools of both IP versions, as Docker's default-address-pools
  pynet.libnetwork.pynet_driver:
    name: bridge
    options:
      default_address_pools:
        - {base: 10.210.0.0/16, size: 24}
        - {base: "fd00:210::/48", size: 64}
"""

RETURN = r"""
driver:
  description: The driver as configured after the task; null when absent.
  returned: always
  type: dict
  contains:
    name:
      description: The driver's canonical name.
      type: str
      sample: bridge
    options:
      description: Its options, defaults filled in.
      type: dict
      sample: {"default_address_pool": "10.89.0.0/16", "default_subnet_size": 24, "enable_ip_forward": true,
               "enable_firewall": true, "default_address_pools": []}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pynet.libnetwork.plugins.module_utils import module_support
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import drivers


def main():
    module = AnsibleModule(
        argument_spec=module_support.argument_spec(
            name=dict(type="str", required=True, choices=module_support.network_type_choices()),
            options=dict(type="dict"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        supports_check_mode=True,
    )
    module_support.run(module, lambda controller: drivers.ensure_driver(
        controller, module.params, module.check_mode))


if __name__ == "__main__":
    main()
