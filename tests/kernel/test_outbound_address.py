"""host_ipv4 / host_ipv6: a network's outgoing traffic leaves from a chosen host address (SNAT), as
Docker's com.docker.network.host_ipv4 and netavark's outbound_addr4/6; real traffic to an 'outside'."""

import subprocess

import pytest
from dataplane_world import HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6, UPLINK, World, ruleset
from pynet_testing import ip_json, run_module, store_snapshot
from traffic import tcp_connect_from

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors

SECOND_IP, SECOND_IP6 = "198.18.0.11", "fd00:198::11"


@pytest.fixture
def world(host):
    world = World(host)
    subprocess.run(["ip", "addr", "add", SECOND_IP + "/24", "dev", UPLINK], check=True)
    # Deprecated: the kernel never picks it as a source by itself (masquerade), only when it is asked to.
    subprocess.run(["ip", "addr", "add", SECOND_IP6 + "/64", "dev", UPLINK, "nodad", "preferred_lft", "0"], check=True)
    return world


def test_outgoing_traffic_leaves_from_the_chosen_addresses(world):
    chosen = world.network("chosen", "10.86.0.0/24,fd00:86::/64", host_ipv4=SECOND_IP, host_ipv6=SECOND_IP6)
    plain = world.network("plain", "10.86.1.0/24,fd00:87::/64")
    _ep, sandbox = world.endpoint(chosen)
    _ep2, sandbox2 = world.endpoint(plain)
    assert tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 5901, 5901) == SECOND_IP
    assert tcp_connect_from(sandbox, world.outside, "::", OUTSIDE_IP6, 5902, 5902) == SECOND_IP6
    # Another network still masquerades to the outgoing interface's address.
    assert tcp_connect_from(sandbox2, world.outside, "0.0.0.0", OUTSIDE_IP, 5903, 5903) == HOST_IP
    assert tcp_connect_from(sandbox2, world.outside, "::", OUTSIDE_IP6, 5904, 5904) == HOST_IP6
    snats = [item["rule"]["expr"][-1]["snat"] for item in ruleset()
             if "rule" in item and "snat" in item["rule"]["expr"][-1]]
    assert snats == [{"family": "ip", "addr": SECOND_IP}, {"family": "ip6", "addr": SECOND_IP6}]


def test_only_one_version_chosen_the_other_masquerades(world):
    net = world.network("half", "10.86.2.0/24,fd00:88::/64", host_ipv4=SECOND_IP)
    _ep, sandbox = world.endpoint(net)
    assert tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 5905, 5905) == SECOND_IP
    assert tcp_connect_from(sandbox, world.outside, "::", OUTSIDE_IP6, 5906, 5906) == HOST_IP6


def unchanged(world):
    store = {name: found for name, found in store_snapshot(world.host.state_dir).items() if not name.endswith("-shm")}
    return [link["ifname"] for link in ip_json("link", "show")], ruleset(), store


@pytest.mark.parametrize("options, param, message", [
    ({"host_ipv4": "198.18.0.99"}, "host_ipv4", "not an address of this host, and the network's outgoing traffic"),
    ({"host_ipv6": "fd00:198::99", "enable_ipv6": True}, "host_ipv6", "not an address of this host"),
    ({"host_ipv4": SECOND_IP6}, "host_ipv4", "not an IPv4 address"),
    ({"host_ipv6": SECOND_IP, "enable_ipv6": True}, "host_ipv6", "not an IPv6 address"),
    ({"host_ipv4": "banana"}, "host_ipv4", "not an IP address"),
    ({"host_ipv4": SECOND_IP, "enable_ip_masquerade": False}, "host_ipv4", "enable_ip_masquerade: false"),
    ({"host_ipv4": SECOND_IP, "internal": True}, "host_ipv4", "internal: true"),
    ({"host_ipv6": SECOND_IP6}, "host_ipv6", "enable_ipv6 is false"),
])
def test_bad_outbound_addresses_are_refused_before_any_change(world, options, param, message):
    before = unchanged(world)
    with pytest.raises(errors.InvalidParameterError, match=message) as caught:
        world.network("bad", "10.86.3.0/24", **options)
    assert caught.value.param == param
    assert unchanged(world) == before


def test_module_host_ipv4_idempotent_and_a_change_is_planned(world):
    args = {"name": "out", "state_dir": world.host.state_dir, "ipam": [{"subnet": "10.86.4.0/24"}],
            "host_ipv4": SECOND_IP}
    assert run_module("pynet_network", args)["changed"]
    assert not run_module("pynet_network", args)["changed"]
    moved = run_module("pynet_network", dict(args, host_ipv4=HOST_IP), check=True)
    assert moved["changed"] and moved["diff"]["before"]["options"]["host_ipv4"] == SECOND_IP
    assert moved["diff"]["after"]["options"]["host_ipv4"] == HOST_IP
    refused = run_module("pynet_network", dict(args, host_ipv4="198.18.0.99"))
    assert refused["failed"] and refused["param"] == "host_ipv4"
