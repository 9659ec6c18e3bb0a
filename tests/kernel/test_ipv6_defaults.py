"""IPv6 without hand-picked subnets: a unique local /64 per network (RFC 4193), IPv6-only networks
(enable_ipv4: false) and the bridge driver's default_address_pools, with real traffic."""

import ipaddress
import json

import pytest
from dataplane_world import HOST_IP6, OUTSIDE_IP6, World, address, ruleset
from pynet_testing import ip_json, run_module, store_snapshot
from traffic import tcp_connect_from, tcp_exchange

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl


@pytest.fixture
def world(host):
    return World(host)


def subnets(network, version):
    return [ipaddress.ip_network(pool["subnet"]) for pool in network.options["ipam"]
            if ipaddress.ip_network(pool["subnet"]).version == version]


def unchanged(world):
    """What a refused request must leave as it was: the links, the firewall and the store."""
    store = {name: found for name, found in store_snapshot(world.host.state_dir).items()
             if not name.endswith("-shm")}  # readers' shared memory, not the state
    return [link["ifname"] for link in ip_json("link", "show")], ruleset(), store


def test_enable_ipv6_without_a_pool_takes_a_ula_64_of_the_network_and_keeps_it(world):
    driver = world.controller.driver("bridge")
    net = world.controller.new_network(driver, "v6", {"enable_ipv6": True})
    other = world.controller.new_network(driver, "v6b", {"enable_ipv6": True})
    [ula] = subnets(net, 6)
    # fd00::/8, the 40-bit global id of the network's own (from its random id), subnet id 0.
    assert ula.prefixlen == 64 and ula.subnet_of(ipaddress.ip_network("fd00::/8"))
    assert ula == ipaddress.ip_network("fd%s:%s:%s::/64" % (net.id[0:2], net.id[2:6], net.id[6:10]))
    [other_ula] = subnets(other, 6)
    assert not ula.overlaps(other_ula) and len(subnets(net, 4)) == 1
    ep1, sandbox1 = world.endpoint(net)
    ep2, sandbox2 = world.endpoint(net)
    assert ipaddress.ip_address(address(ep1, 6)) in ula
    got = tcp_exchange(sandbox1, address(ep1, 6), sandbox2)
    assert got[2] == address(ep2, 6)
    # Out through the host, masqueraded to its IPv6 address.
    assert tcp_connect_from(sandbox1, world.outside, "::", OUTSIDE_IP6, 5701, 5701) == HOST_IP6
    # Repair after damage keeps the prefix: it is recorded with the network.
    with rtnl.connect() as host:
        host.delete_link(net.options["bridge_name"])
    net.repair()
    net.repair_endpoints(net.endpoints())
    assert subnets(world.controller.network_by_name("v6"), 6) == [ula]
    assert tcp_exchange(sandbox1, address(ep1, 6), sandbox2, port=5702)[2] == address(ep2, 6)


def test_ula_subnet_skips_what_is_taken(world):
    from ansible_collections.pynet.libnetwork.plugins.module_utils import ipam
    network_id = "ab" * 32
    site_first = ipaddress.ip_network("fdab:abab:abab::/64")
    with world.controller.store.trial() as tx:
        assert ipam.ula_subnet(tx, network_id, []) == site_first
        assert ipam.ula_subnet(tx, network_id, [site_first]) == ipaddress.ip_network("fdab:abab:abab:1::/64")
        # A route or address on the host covering the whole /48 leaves no /64 of it.
        with pytest.raises(errors.InvalidParameterError, match="unique local prefix"):
            ipam.ula_subnet(tx, network_id, [ipaddress.ip_network("fdab:abab:abab::/48")])


def test_ipv6_only_network_has_no_ipv4_and_no_ipv4_nat(world):
    net = world.controller.new_network(world.controller.driver("bridge"), "only6",
                                       {"enable_ipv4": False, "enable_ipv6": True})
    assert subnets(net, 4) == [] and len(subnets(net, 6)) == 1
    ep1, sandbox1 = world.endpoint(net)
    ep2, sandbox2 = world.endpoint(net)
    info = ep1.sandbox_info()
    assert info["interfaces"][0]["address"] is None and info["gateway"] is None
    assert not [a for link in ip_json("-4", "addr", "show", "eth0", key=sandbox1) for a in link["addr_info"]]
    assert ip_json("-4", "route", "show", key=sandbox1) == []
    assert [r["gateway"] for r in ip_json("-6", "route", "show", "default", key=sandbox1)] == \
        [str(subnets(net, 6)[0][1])]
    assert not [a for link in ip_json("-4", "addr", "show", net.options["bridge_name"]) for a in link["addr_info"]]
    # TCP over IPv6 only: between the sandboxes, and out through the host.
    assert tcp_exchange(sandbox1, address(ep1, 6), sandbox2)[2] == address(ep2, 6)
    assert tcp_connect_from(sandbox2, world.outside, "::", OUTSIDE_IP6, 5703, 5703) == HOST_IP6
    masquerades = [json.dumps(item["rule"]["expr"]) for item in ruleset() if "rule" in item
                   and item["rule"]["table"].startswith("pynet") and '"masquerade"' in json.dumps(item["rule"]["expr"])]
    assert masquerades and all('"protocol": "ip6"' in rule and '"protocol": "ip"' not in rule for rule in masquerades)
    # IPv4 forwarding is none of this network's business.
    assert "net/ipv4/ip_forward" not in str(world.controller.host_changes())


