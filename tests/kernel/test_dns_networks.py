"""Names of pynet's networks, end to end: networks, endpoints and sandboxes made through the library (and
the modules), each network's dnsmasq started, reloaded and stopped by the orchestrator, and real queries
from inside the sandboxes (tests/lib/dnswire.py) at the networks' gateways.

Each test runs in a private network namespace and private mounts (/run a tmpfs, /etc an overlay:
pynet_testing.private_mounts), so the servers' files (/run/pynet/dns) and /etc/netns are the test's."""

import json
import os
import pwd
import signal
import statistics
import subprocess
import sys

import pytest
from dnswire import StandInResolver, ask, wait_for
from pynet_testing import run_module

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

UPSTREAM = "10.89.250.2"
FORWARDED_ANSWER = "192.0.2.53"


class World:
    """A controller on the test's state directory, networks front (dual stack) and back, sandboxes."""

    def __init__(self, host):
        self.host = host
        os.makedirs(host.netns_dir, exist_ok=True)
        self.controller = Controller(state_dir=host.state_dir)
        self.driver = self.controller.new_network_driver("bridge", {})

    def network(self, name, subnet, **options):
        ipam = [{"subnet": subnet}] + ([{"subnet": options.pop("subnet6")}] if "subnet6" in options else [])
        return self.controller.new_network(self.driver, name, dict(options, ipam=ipam))

    def sandbox(self, name):
        key = self.host.sandbox_key(name)
        self.controller.new_sandbox(key)
        return key

    def ask(self, key, server, name, rtype="A", tcp=False, timeout=1.0):
        with netns.entered(key):
            return ask(server, name, rtype, tcp=tcp, timeout=timeout)

    def answered(self, key, server, name, rtype="A", attempts=3):
        """The values answered, asking again after a timeout as a stub resolver does (resolv.conf's
        attempts): on a loaded machine one UDP query may go unanswered for a second."""
        for _attempt in range(attempts):
            answer = self.ask(key, server, name, rtype)
            if answer is not None:
                return answer.values(rtype)
        return None

    def hosts_files(self, network):
        """{name: (inode, bytes)} of the network's server's hosts files (a file is replaced, a new inode,
        whenever it is written)."""
        directory = os.path.join(self.controller._orchestrator.dns_directory, network.id + ".d")
        found = {}
        for name in os.listdir(directory):
            with open(os.path.join(directory, name), "rb") as handle:
                found[name] = (os.fstat(handle.fileno()).st_ino, handle.read())
        return found

    def pid(self, network):
        with open(os.path.join(self.controller._orchestrator.dns_directory, network.id + ".pid")) as handle:
            return int(handle.read())


@pytest.fixture
def world(host):
    world = World(host)
    yield world
    world.controller.close()


def gateway(network, version=4):
    return network.record().gateways()[version]


def test_names_aliases_and_reverse_lookups_of_endpoints(world):
    front = world.network("front", "10.89.71.0/24", subnet6="fd00:89:71::/64")
    web, both = world.sandbox("web"), world.sandbox("both")
    ep = front.create_endpoint("web", web, {"aliases": ["www", "Api.Example"]})
    front.create_endpoint("both", both, {})
    gw, gw6 = gateway(front), gateway(front, 6)
    address = ep.sandbox_info()["interfaces"][0]["address"].split("/")[0]
    address6 = ep.sandbox_info()["interfaces"][0]["address_ipv6"].split("/")[0]
    assert world.answered(both, gw, "web") == [address]
    assert world.answered(both, gw, "www") == [address]
    assert world.answered(both, gw, "api.example") == [address]  # aliases are lower-cased, as names compare
    assert world.answered(both, gw, "web", "AAAA") == [address6]
    assert world.answered(both, gw6, "www", "AAAA") == [address6]
    assert world.answered(both, gw, address, "PTR") == ["web"]
    assert world.answered(both, gw6, address6, "PTR") == ["web"]
    assert world.ask(both, gw, "www", tcp=True).values("A") == [address]  # TCP too
    # One server for the network, running as dnsmasq's own user, not root.
    with open("/proc/%d/status" % world.pid(front)) as handle:
        uids = [line.split()[1:] for line in handle if line.startswith("Uid:")][0]
    assert set(uids) == {str(pwd.getpwnam("dnsmasq").pw_uid)}
    assert front.drift() == []


