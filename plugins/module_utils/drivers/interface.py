# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An endpoint's interface inside its sandbox, whatever made it (a veth's peer, a macvlan): its addresses,
its link up, the sandbox's default routes through it and the network's routes, and what of that the
kernel lacks. The drivers whose endpoints are interfaces share it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ansible_collections.pynet.libnetwork.plugins.module_utils import static_routes
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl, sysctl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import EndpointRecord, NetworkRecord, Pool

if TYPE_CHECKING:
    from typing import Callable

    RoutedPools = Callable[[NetworkRecord, EndpointRecord], list[Pool]]


def configure(sandbox: rtnl.Connection, sandbox_fd: int, sysctls: sysctl.Sysctls, network: NetworkRecord,
              endpoint: EndpointRecord, routed: RoutedPools | None = None) -> None:
    """Addresses, link up (and the loopback), default routes and the network's routes, on the interface
    `endpoint.ifname` that is already in the sandbox (`sandbox` a connection to it, `sandbox_fd` its fd)."""
    ifname = endpoint.ifname
    if not endpoint.ipv6:
        # Before it is up: an IPv4-only sandbox runs no IPv6 autoconf.
        with netns.entered(sandbox_fd):
            sysctls.write("net/ipv6/conf/%s/disable_ipv6" % ifname, 1)
    index = sandbox.link(ifname).index
    if endpoint.ipv4:
        sandbox.add_address(index, endpoint.ipv4)
    if endpoint.ipv6:
        # No duplicate address detection: the address is ours by allocation and usable at once.
        sandbox.add_address(index, endpoint.ipv6, flags=rtnl.IFA_F_NODAD)
    sandbox.set_up(index)
    sandbox.set_up(rtnl.LOOPBACK_INDEX)
    set_default_routes(sandbox, network, endpoint, index, routed)
    static_routes.install(sandbox, static_routes.of_endpoint(network.options, endpoint.address), index)


def routed_pools(network: NetworkRecord, endpoint: EndpointRecord) -> list[Pool]:
    """The pools whose gateway is the sandbox's default route through this endpoint (see sandbox.py)."""
    routed = [pool for pool in network.pools if pool.version in endpoint.default_routes]
    return [pool for pool in routed if endpoint.address(pool.version) and pool.holds(endpoint.address(pool.version))]


def set_default_routes(sandbox: rtnl.Connection, network: NetworkRecord, endpoint: EndpointRecord,
                       index: int, routed: RoutedPools | None = None) -> None:
    """`routed` gives the pools whose gateways route (routed_pools unless a driver has its own, as overlay's
    per-block gateways)."""
    for pool in (routed or routed_pools)(network, endpoint):
        sandbox.set_default_route(pool.gateway, index)


def set_default_route(network: NetworkRecord, endpoint: EndpointRecord, routed: RoutedPools | None = None) -> None:
    """Driver.set_default_route for an interface in the sandbox."""
    with rtnl.connect(endpoint.sandbox_key) as sandbox:
        found = sandbox.link(endpoint.ifname)
        if found is not None:
            set_default_routes(sandbox, network, endpoint, found.index, routed)


def drift(network: NetworkRecord, endpoint: EndpointRecord, kind: str | None = None,
          routed: RoutedPools | None = None) -> list[str]:
    """What the sandbox lacks of the endpoint's interface (of link kind `kind`, if given), as sentences."""
    if not netns.is_netns(endpoint.sandbox_key):
        return ["sandbox %s is missing" % endpoint.sandbox_key]
    with rtnl.connect(endpoint.sandbox_key) as sandbox:
        found = sandbox.link(endpoint.ifname)
        if found is None:
            return ["interface %s is missing in sandbox %s" % (endpoint.ifname, endpoint.sandbox_key)]
        if kind is not None and found.kind != kind:
            return ["interface %s in sandbox %s is a %s, not a %s"
                    % (endpoint.ifname, endpoint.sandbox_key, found.kind, kind)]
        differ = []
        present = sandbox.addresses().get(found.index, set())
        for address in (endpoint.ipv4, endpoint.ipv6):
            if address and address not in present:
                differ.append("interface %s lacks address %s" % (endpoint.ifname, address))
        if not found.up:
            differ.append("interface %s is down" % endpoint.ifname)
        routed = (routed or routed_pools)(network, endpoint)
        gateways = sandbox.default_gateways() if routed else {}
        differ.extend("sandbox %s has no IPv%d default route via %s" % (endpoint.sandbox_key, pool.version,
                                                                        pool.gateway)
                      for pool in routed if gateways.get(pool.version) != pool.gateway)
        differ.extend(static_routes.drift(sandbox, static_routes.of_endpoint(network.options, endpoint.address),
                                          found.index, "sandbox %s" % endpoint.sandbox_key))
        return differ
