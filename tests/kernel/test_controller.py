"""The controller library against the real kernel, each test in its own private namespace."""

import json
import os
import subprocess
import sys

import pytest
from pynet_testing import ip_json
from traffic import tcp_exchange, tcp_reachable

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.sandbox import new_sandbox


@pytest.fixture
def world(host):
    controller = Controller(state_dir=host.state_dir)
    driver = controller.new_network_driver("bridge", {})
    network = controller.new_network(driver, "net1", {"ipam": [{"subnet": "10.89.0.0/24"}]})
    return controller, driver, network, host


def test_two_endpoints_talk_over_tcp(world):
    controller, unused_driver, network, host = world
    a = controller.new_sandbox(host.sandbox_key("a"))
    b = controller.new_sandbox(host.sandbox_key("b"))
    ep_a = network.create_endpoint("ep-a", a.key)
    ep_b = network.create_endpoint("ep-b", b.key)
    addr_a = ep_a.sandbox_info()["interfaces"][0]["address"]
    addr_b = ep_b.sandbox_info()["interfaces"][0]["address"]
    assert addr_a != addr_b
    import netaddr
    for addr in (addr_a, addr_b):
        assert netaddr.IPAddress(addr.split("/")[0]) in netaddr.IPNetwork("10.89.0.0/24")
        assert addr.split("/")[0] not in ("10.89.0.0", "10.89.0.1", "10.89.0.255")
    got_server, got_client, peer = tcp_exchange(a.key, addr_a.split("/")[0], b.key)
    assert (got_server, got_client) == (b"ping from client", b"pong from server")
    assert peer == addr_b.split("/")[0]
    got_server, got_client, peer = tcp_exchange(b.key, addr_b.split("/")[0], a.key)
    assert peer == addr_a.split("/")[0]


def test_endpoint_kernel_objects(world):
    controller, unused_driver, network, host = world
    sandbox = controller.new_sandbox(host.sandbox_key("c1"))
    ep = network.create_endpoint("ep1", sandbox.key, {"mac": "02:42:0a:59:00:99", "ip": "10.89.0.77"})
    info = ep.sandbox_info()
    iface = info["interfaces"][0]
    assert info["gateway"] == "10.89.0.1"
    assert iface["address"] == "10.89.0.77/24" and iface["mac"] == "02:42:0a:59:00:99"
    bridge = network.options["bridge_name"]
    assert bridge == "pn-" + network.id[:12]
    host_link = ip_json("link", "show", iface["src_name"])[0]
    assert host_link["master"] == bridge and "UP" in host_link["flags"]
    # The bridge's MAC comes from the network id (it does not follow its ports); snooping is off.
    bridge_link = ip_json("-d", "link", "show", bridge)[0]
    assert bridge_link["address"] == "02:" + ":".join(network.id[i:i + 2] for i in range(0, 10, 2))
    assert bridge_link["linkinfo"]["info_data"]["mcast_snooping"] == 0
    # The bridge port has no IPv6: no link-local address, no DAD or MLD of its own.
    with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % iface["src_name"]) as knob:
        assert knob.read().strip() == "1"
    assert not [a for a in ip_json("addr", "show", iface["src_name"])[0]["addr_info"] if a["family"] == "inet6"]
    inside = {link["ifname"]: link for link in ip_json("addr", "show", key=sandbox.key)}
    assert inside["eth0"]["address"] == "02:42:0a:59:00:99"
    assert {"local": "10.89.0.77", "prefixlen": 24} in [
        {"local": a["local"], "prefixlen": a["prefixlen"]} for a in inside["eth0"]["addr_info"]]
    assert "UP" in inside["lo"]["flags"]
    # IPv4-only sandbox: IPv6 is off on eth0, so it runs no autoconf (no link-local address).
    assert not [a for a in inside["eth0"]["addr_info"] if a["family"] == "inet6"]
    routes = ip_json("route", "show", "default", key=sandbox.key)
    assert [(r["gateway"], r["dev"]) for r in routes] == [("10.89.0.1", "eth0")]
    ep.delete()
    assert [link["ifname"] for link in ip_json("link", "show")] == ["lo", bridge]
    assert "eth0" not in {link["ifname"] for link in ip_json("link", "show", key=sandbox.key)}


