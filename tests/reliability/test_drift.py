"""Part 3: drift. Damage made outside pynet (a bridge deleted or down, a veth deleted or its bridge port
isolated, an address, a default route or a network's route removed, a sandbox's namespace unmounted, pynet's nftables
table flushed or deleted, the record of a deleted object left in the store) is reported by check mode,
which changes nothing, and repaired by one run of the playbook; a second run changes nothing."""

import contextlib
import json
import os
import socket
import sqlite3
import struct
import subprocess
import time

import consistency
import pytest
from packets import answered, checksum
from pynet_testing import kernel_snapshot, run_module, store_snapshot
from traffic import tcp_connect_from, tcp_reachable

from ansible_collections.pynet.libnetwork.plugins.module_utils import firewall
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import DEFAULT_STATE_DIR

PART = "3 drift"
NETWORK = "drift"
PUBLISHED_PORT, CONTAINER_PORT = 8080, 80
OUTCOMES = {}  # damage -> (repaired in one run, check mode's diffs were the real run's), for the total rows


class Playbook:
    """The declared state, as a play's tasks: (module, arguments)."""

    def __init__(self, paths):
        common = {"state_dir": paths.state_dir}
        endpoints = [{"name": "a", "sandbox": paths.sandbox_key("a"),
                      "ports": [{"host_port": PUBLISHED_PORT, "container_port": CONTAINER_PORT}]},
                     {"name": "b", "sandbox": paths.sandbox_key("b")}]
        self.tasks = [
            ("pynet_driver", dict(common, name="bridge", options={"enable_firewall": True})),
            ("pynet_network", dict(common, name=NETWORK,
                                   ipam=[{"subnet": "10.89.30.0/24"}, {"subnet": "fd00:89:30::/64"}],
                                   routes=[{"destination": "10.89.31.0/24", "gateway": "10.89.30.254"}])),
            ("pynet_sandbox", dict(common, key=paths.sandbox_key("a"))),
            ("pynet_sandbox", dict(common, key=paths.sandbox_key("b"))),
            ("pynet_endpoint", dict(common, network=NETWORK, endpoints=endpoints)),
        ]

    def converge(self, check=False):
        """Run every task, stopping at a failure as a play does; returns (any changed, the diffs of
        the changed tasks, failures)."""
        diffs, failures = [], []
        for name, args in self.tasks:
            result = run_module(name, args, check=check)
            if result.get("failed"):
                failures.append("%s: %s %s" % (name, result.get("msg"), result["stderr"][-2000:]))
                break
            if result.get("changed"):
                diffs.append(result["diff"])
        return bool(diffs), diffs, failures


class Deployed:
    """Names and addresses of what the playbook made, read from the store (not through pynet)."""

    def __init__(self, paths):
        rows = consistency.store_rows(paths.state_dir)
        self.paths = paths
        self.database = os.path.join(paths.state_dir, "pynet.db")
        self.bridge = json.loads(rows["networks"][0]["options"])["bridge_name"]
        self.endpoints = {ep["name"]: ep for ep in rows["endpoints"]}
        self.table = firewall.table_name(paths.state_dir, DEFAULT_STATE_DIR)

    def key(self, name):
        return self.paths.sandbox_key(name)

    def names(self):
        """What a drift sentence may name, for DAMAGES' expectations."""
        return {"bridge": self.bridge, "table": self.table, "veth_a": self.veth("a"), "veth_b": self.veth("b"),
                "ipv4_a": self.cidr("a", 4), "ipv6_a": self.cidr("a", 6)}

    def veth(self, name):
        return self.endpoints[name]["host_ifname"]

    def cidr(self, name, version):
        return self.endpoints[name]["address" if version == 4 else "address_ipv6"]

    def address(self, name, version):
        return self.cidr(name, version).split("/")[0]


# --- damage done outside pynet ------------------------------------------------------------------