def test_other_networks_names_do_not_leak_and_a_sandbox_on_two_networks_asks_both(world):
    front = world.network("front", "10.89.72.0/24")
    back = world.network("back", "10.89.73.0/24")
    web, db, both = world.sandbox("web"), world.sandbox("db"), world.sandbox("both")
    front.create_endpoint("web", web, {})
    back.create_endpoint("db", db, {"aliases": ["database"]})
    front.create_endpoint("both", both, {})
    back.create_endpoint("both", both, {"ifname": "eth1"})
    assert world.ask(web, gateway(front), "db").rcode == "NXDOMAIN"
    assert world.ask(web, gateway(front), "database").rcode == "NXDOMAIN"
    assert world.answered(both, gateway(front), "web") == ["10.89.72.2"]
    assert world.answered(both, gateway(back), "database") == ["10.89.73.2"]
    # The same name on two networks: each network answers its own address.
    assert world.answered(both, gateway(front), "both") == ["10.89.72.3"]
    assert world.answered(both, gateway(back), "both") == ["10.89.73.3"]


def test_a_name_held_by_two_endpoints_answers_both_addresses(world):
    front = world.network("front", "10.89.74.0/24")
    keys = [world.sandbox(name) for name in ("a1", "a2")]
    front.create_endpoint("a1", keys[0], {"aliases": ["api"]})
    front.create_endpoint("a2", keys[1], {"aliases": ["api"]})
    assert world.answered(keys[0], gateway(front), "api") == ["10.89.74.2", "10.89.74.3"]


def test_port_53_of_a_network_is_reached_from_its_own_sandboxes_only(world):
    """A sandbox of another network reaches the host's addresses, gateways included, through its own
    gateway: the firewall keeps it from a network's DNS server (UDP and TCP)."""
    front = world.network("front", "10.89.75.0/24")
    back = world.network("back", "10.89.76.0/24")
    internal = world.network("inside", "10.89.77.0/24", internal=True)
    web, db, hidden = world.sandbox("web"), world.sandbox("db"), world.sandbox("hidden")
    front.create_endpoint("web", web, {})
    back.create_endpoint("db", db, {})
    internal.create_endpoint("hidden", hidden, {})
    assert world.answered(db, gateway(back), "db") == ["10.89.76.2"]
    assert world.answered(hidden, gateway(internal), "hidden") == ["10.89.77.2"]  # internal: its own DNS
    for tcp in (False, True):
        assert world.ask(db, gateway(front), "web", tcp=tcp, timeout=0.5) is None
        assert world.ask(hidden, gateway(front), "web", tcp=tcp, timeout=0.5) is None
        assert world.ask(web, gateway(internal), "hidden", tcp=tcp, timeout=0.5) is None


def test_forwarding_reaches_dns_servers_and_an_internal_network_forwards_nothing(world):
    upstream = world.sandbox("upstream")
    subprocess.run(["ip", "link", "add", "pnup", "type", "veth", "peer", "name", "eth0", "netns", upstream], check=True)
    subprocess.run(["ip", "addr", "add", "10.89.250.1/24", "dev", "pnup"], check=True)
    subprocess.run(["ip", "link", "set", "pnup", "up"], check=True)
    subprocess.run(["nsenter", "--net=" + upstream, "ip", "addr", "add", UPSTREAM + "/24", "dev", "eth0"], check=True)
    subprocess.run(["nsenter", "--net=" + upstream, "ip", "link", "set", "eth0", "up"], check=True)
    with netns.entered(upstream):
        stand_in = StandInResolver(UPSTREAM, FORWARDED_ANSWER)
    try:
        front = world.network("front", "10.89.78.0/24", dns_servers=[UPSTREAM])
        internal = world.network("inside", "10.89.79.0/24", internal=True)
        web, hidden = world.sandbox("web"), world.sandbox("hidden")
        front.create_endpoint("web", web, {})
        internal.create_endpoint("hidden", hidden, {})
        assert world.answered(web, gateway(front), "www.example.org") == [FORWARDED_ANSWER]
        assert stand_in.asked == ["www.example.org"]
        assert world.answered(hidden, gateway(internal), "hidden") == ["10.89.79.2"]
        assert world.ask(hidden, gateway(internal), "www.example.net").rcode == "NXDOMAIN"
        assert stand_in.asked == ["www.example.org"]
    finally:
        stand_in.close()