def test_ifname_option_and_clash_in_one_sandbox(world):
    controller, driver, network, host = world
    other = controller.new_network(driver, "net2", {"ipam": [{"subnet": "10.89.1.0/24"}]})
    sandbox = controller.new_sandbox(host.sandbox_key("multi"))
    network.create_endpoint("first", sandbox.key)
    with pytest.raises(errors.InvalidParameterError, match="ifname: eth0 is already used"):
        other.create_endpoint("second", sandbox.key)
    assert [ep.name for ep in other.endpoints()] == []
    ep = other.create_endpoint("second", sandbox.key, {"ifname": "eth1"})
    names = {link["ifname"] for link in ip_json("link", "show", key=sandbox.key)}
    assert {"eth0", "eth1"} <= names
    assert ep.sandbox_info()["interfaces"][0]["dst_name"] == "eth1"


def test_dual_stack_endpoint(host):
    controller = Controller(state_dir=host.state_dir)
    driver = controller.new_network_driver("bridge", {})
    pools = [{"subnet": "10.89.5.0/24"}, {"subnet": "fd00:89:5::/64"}]
    network = controller.new_network(driver, "dual", {"ipam": pools})
    assert network.options["enable_ipv6"] is True
    a = controller.new_sandbox(host.sandbox_key("a"))
    b = controller.new_sandbox(host.sandbox_key("b"))
    ep_a = network.create_endpoint("a", a.key)
    network.create_endpoint("b", b.key)
    info = ep_a.sandbox_info()
    assert info["gateway_ipv6"] == "fd00:89:5::1"
    v6 = info["interfaces"][0]["address_ipv6"]
    assert v6.startswith("fd00:89:5::") and v6.endswith("/64")
    got_server, unused_client, unused_peer = tcp_exchange(a.key, v6.split("/")[0], b.key, port=5301)
    assert got_server == b"ping from client"


def test_state_survives_a_new_controller_in_a_new_process(world):
    controller, unused_driver, network, host = world
    sandbox = controller.new_sandbox(host.sandbox_key("persist"))
    other = controller.new_sandbox(host.sandbox_key("persist2"))
    ep = network.create_endpoint("ep1", sandbox.key)
    script = (
        "import json, sys\n"
        "from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller\n"
        "c = Controller(state_dir=sys.argv[1])\n"
        "n = c.network_by_name('net1')\n"
        "e = n.endpoint_by_name('ep1')\n"
        "e2 = n.create_endpoint('ep2', sys.argv[2])\n"
        "print(json.dumps({'id': n.id, 'driver': [d.type for d in c.drivers()], 'ep': e.sandbox_info(),"
        " 'ep2': e2.sandbox_info(), 'sandboxes': [s.key for s in c.sandboxes()]}))\n")
    env = dict(os.environ, PYTHONPATH=os.environ["PYNET_COLLECTIONS_PATH"])
    out = subprocess.run([sys.executable, "-c", script, host.state_dir, other.key], check=True,
                         capture_output=True, text=True, env=env).stdout
    seen = json.loads(out)
    assert seen["id"] == network.id and seen["driver"] == ["bridge"]
    assert seen["ep"] == ep.sandbox_info()
    assert seen["sandboxes"] == [sandbox.key, other.key]
    # ep2 was made in the other process, in the same namespace: this controller sees it.
    assert network.endpoint_by_name("ep2").sandbox_info() == seen["ep2"]
    assert seen["ep2"]["interfaces"][0]["address"] != seen["ep"]["interfaces"][0]["address"]


