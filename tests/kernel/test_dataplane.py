"""The bridge data plane with real traffic: NAT, published ports, isolation, internal networks,
IPv6 and multi-network sandboxes.

Each test builds its own small world inside its private 'host' namespace: an 'outside'
namespace joined to the host by a veth (198.18.0.0/24, fd00:198::/64), networks, sandboxes.
"""

import errno
import json
import os
import subprocess

import pytest
from dataplane_world import (HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6, World, address, pynet_tables,
                             rules_mentioning, ruleset)
from traffic import tcp_connect_from, tcp_reachable, udp_roundtrip

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import nftables

BRIDGE_NETFILTER = "/proc/sys/net/bridge/bridge-nf-call-iptables"  # per namespace


@pytest.fixture
def world(host):
    return World(host)


def test_published_tcp_and_udp_ports_and_masquerade(world):
    net = world.network("web", "10.89.40.0/24")
    ep, sandbox = world.endpoint(net, {"ports": [{"host_port": 8080, "container_port": 80},
                                                 {"host_port": 5353, "container_port": 53, "protocol": "udp"}]})
    assert ep.ports() == [{"protocol": "tcp", "host_ip": "", "host_port": 8080, "container_port": 80},
                          {"protocol": "udp", "host_ip": "", "host_port": 5353, "container_port": 53}]
    # From another host (the outside namespace) through the host's address.
    assert tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8080, 80) == OUTSIDE_IP
    assert udp_roundtrip(world.outside, sandbox, "0.0.0.0", HOST_IP, 5353, 53)
    # From the host itself, on 127.0.0.1 and on its own address.
    assert tcp_connect_from(None, sandbox, "0.0.0.0", "127.0.0.1", 8080, 80) is not None
    assert tcp_connect_from(None, sandbox, "0.0.0.0", HOST_IP, 8080, 80) is not None
    # Outbound: the outside sees the host's address, not the container's.
    assert tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 9000, 9000) == HOST_IP
    ep.delete()
    assert rules_mentioning(address_of_deleted := "8080") == [] and address_of_deleted
    assert tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8080, 80, timeout=1) is None


def test_host_port_zero_picks_a_free_port_and_conflicts_are_refused(world):
    net = world.network("web", "10.89.43.0/24")
    ep, sandbox = world.endpoint(net, {"ports": [{"container_port": 80}]})
    picked = ep.ports()[0]["host_port"]
    assert 49152 <= picked < 61000
    assert tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, picked, 80) == OUTSIDE_IP
    other_sandbox = world.controller.new_sandbox(world.host.sandbox_key("other")).key
    before = (ruleset(), [e.name for e in net.endpoints()])
    with pytest.raises(errors.InvalidParameterError, match=r"ports\[0\].host_port: %d/tcp on every address is "
                       r"already published by endpoint ep1 of network web" % picked):
        net.create_endpoint("clash", other_sandbox, {"ports": [{"host_port": picked, "container_port": 81}]})
    assert (ruleset(), [e.name for e in net.endpoints()]) == before
    # The same port number on another protocol is free.
    udp = {"host_port": picked, "container_port": 81, "protocol": "udp"}
    net.create_endpoint("udp", other_sandbox, {"ports": [udp]})


def test_networks_are_isolated_both_ways(world):
    a_net = world.network("a", "10.89.44.0/24")
    b_net = world.network("b", "10.89.45.0/24")
    ep_a, sandbox_a = world.endpoint(a_net)
    ep_b, sandbox_b = world.endpoint(b_net)
    ep_a2, sandbox_a2 = world.endpoint(a_net)
    assert tcp_reachable(sandbox_a, address(ep_a), sandbox_a2, timeout=3)  # same network: yes
    assert not tcp_reachable(sandbox_b, address(ep_b), sandbox_a, timeout=1)
    assert not tcp_reachable(sandbox_a, address(ep_a), sandbox_b, timeout=1)
    assert ep_a2 and ep_b


