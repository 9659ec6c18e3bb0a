"""What the modules do (converge), against the real kernel: idempotence, check mode, diff, drift."""

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import drivers, endpoints, networks, sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl


def kernel_snapshot(*sandbox_keys):
    """Links and addresses of the test's host namespace and of each sandbox, as iproute2 reports them."""
    def ip(*args):
        return json.loads(subprocess.run(["ip", "-j"] + list(args), check=True, capture_output=True,
                                         text=True).stdout or "[]")
    snap = {"host": ip("addr", "show")}
    for key in sandbox_keys:
        if os.path.exists(key):
            snap[key] = json.loads(subprocess.run(["nsenter", "--net=" + key, "ip", "-j", "addr", "show"],
                                                  check=True, capture_output=True, text=True).stdout)
    return snap


def network_params(**given):
    params = dict(name="web", state="present", driver="bridge", ipam=None, bridge_name=None, mtu=None,
                  internal=None, enable_ipv6=None, labels=None, force=False)
    params.update(given)
    return params


def endpoint_params(**given):
    params = dict(name=None, network="web", sandbox=None, ip=None, ipv6=None, mac=None, ifname=None,
                  state="present", endpoints=None, purge=False)
    params.update(given)
    return params


@pytest.fixture
def controller(host):
    ctl = Controller(state_dir=host.state_dir)
    yield ctl
    ctl.close()


def test_network_check_mode_predicts_and_changes_nothing(controller, host):
    params = network_params(ipam=[{"subnet": "10.89.20.0/24", "gateway": None, "ip_range": None,
                                   "aux_addresses": None}])
    before = kernel_snapshot()
    predicted = networks.ensure_network(controller, params, check_mode=True)
    assert predicted.changed and kernel_snapshot() == before and controller.networks() == []
    real = networks.ensure_network(controller, params, check_mode=False)
    assert real.changed
    options = dict(real.returned["network"]["options"])
    bridge = options.pop("bridge_name")
    predicted_options = dict(predicted.returned["network"]["options"])
    predicted_options.pop("bridge_name")
    assert predicted_options == options  # identical except the id-derived bridge name
    # The bridge exists with the gateway address.
    assert any(a["ifname"] == bridge and a["addr_info"][0]["local"] == "10.89.20.1" for a in kernel_snapshot()["host"]
               if a["addr_info"])
    again = networks.ensure_network(controller, params, check_mode=False)
    assert not again.changed and again.diff["before"] == again.diff["after"]


def test_network_labels_in_place_and_recreate_needs_force(controller, host):
    params = network_params(labels={"tier": "web"})
    first = networks.ensure_network(controller, params, check_mode=False).returned["network"]
    relabel = networks.ensure_network(controller, network_params(labels={"tier": "front"}), check_mode=False)
    assert relabel.changed and relabel.returned["network"]["id"] == first["id"]
    assert relabel.diff["before"]["options"]["labels"] == {"tier": "web"}
    assert relabel.diff["after"]["options"]["labels"] == {"tier": "front"}
    sandbox = controller.new_sandbox(host.sandbox_key("a"))
    controller.network_by_name("web").create_endpoint("a", sandbox.key)
    with pytest.raises(errors.PynetError, match="must be recreated to change mtu.*force: true"):
        networks.ensure_network(controller, network_params(mtu=1400), check_mode=False)
    assert controller.network_by_name("web").options["mtu"] == 1500
    forced = networks.ensure_network(controller, network_params(mtu=1400, force=True), check_mode=False)
    assert forced.changed and forced.returned["network"]["id"] != first["id"]
    assert forced.returned["network"]["options"]["mtu"] == 1400 and forced.returned["network"]["endpoints"] == []


def test_network_absent_with_endpoints(controller, host):
    networks.ensure_network(controller, network_params(), check_mode=False)
    sandbox = controller.new_sandbox(host.sandbox_key("a"))
    controller.network_by_name("web").create_endpoint("a", sandbox.key)
    with pytest.raises(errors.ActiveEndpointsError, match="web has active endpoints: a"):
        networks.ensure_network(controller, network_params(state="absent"), check_mode=False)
    gone = networks.ensure_network(controller, network_params(state="absent", force=True), check_mode=False)
    assert gone.changed and controller.networks() == []
    assert not networks.ensure_network(controller, network_params(state="absent"), check_mode=False).changed


