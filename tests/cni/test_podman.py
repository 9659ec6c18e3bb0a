"""Real containers on a pynet network: Debian's podman 4.3 runs pynet's zipapp as a CNI plugin
(tests/lib/podman_rig.py sets podman up for these tests alone, inside the session's private mount and
network namespaces). Containers get addresses from pynet's pool and talk TCP; a published port goes
through pynet's nftables table and is reached from another namespace and from 127.0.0.1; stopping and
removing the containers releases everything, and the runtime's netns are gone; a pynet sandbox is
joined with `--network ns:<key>` (no plugin at all); a playbook run afterwards changes nothing."""

import os
import shutil
import socket
import subprocess
import time

import podman_rig
import pynet_testing
import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

pytestmark = pytest.mark.skipif(not (shutil.which("podman") and shutil.which("runc")
                                     and os.path.exists(podman_rig.BUSYBOX)),
                                reason="apt-get install podman runc busybox-static")

NETWORK = "pnpod"
SUBNET = "10.89.50.0/24"
OUTSIDE_HOST, OUTSIDE = "192.0.2.1", "192.0.2.2"
# A server that answers each connection with the container's hostname, for ever.
SERVER = "while true; do hostname | nc -l -p 80; done"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    """The podman rig, a pynet network made by the library and its conflist for podman."""
    state_dir = str(tmp_path_factory.mktemp("pynet-state"))
    made = podman_rig.PodmanRig()  # first: it refuses a mount namespace where processes (a DNS server) run
    controller = Controller(state_dir=state_dir)
    network = controller.new_network(controller.new_network_driver("bridge", {}), NETWORK,
                                     {"ipam": [{"subnet": SUBNET}]})
    made.controller = controller
    made.state_dir = state_dir
    made.add_network(NETWORK, [{"type": "pynet", "state_dir": state_dir,
                                "capabilities": {"portMappings": True, "ips": True, "mac": True}}])
    yield made
    network.delete_endpoints(network.endpoints())
    network.delete()  # and with it the network's DNS server
    made.close()
    controller.close()


def endpoints(rig):
    return {ep.name: ep for ep in rig.controller.network_by_name(NETWORK).endpoints()}


def run_server(rig, name, *options):
    rig.podman("run", "-d", "--name", name, "--network", NETWORK, *options, podman_rig.IMAGE, "sh", "-c", SERVER)
    inspect = rig.podman("inspect", "--format", "{{.Id}} {{.NetworkSettings.Networks.%s.IPAddress}}" % NETWORK, name)
    container_id, address = inspect.stdout.split()
    return container_id, address


def fetch(address, port, timeout=3.0):
    """What a server sends on connecting to address:port from the calling thread's namespace."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=timeout) as conn:
                return conn.recv(64).decode().strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the server's loop between two connections


def test_containers_get_pool_addresses_talk_tcp_and_leave_nothing(rig):
    first_id, first = run_server(rig, "pnweb1")
    second_id, second = run_server(rig, "pnweb2")
    # Addresses from pynet's pool, recorded as the containers' endpoints, in podman's netns.
    assert first.startswith("10.89.50.") and second.startswith("10.89.50.") and first != second
    found = endpoints(rig)
    assert sorted(found) == sorted(["cni.%s.eth0" % first_id, "cni.%s.eth0" % second_id])
    keys = {ep.sandbox_key for ep in found.values()}
    assert len(keys) == 2 and all(key.startswith("/run/netns/netns-") and netns.is_netns(key) for key in keys)
    assert sorted(os.path.basename(key) for key in keys) == rig.netns_files()
    assert found["cni.%s.eth0" % first_id].sandbox_info()["interfaces"][0]["address"] == first + "/24"
    # TCP from one container to the other, with busybox nc.
    client = rig.podman("run", "--rm", "--network", NETWORK, podman_rig.IMAGE, "nc", "-w", "3", second, "80")
    assert client.stdout.strip() == second_id[:12]
    # stop: podman's DEL released everything and podman removed its netns; rm leaves it so.
    rig.podman("stop", "--time", "0", "pnweb1", "pnweb2")
    assert (endpoints(rig), rig.netns_files()) == ({}, [])
    rig.podman("rm", "pnweb1", "pnweb2")
    assert (endpoints(rig), rig.netns_files()) == ({}, [])
    assert not [key for key in keys if key in [sandbox.key for sandbox in rig.controller.sandboxes()]]


def outside_namespace(rig):
    """A namespace beside the rig's host, on a veth: where connections from other machines come from."""
    key = os.path.join(rig.work, "outside")
    if not netns.is_netns(key):
        netns.create(key)
        subprocess.run(["ip", "link", "add", "pnout0", "type", "veth", "peer", "name", "eth0", "netns", key],
                       check=True)
        subprocess.run(["ip", "addr", "add", OUTSIDE_HOST + "/24", "dev", "pnout0"], check=True)
        subprocess.run(["ip", "link", "set", "pnout0", "up"], check=True)
        for command in (["ip", "addr", "add", OUTSIDE + "/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"]):
            subprocess.run(["nsenter", "--net=" + key] + command, check=True)
    return key