def test_round_robin_does_not_reuse_a_released_address_at_once(world):
    controller, unused_driver, network, host = world
    sandbox = controller.new_sandbox(host.sandbox_key("rr"))
    first = network.create_endpoint("one", sandbox.key).sandbox_info()["interfaces"][0]["address"]
    network.endpoint_by_name("one").delete()
    second = network.create_endpoint("two", sandbox.key).sandbox_info()["interfaces"][0]["address"]
    assert first != second


def test_delete_network_with_endpoints_fails_and_changes_nothing(world):
    controller, unused_driver, network, host = world
    a = controller.new_sandbox(host.sandbox_key("a"))
    b = controller.new_sandbox(host.sandbox_key("b"))
    ep_a = network.create_endpoint("alpha", a.key)
    network.create_endpoint("beta", b.key)
    links_before = ip_json("link", "show")
    db_before = open(os.path.join(host.state_dir, "pynet.db"), "rb").read()
    with pytest.raises(errors.ActiveEndpointsError) as raised:
        network.delete()
    assert "alpha" in str(raised.value) and "beta" in str(raised.value)
    assert ip_json("link", "show") == links_before
    assert controller.network_by_name("net1").id == network.id
    assert [ep.name for ep in network.endpoints()] == ["alpha", "beta"]
    assert open(os.path.join(host.state_dir, "pynet.db"), "rb").read() == db_before
    addr_a = ep_a.sandbox_info()["interfaces"][0]["address"].split("/")[0]
    assert tcp_reachable(a.key, addr_a, b.key)


def test_libnetwork_errors(world):
    controller, driver, network, host = world
    sandbox = controller.new_sandbox(host.sandbox_key("errs"))
    with pytest.raises(errors.NetworkNameError):
        controller.new_network(driver, "net1", {})
    with pytest.raises(errors.NetworkTypeError):
        controller.new_network_driver("nosuchdriver", {})
    with pytest.raises(errors.NilNetworkDriverError):
        controller.new_network(None, "other", {})
    with pytest.raises(errors.InvalidNetworkDriverError):
        controller.new_network("bridge", "other", {})
    with pytest.raises(errors.UnknownNetworkError):
        controller.network_by_name("nosuch")
    with pytest.raises(errors.UnknownNetworkError):
        controller.network_by_id("0" * 64)
    with pytest.raises(errors.UnknownEndpointError):
        network.endpoint_by_name("nosuch")
    network.create_endpoint("holder", sandbox.key, {"ip": "10.89.0.10"})
    other = controller.new_sandbox(host.sandbox_key("errs2"))
    with pytest.raises(errors.IPAlreadyAllocatedError):
        network.create_endpoint("dup", other.key, {"ip": "10.89.0.10"})
    with pytest.raises(errors.IPAlreadyAllocatedError):
        network.create_endpoint("gw", other.key, {"ip": "10.89.0.1"})
    with pytest.raises(errors.IPOutOfRangeError):
        network.create_endpoint("out", other.key, {"ip": "10.90.0.10"})
    with pytest.raises(errors.EndpointNameError):
        network.create_endpoint("holder", other.key)
    assert [ep.name for ep in network.endpoints()] == ["holder"]
    assert all(isinstance(cls(*args), errors.PynetError) for cls, args in [
        (errors.NetworkNameError, ("x",)), (errors.NilNetworkDriverError, ())])


def test_exhausted_pool_fails_cleanly(host):
    controller = Controller(state_dir=host.state_dir)
    driver = controller.new_network_driver("simplebridge", {})
    network = controller.new_network(driver, "tiny", {"ipam": [{"subnet": "10.89.9.0/30"}]})
    assert network.type == "bridge"
    a = controller.new_sandbox(host.sandbox_key("a"))
    b = controller.new_sandbox(host.sandbox_key("b"))
    assert network.create_endpoint("only", a.key).sandbox_info()["interfaces"][0]["address"] == "10.89.9.2/30"
    links_before = ip_json("link", "show")
    with pytest.raises(errors.NoAvailableIPsError):
        network.create_endpoint("second", b.key)
    assert ip_json("link", "show") == links_before
    assert [ep.name for ep in network.endpoints()] == ["only"]


