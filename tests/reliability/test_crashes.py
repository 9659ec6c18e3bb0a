"""Part 2: kill -9 at every step boundary of every create and delete. For each operation and each
boundary n, a child process is killed before its n-th kernel change or store transaction; then
the next normal run must complete the declared state, agree with the kernel, change nothing on a
second run, and leave nothing behind once everything is removed: the host settings pynet changed
(forwarding, accept_ra of an interface that takes router advertisements, an adopted bridge's MTU
and route_localnet) are back as they were, and none is left recorded. The CNI plugin's ADD and DEL
are killed the same way; what a runtime does next (DEL, then ADD again) must leave nothing leaked."""

import json
import os
import subprocess
import sys

import consistency
import declared
import pynet_testing
import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

PART = "2 crashes"
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crash_runner.py")
GOAL_KILL_POINTS = 200
ADOPTED = "pnt-adopt"  # a bridge of the host's, made by the test, that a network adopts
RA_LINK = "pnt-ra"  # an interface of the host's that takes router advertisements
HOST_IPV4 = "10.89.59.1"  # an address of the host's (on RA_LINK), a network's outbound address
PARENT = "pnt-parent"  # a host interface that macvlan networks take as parent


def scenarios(paths):
    """name -> (the state before, the state the operation declares)."""
    state = {"state_dir": paths.state_dir}
    driver = ("driver", dict(state, name="bridge", options={"enable_firewall": True}))
    network = ("network", dict(state, name="front", ipam=[{"subnet": "10.89.50.0/24"}, {"subnet": "fd00:89:50::/64"}]))
    network_mtu = ("network", dict(network[1], mtu=1400, force=True))
    sandboxes = [("sandbox", dict(state, key=paths.sandbox_key(name))) for name in ("a", "b", "c")]
    web = {"name": "web", "sandbox": paths.sandbox_key("a"), "ports": [{"host_port": 8080, "container_port": 80}]}
    batch = [{"name": "b", "sandbox": paths.sandbox_key("b"), "ports": [{"container_port": 53, "protocol": "udp"}]},
             {"name": "c", "sandbox": paths.sandbox_key("c")}]

    def endpoints(*items, purge=False):
        return ("endpoints", dict(state, network="front", endpoints=list(items), purge=purge))

    isolated = ("network", dict(state, name="back", internal=True, enable_icc=False,
                                ipam=[{"subnet": "10.89.51.0/24"}]))
    on_back = ("endpoints", dict(state, network="back", endpoints=[
        {"name": "web-back", "sandbox": paths.sandbox_key("a"), "ifname": "eth1", "gw_priority": 10},
        {"name": "b-back", "sandbox": paths.sandbox_key("b"), "ifname": "eth1"}]))
    adopted = ("network", dict(state, name="adopted", bridge_name=ADOPTED, mtu=1400,
                               ipam=[{"subnet": "10.89.53.0/24"}]))
    on_adopted = ("endpoints", dict(state, network="adopted", endpoints=[
        {"name": "web-adopted", "sandbox": paths.sandbox_key("a"), "ifname": "eth3",
         "ports": [{"host_port": 8090, "container_port": 80}]}]))
    adopted_endpoint_gone = ("endpoints", dict(on_adopted[1], endpoints=[], purge=True))
    adopted_gone = ("network", dict(adopted[1], state="absent"))
    second = ("network", dict(state, name="side", ipam=[{"subnet": "10.89.52.0/24"}]))
    on_side = ("endpoints", dict(state, network="side", endpoints=[
        {"name": "web-side", "sandbox": paths.sandbox_key("a"), "ifname": "eth2", "gw_priority": 10}]))
    ipv4_only_batch = ("endpoints", dict(state, network="side", endpoints=[
        {"name": "b-side", "sandbox": paths.sandbox_key("b"), "ifname": "eth2"},
        {"name": "c-side", "sandbox": paths.sandbox_key("c"), "ifname": "eth2"}]))
    routed = ("network", dict(state, name="routed", enable_ipv6=True, no_default_route=True, host_ipv4=HOST_IPV4,
                              ipam=[{"subnet": "10.89.54.0/24"}],
                              routes=[{"destination": "10.99.0.0/16", "gateway": "10.89.54.1", "metric": 50}]))
    on_routed = ("endpoints", dict(state, network="routed", endpoints=[
        {"name": "b-routed", "sandbox": paths.sandbox_key("b"), "ifname": "eth4",
         "ports": [{"host_port": "9000-9009", "container_port": "9000-9009"}]}]))
    macvlan = ("network", dict(state, name="lan", driver="macvlan", parent=PARENT,
                               ipam=[{"subnet": "10.89.55.0/24"}, {"subnet": "fd00:89:55::/64"}]))
    on_macvlan = ("endpoints", dict(state, network="lan", endpoints=[
        {"name": name + "-lan", "sandbox": paths.sandbox_key(name), "ifname": "eth5"} for name in ("a", "b")]))
    world = [driver, network] + sandboxes
    return {
        "driver create": ([], [driver]),
        "driver delete": ([driver], [("driver", dict(driver[1], state="absent"))]),
        "network create": ([driver], [driver, network]),
        "network delete": ([driver, network], [("network", dict(network[1], state="absent"))]),
        "sandbox create": ([driver], [driver, sandboxes[0]]),
        "sandbox delete": ([driver, sandboxes[0]], [("sandbox", dict(sandboxes[0][1], state="absent"))]),
        "endpoint create with a published port": (world, world + [endpoints(web)]),
        "endpoints create, a batch of 3": (world, world + [endpoints(web, *batch)]),
        "published port changed (endpoint recreated)": (
            world + [endpoints(web)],
            world + [endpoints(dict(web, ports=[{"host_port": 8081, "container_port": 80}]))]),
        "endpoint delete with a published port": (world + [endpoints(web)], world + [endpoints(purge=True)]),
        "endpoints delete, a batch of 3": (world + [endpoints(web, *batch)], world + [endpoints(purge=True)]),
        "network recreated with its endpoints (force)": (world + [endpoints(web)], [driver, network_mtu] + sandboxes),
        "internal network with enable_icc false create": (world, world + [isolated]),
        "endpoints create on an internal isolated network": (world + [isolated], world + [isolated, on_back]),
        "endpoints create on an IPv4-only network, a batch of 2 (IPv6 off at both ends)": (
            world + [second], world + [second, ipv4_only_batch]),
        "endpoint create taking the default route (gw_priority)": (
            world + [endpoints(web), second], world + [endpoints(web), second, on_side]),
        "endpoint delete handing the default route back": (
            world + [endpoints(web), second, on_side],
            world + [endpoints(web), second, ("endpoints", dict(on_side[1], endpoints=[], purge=True))]),
        "network on an adopted bridge with another MTU create": ([driver], [driver, adopted]),
        "endpoint with a published port on an adopted bridge create": (world + [adopted], world + [adopted, on_adopted]),
        "endpoint with a published port on an adopted bridge delete": (
            world + [adopted, on_adopted], world + [adopted, adopted_endpoint_gone]),
        "network on an adopted bridge delete": ([driver, adopted], [driver, adopted_gone]),
        "network with routes, no default route, an outbound address and a ULA subnet create": (
            [driver], [driver, routed]),
        "endpoint publishing a port range on a network with routes create": (
            world + [routed], world + [routed, on_routed]),
        "macvlan network create": ([driver], [driver, macvlan]),
        "macvlan endpoints create, a batch of 2": (world + [macvlan], world + [macvlan, on_macvlan]),
        "macvlan endpoints delete, a batch of 2": (
            world + [macvlan, on_macvlan],
            world + [macvlan, ("endpoints", dict(on_macvlan[1], endpoints=[], purge=True))]),
    }


