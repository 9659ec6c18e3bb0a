"""The macvlan driver against the real kernel, with real traffic: sandboxes on the L2 of a parent (a veth
whose peer is an 'l2peer' namespace, the router and the other machines of that L2), in each mode; drift
and repair; the refusals, ipvlan's (this kernel has none) included."""

import os
import subprocess

import pytest
from dataplane_world import pynet_tables, ruleset
from pynet_testing import ip_json, run_module, store_snapshot
from traffic import tcp_connect_from, tcp_exchange, tcp_reachable

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl

PARENT = "pnt-par"
PEER_IP, PEER_IP6 = "10.88.0.1", "fd00:88::1"


def in_ns(key, *argv):
    subprocess.run(["nsenter", "--net=" + key] + list(argv), check=True)


class L2:
    """The test host with a parent interface whose other end is the l2peer namespace."""

    def __init__(self, host):
        self.host = host
        self.controller = Controller(state_dir=host.state_dir)
        os.makedirs(host.netns_dir, exist_ok=True)
        self.peer = host.sandbox_key("l2peer")
        netns.create(self.peer)
        fd = netns.open_fd(self.peer)
        try:
            with rtnl.connect() as here:
                here.add_veth(PARENT, "eth0", fd)
        finally:
            os.close(fd)
        in_ns(self.peer, "ip", "addr", "add", PEER_IP + "/24", "dev", "eth0")
        in_ns(self.peer, "ip", "addr", "add", PEER_IP6 + "/64", "dev", "eth0", "nodad")
        in_ns(self.peer, "ip", "link", "set", "eth0", "up")
        in_ns(self.peer, "ip", "link", "set", "lo", "up")
        self.count = 0

    def network(self, name="mv", mode=None, **options):
        given = dict({"parent": PARENT, "ipam": [{"subnet": "10.88.0.0/24"}, {"subnet": "fd00:88::/64"}]}, **options)
        if mode:
            given["mode"] = mode
        return self.controller.new_network(self.controller.driver("macvlan"), name, given)

    def endpoint(self, network, options=None):
        self.count += 1
        key = self.controller.new_sandbox(self.host.sandbox_key("c%d" % self.count)).key
        return network.create_endpoint("ep%d" % self.count, key, options or {}), key


@pytest.fixture
def l2(host):
    return L2(host)


def ip_of(endpoint, version=4):
    iface = endpoint.sandbox_info()["interfaces"][0]
    return iface["address" if version == 4 else "address_ipv6"].split("/")[0]


def test_bridge_mode_sandboxes_join_the_parents_l2(l2):
    net = l2.network()
    ep1, key1 = l2.endpoint(net)
    ep2, key2 = l2.endpoint(net)
    link = ip_json("-d", "link", "show", "eth0", key=key1)[0]
    assert link["linkinfo"]["info_kind"] == "macvlan" and link["linkinfo"]["info_data"]["mode"] == "bridge"
    assert link["address"] == ep1.sandbox_info()["interfaces"][0]["mac"]
    # The L2 peer (a router there) and the sandboxes reach each other, IPv4 and IPv6, without NAT.
    assert tcp_exchange(l2.peer, PEER_IP, key1)[2] == ip_of(ep1)
    assert tcp_exchange(l2.peer, PEER_IP6, key2, port=5211)[2] == ip_of(ep2, 6)
    assert tcp_exchange(key2, ip_of(ep2), key1, port=5212)[2] == ip_of(ep1)
    # The peer sees each sandbox at its own MAC address.
    neighbours = {entry["dst"]: entry.get("lladdr") for entry in ip_json("neigh", "show", key=l2.peer)}
    assert neighbours[ip_of(ep1)] == link["address"]
    assert [r["gateway"] for r in ip_json("route", "show", "default", key=key1)] == [PEER_IP]
    assert [r["gateway"] for r in ip_json("-6", "route", "show", "default", key=key1)] == [PEER_IP6]
    # Nothing of pynet's on the host: no firewall table, no address on the parent.
    assert pynet_tables() == []
    assert [a["local"] for a in ip_json("addr", "show", PARENT)[0]["addr_info"] if a["family"] == "inet"] == []
    # As documented: the host does not reach its own macvlan children through the parent.
    subprocess.run(["ip", "addr", "add", "10.88.0.254/24", "dev", PARENT], check=True)
    assert tcp_connect_from(None, l2.peer, PEER_IP, PEER_IP, 5213, 5213) == "10.88.0.254"  # the L2 itself
    assert tcp_connect_from(None, key1, ip_of(ep1), ip_of(ep1), 5214, 5214, timeout=1) is None
    # Deleted: the link goes from the sandbox, the address is free again.
    ep1.delete()
    assert [entry["ifname"] for entry in ip_json("link", "show", key=key1)] == ["lo"]
    assert not tcp_reachable(key2, ip_of(ep2), key1, port=5215)