def test_names_follow_endpoints_within_half_a_second(world):
    front = world.network("front", "10.89.80.0/24")
    client = world.sandbox("client")
    front.create_endpoint("client", client, {})
    gw = gateway(front)
    pid = world.pid(front)
    keys = [world.sandbox("s%d" % number) for number in range(20)]
    added, removed = [], []
    for number, key in enumerate(keys):
        ep = front.create_endpoint("s%d" % number, key, {})
        address = ep.sandbox_info()["interfaces"][0]["address"].split("/")[0]
        added.append(wait_for(lambda: world.answered(client, gw, "s%d" % number) == [address]))
    for number, ep in enumerate([ep for ep in front.endpoints() if ep.name.startswith("s")]):
        ep.delete()
        removed.append(wait_for(lambda: world.ask(client, gw, ep.name).rcode == "NXDOMAIN"))
    print("\nname resolving after create_endpoint returned: max %.1f ms, median %.1f ms; gone after delete: "
          "max %.1f ms" % (1000 * max(added), 1000 * statistics.median(added), 1000 * max(removed)))
    assert None not in added and None not in removed
    assert world.pid(front) == pid  # reloaded in place, never restarted


def test_a_killed_server_is_drift_and_repaired_by_repair_and_by_a_module_run(world, host):
    front = world.network("front", "10.89.81.0/24")
    web = world.sandbox("web")
    front.create_endpoint("web", web, {})
    for repair in ("library", "module"):
        os.kill(world.pid(front), signal.SIGKILL)
        assert wait_for(lambda: world.ask(web, gateway(front), "web", timeout=0.2) is None, 2.0) is not None
        assert front.drift() == ["the DNS server of network front is not running"]
        if repair == "library":
            front.repair()
        else:
            args = {"state_dir": host.state_dir, "name": "front", "ipam": [{"subnet": "10.89.81.0/24"}]}
            checked = run_module("pynet_network", args, check=True)
            assert checked["changed"] and checked["diff"]["before"]["drift"] == [
                "the DNS server of network front is not running"], checked
            assert run_module("pynet_network", args)["changed"]
            assert not run_module("pynet_network", args)["changed"]
        assert world.answered(web, gateway(front), "web") == ["10.89.81.2"]
        assert front.drift() == []


def test_the_server_stops_with_its_network_and_dns_can_be_turned_off(world):
    front = world.network("front", "10.89.82.0/24")
    plain = world.network("plain", "10.89.83.0/24", dns_enabled=False)
    web = world.sandbox("web")
    front.create_endpoint("web", web, {})
    pid = world.pid(front)
    assert os.listdir(world.controller._orchestrator.dns_directory) != []
    assert not [name for name in os.listdir(world.controller._orchestrator.dns_directory) if plain.id in name]
    front.set_dns(False, [])
    assert wait_for(lambda: not os.path.exists("/proc/%d/exe" % pid) or
                    os.stat("/proc/%d" % pid) is None, 2.0) is not None
    assert world.ask(web, gateway(front), "web", timeout=0.3) is None
    front.set_dns(True, [])
    assert world.answered(web, gateway(front), "web") == ["10.89.82.2"]
    pid = world.pid(front)
    for ep in front.endpoints():
        ep.delete()
    front.delete()
    plain.delete()
    assert wait_for(lambda: not os.path.exists("/proc/%d/exe" % pid), 2.0) is not None
    assert sorted(os.listdir(world.controller._orchestrator.dns_directory)) == ["lock"]


def test_sandbox_files_are_rendered_and_removed_with_the_sandbox(world):
    front = world.network("front", "10.89.84.0/24")
    plain = world.network("plain", "10.89.85.0/24", dns_enabled=False)
    key = "/run/netns/pndns1"  # the test's private /run: `ip netns exec` reads /etc/netns/pndns1
    world.controller.new_sandbox(key)
    ep = front.create_endpoint("web", key, {"aliases": ["www"]})
    info = ep.sandbox_info()
    assert info["netns_resolv_conf"] == "/etc/netns/pndns1/resolv.conf"
    with open(info["resolv_conf"]) as handle:
        assert handle.read().splitlines()[1:] == ["nameserver 10.89.84.1"]
    with open(info["hosts"]) as handle:
        assert handle.read().splitlines()[-1] == "10.89.84.2\tweb www"
    with open(info["netns_resolv_conf"]) as handle:
        assert handle.read().splitlines()[1:] == ["nameserver 10.89.84.1"]
    # What `ip netns exec` gives a program in the sandbox: its name resolves through the gateway.
    done = subprocess.run(["ip", "netns", "exec", "pndns1", "getent", "hosts", "www"], capture_output=True,
                          text=True, check=False)
    assert done.stdout.split()[:1] == ["10.89.84.2"], done
    other = world.sandbox("other")
    ep2 = plain.create_endpoint("other", other, {})
    with open(ep2.sandbox_info()["resolv_conf"]) as handle:  # no DNS network: the host's resolvers
        assert "nameserver 10.89.84.1" not in handle.read()
    ep.delete()
    world.controller.sandbox_by_key(key).destroy()
    assert not os.path.exists(info["resolv_conf"]) and not os.path.exists(info["hosts"])
    assert not os.path.exists("/etc/netns/pndns1")