def ip(*args, key=None):
    prefix = ["nsenter", "--net=" + key] if key else []
    subprocess.run(prefix + ["ip"] + list(args), check=True, capture_output=True)


def nft(*args):
    return subprocess.run(["nft"] + list(args), check=True, capture_output=True, text=True).stdout


def wait_until(condition, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting until " + what
        time.sleep(0.05)


def link_gone(name):
    return subprocess.run(["ip", "link", "show", "dev", name], capture_output=True, check=False).returncode != 0


def umount(key):
    subprocess.run(["umount", key], check=True)


def remove_netns(d, how):
    how(d.key("b"))
    # The kernel frees an unused namespace, and the veth pair with it, a moment later.
    wait_until(lambda: link_gone(d.veth("b")), "veth %s is gone" % d.veth("b"))


def delete_dnat_rules(d):
    listed = json.loads(nft("-j", "-a", "list", "table", "inet", d.table))["nftables"]
    for rule in (item["rule"] for item in listed if "rule" in item):
        if any("dnat" in expr for expr in rule["expr"]):
            nft("delete", "rule", "inet", d.table, rule["chain"], "handle", str(rule["handle"]))


def set_state(d, table, name, state):
    """What a run killed between its store and kernel steps leaves: a record not 'ready'."""
    with contextlib.closing(sqlite3.connect(d.database)) as db:
        with db:  # one transaction, committed
            db.execute("UPDATE %s SET state = ? WHERE name = ?" % table, (state, name))


def endpoint_removed_by_hand(d):
    ip("link", "del", d.veth("a"))
    delete_dnat_rules(d)


def deletion_killed_before_forgetting(d):
    set_state(d, "endpoints", "a", "deleting")
    endpoint_removed_by_hand(d)


# (damage, how it is done, what a drift sentence of the check-mode diff must say: Deployed.names() fill it in)
DAMAGES = [
    ("bridge deleted", lambda d: ip("link", "del", d.bridge), "{bridge} is missing"),
    ("bridge down", lambda d: ip("link", "set", d.bridge, "down"), "{bridge} is down"),
    ("host veth deleted", lambda d: ip("link", "del", d.veth("a")), "{veth_a} of endpoint a is missing"),
    ("host veth's bridge port isolated",
     lambda d: ip("link", "set", "dev", d.veth("a"), "type", "bridge_slave", "isolated", "on"),
     "{veth_a} is isolated on bridge {bridge}, though enable_icc is true"),
    ("host veth's hairpin mode off",
     lambda d: ip("link", "set", "dev", d.veth("a"), "type", "bridge_slave", "hairpin", "off"),
     "{veth_a} is not in hairpin mode on bridge {bridge}"),
    ("sandbox veth eth0 deleted", lambda d: ip("link", "del", "eth0", key=d.key("b")),
     "{veth_b} of endpoint b is missing"),
    ("IPv4 address removed from eth0", lambda d: ip("addr", "del", d.cidr("a", 4), "dev", "eth0", key=d.key("a")),
     "eth0 lacks address {ipv4_a}"),
    ("IPv6 address removed from eth0", lambda d: ip("addr", "del", d.cidr("a", 6), "dev", "eth0", key=d.key("a")),
     "eth0 lacks address {ipv6_a}"),
    ("IPv4 default route removed", lambda d: ip("-4", "route", "del", "default", key=d.key("b")),
     "no IPv4 default route via 10.89.30.1"),
    ("IPv6 default route removed", lambda d: ip("-6", "route", "del", "default", key=d.key("b")),
     "no IPv6 default route via fd00:89:30::1"),
    ("network's route removed", lambda d: ip("-4", "route", "del", "10.89.31.0/24", key=d.key("b")),
     "no route to 10.89.31.0/24 via 10.89.30.254 metric 100"),
    # The namespace goes with its end of the veth: the sandbox task remakes it, the endpoint task the veth.
    ("netns unmounted and removed", lambda d: remove_netns(d, netns.destroy), "{veth_b} of endpoint b is missing"),
    ("netns unmounted, empty file left", lambda d: remove_netns(d, umount), "{veth_b} of endpoint b is missing"),
    ("nftables table flushed", lambda d: nft("flush", "table", "inet", d.table), "{table} has 0 rules"),
    ("nftables table deleted", lambda d: nft("delete", "table", "inet", d.table), "{table} is missing"),
    ("endpoint left deleting by a killed run", lambda d: set_state(d, "endpoints", "a", "deleting"),
     "endpoint a was left deleting"),
    ("endpoint left deleting, its veth and DNAT rules gone", deletion_killed_before_forgetting,
     "endpoint a was left deleting"),
    ("network left creating by a killed run", lambda d: set_state(d, "networks", NETWORK, "creating"),
     "network %s was left creating" % NETWORK),
    ("endpoint's veth and DNAT rules removed by hand, record kept", endpoint_removed_by_hand,
     "{veth_a} of endpoint a is missing"),
]


# --- what is observed ---------------------------------------------------------------------------


def drift_named(diffs):
    """The drift sentences of the diffs' 'before' views: the network's, and the endpoints' of pynet_endpoint
    (a network's view lists its endpoints by name only)."""
    sentences = []
    for diff in diffs:
        before = diff["before"] or {}
        sentences += before.get("drift", [])
        sentences += [sentence for ep in before.get("endpoints", [])
                      if isinstance(ep, dict) for sentence in ep.get("drift", [])]
    return sentences


def store_files(state_dir):
    """store_snapshot with sqlite's write-ahead log folded into the database: the test's own
    read-only reads leave -wal and -shm files behind, which the next writer to close removes."""
    with contextlib.closing(sqlite3.connect(os.path.join(state_dir, "pynet.db"))) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return store_snapshot(state_dir)


def differences(check, real, path="diffs"):
    """Where the diffs of a check-mode run and of the real run after it disagree."""
    if isinstance(check, dict) and isinstance(real, dict):
        for key in sorted(set(check) | set(real)):
            yield from differences(check.get(key), real.get(key), "%s.%s" % (path, key))
    elif isinstance(check, list) and isinstance(real, list) and len(check) == len(real):
        for index, (one, other) in enumerate(zip(check, real)):
            yield from differences(one, other, "%s[%d]" % (path, index))
    elif check != real:
        yield "%s: check mode %r, real run %r" % (path, check, real)


def settled_kernel_snapshot(paths):
    """A snapshot once no IPv6 address is still in duplicate address detection (which ends on its own)."""
    def tentative(snap):
        return any(info.get("tentative") for view in snap.values() if isinstance(view, dict) and "addr" in view
                   for link in view["addr"] for info in link.get("addr_info", []))
    snap = kernel_snapshot(paths)
    deadline = time.monotonic() + 5
    while tentative(snap) and time.monotonic() < deadline:
        time.sleep(0.1)
        snap = kernel_snapshot(paths)
    return snap


def icmp_echo(source_key, address, timeout=1.0):
    """One ICMP echo from inside the sandbox, as `ping -c1 -W1` sends it; True when it is answered."""
    v6 = ":" in address
    family, proto, request, reply = ((socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, 129) if v6
                                     else (socket.AF_INET, socket.IPPROTO_ICMP, 8, 0))
    ident = os.getpid() & 0xFFFF
    message = struct.pack("!BBHHH", request, 0, 0, ident, 1) + b"pynet drift!"
    if not v6:  # the kernel computes ICMPv6 checksums itself
        message = message[:2] + struct.pack("!H", checksum(message)) + message[4:]

    def is_reply(data):
        icmp = data if v6 else data[(data[0] & 0x0F) * 4:]  # raw IPv4 sockets get the IP header too
        return icmp[0] == reply and struct.unpack("!H", icmp[4:6])[0] == ident

    with netns.entered(source_key):
        sock = socket.socket(family, socket.SOCK_RAW, proto)
    with sock:
        sock.sendto(message, (address, 0))
        return answered(sock, timeout, is_reply)


def traffic_failures(d, within=5.0):
    """What does not get through: TCP and ICMP echo between the sandboxes over both IP versions, and
    the published port from the host. A check that fails is tried again until `within` seconds have
    passed: on a loaded machine the first IPv6 packets wait for neighbour discovery longer than one
    check's timeout."""
    a, b = d.key("a"), d.key("b")
    checks = {
        "TCP a -> b over IPv4": lambda: tcp_reachable(b, d.address("b", 4), a),
        "TCP b -> a over IPv6": lambda: tcp_reachable(a, d.address("a", 6), b),
        "ping a -> b over IPv6": lambda: icmp_echo(a, d.address("b", 6)),
        "ping b -> a over IPv4": lambda: icmp_echo(b, d.address("a", 4)),
        "published port 127.0.0.1:%d" % PUBLISHED_PORT: lambda: tcp_connect_from(
            None, a, d.address("a", 4), "127.0.0.1", PUBLISHED_PORT, CONTAINER_PORT) is not None,
    }
    deadline = time.monotonic() + within
    failing = [check for check, passes in checks.items() if not passes()]
    while failing and time.monotonic() < deadline:
        failing = [check for check in failing if not checks[check]()]
    return failing


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("damage, named", [(do, named) for _name, do, named in DAMAGES],
                         ids=[name for name, _do, _named in DAMAGES])
def test_drift_is_reported_by_check_mode_and_repaired_by_one_run(host, figures, request, damage, named):
    name = request.node.callspec.id
    playbook = Playbook(host)
    assert playbook.converge()[2] == []
    deployed = Deployed(host)
    assert traffic_failures(deployed) == [], "before any damage"
    damage(deployed)
    named = named.format(**deployed.names())

    kernel_before, store_before = settled_kernel_snapshot(host), store_files(host.state_dir)
    changed, diffs, check_failures = playbook.converge(check=True)
    untouched = kernel_snapshot(host) == kernel_before and store_files(host.state_dir) == store_before
    sentences = drift_named(diffs)
    reported = (changed and not check_failures and untouched and any(named in sentence for sentence in sentences)
                and all(diff["before"] != diff["after"] for diff in diffs))

    changed, repair_diffs, repair_failures = playbook.converge()
    problems, blocked = consistency.problems(host), traffic_failures(deployed)
    repaired = changed and not repair_failures and not problems and not blocked

    changed, again_diffs, again_failures = playbook.converge()
    steady = not changed and not again_failures

    mispredicted = list(differences(diffs, repair_diffs))
    OUTCOMES[name] = (repaired, not mispredicted)
    figures.record(PART, "%s: reported/repaired/second run unchanged" % name,
                   "/".join("yes" if met else "no" for met in (reported, repaired, steady)), "yes/yes/yes",
                   reported and repaired and steady)
    assert reported, (check_failures, untouched, named, sentences)
    assert repaired, (repair_failures, problems, blocked)
    assert steady, (again_failures, again_diffs)
    assert mispredicted == [], "check mode's diffs are not the real run's"


def test_every_drift_case_is_repaired_in_one_run(figures):
    if not OUTCOMES:
        pytest.skip("no drift case ran")
    repaired = sum(1 for done, _predicted in OUTCOMES.values() if done)
    predicted = sum(1 for _done, predicted in OUTCOMES.values() if predicted)
    figures.record(PART, "drift cases repaired in one run", "%d/%d" % (repaired, len(DAMAGES)), "all",
                   repaired == len(DAMAGES))
    figures.record(PART, "drift cases whose check-mode diff is the real run's", "%d/%d" % (predicted, len(DAMAGES)),
                   "all", predicted == len(DAMAGES))
    assert repaired == predicted == len(DAMAGES), OUTCOMES