def test_a_published_port_goes_through_pynets_table_from_outside_and_from_localhost(rig):
    container_id, address = run_server(rig, "pnpub", "-p", "8080:80")
    table = subprocess.run(["nft", "list", "table", "inet", rig.controller.firewall_table], capture_output=True,
                           text=True, check=True).stdout
    assert "tcp dport 8080 dnat ip to %s:80" % address in table
    with netns.entered(outside_namespace(rig)):
        assert fetch(OUTSIDE_HOST, 8080) == container_id[:12]
    assert fetch("127.0.0.1", 8080) == container_id[:12]
    rig.podman("rm", "--force", "--time", "0", "pnpub")
    assert endpoints(rig) == {}
    table = subprocess.run(["nft", "list", "table", "inet", rig.controller.firewall_table], capture_output=True,
                           text=True, check=False).stdout
    assert "dnat" not in table


def test_a_requested_address_and_mac(rig):
    run = rig.podman("run", "--rm", "--network", NETWORK, "--ip", "10.89.50.99", "--mac-address", "02:42:ac:11:00:99",
                     podman_rig.IMAGE, "ip", "-o", "link", "show", "eth0")
    assert "02:42:ac:11:00:99" in run.stdout
    run = rig.podman("run", "--rm", "--network", NETWORK, "--ip", "10.89.50.99", podman_rig.IMAGE, "ip", "-o", "-4",
                     "addr", "show", "eth0")
    assert "10.89.50.99/24" in run.stdout
    assert endpoints(rig) == {}


def test_a_pynet_sandbox_joined_with_network_ns(rig):
    """The zero-code path: podman joins a sandbox pynet made and connected; no plugin runs."""
    key = os.path.join(rig.work, "sandboxes", "pnzero")
    sandbox = rig.controller.new_sandbox(key)
    network = rig.controller.network_by_name(NETWORK)
    endpoint = network.create_endpoint("pnzero", key, {"ip": "10.89.50.77"})
    try:
        server_id, server = run_server(rig, "pnzserver")
        run = rig.podman("run", "--rm", "--network", "ns:" + key, podman_rig.IMAGE, "sh", "-c",
                         "ip -o -4 addr show eth0; nc -w 3 %s 80" % server)
        assert "10.89.50.77/24" in run.stdout
        assert run.stdout.strip().endswith(server_id[:12])
        assert sorted(endpoints(rig)) == sorted(["pnzero", "cni.%s.eth0" % server_id])
    finally:
        rig.podman("rm", "--force", "--time", "0", "pnzserver", check=False)
        endpoint.delete()
        sandbox.destroy()
    assert endpoints(rig) == {} and not netns.is_netns(key)


def test_a_playbook_afterwards_changes_nothing(rig):
    """pynet_network as declared, and pynet_endpoint pruning stale endpoints and sandboxes: the
    containers came and went through the plugin, and left the store as the playbook knows it."""
    network = pynet_testing.run_module("pynet_network", {"state_dir": rig.state_dir, "name": NETWORK,
                                                         "ipam": [{"subnet": SUBNET}]})
    pruned = pynet_testing.run_module("pynet_endpoint", {"state_dir": rig.state_dir, "endpoints": [],
                                                         "prune_stale": True})
    assert (network.get("failed"), network["changed"]) == (None, False), network
    assert (pruned.get("failed"), pruned["changed"]) == (None, False), pruned