def test_default_address_pools_of_both_versions(world):
    driver = world.controller.new_network_driver("bridge", {"default_address_pools": [
        {"base": "10.77.0.0/16", "size": 26}, {"base": "fd00:77::/48", "size": 64}]})
    first = world.controller.new_network(driver, "p1", {"enable_ipv6": True})
    second = world.controller.new_network(driver, "p2", {"enable_ipv6": True})
    only4 = world.controller.new_network(driver, "p3", {})
    assert [str(s) for s in subnets(first, 4) + subnets(first, 6)] == ["10.77.0.0/26", "fd00:77::/64"]
    assert [str(s) for s in subnets(second, 4) + subnets(second, 6)] == ["10.77.0.64/26", "fd00:77:0:1::/64"]
    assert [str(s) for s in subnets(only4, 4)] == ["10.77.0.128/26"] and subnets(only4, 6) == []
    ep1, sandbox1 = world.endpoint(second)
    ep2, sandbox2 = world.endpoint(second)
    assert address(ep1, 6).startswith("fd00:77:0:1::")
    assert tcp_exchange(sandbox1, address(ep1, 6), sandbox2)[2] == address(ep2, 6)
    # A configured IPv6 pool that is full: the error names the option, nothing changes.
    driver = world.controller.new_network_driver("bridge", {"default_address_pools": [
        {"base": "fd00:78::/63", "size": 64}]})
    world.controller.new_network(driver, "q1", {"enable_ipv6": True})
    world.controller.new_network(driver, "q2", {"enable_ipv6": True})
    with pytest.raises(errors.InvalidParameterError, match=r"ipam: no free subnet is left in the bridge driver's "
                       r"default_address_pools \(/64 of fd00:78::/63\)"):
        world.controller.new_network(driver, "q3", {"enable_ipv6": True})


@pytest.mark.parametrize("options, param, message", [
    ({"enable_ipv4": False, "ipam": [{"subnet": "10.89.90.0/24"}]}, "enable_ipv4", "has an IPv4 subnet"),
    ({"enable_ipv6": False, "ipam": [{"subnet": "fd00:90::/64"}]}, "enable_ipv6", "has an IPv6 subnet"),
    ({"enable_ipv4": False}, "enable_ipv4", "at least one IP version"),
    ({"enable_ipv4": "maybe"}, "enable_ipv4", "not a boolean"),
])
def test_bad_ip_version_options_change_nothing(world, options, param, message):
    before = unchanged(world)
    with pytest.raises(errors.InvalidParameterError, match=message) as caught:
        world.controller.new_network(world.controller.driver("bridge"), "bad", options)
    assert caught.value.param == param
    assert unchanged(world) == before


@pytest.mark.parametrize("pools, param, message", [
    ("10.0.0.0/8", "options.default_address_pools", "list of dicts"),
    ([{"base": "10.0.0.0/8"}], "options.default_address_pools[0]", "needs base"),
    ([{"base": "10.0.0.0/8", "size": 31}], "options.default_address_pools[0].size", "allowed 8 to 30"),
    ([{"base": "fd00::/48", "size": 40}], "options.default_address_pools[0].size", "allowed 48 to 126"),
    ([{"base": "10.1.0.1/16", "size": 24}], "options.default_address_pools[0].base", "host bits"),
    ([{"base": "10.0.0.0/8", "size": 24}, {"base": "10.9.0.0/16", "size": 24}],
     "options.default_address_pools[1].base", "overlaps 10.0.0.0/8"),
    ([{"base": "10.0.0.0/8", "size": 24, "gateway": "x"}], "options.default_address_pools[0]", "unknown key"),
])
def test_bad_default_address_pools_are_refused(world, pools, param, message):
    result = run_module("pynet_driver", {"name": "bridge", "state_dir": world.host.state_dir,
                                         "options": {"default_address_pools": pools}})
    assert result.get("failed") and result["param"] == param and message in result["msg"], result


def test_module_ipv6_defaults_are_idempotent_and_check_mode_predicts(world):
    args = {"name": "m6", "enable_ipv6": True, "state_dir": world.host.state_dir}
    check = run_module("pynet_network", args, check=True)
    assert check["changed"] and not check.get("failed")
    predicted = [pool["subnet"] for pool in check["network"]["options"]["ipam"]]
    assert predicted[0] == "10.89.0.0/24" and predicted[1].startswith("fd")
    first = run_module("pynet_network", args)
    assert first["changed"] and first["network"]["options"]["enable_ipv4"] is True
    again = run_module("pynet_network", args)
    assert not again["changed"], again["diff"]
    assert again["network"]["options"]["ipam"] == first["network"]["options"]["ipam"]
    # Turning IPv4 off takes the default IPv4 pool along (the network is recreated), keeping the ULA.
    off4 = run_module("pynet_network", dict(args, enable_ipv4=False), check=True)
    kept = first["network"]["options"]["ipam"][1:]
    assert off4["changed"] and off4["diff"]["after"]["options"]["ipam"] == kept
    real = run_module("pynet_network", dict(args, enable_ipv4=False))
    assert real["network"]["options"]["ipam"] == kept
    assert not run_module("pynet_network", dict(args, enable_ipv4=False))["changed"]