def test_enable_icc_false_blocks_the_same_network(world):
    net = world.network("noicc", "10.89.46.0/24", enable_icc=False)
    ep1, sandbox1 = world.endpoint(net)
    ep2, sandbox2 = world.endpoint(net)
    assert not tcp_reachable(sandbox1, address(ep1), sandbox2, timeout=1)
    assert not tcp_reachable(sandbox2, address(ep2), sandbox1, timeout=1)
    # It still reaches the outside.
    assert tcp_connect_from(sandbox1, world.outside, "0.0.0.0", OUTSIDE_IP, 9001, 9001) == HOST_IP
    # Isolation undone by hand is drift, and a repair restores it. The bridge's ports then reach each
    # other where bridged frames skip netfilter (without br_netfilter, or as here in this namespace);
    # with it, pynet's forward drop of enable_icc: false stops them too.
    if os.path.exists(BRIDGE_NETFILTER):
        with open(BRIDGE_NETFILTER, "w") as knob:
            knob.write("0")
    veth = ep1.sandbox_info()["interfaces"][0]["src_name"]
    subprocess.run(["ip", "link", "set", "dev", veth, "type", "bridge_slave", "isolated", "off"], check=True)
    assert ep1.drift() == ["veth %s is not isolated on bridge %s, though enable_icc is false"
                           % (veth, net.options["bridge_name"])]
    assert tcp_reachable(sandbox2, address(ep2), sandbox1, timeout=3)
    net.repair_endpoints([ep1])
    assert ep1.drift() == []
    assert not tcp_reachable(sandbox2, address(ep2), sandbox1, timeout=1)


def test_internal_network_reaches_nothing_outside_its_subnet(world):
    net = world.network("private", "10.89.47.0/24", internal=True)
    ep, sandbox = world.endpoint(net)
    peer, peer_sandbox = world.endpoint(net)
    assert ep.sandbox_info()["gateway"] is None
    world.route_outside_to("10.89.47.0/24")
    assert tcp_reachable(sandbox, address(ep), peer_sandbox, timeout=3)  # inside the subnet: yes
    assert not tcp_reachable(sandbox, address(ep), world.outside, timeout=1)  # from the outside: no
    subprocess.run(["nsenter", "--net=" + sandbox, "ip", "route", "add", "default", "via", "10.89.47.1"], check=True)
    assert tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 9002, 9002, timeout=1) is None
    assert rules_mentioning("masquerade") == []


def test_ipv6_same_network_and_published_port(world):
    net = world.network("dual", "10.89.48.0/24,fd00:89:48::/64")
    ep, sandbox = world.endpoint(net, {"ports": [{"host_port": 8443, "container_port": 443}]})
    peer, peer_sandbox = world.endpoint(net)
    assert tcp_connect_from(peer_sandbox, sandbox, "::", address(ep, 6), 4443, 4443) == address(peer, 6)
    assert tcp_connect_from(world.outside, sandbox, "::", HOST_IP6, 8443, 443) == OUTSIDE_IP6
    assert tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8443, 443) == OUTSIDE_IP


def test_sandbox_on_two_networks_reaches_both_with_one_default_route(world):
    a_net = world.network("a", "10.89.49.0/24")
    b_net = world.network("b", "10.89.50.0/24")
    on_a, sandbox_a = world.endpoint(a_net)
    on_b, sandbox_b = world.endpoint(b_net)
    both_a, both = world.endpoint(a_net)
    both_b, _same = world.endpoint(b_net, {"ifname": "eth1"}, sandbox=both)
    assert tcp_reachable(sandbox_a, address(on_a), both, timeout=3)
    assert tcp_reachable(sandbox_b, address(on_b), both, timeout=3)

    def default_routes():
        out = subprocess.run(["nsenter", "--net=" + both, "ip", "-j", "route", "show", "default"], check=True,
                             capture_output=True, text=True).stdout
        return [(route["gateway"], route["dev"]) for route in json.loads(out)]

    assert default_routes() == [("10.89.49.1", "eth0")]  # the oldest endpoint's network
    preferred, _same = world.endpoint(world.network("c", "10.89.51.0/24"), {"ifname": "eth2", "gw_priority": 10},
                                      sandbox=both)
    assert default_routes() == [("10.89.51.1", "eth2")]  # the highest gw_priority wins
    preferred.delete()
    assert default_routes() == [("10.89.49.1", "eth0")]
    both_a.delete()
    assert default_routes() == [("10.89.50.1", "eth1")]
    assert both_b


def test_rules_go_with_their_objects_and_the_tables_with_the_last_network(world):
    net = world.network("web", "10.89.52.0/24")
    other = world.network("other", "10.89.53.0/24")
    ep, _sandbox = world.endpoint(net, {"ports": [{"host_port": 8081, "container_port": 80}]})
    container = address(ep)
    assert rules_mentioning(container) and rules_mentioning(other.options["bridge_name"])
    ep.delete()
    assert rules_mentioning(container) == []
    other.delete()
    assert rules_mentioning(other.options["bridge_name"]) == []
    assert pynet_tables() == [("inet", world.controller.firewall_table)]
    net.delete()
    assert pynet_tables() == []


