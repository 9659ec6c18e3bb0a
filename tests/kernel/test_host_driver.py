"""The host driver against the real kernel: Docker's host network, whose endpoints are in the host's own
namespace (the sandbox key `host`; here the test's private namespace, where pynet makes its bridges).
Joining it changes nothing in the kernel, a service of such a container is the host's own (reached at a
bridge's gateway and at the host's loopback), and every pairing that would put pynet's interfaces,
addresses or routes into the host's namespace is refused, changing nothing."""

import glob
import os
import subprocess
import time

import pytest
from pynet_testing import kernel_snapshot, run_module, store_snapshot
from traffic import tcp_connect_from

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import sandbox_files
from ansible_collections.pynet.libnetwork.plugins.module_utils.sandbox import HOST_SANDBOX_KEY, new_sandbox

SUBNET, GATEWAY = "10.89.7.0/24", "10.89.7.1"
# The host settings pynet may change for networks (host_changes.py), in the test's namespace.
SYSCTLS = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/*/forwarding",
           "/proc/sys/net/ipv6/conf/*/accept_ra", "/proc/sys/net/ipv4/conf/*/route_localnet",
           "/proc/sys/net/ipv6/conf/*/disable_ipv6")


def sysctls():
    found = {}
    for pattern in SYSCTLS:
        for path in sorted(glob.glob(pattern)):
            with open(path) as handle:
                found[path] = handle.read().strip()
    return found


def kernel(host):
    """Links, addresses, routes (both families) and the nft ruleset of the test host and its sandboxes,
    what is mounted, and the sysctls."""
    return dict(kernel_snapshot(host), sysctls=sysctls())


def settled_kernel(host, timeout=10.0):
    """kernel(host) once two reads 0.2 s apart agree: links made a moment ago still change by
    themselves (carrier, operational state, IPv6 link-local addresses and their DAD) on a loaded machine."""
    deadline = time.monotonic() + timeout
    found = kernel(host)
    while True:
        time.sleep(0.2)
        again = kernel(host)
        if again == found or time.monotonic() > deadline:
            return again
        found = again


def store(host):
    return {name: found for name, found in store_snapshot(host.state_dir).items() if not name.endswith("-shm")}


class World:
    """The test host with a bridge network `front` and a sandbox `c1` on it."""

    def __init__(self, host):
        self.host = host
        self.controller = Controller(state_dir=host.state_dir)
        os.makedirs(host.netns_dir, exist_ok=True)
        self.front = self.controller.new_network(self.controller.driver("bridge"), "front", {"ipam": [{"subnet": SUBNET}]})
        self.c1 = self.controller.new_sandbox(host.sandbox_key("c1")).key
        self.c1_endpoint = self.front.create_endpoint("c1", self.c1)

    def host_network(self, name="hostnet", network_options=None):
        return self.controller.new_network(self.controller.driver("host"), name, network_options)


@pytest.fixture
def world(host):
    return World(host)


@pytest.mark.parametrize("with_bridge", [False, True], ids=["alone", "beside-a-bridge"])
def test_a_host_network_and_its_endpoints_change_nothing_in_the_kernel(host, with_bridge):
    controller = Controller(state_dir=host.state_dir)
    os.makedirs(host.netns_dir)
    if with_bridge:  # pynet's firewall table, forwarding and a sandbox stand: the host network leaves them be
        World(host)
    before = settled_kernel(host)
    network = controller.new_network(controller.driver("host"), "hostnet")
    sandbox = controller.new_sandbox(HOST_SANDBOX_KEY)
    web = network.create_endpoint("web", HOST_SANDBOX_KEY)
    db = network.create_endpoint("db", HOST_SANDBOX_KEY)
    assert kernel(host) == before
    assert (network.type, network.pools()) == ("host", [])
    assert (sandbox.key, sandbox.created, sandbox.exists()) == (HOST_SANDBOX_KEY, False, True)
    assert sorted(found.endpoint.name for found in sandbox.endpoints()) == ["db", "web"]
    info = web.sandbox_info()
    assert info["interfaces"] == [] and info["gateway"] is None and info["gateway_ipv6"] is None
    assert not info["default_route"] and not info["default_route_ipv6"]
    assert info["resolv_conf"] is None and info["hosts"] is None  # the host's own files: pynet writes none
    assert not any(os.path.exists(path) for path in sandbox_files.paths(host.state_dir, HOST_SANDBOX_KEY).values()
                   if path)
    assert web.drift() == [] and network.drift() == []
    web.delete()
    db.delete()
    sandbox.destroy()
    network.delete()
    assert kernel(host) == before
    assert [sb.key for sb in controller.sandboxes()] == ([host.sandbox_key("c1")] if with_bridge else [])