class Runner:
    """The fork server, started in the test's namespace."""

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([pynet_testing.COLLECTIONS] + sys.path))
        self.proc = subprocess.Popen([sys.executable, RUNNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)

    def run(self, state_dir, tasks, kill_at):
        self.proc.stdin.write(json.dumps({"state_dir": state_dir, "tasks": tasks, "kill_at": kill_at}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture
def runner(host):
    started = Runner()
    yield started
    started.close()


def host_of_its_own(paths):
    """What pynet finds on the test's host and must give back: forwarding off, an interface (a veth
    pair) that takes router advertisements, a bridge of MTU 9000."""
    with open("/proc/sys/net/ipv4/ip_forward", "w") as knob:
        knob.write("0")
    subprocess.run(["ip", "link", "add", RA_LINK, "type", "veth", "peer", "name", RA_LINK + "-peer"], check=True)
    subprocess.run(["ip", "addr", "add", HOST_IPV4 + "/24", "dev", RA_LINK], check=True)
    subprocess.run(["ip", "link", "add", PARENT, "type", "veth", "peer", "name", PARENT + "-peer"], check=True)
    subprocess.run(["ip", "link", "set", PARENT, "up"], check=True)
    subprocess.run(["ip", "link", "add", ADOPTED, "mtu", "9000", "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", ADOPTED, "up"], check=True)
    return host_settings(paths)


def host_settings(paths):
    """The host's settings that pynet may change, as the kernel reports them."""
    def sysctl(path):
        with open(os.path.join("/proc/sys", path)) as knob:
            return knob.read().strip()
    adopted = pynet_testing.ip_json("addr", "show", "dev", ADOPTED)[0]
    return {"ip_forward": sysctl("net/ipv4/ip_forward"), "ipv6 forwarding": sysctl("net/ipv6/conf/all/forwarding"),
            "accept_ra": sysctl("net/ipv6/conf/%s/accept_ra" % RA_LINK),
            "adopted": (adopted["mtu"], "UP" in adopted["flags"], sysctl("net/ipv4/conf/%s/route_localnet" % ADOPTED),
                        sorted(entry["local"] for entry in adopted["addr_info"] if entry["scope"] == "global"))}


def test_kill_at_every_step_boundary(host, runner, figures):
    kill_points = 0
    failures = []
    found_on_host = host_of_its_own(host)
    for name, (before, after) in scenarios(host).items():
        for kill_at in range(1, 1000):
            declared.apply(host.state_dir, before)
            report = runner.run(host.state_dir, after, kill_at)
            assert "error" not in report, (name, kill_at, report)
            failures += ["%s, killed at %d: %s" % (name, kill_at, problem)
                         for problem in recovered_problems(host, after, found_on_host)]
            if not report["killed"]:
                break
            kill_points += 1
    figures.record(PART, "kill points (operations x step boundaries)", kill_points, ">= %d" % GOAL_KILL_POINTS,
                   kill_points >= GOAL_KILL_POINTS)
    figures.record(PART, "kill points not recovered by the next run", len(failures), 0, not failures)
    assert failures == [], "\n".join(failures)
    assert kill_points >= GOAL_KILL_POINTS


def test_kill_cni_add_and_del_at_every_step_boundary(host, runner, figures):
    """A runtime whose plugin died retries: DEL (after a failed ADD, as the spec has runtimes do), then
    ADD again. The attachment must then agree with the kernel, and its DEL leave no endpoint, address,
    port, netns record, veth or DNAT rule."""
    kill_points = 0
    failures = []
    found_on_host = host_of_its_own(host)
    state = {"state_dir": host.state_dir}
    world = [("driver", dict(state, name="bridge", options={"enable_firewall": True})),
             ("network", dict(state, name="front", ipam=[{"subnet": "10.89.50.0/24"}, {"subnet": "fd00:89:50::/64"}]))]
    # The runtime's netns, outside the test's root: pynet forgets it with its last endpoint.
    key = os.path.join(os.path.dirname(host.root), os.path.basename(host.root) + "-runtime", "c1")
    call = dict(state, network="front", container_id="c1", netns=key,
                port_mappings=[{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}])
    add, delete = ("cni", dict(call, command="ADD")), ("cni", dict(call, command="DEL"))
    os.makedirs(os.path.dirname(key))
    try:
        for name, (before, after) in {"CNI ADD": (world, [add]), "CNI DEL": (world + [add], [delete])}.items():
            for kill_at in range(1, 1000):
                netns.create(key)
                declared.apply(host.state_dir, before)
                report = runner.run(host.state_dir, after, kill_at)
                assert "error" not in report, (name, kill_at, report)
                failures += ["%s, killed at %d: %s" % (name, kill_at, problem)
                             for problem in cni_recovered_problems(host, world, add, delete, key, found_on_host)]
                if not report["killed"]:
                    break
                kill_points += 1
    finally:
        netns.destroy(key)
        os.rmdir(os.path.dirname(key))
    figures.record(PART, "CNI ADD and DEL kill points", kill_points, "> 0", kill_points > 0)
    figures.record(PART, "CNI kill points not recovered by DEL and ADD", len(failures), 0, not failures)
    assert failures == [], "\n".join(failures)
    assert kill_points > 0


def cni_recovered_problems(paths, world, add, delete, key, found_on_host):
    """The runtime's DEL must leave nothing of the attachment (a runtime that gives the container up
    calls nothing more); its ADD again must agree with the kernel, and the DEL after it leave nothing."""
    found = []
    try:
        declared.apply(paths.state_dir, [delete])
        found += attachment_leftovers(paths, "after the runtime's DEL")
        declared.apply(paths.state_dir, [add])
        found += consistency.problems(paths)
        declared.apply(paths.state_dir, [delete])
        found += attachment_leftovers(paths, "after ADD again and DEL")
    except Exception as exc:  # pylint: disable=broad-exception-caught  # a failure is a finding
        found.append("the runtime's DEL and ADD failed: %r" % exc)
    netns.destroy(key)  # as the runtime does
    return found + recovered_problems(paths, world, found_on_host)


def attachment_leftovers(paths, when):
    rows = consistency.store_rows(paths.state_dir)
    found = ["%s: %s rows left in %s" % (when, len(rows[table]), table)
             for table in ("endpoints", "sandboxes", "ports") if rows[table]]
    found += ["%s: address offset %s held by %s" % (when, row["offset"], row["owner"])
              for row in rows["allocations"] if row["owner"] != "reserved"]
    return found + ["%s: %s" % (when, left) for left in consistency.kernel_leftovers(paths) if "pnv" in left]


def recovered_problems(paths, after, found_on_host):
    """Run the declared state again as the next normal run would, then check it."""
    found = []
    try:
        declared.apply(paths.state_dir, after)
        changed = declared.apply(paths.state_dir, after)
        if changed:
            found.append("a second run changed %s" % changed)
        found += consistency.problems(paths)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # a failure is a finding
        found.append("the next run failed: %r" % exc)
    try:
        declared.apply(paths.state_dir, declared.removal(after))
        rows = consistency.store_rows(paths.state_dir)
        found += ["after removal: " + left for left in consistency.kernel_leftovers(paths)]
        found += ["after removal: %s rows left in %s" % (len(rows[table]), table)
                  for table in consistency.TABLES if rows[table]]
        left = host_settings(paths)
        found += ["after removal: %s is %s, not %s as found" % (setting, left[setting], found_on_host[setting])
                  for setting in sorted(found_on_host) if left[setting] != found_on_host[setting]]
    except Exception as exc:  # pylint: disable=broad-exception-caught
        found.append("the removal failed: %r" % exc)
    return found
