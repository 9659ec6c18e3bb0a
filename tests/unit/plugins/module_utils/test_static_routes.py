"""A network's `routes` option: normalised, or refused naming the item at fault."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, static_routes


def test_routes_are_normalised_with_netavarks_default_metric():
    assert static_routes.check_routes("routes", [
        {"destination": "10.90.0.0/16", "gateway": "10.89.0.254"},
        {"destination": "fd00:0090:0000::/48", "gateway": "fd00:89:0:0::fe", "metric": "7"}]) == [
        {"destination": "10.90.0.0/16", "gateway": "10.89.0.254", "metric": 100},
        {"destination": "fd00:90::/48", "gateway": "fd00:89::fe", "metric": 7}]
    # The same destination with another metric is another route.
    assert len(static_routes.check_routes("routes", [
        {"destination": "10.90.0.0/16", "gateway": "10.89.0.254"},
        {"destination": "10.90.0.0/16", "gateway": "10.89.0.253", "metric": 200}])) == 2


@pytest.mark.parametrize("value, param, message", [
    ({"destination": "10.90.0.0/16"}, "routes", "list of dicts"),
    ([{"destination": "::/0", "gateway": "fd00::1"}], "routes[0].destination", "default route"),
    ([{"destination": "10.90.0.0/16", "gateway": "10.89.0.254", "metric": 1 << 32}], "routes[0].metric",
     "out of range"),
    ([{"destination": "10.90.0.0/16", "gateway": "10.89.0.254", "metric": True}], "routes[0].metric",
     "not an integer"),
])
def test_bad_routes(value, param, message):
    with pytest.raises(errors.InvalidParameterError, match=message) as caught:
        static_routes.check_routes("routes", value)
    assert caught.value.param == param


def test_gateways_must_be_on_the_networks_subnets():
    routes = static_routes.check_routes("routes", [{"destination": "10.90.0.0/16", "gateway": "10.89.0.254"},
                                                   {"destination": "fd00:90::/48", "gateway": "fd00:89::fe"}])
    static_routes.check_gateways(routes, [ipaddress.ip_network("10.89.0.0/24"), ipaddress.ip_network("fd00:89::/64")])
    with pytest.raises(errors.InvalidParameterError, match=r"fd00:89::fe is not in a subnet of the network "
                       r"\(10.89.0.0/24\)") as caught:
        static_routes.check_gateways(routes, [ipaddress.ip_network("10.89.0.0/24")])
    assert caught.value.param == "routes[1].gateway"


def test_routes_of_the_versions_an_endpoint_has():
    opts = {"routes": static_routes.check_routes("routes", [
        {"destination": "10.90.0.0/16", "gateway": "10.89.0.254"},
        {"destination": "fd00:90::/48", "gateway": "fd00:89::fe"}])}
    assert [r["gateway"] for r in static_routes.of_endpoint(opts, {4: "10.89.0.2/24", 6: None}.get)] == ["10.89.0.254"]
    assert static_routes.of_endpoint({}, {4: "10.89.0.2/24"}.get) == []