@pytest.mark.parametrize("mode", ["private", "vepa"])
def test_private_and_vepa_modes_keep_siblings_apart(l2, mode):
    net = l2.network(mode=mode)
    ep1, key1 = l2.endpoint(net)
    ep2, key2 = l2.endpoint(net)
    assert ip_json("-d", "link", "show", "eth0", key=key1)[0]["linkinfo"]["info_data"]["mode"] == mode
    assert tcp_exchange(l2.peer, PEER_IP, key1)[2] == ip_of(ep1)
    assert tcp_exchange(l2.peer, PEER_IP, key2, port=5216)[2] == ip_of(ep2)
    # The peer (a veth, not a switch with reflective relay) sends nothing back to the parent.
    assert not tcp_reachable(key2, ip_of(ep2), key1, port=5217)


def test_passthru_mode_takes_the_parent_whole(l2):
    net = l2.network(mode="passthru")
    key0 = l2.controller.new_sandbox(l2.host.sandbox_key("c0")).key
    with pytest.raises(errors.InvalidParameterError, match="has its parent's MAC address") as refused:
        net.create_endpoint("ep0", key0, {"mac": "02:42:ac:11:00:02"})
    assert refused.value.param == "mac" and net.endpoints() == []
    ep1, key1 = l2.endpoint(net)
    parents_mac = ip_json("link", "show", PARENT)[0]["address"]
    assert ip_json("link", "show", "eth0", key=key1)[0]["address"] == parents_mac
    # What pynet reports is the MAC address the link has: its parent's.
    assert ep1.sandbox_info()["interfaces"][0]["mac"] == parents_mac
    assert tcp_exchange(l2.peer, PEER_IP, key1)[2] == ip_of(ep1)
    key2 = l2.controller.new_sandbox(l2.host.sandbox_key("second")).key
    with pytest.raises(errors.KernelError, match="cannot create macvlan eth0 in sandbox") as caught:
        net.create_endpoint("second", key2)
    assert caught.value.param == "ifname"
    assert [entry["ifname"] for entry in ip_json("link", "show", key=key2)] == ["lo"]
    assert [ep.name for ep in net.endpoints()] == ["ep1"]


def test_drift_is_reported_and_repaired(l2):
    net = l2.network()
    ep, key = l2.endpoint(net)
    in_ns(key, "ip", "link", "del", "eth0")
    assert net.endpoints_drift([ep]) == [["interface eth0 is missing in sandbox %s" % key]]
    net.repair_endpoints([ep])
    assert net.endpoints_drift([ep]) == [[]]
    assert tcp_exchange(l2.peer, PEER_IP, key)[2] == ip_of(ep)
    in_ns(key, "ip", "addr", "flush", "dev", "eth0")
    assert "interface eth0 lacks address %s/24" % ip_of(ep) in net.endpoints_drift([ep])[0]
    net.repair_endpoints([ep])
    assert net.endpoints_drift([ep]) == [[]] and tcp_exchange(l2.peer, PEER_IP, key, port=5218)
    subprocess.run(["ip", "link", "set", PARENT, "down"], check=True)
    assert net.drift() == ["parent %s is down" % PARENT]


def test_an_interface_that_is_not_the_endpoints_is_never_removed(l2):
    net = l2.network()
    key = l2.controller.new_sandbox(l2.host.sandbox_key("busy")).key
    in_ns(key, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "pnt-other")
    with pytest.raises(errors.KernelError):
        net.create_endpoint("clash", key)
    assert sorted(entry["ifname"] for entry in ip_json("link", "show", key=key)) == ["eth0", "lo", "pnt-other"]
    assert net.endpoints() == []


EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of no bytes


def unchanged(l2):
    """Links, firewall and store (but for readers' shared memory and an empty log a process opening it leaves)."""
    store = {name: found for name, found in store_snapshot(l2.host.state_dir).items()
             if not name.endswith("-shm") and found[1] != EMPTY}
    return [link["ifname"] for link in ip_json("link", "show")], ruleset(), store