@pytest.mark.parametrize("options, param", [
    ({"dns_servers": ["8.8.8.8#53"]}, "dns_servers[0]"),
    ({"dns_servers": "8.8.8.8"}, "dns_servers"),
    ({"dns_servers": ["10.0.0.1"], "internal": True}, "dns_servers"),
    ({"dns_enabled": "maybe"}, "dns_enabled"),
])
def test_bad_network_dns_options_are_refused_before_any_change(world, options, param):
    with pytest.raises(errors.InvalidParameterError) as raised:
        world.network("front", "10.89.86.0/24", **options)
    assert raised.value.param == param
    assert world.controller.networks() == []
    assert not os.path.exists(world.controller._orchestrator.dns_directory)


@pytest.mark.parametrize("aliases, param", [
    (["bad name"], "aliases[0]"), (["ok", "-bad"], "aliases[1]"), ("www", "aliases"), (["a" * 64], "aliases[0]"),
    (["x\naddn-hosts=/etc/shadow"], "aliases[0]"),
])
def test_bad_aliases_are_refused_before_any_change(world, aliases, param):
    front = world.network("front", "10.89.87.0/24")
    front.create_endpoint("db", world.sandbox("db"), {})
    key = world.sandbox("web")
    hosts_before = world.hosts_files(front)
    with pytest.raises(errors.InvalidParameterError) as raised:
        front.create_endpoint("web", key, {"aliases": aliases})
    assert raised.value.param == param
    assert [ep.name for ep in front.endpoints()] == ["db"]
    assert world.hosts_files(front) == hosts_before


def test_an_endpoint_costs_its_own_names_file_only_whatever_the_networks_size(world, monkeypatch):
    """An endpoint made or removed writes or removes its own hosts file in its network's server, and reads
    or renders no other name (the whole sync, which does, runs only when the server must be started or
    restarted); one whose name is no DNS name and that has no alias (as a CNI attachment named by a
    runtime's 64-character container id) changes no file at all."""
    front = world.network("front", "10.89.89.0/24")
    client = world.sandbox("client")
    front.create_endpoint("client", client, {})
    for number in range(3):
        front.create_endpoint("s%d" % number, world.sandbox("s%d" % number), {})
    orchestrator = world.controller._orchestrator
    whole = []
    monkeypatch.setattr(orchestrator, "sync_dns", lambda: whole.append(1))
    before = world.hosts_files(front)
    nameless = front.create_endpoint("0123456789abcdef" * 4, world.sandbox("nameless"), {})
    assert world.hosts_files(front) == before
    late = front.create_endpoint("late", world.sandbox("late"), {"aliases": ["later"]})
    after = world.hosts_files(front)
    (added,) = set(after) - set(before)
    address = late.sandbox_info()["interfaces"][0]["address"].split("/")[0]
    assert after == dict(before, **{added: after[added]}) and after[added][1] == ("%s\tlate later\n" % address).encode()
    assert world.answered(client, gateway(front), "later") == [address]
    nameless.delete()
    front.endpoint_by_name("s1").delete()
    assert world.hosts_files(front) == {name: found for name, found in after.items() if b"\ts1\n" not in found[1]}
    assert wait_for(lambda: world.ask(client, gateway(front), "s1").rcode == "NXDOMAIN") is not None
    assert whole == []
    # What the whole sync would write is what the endpoints wrote: nothing to change.
    monkeypatch.undo()
    assert front.drift() == []