def test_network_drift_is_reported_in_check_mode_and_repaired(controller, host):
    net = networks.ensure_network(controller, network_params(), check_mode=False).returned["network"]
    with rtnl.connect() as connection:
        connection.delete_link(net["options"]["bridge_name"])
    check = networks.ensure_network(controller, network_params(), check_mode=True)
    assert check.changed and check.diff["before"]["drift"] == ["bridge %s is missing" % net["options"]["bridge_name"]]
    assert "drift" not in check.diff["after"]
    assert networks.ensure_network(controller, network_params(), check_mode=False).changed
    assert not networks.ensure_network(controller, network_params(), check_mode=False).changed


def test_endpoints_list_check_mode_predicts_addresses(controller, host):
    networks.ensure_network(controller, network_params(ipam=[{"subnet": "10.89.30.0/24"}]), check_mode=False)
    keys = [host.sandbox_key("s%d" % i) for i in range(3)]
    for key in keys:
        controller.new_sandbox(key)
    items = [{"name": "e%d" % i, "sandbox": key} for i, key in enumerate(keys)]
    items[2]["ip"] = "10.89.30.100"
    params = endpoint_params(endpoints=items)
    before = kernel_snapshot(*keys)
    predicted = endpoints.ensure_endpoint_params(controller, params, check_mode=True)
    assert predicted.changed and kernel_snapshot(*keys) == before
    real = endpoints.ensure_endpoint_params(controller, params, check_mode=False)
    addresses = [ep["sandbox_info"]["interfaces"][0]["address"] for ep in real.returned["endpoints"]]
    assert addresses == ["10.89.30.2/24", "10.89.30.3/24", "10.89.30.100/24"]
    assert [ep["sandbox_info"] for ep in predicted.returned["endpoints"]] == \
        [dict(ep["sandbox_info"], interfaces=[dict(i, src_name=p["sandbox_info"]["interfaces"][0]["src_name"],
                                                   mac=p["sandbox_info"]["interfaces"][0]["mac"])
                                              for i in ep["sandbox_info"]["interfaces"]])
         for ep, p in zip(real.returned["endpoints"], predicted.returned["endpoints"])]
    again = endpoints.ensure_endpoint_params(controller, params, check_mode=False)
    assert not again.changed and [ep["action"] for ep in again.returned["endpoints"]] == ["none"] * 3


def test_endpoint_change_recreates_and_drift_repairs(controller, host):
    networks.ensure_network(controller, network_params(ipam=[{"subnet": "10.89.31.0/24"}]), check_mode=False)
    key = host.sandbox_key("a")
    controller.new_sandbox(key)
    first = endpoints.ensure_endpoint_params(controller, endpoint_params(name="a", sandbox=key), check_mode=False)
    assert first.returned["endpoint"]["action"] == "create"
    moved = endpoints.ensure_endpoint_params(controller, endpoint_params(name="a", sandbox=key, ip="10.89.31.50"),
                                             check_mode=False)
    assert moved.returned["endpoint"]["action"] == "recreate"
    assert moved.returned["endpoint"]["sandbox_info"]["interfaces"][0]["address"] == "10.89.31.50/24"
    subprocess.run(["nsenter", "--net=" + key, "ip", "addr", "flush", "dev", "eth0"], check=True)
    check = endpoints.ensure_endpoint_params(controller, endpoint_params(name="a", sandbox=key, ip="10.89.31.50"),
                                             check_mode=True)
    assert check.changed and check.returned["endpoint"]["action"] == "repair"
    assert "lacks address 10.89.31.50/24" in " ".join(check.diff["before"]["endpoints"][0]["drift"])
    fixed = endpoints.ensure_endpoint_params(controller, endpoint_params(name="a", sandbox=key, ip="10.89.31.50"),
                                             check_mode=False)
    assert fixed.changed
    assert not endpoints.ensure_endpoint_params(controller, endpoint_params(name="a", sandbox=key, ip="10.89.31.50"),
                                                check_mode=False).changed