@pytest.mark.parametrize("options, param, message", [
    ({"parent": "pnt-missing"}, "parent", "no interface pnt-missing on this host"),
    ({"parent": "lo"}, "parent", "loopback"),
    ({"parent": None}, "parent", "is required"),
    ({"parent": "bad/name"}, "parent", "not a valid interface name"),
    ({"mode": "l2"}, "mode", "not a macvlan mode; allowed: bridge, passthru, private, vepa"),
    ({"internal": True}, "internal", "leave internal out"),
    ({"ipam": [{"subnet": "fd00:88::/64"}]}, "ipam", "macvlan driver has no default pools"),
    ({"bridge_name": "pn-x"}, "bridge_name", "unknown option"),
])
def test_bad_macvlan_networks_are_refused_before_any_change(l2, options, param, message):
    before = unchanged(l2)
    with pytest.raises(errors.InvalidParameterError, match=message) as caught:
        l2.network("bad", **options)
    assert caught.value.param == param
    assert unchanged(l2) == before


def test_parent_of_pynet_or_of_another_network_is_refused(l2):
    bridge_net = l2.controller.new_network(l2.controller.driver("bridge"), "br", {"ipam": [{"subnet": "10.89.9.0/24"}]})
    l2.network("first")
    before = unchanged(l2)
    with pytest.raises(errors.InvalidParameterError, match="pynet's own") as caught:
        l2.network("on-bridge", parent=bridge_net.options["bridge_name"], ipam=[{"subnet": "10.88.9.0/24"}])
    assert caught.value.param == "parent"
    with pytest.raises(errors.InvalidParameterError, match="already the parent of macvlan network first"):
        l2.network("second", ipam=[{"subnet": "10.88.10.0/24"}])
    assert unchanged(l2) == before


def test_ipvlan_is_refused_naming_the_missing_kernel_feature(l2):
    before = unchanged(l2)
    for attempt in (lambda: l2.controller.new_network_driver("ipvlan", {}),
                    lambda: l2.controller.new_network(l2.controller.driver("ipvlan"), "iv",
                                                      {"parent": PARENT, "ipam": [{"subnet": "10.88.0.0/24"}]})):
        with pytest.raises(errors.InvalidParameterError, match=r"no ipvlan support \(CONFIG_IPVLAN") as caught:
            attempt()
        assert caught.value.param == "driver"
    result = run_module("pynet_network", {"name": "iv", "driver": "ipvlan", "parent": PARENT,
                                          "state_dir": l2.host.state_dir, "ipam": [{"subnet": "10.88.0.0/24"}]})
    assert result["failed"] and result["param"] == "driver" and "CONFIG_IPVLAN" in result["msg"]
    assert unchanged(l2) == before


def test_module_macvlan_network_and_endpoint_idempotent_with_check_mode(l2):
    args = {"name": "mm", "driver": "macvlan", "parent": PARENT, "mode": "bridge", "state_dir": l2.host.state_dir,
            "ipam": [{"subnet": "10.88.0.0/24", "gateway": PEER_IP}]}
    check = run_module("pynet_network", args, check=True)
    assert check["changed"] and check["network"]["options"]["parent"] == PARENT and not l2.controller.networks()
    assert run_module("pynet_network", args)["changed"]
    assert not run_module("pynet_network", args)["changed"]
    foreign = run_module("pynet_network", dict(args, bridge_name="pn-x"))  # another driver's option: refused
    assert foreign["failed"] and foreign["param"] == "bridge_name" and "unknown option" in foreign["msg"]
    private = run_module("pynet_network", dict(args, mode="private"), check=True)
    assert private["changed"] and private["diff"]["after"]["options"]["mode"] == "private"
    key = l2.controller.new_sandbox(l2.host.sandbox_key("m1")).key
    endpoint = {"name": "m1", "network": "mm", "sandbox": key, "state_dir": l2.host.state_dir}
    predicted = run_module("pynet_endpoint", endpoint, check=True)
    assert predicted["changed"] and [entry["ifname"] for entry in ip_json("link", "show", key=key)] == ["lo"]
    made = run_module("pynet_endpoint", endpoint)
    # Check mode predicted the address and gateway (the MAC comes from the id the real run draws).
    made_info, predicted_info = made["endpoint"]["sandbox_info"], predicted["endpoint"]["sandbox_info"]
    assert made["changed"] and made_info["gateway"] == predicted_info["gateway"] == PEER_IP
    assert made_info["interfaces"][0]["address"] == predicted_info["interfaces"][0]["address"]
    assert not run_module("pynet_endpoint", endpoint)["changed"]
    assert tcp_exchange(l2.peer, PEER_IP, key)[2] == made["endpoint"]["sandbox_info"]["interfaces"][0]["address"][:-3]
    ported = run_module("pynet_endpoint", dict(endpoint, name="m2", ports=[{"host_port": 80, "container_port": 80}]))
    assert ported["failed"] and ported["param"] == "ports" and "unknown option" in ported["msg"]
