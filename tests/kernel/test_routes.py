"""A network's `routes` and `no_default_route`, against the real kernel with real traffic: routes in
every sandbox of the network, through a router namespace on the network's link; drift repaired; gone
with the endpoint; networks that never give the default route."""

import subprocess

import pytest
from dataplane_world import World, address, ruleset
from pynet_testing import ip_json, run_module, store_snapshot
from traffic import tcp_connect_from

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

REMOTE_NET = "10.99.0.0/24"
ROUTER_REMOTE_IP, REMOTE_IP = "10.99.0.1", "10.99.0.2"


def in_ns(key, *argv):
    subprocess.run(["nsenter", "--net=" + key] + list(argv), check=True)


@pytest.fixture
def world(host):
    return World(host)


def routes_of(key, version=4):
    return {(route["dst"], route.get("gateway"), route.get("metric", 0)) for route in
            ip_json("-%d" % version, "route", "show", key=key) if "gateway" in route}


def remote_behind(world, network, router_ip):
    """A router sandbox on `network` at router_ip, and a 'remote' namespace behind it (REMOTE_NET) that
    routes back to the network's subnet through it; returns the remote's key."""
    router = world.controller.new_sandbox(world.host.sandbox_key("router")).key
    network.create_endpoint("router", router, {"ip": router_ip})
    remote = world.host.sandbox_key("remote")
    netns.create(remote)
    in_ns(router, "ip", "link", "add", "pnt-r", "type", "veth", "peer", "name", "eth0", "netns", remote)
    in_ns(router, "ip", "addr", "add", ROUTER_REMOTE_IP + "/24", "dev", "pnt-r")
    in_ns(router, "ip", "link", "set", "pnt-r", "up")
    in_ns(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    in_ns(remote, "ip", "addr", "add", REMOTE_IP + "/24", "dev", "eth0")
    in_ns(remote, "ip", "link", "set", "eth0", "up")
    in_ns(remote, "ip", "link", "set", "lo", "up")
    in_ns(remote, "ip", "route", "add", network.options["ipam"][0]["subnet"], "via", ROUTER_REMOTE_IP)
    return remote


def test_routes_reach_a_network_behind_a_router_in_every_sandbox(world):
    net = world.network("routed", "10.80.0.0/24,fd00:80::/64", routes=[
        {"destination": REMOTE_NET, "gateway": "10.80.0.254"},
        {"destination": "fd00:99::/64", "gateway": "fd00:80::fe", "metric": 50}])
    remote = remote_behind(world, net, "10.80.0.254")
    ep1, sandbox1 = world.endpoint(net)
    ep2, sandbox2 = world.endpoint(net)
    for key in (sandbox1, sandbox2):
        assert (REMOTE_NET, "10.80.0.254", 100) in routes_of(key)
        assert ("fd00:99::/64", "fd00:80::fe", 50) in routes_of(key, 6)
    # Through the router, not the host: the remote sees each sandbox's own address (no NAT on the way).
    assert tcp_connect_from(sandbox1, remote, "0.0.0.0", REMOTE_IP, 5801, 5801) == address(ep1)
    assert tcp_connect_from(sandbox2, remote, "0.0.0.0", REMOTE_IP, 5802, 5802) == address(ep2)
    # Drift: a route removed is reported and put back.
    in_ns(sandbox1, "ip", "route", "del", REMOTE_NET)
    assert net.endpoints_drift([ep1]) == [["sandbox %s has no route to %s via 10.80.0.254 metric 100"
                                           % (sandbox1, REMOTE_NET)]]
    net.repair_endpoints([ep1])
    assert net.endpoints_drift([ep1]) == [[]]
    assert tcp_connect_from(sandbox1, remote, "0.0.0.0", REMOTE_IP, 5803, 5803) == address(ep1)
    # Gone with the endpoint: nothing routes the sandbox there any more.
    ep1.delete()
    assert routes_of(sandbox1) == set() and routes_of(sandbox1, 6) == set()
    assert tcp_connect_from(sandbox1, remote, "0.0.0.0", REMOTE_IP, 5804, 5804, timeout=1) is None


def test_routes_of_a_version_the_endpoint_lacks_are_left_out(world):
    net = world.network("v4only", "10.80.1.0/24",
                        routes=[{"destination": "10.98.0.0/16", "gateway": "10.80.1.200", "metric": 7}])
    ep, sandbox = world.endpoint(net)
    assert routes_of(sandbox) == {("default", "10.80.1.1", 0), ("10.98.0.0/16", "10.80.1.200", 7)}
    assert net.endpoints_drift([ep]) == [[]]


def test_no_default_route_network_never_gives_the_default_route(world):
    quiet = world.network("quiet", "10.80.2.0/24,fd00:82::/64", no_default_route=True)
    loud = world.network("loud", "10.80.3.0/24,fd00:83::/64")
    ep_quiet, sandbox = world.endpoint(quiet, {"gw_priority": 100})
    # Alone on a no_default_route network: no default route at all, but its subnet is reached.
    assert not ip_json("-4", "route", "show", "default", key=sandbox)
    assert not ip_json("-6", "route", "show", "default", key=sandbox)
    assert ep_quiet.default_routes() == ()
    assert quiet.endpoints_drift([ep_quiet]) == [[]]
    # Joined to another network: the default route is the other's, whatever the gw_priority says.
    ep_loud = loud.create_endpoint("loud1", sandbox, {"ifname": "eth1"})
    assert [r["gateway"] for r in ip_json("-4", "route", "show", "default", key=sandbox)] == ["10.80.3.1"]
    assert [r["gateway"] for r in ip_json("-6", "route", "show", "default", key=sandbox)] == ["fd00:83::1"]
    assert ep_loud.default_routes() == (4, 6)
    # The other one leaves: still no default route through the quiet network.
    ep_loud.delete()
    assert not ip_json("-4", "route", "show", "default", key=sandbox)


def test_module_routes_check_mode_diff_and_drift(world):
    args = {"name": "mr", "state_dir": world.host.state_dir, "ipam": [{"subnet": "10.80.4.0/24"}],
            "routes": [{"destination": "10.97.0.0/16", "gateway": "10.80.4.254"}]}
    created = run_module("pynet_network", args)
    assert created["changed"] and created["network"]["options"]["routes"] == [
        {"destination": "10.97.0.0/16", "gateway": "10.80.4.254", "metric": 100}]
    assert not run_module("pynet_network", args)["changed"]
    # The same routes written another way are no change; another metric is (and recreates the network).
    same = dict(args, routes=[{"destination": "10.97.0.0/16", "gateway": "10.80.4.254", "metric": 100}])
    assert not run_module("pynet_network", same)["changed"]
    other = dict(args, routes=[{"destination": "10.97.0.0/16", "gateway": "10.80.4.254", "metric": 9}])
    check = run_module("pynet_network", other, check=True)
    assert check["changed"] and check["diff"]["after"]["options"]["routes"][0]["metric"] == 9
    assert not run_module("pynet_network", args)["changed"]  # check mode changed nothing
    sandbox = world.controller.new_sandbox(world.host.sandbox_key("m1")).key
    endpoint = {"name": "m1", "network": "mr", "sandbox": sandbox, "state_dir": world.host.state_dir}
    assert run_module("pynet_endpoint", endpoint)["changed"]
    in_ns(sandbox, "ip", "route", "del", "10.97.0.0/16")
    drift = run_module("pynet_endpoint", endpoint, check=True)
    assert drift["changed"] and "no route to 10.97.0.0/16" in str(drift["diff"]["before"])
    assert run_module("pynet_endpoint", endpoint)["changed"]
    assert ("10.97.0.0/16", "10.80.4.254", 100) in routes_of(sandbox)
    assert not run_module("pynet_endpoint", endpoint)["changed"]


def unchanged(world):
    store = {name: found for name, found in store_snapshot(world.host.state_dir).items() if not name.endswith("-shm")}
    return [link["ifname"] for link in ip_json("link", "show")], ruleset(), store


@pytest.mark.parametrize("routes, param, message", [
    ("10.0.0.0/8", "routes", "list of dicts"),
    ([{"destination": "10.97.0.0/16"}], "routes[0]", "needs destination"),
    ([{"destination": "10.97.0.1/16", "gateway": "10.80.5.254"}], "routes[0].destination", "host bits"),
    ([{"destination": "bogus", "gateway": "10.80.5.254"}], "routes[0].destination", "not a CIDR"),
    ([{"destination": "0.0.0.0/0", "gateway": "10.80.5.254"}], "routes[0].destination", "gw_priority"),
    ([{"destination": "fd00:97::/64", "gateway": "10.80.5.254"}], "routes[0].gateway", "not an IPv6 address"),
    ([{"destination": "10.97.0.0/16", "gateway": "10.81.0.1"}], "routes[0].gateway", "not in a subnet"),
    ([{"destination": "10.97.0.0/16", "gateway": "10.80.5.254", "metric": -1}], "routes[0].metric", "out of range"),
    ([{"destination": "10.97.0.0/16", "gateway": "10.80.5.254"}, {"destination": "10.97.0.0/16",
                                                                  "gateway": "10.80.5.253"}],
     "routes[1].destination", "listed twice"),
    ([{"destination": "10.97.0.0/16", "gateway": "10.80.5.254", "via": "x"}], "routes[0]", "unknown key"),
])
def test_bad_routes_are_refused_before_any_change(world, routes, param, message):
    before = unchanged(world)
    with pytest.raises(errors.InvalidParameterError, match=message) as caught:
        world.network("bad", "10.80.5.0/24", routes=routes)
    assert caught.value.param == param
    assert unchanged(world) == before
