#!/usr/bin/python
# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pynet_network
short_description: Manage container networks (Linux bridges with address pools)
version_added: 0.1.0
description:
  - Create, change and remove a pynet network, libnetwork's connectivity zone managed by one driver.
  - A bridge network is a Linux bridge with the gateway address of each pool; endpoints
    (M(pynet.libnetwork.pynet_endpoint)) connect sandboxes to it.
  - pynet makes the bridge with a MAC address derived from the network id, so it does not change as
    endpoints come and go (nor when the bridge is made again after a reboot), and with IGMP/MLD snooping off,
    which constrains forwarding only where a multicast querier runs and otherwise only costs each new port time
    in proportion to the ports already there.
  - A bridge that exists already (O(bridge_name)) is adopted and used as it is (its MTU, its IPv6 settings);
    what pynet must change on it (an O(mtu) given, the link brought up) is recorded and put back, with the
    gateway addresses taken off, when the network is removed (see RV(pynet.libnetwork.pynet_info#module:host_changes)).
  - Host settings pynet changes for networks (IP forwarding, IPv6 forwarding and C(accept_ra=2) on the host's
    interfaces that had 1, C(route_localnet) on bridges with published ports) are recorded and put back when the
    last network that needs them goes; the collection's README lists them.
  - Only the options given are compared with the network as recorded (after normalising addresses).
    O(labels) change in place; any other difference recreates the network, which needs O(force=true)
    while the network has endpoints.
author:
  - pynet developers (@pynet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pynet.libnetwork.common
  - pynet.libnetwork.common.attributes
options:
  name:
    description: Name of the network.
    type: str
    required: true
  state:
    description:
      - V(present) creates the network or makes it match; V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  driver:
    description:
      - The network type. V(simplebridge) is an alias of V(bridge).
      - The driver's host-wide options come from M(pynet.libnetwork.pynet_driver), or its defaults.
      - V(overlay) networks span hosts (the collection's README, Overlay networks). One is recorded once in the driver's
        etcd, with the same id on every host; the same task on each host sets it up there (its bridge, its vxlan
        device and its peers) and reports C(changed) only for that host's own objects. Its O(ipam) is one IPv4
        subnet, without gateway, ip_range or aux_addresses (each host takes address blocks of it). Its MTU defaults to
        the underlay's minus 50. Removing it is refused while any host has endpoints on it.
    type: str
    choices: [bridge, simplebridge, "null", overlay]
    default: bridge
  ipam:
    description:
      - Address pools, at most one per subnet; IPv4 and IPv6 pools may be mixed (dual stack).
      - Without an IPv4 pool, a bridge network gets a free /24 from the driver's default address pool,
        one that overlaps no other pynet network and no address or route on the host.
    type: list
    elements: dict
    suboptions:
      subnet:
        description: The subnet in CIDR notation, without host bits (V(10.89.0.0/24), V(fd00:89::/64)).
        type: str
        required: true
      gateway:
        description: The gateway address, put on the bridge. Default the first address of the subnet.
        type: str
      ip_range:
        description: Hand out addresses only from this part of the subnet (a CIDR inside O(ipam[].subnet)).
        type: str
      aux_addresses:
        description: Addresses of the subnet never handed out, by name.
        type: dict
  bridge_name:
    description:
      - Name of the Linux bridge, at most 15 characters of ASCII letters, digits, C(-), C(_) and C(.) (it goes into
        firewall rules, where nftables reads C(*), C(@), backslashes and quotes as patterns).
        Default C(pn-) and 12 hex digits of the network id.
      - A bridge of that name that pynet did not make is adopted (see above).
    type: str
  mtu:
    description:
      - MTU of the bridge and of the endpoints' veths (at least V(1280) with an IPv6 subnet).
      - Default V(1500), or the MTU of an adopted bridge (O(bridge_name)) as it is.
    type: int
  internal:
    description:
      - The network reaches nothing beyond its subnets and nothing beyond reaches it; no default route, no masquerade.
        Its sandboxes reach none of the host's addresses either, its gateway included (the host still gets the
        replies to connections it opens to them).
      - Networks that are not internal turn on IP forwarding on the host, unless the driver forbids it
        (C(enable_ip_forward=false) in O(pynet.libnetwork.pynet_driver#module:options)), in which case they are refused.
    type: bool
  enable_ipv6:
    description:
      - Whether the network is dual stack. Default whether O(ipam) has an IPv6 subnet; when given it must match O(ipam).
    type: bool
  labels:
    description: Free-form metadata kept with the network; changed in place.
    type: dict
  enable_ip_masquerade:
    description:
      - Masquerade traffic from the network's subnets that leaves through another interface (default V(true)).
      - Never done for an O(internal) network.
    type: bool
  enable_icc:
    description:
      - Whether endpoints of this network reach each other (default V(true)); V(false) isolates the bridge ports,
        which still reach the gateway and, through it, the outside, and drops traffic routed back to the bridge
        through the gateway (IPv4 and IPv6).
    type: bool
  host_binding_ipv4:
    description:
      - The host IPv4 address on which endpoints' published ports listen when a mapping gives no C(host_ip)
        (default every address).
      - It must be assigned to one of the host's interfaces; another address is refused, since publishing on it
        would take the host's own connections to that address to the containers.
    type: str
  force:
    description:
      - With O(state=absent), remove the network's endpoints first instead of failing.
      - With O(state=present), allow a change that recreates the network even though it has endpoints (they are removed).
    type: bool
    default: false
seealso:
  - module: pynet.libnetwork.pynet_endpoint
  - module: pynet.libnetwork.pynet_info
  - module: community.docker.docker_network
"""

EXAMPLES = r"""
- name: A network with one IPv4 pool
  pynet.libnetwork.pynet_network:
    name: web
    ipam:
      - subnet: 10.89.10.0/24
        ip_range: 10.89.10.128/25

- name: A dual-stack network with a chosen bridge name
  pynet.libnetwork.pynet_network:
    name: app
    bridge_name: br-app
    ipam:
      - subnet: 10.89.11.0/24
      - subnet: fd00:89:11::/64
    labels:
      team: platform

- name: A network whose containers cannot reach each other, and publish on one address only
  pynet.libnetwork.pynet_network:
    name: tenants
    enable_icc: false
    host_binding_ipv4: 192.0.2.10  # an address of the host's

- name: Remove a network and the endpoints still on it
  pynet.libnetwork.pynet_network:
    name: web
    state: absent
    force: true
"""

RETURN = r"""
network:
  description:
    - The network as it stands after the task (in check mode, as it would stand); null when absent.
    - In check mode a new network has no O(ignore:id) yet.
  returned: always
  type: dict
  contains:
    id:
      description: The network's id (64 hex digits).
      type: str
      sample: 5f1c9a0e6b2d4c8f...
    name:
      description: The network's name.
      type: str
      sample: web
    driver:
      description: The driver (network type).
      type: str
      sample: bridge
    options:
      description: The normalised options, with the pools as allocated (gateway filled in).
      type: dict
      sample: {"bridge_name": "pn-5f1c9a0e6b2d", "mtu": 1500, "internal": false, "enable_ipv6": false,
               "enable_ip_masquerade": true, "enable_icc": true, "host_binding_ipv4": "",
               "labels": {}, "ipam": [{"subnet": "10.89.10.0/24", "gateway": "10.89.10.1"}]}
    endpoints:
      description: The network's endpoints, each with its sandbox_info.
      type: list
      elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pynet.libnetwork.plugins.module_utils import module_support
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import networks


def main():
    module = AnsibleModule(
        argument_spec=module_support.argument_spec(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            driver=dict(type="str", choices=module_support.network_type_choices(), default="bridge"),
            force=dict(type="bool", default=False),
            **module_support.network_option_specs()
        ),
        supports_check_mode=True,
    )
    module_support.run(module, lambda controller: networks.ensure_network(
        controller, module.params, module.check_mode))


if __name__ == "__main__":
    main()