def test_a_server_left_by_a_pynet_of_one_names_file_is_taken_over_at_the_next_endpoint(world):
    """A server that a pynet before hosts files per record left running (all names in one file `hosts`,
    and its digest in the record of what the server was given) gets the whole pass at the next endpoint
    made: the old file goes, with the names only it held, and the server is not restarted."""
    front = world.network("front", "10.89.90.0/24")
    client = world.sandbox("client")
    front.create_endpoint("client", client, {})
    directory = world.controller._orchestrator.dns_directory
    with open(os.path.join(directory, front.id + ".d", "hosts"), "w") as handle:
        handle.write("# pynet: the names of network %s\n10.89.90.99\tghost\n" % front.id)
    with open(os.path.join(directory, front.id + ".loaded")) as handle:
        loaded = json.load(handle)
    with open(os.path.join(directory, front.id + ".loaded"), "w") as handle:
        json.dump(dict(loaded, hosts="0" * 64), handle)
    pid = world.pid(front)
    assert wait_for(lambda: world.answered(client, gateway(front), "ghost") == ["10.89.90.99"]) is not None
    late = front.create_endpoint("late", world.sandbox("late"), {})
    assert "hosts" not in world.hosts_files(front)
    assert wait_for(lambda: world.ask(client, gateway(front), "ghost").rcode == "NXDOMAIN") is not None
    assert world.answered(client, gateway(front), "late") == [
        late.sandbox_info()["interfaces"][0]["address"].split("/")[0]]
    assert world.pid(front) == pid and front.drift() == []


def test_sixteen_processes_creating_endpoints_at_once_leave_the_servers_names_equal_to_the_stores(world, host):
    front = world.network("front", "10.89.88.0/24")
    keys = [world.sandbox("p%d" % number) for number in range(16)]
    runs = [subprocess.Popen([sys.executable, "-m",
                              "ansible_collections.pynet.libnetwork.plugins.modules.pynet_endpoint"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, PYTHONPATH=os.environ["PYNET_COLLECTIONS_PATH"]))
            for _key in keys]
    for number, (run, key) in enumerate(zip(runs, keys)):
        run.stdin.write(json.dumps({"ANSIBLE_MODULE_ARGS": {
            "state_dir": host.state_dir, "network": "front", "name": "p%d" % number, "sandbox": key,
            "aliases": ["alias%d" % number]}}))
        run.stdin.close()
    for run in runs:
        assert run.wait(timeout=120) == 0, run.stderr.read()
    assert front.drift() == []
    addresses = {ep.name: ep.sandbox_info()["interfaces"][0]["address"].split("/")[0] for ep in front.endpoints()}
    assert len(addresses) == 16
    for number in range(16):
        assert world.answered(keys[0], gateway(front), "alias%d" % number) == [addresses["p%d" % number]]


def test_pynet_network_turns_dns_off_and_on_in_place_with_exact_check_mode(world, host):
    args = {"state_dir": host.state_dir, "name": "front", "ipam": [{"subnet": "10.89.89.0/24"}]}
    created = run_module("pynet_network", args)
    assert created["changed"] and created["network"]["options"]["dns_enabled"] is True
    assert created["network"]["options"]["dns_servers"] == []
    front = world.controller.network_by_name("front")
    web = world.sandbox("web")
    front.create_endpoint("web", web, {})
    pid = world.pid(front)
    off = dict(args, dns_enabled=False)
    checked = run_module("pynet_network", off, check=True)
    assert checked["changed"] and checked["diff"]["after"]["options"]["dns_enabled"] is False
    assert world.answered(web, gateway(front), "web") == ["10.89.89.2"] and world.pid(front) == pid  # nothing changed
    done = run_module("pynet_network", off)
    assert done["changed"] and done["network"]["options"] == checked["network"]["options"]
    assert done["network"]["id"] == front.id  # changed in place, not recreated (the endpoint stays)
    assert world.ask(web, gateway(front), "web", timeout=0.3) is None
    assert not run_module("pynet_network", off)["changed"]
    forwarded = dict(args, dns_enabled=True, dns_servers=["192.0.2.53"])  # options not given keep their value
    assert run_module("pynet_network", forwarded)["changed"]
    assert world.answered(web, gateway(front), "web") == ["10.89.89.2"]
    assert not run_module("pynet_network", forwarded)["changed"]
    bad = run_module("pynet_network", dict(args, dns_servers=["not an address"]))
    assert bad["failed"] and bad["param"] == "dns_servers[0]" and "not an IPv" in bad["msg"]
