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
    O(labels), O(dns_enabled) and O(dns_servers) change in place; any other difference recreates the network,
    which needs O(force=true) while the network has endpoints.
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
      - V(macvlan) puts each endpoint on the L2 network of O(parent) with a MAC address of its own (see O(parent)).
        V(ipvlan) does the same with the parent's MAC address; it needs a kernel with ipvlan (C(CONFIG_IPVLAN)),
        and is refused, naming that feature, on one without.
      - V(host) is Docker's host network. Its endpoints are in the host's own namespace, the sandbox V(host)
        (M(pynet.libnetwork.pynet_sandbox)), with the host's interfaces, addresses, routes and ports, and pynet changes
        nothing in the kernel for it. It takes no option but O(labels); a host has at most one host network.
      - The driver's host-wide options come from M(pynet.libnetwork.pynet_driver), or its defaults.
      - V(overlay) networks span hosts (the collection's README, Overlay networks). One is recorded once in the driver's
        etcd, with the same id on every host; the same task on each host sets it up there (its bridge, its vxlan
        device and its peers) and reports C(changed) only for that host's own objects. Its O(ipam) is one IPv4
        subnet, without gateway, ip_range or aux_addresses (each host takes address blocks of it). Its MTU defaults to
        the underlay's minus 50 (70 over an IPv6 underlay). Removing it is refused while any host has endpoints on it.
    type: str
    choices: [bridge, simplebridge, "null", host, macvlan, ipvlan, overlay]
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
  enable_ipv4:
    description:
      - Whether the network has IPv4 addresses (default V(true)). Without an IPv4 pool in O(ipam), a bridge network
        gets one from the driver's default pools.
      - V(false) gives an IPv6-only network (with O(enable_ipv6=true)) with no IPv4 pool, no IPv4 address on the bridge
        or in the sandboxes and no IPv4 masquerade; O(ipam) must then have no IPv4 subnet.
    type: bool
  enable_ipv6:
    description:
      - Whether the network has IPv6 addresses. Default whether O(ipam) has an IPv6 subnet (so off unless one is
        given); V(false) with an IPv6 subnet in O(ipam) is refused.
      - V(true) without an IPv6 pool in O(ipam) gives the network a /64 from the bridge driver's IPv6
        C(default_address_pools) or, without any, a unique local /64 of its own (RFC 4193, C(fd00::/8) and a random
        40-bit global id from the network's id) that overlaps no other pool and nothing on the host's links and
        routes. It is recorded with the network, so later runs, repairs and recreations keep it (check mode shows
        one made from a provisional id, as it does for the bridge name).
    type: bool
  labels:
    description: Free-form metadata kept with the network; changed in place.
    type: dict
  routes:
    description:
      - Routes every sandbox of the network gets through its interface on the network, as netavark's and the CNI
        IPAM's C(routes); each only in sandboxes whose endpoint has an address of its IP version. They go with the
        endpoint; one removed outside pynet is reported as drift and put back.
      - A default route (V(0.0.0.0/0), V(::/0)) is refused here, since the sandbox's default route is its networks'
        gateway, chosen by the endpoints' C(gw_priority) (see O(no_default_route)).
    type: list
    elements: dict
    suboptions:
      destination:
        description: The destination, a CIDR without host bits (V(10.90.0.0/16), V(fd00:90::/48)).
        type: str
        required: true
      gateway:
        description: The next hop, an address in one of the network's subnets, of the destination's IP version.
        type: str
        required: true
      metric:
        description: The route's metric (priority), V(0) to V(4294967295). Default V(100), as netavark's.
        type: int
  no_default_route:
    description:
      - V(true) gives a network that never provides its sandboxes' default route, whatever its endpoints'
        C(gw_priority). A sandbox on it alone has no default route (only its subnets and O(routes)); one also on
        other networks gets the default route of those.
    type: bool
  enable_ip_masquerade:
    description:
      - Masquerade traffic from the network's subnets that leaves through another interface (default V(true)).
      - Never done for an O(internal) network. O(host_ipv4) and O(host_ipv6) choose the source address instead.
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
  host_ipv4:
    description:
      - The host IPv4 address that the network's outgoing traffic leaves from (SNAT), instead of the address of the
        interface it leaves through (masquerade); as Docker's C(com.docker.network.host_ipv4) and netavark's
        C(outbound_addr4). Default none (masquerade).
      - It must be assigned to one of the host's interfaces (replies to another address would not come back), and
        needs O(enable_ip_masquerade=true) on a network that is not O(internal) with IPv4.
    type: str
  host_ipv6:
    description:
      - As O(host_ipv4), for the network's IPv6 traffic (netavark's C(outbound_addr6)); needs IPv6 on the network.
    type: str
  parent:
    description:
      - For O(driver=macvlan) and O(driver=ipvlan), required; the host interface whose L2 network the endpoints
        join (such as V(eth0)). It must exist; the loopback and pynet's own bridges and veths are refused. One
        network per parent.
      - Each endpoint is a link of that kind made inside its sandbox; its addresses come from O(ipam), which must
        give an IPv4 subnet (that of the parent's network, whose router is O(ipam[].gateway)) unless
        O(enable_ipv4=false). pynet puts nothing on the host for such a network (no gateway address, no NAT, no
        firewall rules, no published ports).
      - As with Docker's macvlan networks, the host cannot reach its own macvlan (or ipvlan) endpoints through
        the parent, whose traffic never loops back to its children.
    type: str
  mode:
    description:
      - For O(driver=macvlan) V(bridge) (default; endpoints on one parent reach each other), V(private), V(vepa)
        (traffic between endpoints goes through the external switch) or V(passthru) (one endpoint takes the parent
        whole, with the parent's MAC address).
      - For O(driver=ipvlan) V(l2) (default), V(l3) or V(l3s).
    type: str
  dns_enabled:
    description:
      - Whether the names of the network's endpoints (their name and O(pynet.libnetwork.pynet_endpoint#module:aliases))
        are answered at the network's gateway addresses, UDP and TCP port 53, to the network's own sandboxes only
        (A, AAAA and reverse lookups; an internal network's too). Default V(true) for bridge networks.
      - A dnsmasq per network serves them (Debian's C(dnsmasq-base), which the role
        R(pynet.libnetwork.container_host,ansible_collections.pynet.libnetwork.container_host_role) installs), running as
        the user C(dnsmasq), never root; it starts with the network, is reloaded in place on every endpoint change,
        and stops with the network. A server that died or answers other names than pynet's is drift, repaired by a run.
      - A name or alias that two endpoints of the network hold answers with both addresses, as Docker's network aliases do.
      - An endpoint's sandbox gets a C(resolv.conf) whose nameservers are the gateways of its networks with DNS
        (see RV(pynet.libnetwork.pynet_endpoint#module:endpoints[].sandbox_info)).
      - Changed in place.
    type: bool
  dns_servers:
    description:
      - The resolvers that names other than the network's are forwarded to (IP addresses).
      - Default none given, that is the host's resolvers, which the server reads from C(/etc/resolv.conf) and reads
        again when it changes.
      - Not for an O(internal) network, which forwards nothing (other names are answered NXDOMAIN).
      - Changed in place.
    type: list
    elements: str
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

- name: The host network, whose endpoints share the host's own namespace (the sandbox key host)
  pynet.libnetwork.pynet_network:
    name: hostnet
    driver: host

- name: A dual-stack network with a chosen bridge name
  pynet.libnetwork.pynet_network:
    name: app
    bridge_name: br-app
    ipam:
      - subnet: 10.89.11.0/24
      - subnet: fd00:89:11::/64
    labels:
      team: platform

- name: A dual-stack network whose IPv6 subnet is a unique local /64 picked by pynet
  pynet.libnetwork.pynet_network:
    name: dual
    enable_ipv6: true

- name: An IPv6-only network
  pynet.libnetwork.pynet_network:
    name: only6
    enable_ipv4: false
    enable_ipv6: true

- name: A network that reaches 10.90.0.0/16 through a router on it, and never gives the default route
  pynet.libnetwork.pynet_network:
    name: backend
    ipam:
      - subnet: 10.89.12.0/24
    routes:
      - {destination: 10.90.0.0/16, gateway: 10.89.12.254}
    no_default_route: true

- name: A network whose containers cannot reach each other, and publish on one address only
  pynet.libnetwork.pynet_network:
    name: tenants
    enable_icc: false
    host_binding_ipv4: 192.0.2.10  # an address of the host's

- name: Containers on the host's LAN, each with a MAC address of its own
  pynet.libnetwork.pynet_network:
    name: lan
    driver: macvlan
    parent: eth0
    ipam:
      - subnet: 192.0.2.0/24
        gateway: 192.0.2.1
        ip_range: 192.0.2.128/26

- name: A network whose names are forwarded to chosen resolvers
  pynet.libnetwork.pynet_network:
    name: api
    dns_servers:
      - 192.0.2.53

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
      sample: {"bridge_name": "pn-5f1c9a0e6b2d", "mtu": 1500, "internal": false, "enable_ipv4": true, "enable_ipv6": false,
               "enable_ip_masquerade": true, "enable_icc": true, "host_binding_ipv4": "",
               "labels": {}, "routes": [], "no_default_route": false, "host_ipv4": "", "host_ipv6": "",
               "dns_enabled": true, "dns_servers": [], "ipam": [{"subnet": "10.89.10.0/24", "gateway": "10.89.10.1"}]}
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