def test_bad_item_fails_before_any_change(controller, host):
    networks.ensure_network(controller, network_params(ipam=[{"subnet": "10.89.32.0/24"}]), check_mode=False)
    keys = [host.sandbox_key("s%d" % i) for i in range(2)]
    for key in keys:
        controller.new_sandbox(key)
    before = kernel_snapshot(*keys)
    db = open(os.path.join(host.state_dir, "pynet.db"), "rb").read()
    cases = [
        ([{"name": "ok", "sandbox": keys[0]}, {"name": "bad", "sandbox": keys[1], "ip": "10.1.1.1"}],
         "endpoints[1].ip"),
        ([{"name": "ok", "sandbox": keys[0], "ip": "10.89.32.9"}, {"name": "dup", "sandbox": keys[1],
                                                                   "ip": "10.89.32.9"}], "endpoints[1].ip"),
        ([{"name": "ok", "sandbox": keys[0]}, {"name": "bad", "sandbox": keys[1], "mac": "zz"}], "endpoints[1].mac"),
        ([{"name": "ok", "sandbox": keys[0]}, {"name": "bad", "sandbox": "relative"}], "endpoints[1].sandbox"),
        ([{"name": "ok", "sandbox": keys[0]}, {"name": "b", "sandbox": keys[0]}], "endpoints[1].ifname"),
        ([{"name": "ok", "sandbox": keys[0], "network": "nosuch"}], "endpoints[0].network"),
        ([{"name": "x" * 200, "sandbox": keys[0]}], "endpoints[0].name"),
        ([{"name": "ok", "sandbox": keys[0], "ifname": "a/b"}], "endpoints[0].ifname"),
    ]
    for items, param in cases:
        with pytest.raises(errors.PynetError) as raised:
            endpoints.ensure_endpoint_params(controller, endpoint_params(endpoints=items), check_mode=False)
        assert raised.value.param == param, (param, str(raised.value))
        assert param in str(raised.value)
        assert kernel_snapshot(*keys) == before
        assert open(os.path.join(host.state_dir, "pynet.db"), "rb").read() == db


def test_purge_removes_unlisted_endpoints(controller, host):
    networks.ensure_network(controller, network_params(ipam=[{"subnet": "10.89.33.0/24"}]), check_mode=False)
    keys = [host.sandbox_key("s%d" % i) for i in range(3)]
    for key in keys:
        controller.new_sandbox(key)
    all_three = [{"name": "e%d" % i, "sandbox": key} for i, key in enumerate(keys)]
    endpoints.ensure_endpoint_params(controller, endpoint_params(endpoints=all_three), check_mode=False)
    kept = endpoints.ensure_endpoint_params(controller, endpoint_params(endpoints=all_three[:1], purge=True),
                                            check_mode=False)
    assert [(ep["name"], ep["action"]) for ep in kept.returned["endpoints"]] == \
        [("e0", "none"), ("e1", "delete"), ("e2", "delete")]
    assert [ep.name for ep in controller.network_by_name("web").endpoints()] == ["e0"]


def test_sandbox_and_driver_idempotence(controller, host):
    key = host.sandbox_key("box")
    params = {"key": key, "state": "present"}
    assert sandboxes.ensure_sandbox(controller, params, check_mode=True).changed
    assert not os.path.exists(key)
    made = sandboxes.ensure_sandbox(controller, params, check_mode=False)
    assert made.changed and made.returned["sandbox"]["created"] and made.returned["sandbox"]["exists"]
    assert not sandboxes.ensure_sandbox(controller, params, check_mode=False).changed
    subprocess.run(["umount", key], check=True)  # drift: the namespace unmounted outside pynet
    assert sandboxes.ensure_sandbox(controller, params, check_mode=False).changed
    assert sandboxes.ensure_sandbox(controller, {"key": key, "state": "absent"}, check_mode=False).changed
    assert not os.path.exists(key)
    driver = {"name": "bridge", "options": {"default_address_pool": "10.123.0.0/16"}, "state": "present"}
    assert drivers.ensure_driver(controller, driver, check_mode=False).changed
    assert not drivers.ensure_driver(controller, driver, check_mode=False).changed
    assert not drivers.ensure_driver(controller, dict(driver, options=None), check_mode=False).changed
    networks.ensure_network(controller, network_params(), check_mode=False)
    assert controller.network_by_name("web").options["ipam"][0]["subnet"] == "10.123.0.0/24"
    with pytest.raises(errors.DriverInUseError, match="web"):
        drivers.ensure_driver(controller, dict(driver, state="absent"), check_mode=False)