def test_failed_kernel_step_leaves_nothing(world):
    """A veth that the kernel refuses (the name is taken in the sandbox) releases the address."""
    controller, unused_driver, network, host = world
    sandbox = controller.new_sandbox(host.sandbox_key("busy"))
    # Not pynet's: occupies the name.
    subprocess.run(["nsenter", "--net=" + sandbox.key, "ip", "link", "add", "eth0", "type", "bridge"], check=True)
    links_before = ip_json("link", "show")
    with pytest.raises(errors.KernelError, match="eth0"):
        network.create_endpoint("blocked", sandbox.key)
    assert ip_json("link", "show") == links_before
    assert network.endpoints() == []
    ep = network.create_endpoint("next", sandbox.key, {"ifname": "eth1"})
    assert ep.sandbox_info()["interfaces"][0]["address"] == "10.89.0.3/24"  # round-robin past .2


def test_sandbox_adopts_and_refuses(host):
    controller = Controller(state_dir=host.state_dir)
    os.makedirs(host.netns_dir)
    plain = os.path.join(host.netns_dir, "plainfile")
    with open(plain, "w") as handle:
        handle.write("keep me")
    with pytest.raises(errors.SandboxKeyError, match="not a network namespace"):
        controller.new_sandbox(plain)
    assert open(plain).read() == "keep me"
    with pytest.raises(errors.SandboxKeyError, match="relative"):
        new_sandbox("relative/path", state_dir=host.state_dir)
    foreign = host.sandbox_key("foreign")
    netns.create(foreign)  # made outside pynet's store: adopted, never removed
    adopted = controller.new_sandbox(foreign)
    assert not adopted.created
    adopted.destroy()
    assert netns.is_netns(foreign)
    netns.destroy(foreign)
    made = new_sandbox(host.sandbox_key("made"), state_dir=host.state_dir)
    assert made.created and netns.is_netns(made.key)
    assert controller.new_sandbox(made.key).created  # idempotent: the same sandbox again
    made.destroy()
    assert not os.path.exists(made.key)
    assert controller.sandboxes() == []


def test_sandbox_with_endpoints_is_not_destroyed(world):
    controller, unused_driver, network, host = world
    sandbox = controller.new_sandbox(host.sandbox_key("kept"))
    network.create_endpoint("inside", sandbox.key)
    with pytest.raises(errors.ActiveEndpointsError, match="net1/inside"):
        sandbox.destroy()
    assert netns.is_netns(sandbox.key)


def test_network_without_ipam_gets_a_free_default_subnet(host):
    controller = Controller(state_dir=host.state_dir)
    subprocess.run(["ip", "link", "add", "pnt-hostlink", "type", "bridge"], check=True)
    with rtnl.connect() as connection:  # an address the default pool must avoid
        connection.add_address(connection.link("pnt-hostlink").index, "10.89.0.1/24")
    driver = controller.new_network_driver("bridge", {})
    first = controller.new_network(driver, "auto1")
    second = controller.new_network(driver, "auto2")
    assert first.options["ipam"][0]["subnet"] == "10.89.1.0/24"
    assert second.options["ipam"][0]["subnet"] == "10.89.2.0/24"
    with pytest.raises(errors.PoolOverlapError, match="auto1"):
        controller.new_network(driver, "clash", {"ipam": [{"subnet": "10.89.1.128/25"}]})


def test_null_driver_sandbox_has_loopback_only(host):
    controller = Controller(state_dir=host.state_dir)
    driver = controller.new_network_driver("null", {})
    network = controller.new_network(driver, "none")
    sandbox = controller.new_sandbox(host.sandbox_key("isolated"))
    ep = network.create_endpoint("c1", sandbox.key)
    info = ep.sandbox_info()
    assert {key: info.pop(key) for key in ("resolv_conf", "hosts", "netns_resolv_conf")} == network.sandbox_files(
        sandbox.key)
    assert info == {"interfaces": [], "gateway": None, "gateway_ipv6": None, "default_route": False,
                    "default_route_ipv6": False}
    names = [link["ifname"] for link in ip_json("link", "show", key=sandbox.key)]
    assert names == ["lo"]
    ep.delete()
    network.delete()


