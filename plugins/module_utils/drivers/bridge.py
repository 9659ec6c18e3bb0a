# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bridge driver: a Linux bridge per network, a veth pair per endpoint.

Kernel objects are named from their owner's id, so they can be found without a dump:
the bridge `pn-<12 hex of the network id>` (unless `bridge_name` is given) carries the
alias `pynet:<network id>`; a host-side veth is `pnv<12 hex of the endpoint id>` in the
interface group PYNET_LINK_GROUP. A bridge pynet makes has the MAC address derived from the
network id (ipam.mac_from_id) before it gets its alias: a bridge with neither was not made by
pynet (it is adopted) and is never deleted.

Everything about bridges is here: the option tables, the bridge name derived from the id and the
conflict between two networks that name one bridge, the host settings and the firewall inputs
(firewall.Interface, firewall.Dnat) of a bridge network.
"""

from __future__ import annotations

import errno
import os
import socket

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, firewall, host_changes, ipam
from ansible_collections.pynet.libnetwork.plugins.module_utils import options
from ansible_collections.pynet.libnetwork.plugins.module_utils import ports as published_ports
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import config as dns_config
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import server as dns_server
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import interface
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import IP_VERSION_OPTIONS, Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl, sysctl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import (
    EndpointRecord, FirewallPort, NetworkRecord)

IPV6_MIN_MTU = 1280  # the kernel takes IPv6 off a link with a smaller MTU
DEFAULT_MTU = 1500
PYNET_LINK_GROUP = 0x706E  # "pn": host-side veths of pynet
TEARDOWN_GROUP_BASE = 0x70000000  # | 24 random bits: the veths one process is deleting
TEARDOWN_CLAIM = "\0pynet-teardown-%08x"  # an abstract socket name: who holds a teardown group
# The options that SNAT a network's outgoing traffic to a host address, by IP version.
OUTBOUND_ADDRESSES = {"host_ipv4": 4, "host_ipv6": 6}
OUTBOUND_PURPOSE = ("the network's outgoing traffic would leave from it, and the replies to an address that is not "
                    "the host's never come back")
BRIDGE_PREFIX = "pn-"
VETH_PREFIX = "pnv"
ALIAS_PREFIX = "pynet:"


def bridge_alias(network_id: str) -> str:
    return ALIAS_PREFIX + network_id


class BridgeDriver(Driver):
    network_type = "bridge"
    uses_ipam = True
    gives_interface = True
    routed_pools = staticmethod(interface.routed_pools)
    FIREWALL_SWITCH = "enable_firewall"
    DRIVER_OPTIONS = {
        "default_address_pool": options.Option(options.check_str, "10.89.0.0/16",
                                               "where networks without ipam get their subnet (IPv4 CIDR)"),
        "default_subnet_size": options.Option(options.int_between(8, 30), 24,
                                              "prefix length of the subnets taken from default_address_pool"),
        "enable_ip_forward": options.Option(options.check_bool, True,
                                            "turn IP forwarding on when a network needs it; false forbids "
                                            "networks that are not internal"),
        "enable_firewall": options.Option(options.check_bool, True, "program pynet's nftables tables"),
        "default_address_pools": options.Option(ipam.check_default_pools, [],
                                                "where networks without a pool of an IP version get one, as "
                                                "Docker's daemon option: a list of {base, size}, IPv4 and IPv6"),
    }
    NETWORK_OPTIONS = dict(Driver.NETWORK_OPTIONS, **{
        "bridge_name": options.Option(options.check_literal_ifname, None, "default pn- and 12 hex digits of the id",
                                      spec=dict(type="str")),
        "mtu": options.Option(options.int_between(68, 65535), None,
                              "default 1500, or the MTU of an existing bridge_name, which pynet adopts as it is",
                              spec=dict(type="int")),
        "enable_ip_masquerade": options.Option(options.check_bool, True, spec=dict(type="bool")),
        "enable_icc": options.Option(options.check_bool, True, spec=dict(type="bool")),
        "host_binding_ipv4": options.Option(options.check_ipv4, "", spec=dict(type="str")),
        "host_ipv4": options.Option(options.check_ipv4, "", spec=dict(type="str")),
        "host_ipv6": options.Option(options.check_ipv6, "", spec=dict(type="str")),
        "dns_enabled": options.Option(options.check_bool, True, spec=dict(type="bool")),
        "dns_servers": options.Option(lambda param, value: _check_list(param, value, dns_config.check_address), [],
                                      spec=dict(type="list", elements="str")),
    })
    ENDPOINT_OPTIONS = {
        "ip": options.Option(options.check_str, spec=dict(type="str")),
        "ipv6": options.Option(options.check_str, spec=dict(type="str")),
        "mac": options.Option(options.check_mac, spec=dict(type="str")),
        "ifname": options.Option(options.check_sandbox_ifname, "eth0", spec=dict(type="str")),
        "ports": options.Option(published_ports.check_ports, [],
                                spec=dict(type="list", elements="dict", options=published_ports.ARGUMENT_SPEC)),
        "gw_priority": options.Option(options.int_between(-10000, 10000), 0, spec=dict(type="int")),
        "aliases": options.Option(lambda param, value: _check_list(param, value, dns_config.check_dns_name), [],
                                  spec=dict(type="list", elements="str")),
    }

    @classmethod
    def validate_driver_options(cls, given: object) -> dict:
        opts = super().validate_driver_options(given)
        pool = ipam.parse_subnet(opts["default_address_pool"], "options.default_address_pool")
        if pool.version != 4:
            raise errors.InvalidParameterError("options.default_address_pool", "%s is not an IPv4 CIDR (such as "
                                               "10.89.0.0/16)" % opts["default_address_pool"])
        if opts["default_subnet_size"] < pool.prefixlen:
            raise errors.InvalidParameterError("options.default_subnet_size", "/%d subnets cannot be cut from %s: "
                                               "allowed %d to 30" % (opts["default_subnet_size"], pool,
                                                                     pool.prefixlen))
        opts["default_address_pool"] = str(pool)
        return opts

    def default_pools(self, version: int) -> tuple[list[tuple], str]:
        configured = [(ipam.parse_subnet(pool["base"], "options.default_address_pools"), pool["size"])
                      for pool in self.options.get("default_address_pools") or []]
        listed = [(base, size) for base, size in configured if base.version == version]
        if listed or version == 6:
            return listed, "the bridge driver's default_address_pools"
        return ([(ipam.parse_subnet(self.options["default_address_pool"], "options.default_address_pool"),
                  self.options["default_subnet_size"])], "the bridge driver's default_address_pool")

    # --- networks: options --------------------------------------------------------------------

    def check_network(self, network_options: dict) -> None:
        if not network_options["internal"] and not self.options["enable_ip_forward"]:
            raise errors.InvalidParameterError(
                "internal", "the bridge driver's option enable_ip_forward is false, so only internal networks can "
                "be created: set internal: true, or enable_ip_forward: true with pynet_driver")
        host_addresses = published_ports.HostAddresses()
        host_addresses.check("host_binding_ipv4", network_options["host_binding_ipv4"])
        for name, version in OUTBOUND_ADDRESSES.items():
            if network_options[name]:
                _check_outbound(network_options, name, version)
                host_addresses.check(name, network_options[name], OUTBOUND_PURPOSE, "to masquerade")
        if network_options.get("bridge_name"):
            with rtnl.connect() as host:
                found = host.link(network_options["bridge_name"])
            if found is not None:
                _check_is_bridge(found)
                if network_options["mtu"] is None:  # an adopted bridge is used as it is
                    network_options["mtu"] = found.mtu
        if network_options["mtu"] is None:
            network_options["mtu"] = DEFAULT_MTU
        if network_options["internal"] and network_options["dns_servers"]:
            raise errors.InvalidParameterError("dns_servers", "network is internal: its DNS server answers its own "
                                               "names and forwards nothing; leave dns_servers out")
        if network_options["dns_enabled"]:
            try:
                dns_server.check_installed()
            except OSError as exc:
                raise errors.InvalidParameterError("dns_enabled", "%s; or set dns_enabled: false"
                                                   % exc.strerror) from None
        if network_options["enable_ipv6"] and network_options["mtu"] < IPV6_MIN_MTU:
            raise errors.InvalidParameterError("mtu", "%d is below %d, the least MTU of a network with an IPv6 subnet"
                                               % (network_options["mtu"], IPV6_MIN_MTU))

    def derived_options(self, network_id: str) -> dict:
        return {"bridge_name": BRIDGE_PREFIX + network_id[:12]}

    def check_conflicts(self, network_options: dict, others: list[NetworkRecord]) -> None:
        bridge = network_options["bridge_name"]
        for other in others:
            if other.options.get("bridge_name") == bridge:
                raise errors.InvalidParameterError("bridge_name", "%s is already the bridge of network %s"
                                                   % (bridge, other.name))

    # --- networks: the kernel, the host, the firewall -----------------------------------------

    def create_network(self, network: NetworkRecord) -> None:
        with rtnl.connect() as host, sysctl.Sysctls() as sysctls:
            self._ensure_bridge(host, sysctls, network)

    def _ensure_bridge(self, host: rtnl.Connection, sysctls: sysctl.Sysctls, network: NetworkRecord) -> rtnl.Link:
        """The bridge with its gateways. One pynet made is kept as the network says; one it adopted
        only gets the gateways here: what else it needs (MTU, up) is a recorded host setting."""
        opts = network.options
        name = opts["bridge_name"]
        bridge = host.link(name)
        if bridge is None:
            try:
                host.add_bridge(name, ipam.mac_from_id(network.id))
            except OSError as exc:
                if exc.errno != errno.EEXIST or host.link(name) is None:  # EEXIST: another process made it first
                    raise errors.KernelError.refused("cannot create bridge %s" % name, exc, "bridge_name") from None
            bridge = host.link(name)
        _check_is_bridge(bridge)
        own = _is_own(bridge, network)
        if own and bridge.alias != bridge_alias(network.id):  # just made, or by a run cut off before its alias
            host.set_alias(name, bridge_alias(network.id), mtu=opts["mtu"])
            bridge = host.link(name)
        if own:
            if bridge.mtu != opts["mtu"]:
                host.set_mtu(bridge.index, opts["mtu"])
            if any(pool.version == 6 for pool in network.pools):
                # Router advertisements come from tenants here: the host takes none of them.
                sysctls.write("net/ipv6/conf/%s/accept_ra" % name, 0)
            else:
                sysctls.write("net/ipv6/conf/%s/disable_ipv6" % name, 1)
        present = host.addresses().get(bridge.index, set())
        for pool in network.pools:
            if pool.gateway_cidr not in present:
                host.add_address(bridge.index, pool.gateway_cidr, flags=rtnl.IFA_F_NODAD)
        if own and not bridge.up:
            host.set_up(bridge.index)
        for port in _ports_without_hairpin(host, bridge):
            host.set_bridge_port(port, isolated=not opts["enable_icc"], hairpin=True)
        return bridge

    def delete_network(self, network: NetworkRecord) -> None:
        name = network.options["bridge_name"]
        with rtnl.connect() as host:
            bridge = host.link(name)
            if bridge is None:
                return
            if _is_own(bridge, network):
                host.delete_link(name)
            else:  # a bridge pynet adopted: take back only the addresses pynet put on it
                for pool in network.pools:
                    host.delete_address(bridge.index, pool.gateway_cidr)

    def network_drift(self, network: NetworkRecord) -> list[str]:
        name = network.options["bridge_name"]
        with rtnl.connect() as host:
            bridge = host.link(name)
            if bridge is None:
                return ["bridge %s is missing" % name]
            drift = []
            if not bridge.up:
                drift.append("bridge %s is down" % name)
            if bridge.mtu != network.options["mtu"]:
                drift.append("bridge %s has MTU %s, not %s" % (name, bridge.mtu, network.options["mtu"]))
            present = host.addresses().get(bridge.index, set())
            drift.extend("bridge %s lacks address %s" % (name, pool.gateway_cidr)
                         for pool in network.pools if pool.gateway_cidr not in present)
            drift.extend("veth %s is not in hairpin mode on bridge %s" % (port, name)
                         for port in _ports_without_hairpin(host, bridge))
            return drift

    def host_settings(self, network: NetworkRecord, published: bool) -> dict[str, str]:
        opts = network.options
        name = opts["bridge_name"]
        wanted = {}
        if not opts["internal"]:
            if any(pool.version == 4 for pool in network.pools):
                wanted[host_changes.IP_FORWARD] = "1"
            if any(pool.version == 6 for pool in network.pools):
                wanted[host_changes.IPV6_FORWARDING] = "1"
        if published and self.firewall_enabled:
            # The host's connections to a port published on 127.0.0.1 leave through the bridge from
            # 127.0.0.1, and the replies come back to it (firewall.py drops what tenants send there).
            wanted[host_changes.sysctl_setting("net/ipv4/conf/%s/route_localnet" % name)] = "1"
        with rtnl.connect() as connection:
            bridge = connection.link(name)
        if bridge is not None and not _is_own(bridge, network):  # adopted
            wanted[host_changes.setting(host_changes.MTU, name)] = str(opts["mtu"])
            wanted[host_changes.setting(host_changes.UP, name)] = "1"
        return wanted

    def tenant_links(self, network: NetworkRecord) -> set[str]:
        return {network.options["bridge_name"]}

    @staticmethod
    def owns_link(link: rtnl.Link) -> bool:
        return link.group == PYNET_LINK_GROUP or BridgeDriver.network_of_link(link) is not None

    @staticmethod
    def network_of_link(link: rtnl.Link) -> str | None:
        alias = link.alias or ""
        return alias[len(ALIAS_PREFIX):] if alias.startswith(ALIAS_PREFIX) else None

    def firewall_inputs(self, network: NetworkRecord,
                        ports: list[FirewallPort]) -> tuple[firewall.Interface, list[firewall.Dnat]]:
        opts = network.options
        bridge = opts["bridge_name"]
        host_side = firewall.Interface(bridge, [pool.subnet for pool in network.pools], opts["internal"],
                                       opts.get("enable_ip_masquerade", True), opts.get("enable_icc", True),
                                       snat=tuple(opts[name] for name in OUTBOUND_ADDRESSES if opts.get(name)),
                                       dns=tuple(pool.gateway for pool in network.pools) if opts.get("dns_enabled") else ())
        dnats = []
        for published in ports:
            port = published.port
            for address in (published.ipv4, published.ipv6):
                if address and (not port.host_ip or _same_version(port.host_ip, address)):
                    dnats.append(firewall.Dnat(bridge, port.protocol, port.host_ip, port.host_port,
                                               address.split("/")[0], port.container_port))
        return host_side, dnats

    # --- endpoints ----------------------------------------------------------------------------

    def host_ifname(self, endpoint_id: str) -> str:
        return VETH_PREFIX + endpoint_id[:12]

    def create_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[Exception | None]:
        opts = network.options
        outcome = [None] * len(endpoints)
        with rtnl.connect() as host, sysctl.Sysctls() as sysctls:
            bridge = host.link(opts["bridge_name"])
            if bridge is None or not bridge.up:
                bridge = self._ensure_bridge(host, sysctls, network)
            for index, endpoint in enumerate(endpoints):
                try:
                    self._make_endpoint(host, sysctls, bridge, network, endpoint)
                except Exception as exc:  # pylint: disable=broad-exception-caught  # reported, the batch goes on
                    host.delete_link(endpoint.host_ifname)
                    outcome[index] = exc
            # Ready means both ends pass traffic. The sandbox end went up last, so it has carrier at
            # once; the host end's carrier (and the bridge port's forwarding) goes through the kernel's
            # linkwatch, usually at once, at worst a second later. Waited for once the batch is made.
            for index, endpoint in enumerate(endpoints):
                if outcome[index] is None:
                    host.wait_oper_up(endpoint.host_ifname)
        return outcome

    def _make_endpoint(self, host: rtnl.Connection, sysctls: sysctl.Sysctls, bridge: rtnl.Link, network: NetworkRecord,
                       endpoint: EndpointRecord) -> None:
        opts = network.options
        sandbox_fd = netns.open_fd(endpoint.sandbox_key)
        try:
            self._add_veth(host, bridge, endpoint, sandbox_fd, opts["mtu"])
            # Hairpin, as Podman's and netavark's ports have it: where br_netfilter hands the hooks
            # bridged frames, a sandbox's connection to its own published port is DNATed back to the
            # port it came in on, which the bridge would otherwise never send it out of.
            host.set_bridge_port(endpoint.host_ifname, isolated=not opts["enable_icc"], hairpin=True)
            # The bridge port needs no address; without IPv6 it sends no DAD or MLD (the port
            # has no carrier, and so sends nothing, until the sandbox end is up).
            sysctls.write("net/ipv6/conf/%s/disable_ipv6" % endpoint.host_ifname, 1)
            with rtnl.connect(sandbox_fd) as sandbox:
                interface.configure(sandbox, sandbox_fd, sysctls, network, endpoint, self.routed_pools)
        finally:
            os.close(sandbox_fd)

    @staticmethod
    def _add_veth(host: rtnl.Connection, bridge: rtnl.Link, endpoint: EndpointRecord, sandbox_fd: int,
                  mtu: int) -> None:
        """The veth pair, host end up on the bridge; a pair left by a run that was cut off is replaced."""
        for attempt in (1, 2):
            try:
                host.add_veth(endpoint.host_ifname, endpoint.ifname, sandbox_fd, master=bridge.index,
                              peer_mac=endpoint.mac, mtu=mtu, group=PYNET_LINK_GROUP)
                return
            except OSError as exc:
                if exc.errno == errno.EEXIST and attempt == 1 and host.delete_link(endpoint.host_ifname):
                    continue
                raise errors.KernelError.refused("cannot create interface %s in sandbox %s"
                                                 % (endpoint.ifname, endpoint.sandbox_key), exc, "ifname") from None

    def set_default_route(self, network: NetworkRecord, endpoint: EndpointRecord) -> None:
        interface.set_default_route(network, endpoint, self.routed_pools)

    def delete_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> None:
        """Delete the host veths (their peers go with them) in one request: each deletion waits for an
        RCU grace period, so they are moved into a group of this process's and the group is deleted."""
        group, claim = _claim_teardown_group()
        with claim, rtnl.connect() as connection:
            moved = [endpoint for endpoint in endpoints if connection.set_group(endpoint.host_ifname, group)]
            if moved:
                connection.delete_group(group)
                # A bridge whose MTU was given when it was made (as `ip link add ... mtu` does) gets the
                # least of its ports', 1500 once the last one leaves: an adopted one gets its own back.
                bridge = connection.link(network.options["bridge_name"])
                if bridge is not None and bridge.mtu != network.options["mtu"]:
                    connection.set_mtu(bridge.index, network.options["mtu"])

    def endpoints_drift(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[list[str]]:
        bridge_name = network.options["bridge_name"]
        with rtnl.connect() as host:
            bridge = host.link(bridge_name)
            # A lookup by name per endpoint: a dump of the bridge's ports would cost as much for one
            # endpoint as for all of them.
            return [self._endpoint_drift(host, bridge, bridge_name, network, endpoint) for endpoint in endpoints]

    def _endpoint_drift(self, host: rtnl.Connection, bridge: rtnl.Link | None, bridge_name: str, network: NetworkRecord,
                        endpoint: EndpointRecord) -> list[str]:
        veth = endpoint.host_ifname
        drift = []
        link = host.link(veth)
        if link is None:
            return ["veth %s of endpoint %s is missing" % (veth, endpoint.name)]
        if bridge is None or link.master != bridge.index:
            drift.append("veth %s is not on bridge %s" % (veth, bridge_name))
        else:
            if not link.up:
                drift.append("veth %s is down" % veth)
            if link.isolated == network.options["enable_icc"]:  # enable_icc: false isolates the ports
                drift.append("veth %s is %s on bridge %s, though enable_icc is %s"
                             % (veth, "isolated" if link.isolated else "not isolated", bridge_name,
                                str(network.options["enable_icc"]).lower()))
        return drift + interface.drift(network, endpoint, routed=self.routed_pools)


def _ports_without_hairpin(host: rtnl.Connection, bridge: rtnl.Link) -> list[str]:
    """pynet's veths on the bridge that are not in hairpin mode (those of endpoints made by a pynet that
    did not set it): the network's repair sets it, without touching the endpoints."""
    return [link.name for link in host.links()
            if link.master == bridge.index and link.group == PYNET_LINK_GROUP and not link.hairpin]


def _check_outbound(network_options: dict, name: str, version: int) -> None:
    """host_ipv4/host_ipv6 replace the masquerade of that IP version: as Docker's, only where it is done."""
    if network_options["internal"] or not network_options["enable_ip_masquerade"]:
        raise errors.InvalidParameterError(name, "is the source address of the network's masqueraded traffic, and "
                                           "this network masquerades nothing (%s); leave it out, or set "
                                           "enable_ip_masquerade: true on a network that is not internal"
                                           % ("internal: true" if network_options["internal"]
                                              else "enable_ip_masquerade: false"))
    flag = dict(IP_VERSION_OPTIONS)[version]
    if not network_options[flag]:
        raise errors.InvalidParameterError(name, "the network has no IPv%d (%s is false); leave it out" % (version, flag))


def _is_own(bridge: rtnl.Link, network: NetworkRecord) -> bool:
    """Whether pynet made the bridge for this network (and so may change and delete it): it has pynet's
    alias, or, as a bridge made by a run cut off before its alias was set, the name and the MAC address
    that pynet derives for the network (no other bridge has that MAC: it comes from the network's id)."""
    return bridge.alias == bridge_alias(network.id) or (
        bridge.name == network.options["bridge_name"] and bridge.mac == ipam.mac_from_id(network.id))


def _same_version(host_ip: str, cidr: str) -> bool:
    return addresses.version(host_ip) == addresses.version(cidr)


def _claim_teardown_group() -> tuple[int, socket.socket]:
    """A teardown group no other pynet process on the host is using, and the socket that holds it:
    drawn at random (a PID repeats across PID namespaces) and held by binding an abstract socket
    named after it, which belongs to the network namespace, where the links are, and goes with the
    process however it ends. A group another process holds is drawn again."""
    while True:
        group = TEARDOWN_GROUP_BASE | int.from_bytes(os.urandom(3), "big")
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            claim.bind(TEARDOWN_CLAIM % group)
        except OSError as exc:
            claim.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            continue
        return group, claim


def _check_list(param: str, value: object, check) -> list:
    """A list of values each passing check(param[index], value), normalised; duplicates dropped."""
    if not isinstance(value, list):
        raise errors.InvalidParameterError(param, "must be a list, not %r" % (value,))
    checked = []
    for index, item in enumerate(value):
        normalised = check("%s[%d]" % (param, index), item)
        if normalised not in checked:
            checked.append(normalised)
    return checked


def _check_is_bridge(link: rtnl.Link) -> None:
    if link.kind != "bridge":
        raise errors.InvalidParameterError("bridge_name", "%s is already a %s device on this host, not a bridge; "
                                           "choose another name" % (link.name, link.kind or "non-bridge"))