def test_flushed_table_is_reported_and_restored(world):
    net = world.network("web", "10.89.54.0/24")
    ep, sandbox = world.endpoint(net, {"ports": [{"host_port": 8082, "container_port": 80}]})
    table = world.controller.firewall_table
    subprocess.run(["nft", "flush", "table", "inet", table], check=True)
    assert any("nftables table inet %s has 0 rules" % table in line for line in net.drift())
    net.repair()
    assert net.drift() == []
    assert tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8082, 80) == OUTSIDE_IP
    assert ep


def test_other_tables_are_left_alone(world):
    """Tables of others, and the table of another pynet state directory, survive every change."""
    subprocess.run(["nft", "add", "table", "inet", "pynet_not_ours"], check=True)
    other_store = Controller(state_dir=os.path.join(world.host.root, "other-state"))
    other_store.new_network(other_store.driver("bridge"), "theirs", {"ipam": [{"subnet": "10.89.57.0/24"}]})
    assert other_store.firewall_table != world.controller.firewall_table
    net = world.network("web", "10.89.55.0/24")
    net.delete()
    tables = sorted(item["table"]["name"] for item in ruleset() if "table" in item)
    assert tables == sorted(["pynet_not_ours", other_store.firewall_table])
    assert rules_mentioning("10.89.57.0")


def test_firewall_off_touches_no_table(world):
    subprocess.run(["nft", "add", "table", "inet", world.controller.firewall_table], check=True)
    world.controller.new_network_driver("bridge", {"enable_firewall": False})
    net = world.network("web", "10.89.58.0/24")
    net.delete()
    assert pynet_tables() == [("inet", world.controller.firewall_table)]


def test_nftables_refusals_are_oserrors_and_the_user_is_told_enable_firewall(world, tmp_path, monkeypatch):
    """kernel/nftables.py raises OSError with the errno; the controller names the option that asks for a firewall."""
    with pytest.raises(OSError) as refused:  # a chain in a table that is not there
        nftables.apply([{"add": {"chain": {"family": "inet", "table": "pnt-missing", "name": "c"}}}])
    assert refused.value.errno == errno.ENOENT and "Error: No such file or directory" in str(refused.value)
    monkeypatch.setattr(nftables, "NFT_SEARCH_PATH", str(tmp_path))  # no nft there
    with pytest.raises(OSError) as missing:
        nftables.apply([])
    assert missing.value.errno == errno.ENOENT
    with pytest.raises(errors.KernelError) as told:
        world.network("web", "10.89.60.0/24")
    assert told.value.param == "enable_firewall"
    assert str(told.value) == "nft (the nftables package) is not installed; pynet programs its firewall with it"
    assert pynet_tables() == []


def test_forwarding_forbidden_by_the_driver(world):
    world.controller.new_network_driver("bridge", {"enable_ip_forward": False})
    with pytest.raises(errors.InvalidParameterError, match="internal: .*enable_ip_forward is false"):
        world.network("web", "10.89.56.0/24")
    assert world.controller.networks() == []
    world.network("inside", "10.89.56.0/24", internal=True)


def test_a_port_listed_twice_in_one_endpoint_is_refused(world):
    net = world.network("web", "10.89.59.0/24")
    sandbox = world.controller.new_sandbox(world.host.sandbox_key("twice")).key
    with pytest.raises(errors.InvalidParameterError, match=r"^ports\[1\].host_port: 18185/tcp"):
        twice = [{"host_port": 18185, "container_port": 80}, {"host_port": 18185, "container_port": 81}]
        net.create_endpoint("twice", sandbox, {"ports": twice})
    assert net.endpoints() == []


def test_ipv6_networks_are_isolated_and_masqueraded(world):
    a_net = world.network("a6", "10.89.60.0/24,fd00:89:60::/64")
    b_net = world.network("b6", "10.89.61.0/24,fd00:89:61::/64")
    ep_a, sandbox_a = world.endpoint(a_net)
    ep_b, sandbox_b = world.endpoint(b_net)
    assert tcp_connect_from(sandbox_b, sandbox_a, "::", address(ep_a, 6), 5601, 5601, timeout=1) is None
    assert tcp_connect_from(sandbox_a, sandbox_b, "::", address(ep_b, 6), 5602, 5602, timeout=1) is None
    # Outbound over IPv6: the outside sees the host's address.
    assert tcp_connect_from(sandbox_a, world.outside, "::", OUTSIDE_IP6, 5603, 5603) == HOST_IP6