def test_drift_is_reported_and_repaired(world):
    controller, unused_driver, network, host = world
    sandbox = controller.new_sandbox(host.sandbox_key("drift"))
    ep = network.create_endpoint("ep", sandbox.key)
    assert network.drift() == [] and ep.drift() == []
    with rtnl.connect() as connection:
        connection.delete_link(network.options["bridge_name"])
    assert network.drift() == ["bridge %s is missing" % network.options["bridge_name"]]
    assert ep.drift()
    network.repair()
    network.repair_endpoints([ep])
    assert network.drift() == [] and ep.drift() == []
    peer = controller.new_sandbox(host.sandbox_key("peer"))
    network.create_endpoint("peer", peer.key)
    assert tcp_reachable(sandbox.key, ep.sandbox_info()["interfaces"][0]["address"].split("/")[0], peer.key)


def test_teardown_leaves_nothing(world):
    controller, unused_driver, network, host = world
    sandbox = controller.new_sandbox(host.sandbox_key("gone"))
    ep = network.create_endpoint("ep", sandbox.key)
    ep.delete()
    network.delete()
    sandbox.destroy()
    assert [link["ifname"] for link in ip_json("link", "show")] == ["lo"]
    assert not os.path.exists(sandbox.key)
    assert controller.networks() == [] and controller.sandboxes() == []


def test_batch_create_reports_failures_and_keeps_the_others(world):
    controller, unused_driver, network, host = world
    keys = [controller.new_sandbox(host.sandbox_key("b%d" % i)).key for i in range(4)]
    # The kernel will refuse this one's eth0.
    subprocess.run(["nsenter", "--net=" + keys[2], "ip", "link", "add", "eth0", "type", "bridge"], check=True)
    made = network.create_endpoints([("b0", keys[0], {}), ("b1", keys[1], {"ip": "10.99.0.1"}),
                                     ("b2", keys[2], {}), ("b3", keys[3], {"mac": "nonsense"}),
                                     ("b4", host.sandbox_key("missing"), {})])
    assert not isinstance(made[0], Exception)
    assert isinstance(made[1], errors.IPOutOfRangeError)
    assert isinstance(made[2], errors.KernelError) and "eth0" in str(made[2])
    assert isinstance(made[3], errors.InvalidParameterError) and made[3].param == "mac"
    assert isinstance(made[4], errors.SandboxKeyError)
    assert [ep.name for ep in network.endpoints()] == ["b0"]
    assert [link["ifname"] for link in ip_json("link", "show") if link["ifname"].startswith("pnv")] == \
        [made[0].sandbox_info()["interfaces"][0]["src_name"]]
    again = network.create_endpoints([("b1", keys[1], {})])[0]
    # .2 is b0's; .3 was b2's until the kernel refused it: released, and not handed out again at once.
    assert again.sandbox_info()["interfaces"][0]["address"] == "10.89.0.4/24"
    assert network.create_endpoints([("b2", keys[3], {})])[0].sandbox_info()["interfaces"][0]["address"] == "10.89.0.5/24"


def test_batch_delete_removes_only_the_given_endpoints(world):
    controller, unused_driver, network, host = world
    keys = [controller.new_sandbox(host.sandbox_key("d%d" % i)).key for i in range(5)]
    made = network.create_endpoints([("d%d" % i, key, {}) for i, key in enumerate(keys)])
    network.delete_endpoints(made[:3])
    assert [ep.name for ep in network.endpoints()] == ["d3", "d4"]
    veths = sorted(link["ifname"] for link in ip_json("link", "show") if link["ifname"].startswith("pnv"))
    assert veths == sorted(ep.sandbox_info()["interfaces"][0]["src_name"] for ep in made[3:])
    assert tcp_reachable(keys[3], made[3].sandbox_info()["interfaces"][0]["address"].split("/")[0], keys[4], timeout=3)