def test_a_host_network_service_is_the_hosts_own(world):
    """What a container on the host network listens on is in the host's namespace: a sandbox on a bridge
    network reaches it at its gateway, the host (and the container) at 127.0.0.1, and the bridge's sandbox
    not at its own loopback."""
    network = world.host_network()
    network.create_endpoint("svc", HOST_SANDBOX_KEY)
    c1_address = world.c1_endpoint.sandbox_info()["interfaces"][0]["address"].split("/")[0]
    # The listener is the host-network container's: a socket in the host's (the test's) namespace.
    assert tcp_connect_from(world.c1, None, GATEWAY, GATEWAY, 5301, 5301) == c1_address
    assert tcp_connect_from(None, None, "127.0.0.1", "127.0.0.1", 5302, 5302) == "127.0.0.1"
    assert tcp_connect_from(world.c1, None, "127.0.0.1", "127.0.0.1", 5303, 5303, timeout=1.0) is None


def refused_changing_nothing(world, action, param, *words):
    """`action` raises a PynetError naming `param` (and saying `words`), with the store and the kernel unchanged."""
    store_before, kernel_before = store(world.host), settled_kernel(world.host)
    with pytest.raises(errors.PynetError) as raised:
        action()
    assert raised.value.param == param, str(raised.value)
    for word in words:
        assert word in str(raised.value)
    assert store(world.host) == store_before
    assert kernel(world.host) == kernel_before
    return raised.value


def test_a_bridge_endpoint_is_refused_in_the_host_sandbox(world):
    world.controller.new_sandbox(HOST_SANDBOX_KEY)
    refused_changing_nothing(world, lambda: world.front.create_endpoint("e", HOST_SANDBOX_KEY), "sandbox",
                             "host's own namespace", "front")


def test_a_host_network_endpoint_is_refused_in_a_sandbox_of_its_own(world):
    network = world.host_network()
    refused_changing_nothing(world, lambda: network.create_endpoint("e", world.c1), "network", "hostnet", "host")


def test_a_second_host_network_is_refused(world):
    world.host_network()
    refused_changing_nothing(world, lambda: world.host_network("other"), "driver", "hostnet")


@pytest.mark.parametrize("name,value", [("ipam", [{"subnet": "10.89.8.0/24"}]), ("internal", True),
                                        ("enable_ipv6", True), ("enable_ipv4", False), ("mtu", 1400)])
def test_host_network_options_but_labels_are_refused(world, name, value):
    refused_changing_nothing(world, lambda: world.host_network(network_options={name: value}), name,
                             "host's own addresses and routes")
    assert world.host_network(network_options={"labels": {"team": "a"}}).options["labels"] == {"team": "a"}


@pytest.mark.parametrize("name,value,words", [
    ("ports", [{"host_port": 8080, "container_port": 80}], "host's own ports"),
    ("ip", "10.89.7.9", "host's own namespace"), ("mac", "02:00:00:00:00:01", "host's own namespace"),
    ("aliases", ["web"], "host's own namespace"), ("ifname", "eth1", "host's own namespace")])
def test_host_endpoint_options_are_refused(world, name, value, words):
    network = world.host_network()
    refused_changing_nothing(world, lambda: network.create_endpoint("e", HOST_SANDBOX_KEY, {name: value}), name, words)


