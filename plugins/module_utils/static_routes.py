# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A network's `routes`: routes every sandbox of the network gets through its interface there, as
netavark's and the CNI IPAM's `routes` option (destination, gateway, metric)."""

from __future__ import annotations

from collections.abc import Callable

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, options

KEYS = ("destination", "gateway", "metric")
DEFAULT_METRIC = 100  # netavark's
MAX_METRIC = (1 << 32) - 1
ARGUMENT_SPEC = dict(
    destination=dict(type="str", required=True),
    gateway=dict(type="str", required=True),
    metric=dict(type="int"),
)


def check_routes(param: str, value: object) -> list[dict]:
    """The `routes` option normalised: a list of {destination (a CIDR without host bits), gateway (an
    address of the same IP version), metric}; default routes are the gateway policy's, not these."""
    routes = []
    for where, entry in options.list_of_dicts(param, value, KEYS):
        if not entry.get("destination") or not entry.get("gateway"):
            raise errors.InvalidParameterError(where, "needs destination (a CIDR such as 10.90.0.0/16) and gateway "
                                               "(an address in one of the network's subnets)")
        try:
            destination = addresses.interface(str(entry["destination"]))
        except ValueError:
            raise errors.InvalidParameterError(where + ".destination", "%r is not a CIDR (such as 10.90.0.0/16)"
                                               % (entry["destination"],)) from None
        if destination.ip != destination.network.network_address:
            raise errors.InvalidParameterError(where + ".destination", "%s has host bits set; use %s"
                                               % (entry["destination"], destination.network))
        if destination.network.prefixlen == 0:
            raise errors.InvalidParameterError(where + ".destination", "%s is a default route: a sandbox's default "
                                               "route is its networks' gateway, chosen by the endpoints' gw_priority "
                                               "(no_default_route: true keeps a network from giving it)"
                                               % destination.network)
        gateway = options.check_ip(where + ".gateway", entry["gateway"])
        if addresses.version(gateway) != destination.version:
            raise errors.InvalidParameterError(where + ".gateway", "%s is not an IPv%d address, as destination %s is"
                                               % (gateway, destination.version, destination.network))
        metric = DEFAULT_METRIC if entry.get("metric") is None else \
            options.int_between(0, MAX_METRIC)(where + ".metric", entry["metric"])
        route = {"destination": str(destination.network), "gateway": str(addresses.address(gateway)),
                 "metric": metric}
        if any(other["destination"] == route["destination"] and other["metric"] == metric for other in routes):
            raise errors.InvalidParameterError(where + ".destination", "%s with metric %d is listed twice"
                                               % (route["destination"], metric))
        routes.append(route)
    return routes


def check_gateways(routes: list[dict], subnets: list) -> None:
    """Each route's gateway must be on the network's link: inside one of its subnets (ipaddress networks)."""
    for index, route in enumerate(routes):
        gateway = addresses.address(route["gateway"])
        if not any(gateway.version == subnet.version and gateway in subnet for subnet in subnets):
            listed = ", ".join(str(subnet) for subnet in subnets) or "none"
            raise errors.InvalidParameterError("routes[%d].gateway" % index, "%s is not in a subnet of the network "
                                               "(%s): a sandbox reaches a gateway on the network's link only"
                                               % (gateway, listed))


def of_endpoint(network_options: dict, address_of: Callable[[int], str | None]) -> list[dict]:
    """The routes an endpoint's sandbox gets: those of the IP versions it has an address of
    (address_of(version), as EndpointRecord.address)."""
    return [route for route in network_options.get("routes") or [] if address_of(addresses.version(route["gateway"]))]


def install(sandbox, routes: list[dict], index: int) -> None:
    """Give the sandbox (an rtnl.Connection) the routes through its link `index`."""
    for route in routes:
        sandbox.add_route(route["destination"], route["gateway"], index, route["metric"])


def drift(sandbox, routes: list[dict], index: int, where: str) -> list[str]:
    """The routes the sandbox (an rtnl.Connection) lacks through its link `index`, as sentences."""
    if not routes:
        return []
    present = {(found.destination, found.gateway, found.oif, found.metric) for found in sandbox.routes()}
    return ["%s has no route to %s via %s metric %d" % (where, route["destination"], route["gateway"], route["metric"])
            for route in routes if (route["destination"], route["gateway"], index, route["metric"]) not in present]