def test_creation_cut_off_by_a_kill_is_finished_by_the_next_run(controller, host):
    """A process killed between recording an endpoint and marking it ready leaves a record that
    the next run reports (check mode) and completes, without leaking a veth or an address."""
    networks.ensure_network(controller, network_params(ipam=[{"subnet": "10.89.34.0/24"}]), check_mode=False)
    key = host.sandbox_key("killed")
    controller.new_sandbox(key)
    script = (
        "import os, sys\n"
        "from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller\n"
        "from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import bridge\n"
        "real = bridge.BridgeDriver._add_veth\n"
        "def add_then_die(*args):\n"
        "    real(*args)\n"
        "    os._exit(9)  # as kill -9 would: no clean-up runs\n"
        "bridge.BridgeDriver._add_veth = staticmethod(add_then_die)\n"
        "Controller(state_dir=sys.argv[1]).network_by_name('web').create_endpoint('a', sys.argv[2])\n")
    env = dict(os.environ, PYTHONPATH=os.environ["PYNET_COLLECTIONS_PATH"])
    killed = subprocess.run([sys.executable, "-c", script, host.state_dir, key], env=env, check=False)
    assert killed.returncode == 9
    endpoint = controller.network_by_name("web").endpoint_by_name("a")
    assert endpoint.state == "creating"
    params = endpoint_params(name="a", sandbox=key)
    check = endpoints.ensure_endpoint_params(controller, params, check_mode=True)
    assert check.returned["endpoint"]["action"] == "repair"
    assert any("cut off" in line for line in check.diff["before"]["endpoints"][0]["drift"])
    assert endpoints.ensure_endpoint_params(controller, params, check_mode=False).changed
    again = endpoints.ensure_endpoint_params(controller, params, check_mode=False)
    assert not again.changed
    info = again.returned["endpoint"]["sandbox_info"]["interfaces"][0]
    assert info["address"] == "10.89.34.2/24"
    host_veths = [link["ifname"] for link in json.loads(subprocess.run(
        ["ip", "-j", "link", "show"], check=True, capture_output=True, text=True).stdout) if link["ifname"].startswith("pnv")]
    assert host_veths == [info["src_name"]]


def test_endpoint_of_a_missing_network(controller, host):
    """Absent is absent; check mode predicts a creation the network's own task would allow."""
    gone = endpoints.ensure_endpoint_params(controller, endpoint_params(name="x", network="nonet", state="absent"),
                                            check_mode=False)
    assert not gone.changed and gone.returned["endpoint"]["action"] == "none"
    key = host.sandbox_key("later")
    check = endpoints.ensure_endpoint_params(controller, endpoint_params(name="x", network="nonet", sandbox=key),
                                             check_mode=True)
    assert check.changed and check.returned["endpoint"]["sandbox_info"] is None
    assert check.warnings == ["network nonet does not exist yet; a real run fails unless a task before it "
                              "creates the network"]
    with pytest.raises(errors.PynetError, match="^network: unknown network nonet"):
        endpoints.ensure_endpoint_params(controller, endpoint_params(name="x", network="nonet", sandbox=key),
                                         check_mode=False)


@pytest.mark.parametrize("options, param", [
    ({"default_address_pool": "banana"}, "options.default_address_pool"),
    ({"default_address_pool": "10.93.0.1/16"}, "options.default_address_pool"),
    ({"default_address_pool": "fd00::/48"}, "options.default_address_pool"),
    ({"default_address_pool": "10.93.0.0/16", "default_subnet_size": 12}, "options.default_subnet_size"),
])
def test_bad_driver_options_change_nothing(controller, options, param):
    with pytest.raises(errors.PynetError) as raised:
        drivers.ensure_driver(controller, {"name": "bridge", "options": options, "state": "present"}, False)
    assert raised.value.param == param and str(raised.value).startswith(param)
    assert controller.drivers() == []


def test_published_ports_are_idempotent_and_a_change_recreates(controller, host):
    networks.ensure_network(controller, network_params(ipam=[{"subnet": "10.89.35.0/24"}]), check_mode=False)
    key = host.sandbox_key("web")
    controller.new_sandbox(key)
    ports = [{"container_port": 80, "host_port": None, "host_ip": None, "protocol": "tcp"},
             {"container_port": "53", "host_port": "5353", "host_ip": None, "protocol": "udp"}]
    first = endpoints.ensure_endpoint_params(controller, endpoint_params(name="web", sandbox=key, ports=ports),
                                             check_mode=False)
    held = first.returned["endpoint"]["ports"]
    assert [(p["protocol"], p["container_port"]) for p in held] == [("tcp", 80), ("udp", 53)]
    assert held[1]["host_port"] == 5353 and 49152 <= held[0]["host_port"] < 61000
    again = endpoints.ensure_endpoint_params(controller, endpoint_params(name="web", sandbox=key, ports=ports),
                                             check_mode=False)
    assert not again.changed and again.returned["endpoint"]["ports"] == held
    changed = endpoints.ensure_endpoint_params(controller, endpoint_params(name="web", sandbox=key, ports=ports[:1]),
                                               check_mode=False)
    assert changed.returned["endpoint"]["action"] == "recreate"
    assert [p["protocol"] for p in changed.returned["endpoint"]["ports"]] == ["tcp"]