def test_a_path_holding_the_hosts_namespace_stays_refused(world):
    network = world.host_network()
    bound = world.host.sandbox_key("host-bound")
    with open(bound, "w"):
        pass
    subprocess.run(["mount", "--bind", "/proc/self/ns/net", bound], check=True)  # mount's namespace: the test host's
    error = refused_changing_nothing(world, lambda: new_sandbox(bound, state_dir=world.host.state_dir), "key",
                                     "host's own network namespace", "sandbox key host")
    assert "driver host" in str(error)
    for target in (network, world.front):
        refused_changing_nothing(world, lambda: target.create_endpoint("e", bound), "sandbox",
                                 "host's own network namespace")


# --- the modules ---------------------------------------------------------------------------------------


def module_run(name, args, check=False):
    result = run_module(name, args, check=check)
    assert not result.get("failed"), result
    return result


def test_the_modules_converge_the_host_network(world):
    common = {"state_dir": world.host.state_dir}
    tasks = [("pynet_network", dict(common, name="hostnet", driver="host", labels={"role": "edge"})),
             ("pynet_sandbox", dict(common, key=HOST_SANDBOX_KEY)),
             ("pynet_endpoint", dict(common, network="hostnet", name="web", sandbox=HOST_SANDBOX_KEY))]
    kernel_before = settled_kernel(world.host)
    records_before = module_run("pynet_info", common)
    for name, args in tasks:  # check mode predicts every step, changing nothing
        predicted = module_run(name, args, check=True)
        assert predicted["changed"], (name, predicted)
    assert module_run("pynet_info", common) == records_before
    predicted_sandbox = run_module("pynet_sandbox", tasks[1][1], check=True)["sandbox"]
    predicted_endpoint = run_module("pynet_endpoint", dict(tasks[2][1], network="front", name="x"), check=True)
    assert predicted_endpoint.get("failed") and predicted_endpoint["param"] == "sandbox"
    first = [module_run(name, args) for name, args in tasks]
    assert [result["changed"] for result in first] == [True, True, True]
    assert first[0]["network"]["driver"] == "host" and first[0]["network"]["options"]["labels"] == {"role": "edge"}
    assert first[1]["sandbox"] == predicted_sandbox == {"key": "host", "created": False, "exists": True,
                                                        "interfaces": []}
    endpoint = first[2]["endpoint"]
    assert endpoint["sandbox"] == "host" and endpoint["ports"] == []
    assert endpoint["sandbox_info"]["interfaces"] == [] and endpoint["sandbox_info"]["resolv_conf"] is None
    second = [module_run(name, args) for name, args in tasks]
    assert [result["changed"] for result in second] == [False, False, False]
    assert kernel(world.host) == kernel_before
    info = module_run("pynet_info", dict(common, networks=["hostnet"]))
    assert [(ep["name"], ep["sandbox"], ep["sandbox_info"]["interfaces"]) for ep in info["networks"][0]["endpoints"]] \
        == [("web", "host", [])]
    assert {"key": "host", "created": False, "exists": True, "interfaces": []} in info["sandboxes"]
    # Options but labels are refused on the network as it stands too, naming them.
    for name, value in (("internal", True), ("ipam", [{"subnet": "10.89.9.0/24"}]), ("enable_ipv6", True)):
        result = run_module("pynet_network", dict(tasks[0][1], **{name: value}))
        assert result.get("failed") and result["param"] == name, result
    relabelled = module_run("pynet_network", dict(tasks[0][1], labels={"role": "db"}))
    assert relabelled["changed"] and relabelled["network"]["options"]["labels"] == {"role": "db"}
    # The sandbox is not forgotten while the endpoint uses it.
    busy = run_module("pynet_sandbox", dict(tasks[1][1], state="absent"))
    assert busy.get("failed") and "hostnet/web" in busy["msg"]
    for name, args in reversed(tasks):
        absent = dict(args, state="absent")
        assert module_run(name, absent, check=True)["changed"]
        assert module_run(name, absent)["changed"]
        assert not module_run(name, absent)["changed"]
    info = module_run("pynet_info", common)
    assert [net["name"] for net in info["networks"]] == ["front"]
    assert [sandbox["key"] for sandbox in info["sandboxes"]] == [world.c1]
    assert kernel(world.host) == kernel_before
