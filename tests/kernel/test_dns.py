"""Names served at the gateways: the DNS adapter (plugins/module_utils/dns) with real dnsmasq
processes, queried from inside sandboxes with tests/lib/dnswire.py (a client over UDP and TCP).

Bridges and sandboxes are made with iproute2 (tests/lib/bridged.py) in the test's private namespace
(the servers' directory in its private /run); tests/kernel/test_dns_networks.py tests the wiring into
pynet's networks and endpoints. Every server a test starts is
stopped by its pid at the end, and the test fails if a dnsmasq is left in its namespace."""

import fcntl
import os
import signal
import stat
import subprocess
import threading

import pytest
from bridged import add_bridge, add_sandbox, ip
from dnswire import StandInResolver, ask, wait_for
from pynet_testing import dnsmasqs_here

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import config, files, server
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

FRONT_GATEWAYS = ("10.89.61.1", "fd00:89:61::1")
BACK_GATEWAYS = ("10.89.62.1", "fd00:89:62::1")
UPSTREAM = "10.89.250.2"
FORWARDED_ANSWER = "192.0.2.53"  # what the stand-in upstream answers for every name


def running(pid):
    """Whether the process is there and not a zombie (an exited dnsmasq's parent is init or a subreaper,
    which reaps it in its own time)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Lan:
    """Two networks, front and back, with sandboxes web (front), db (back) and both (front and back,
    eth0 and eth1), and an upstream namespace reached from the host at 10.89.250.2."""

    def __init__(self, host):
        self.host = host
        self.directory = "/run/pynet/dns/pntest"  # in the test's private /run (pynet_testing.private_mounts)
        os.makedirs(host.state_dir, mode=0o700)
        add_bridge("pndns-front", "10.89.61.1/24", "fd00:89:61::1/64")
        add_bridge("pndns-back", "10.89.62.1/24", "fd00:89:62::1/64")
        add_sandbox(self.key("web"), "pndns-web", "pndns-front", ["10.89.61.10/24", "fd00:89:61::10/64"], "10.89.61.1")
        add_sandbox(self.key("db"), "pndns-db", "pndns-back", ["10.89.62.10/24", "fd00:89:62::10/64"], "10.89.62.1")
        add_sandbox(self.key("both"), "pndns-both0", "pndns-front", ["10.89.61.20/24"], "10.89.61.1")
        add_sandbox(self.key("both"), "pndns-both1", "pndns-back", ["10.89.62.20/24"], ifname="eth1")
        add_sandbox(self.key("upstream"), "pndns-up", None, [UPSTREAM + "/24"])
        ip("addr", "add", "10.89.250.1/24", "dev", "pndns-up")

    def key(self, name):
        return self.host.sandbox_key(name)

    def ask(self, sandbox, gateway, name, rtype="A", tcp=False):
        with netns.entered(self.key(sandbox)):
            return ask(gateway, name, rtype, tcp=tcp)

    def answered(self, sandbox, gateway, name, rtype="A"):
        """The values answered, [] for an answer without any, None for no answer."""
        answer = self.ask(sandbox, gateway, name, rtype)
        return None if answer is None else answer.values(rtype)

    def pid(self, network_id):
        with open(os.path.join(self.directory, network_id + ".pid")) as handle:
            return int(handle.read())

    def stand_in(self):
        with netns.entered(self.key("upstream")):
            return StandInResolver(UPSTREAM, FORWARDED_ANSWER)


@pytest.fixture
def lan(host):
    os.makedirs(host.netns_dir)
    lan = Lan(host)
    try:
        yield lan
    finally:
        server.converge(lan.directory, [])
        left = dnsmasqs_here()
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert left == [], "dnsmasq processes left running"


WEB = config.Record("web", ("www",), ("10.89.61.10",), ("fd00:89:61::10",))
BOTH_FRONT = config.Record("both", (), ("10.89.61.20",))
DB = config.Record("db", ("database",), ("10.89.62.10",), ("fd00:89:62::10",))
BOTH_BACK = config.Record("both", (), ("10.89.62.20",))


def front(*records, **options):
    return config.DnsNetwork(**dict(dict(id="f1", name="front", gateways=FRONT_GATEWAYS, upstream=(UPSTREAM,),
                                         records=records or (WEB, BOTH_FRONT)), **options))


def back(*records):
    return config.DnsNetwork(id="b2", name="back", gateways=BACK_GATEWAYS, upstream=(UPSTREAM,),
                             records=records or (DB, BOTH_BACK))


def test_names_aliases_and_reverse_lookups_from_sandboxes(lan):
    assert server.converge(lan.directory, [front(), back()]) == [
        "started the DNS server of network front", "started the DNS server of network back"]
    gateway, gateway6 = FRONT_GATEWAYS
    assert lan.answered("web", gateway, "web") == ["10.89.61.10"]
    assert lan.answered("web", gateway, "www") == ["10.89.61.10"]
    assert lan.answered("web", gateway, "WWW.") == ["10.89.61.10"]  # names are case-insensitive
    assert lan.answered("web", gateway, "web", "AAAA") == ["fd00:89:61::10"]
    assert lan.answered("web", gateway6, "www", "AAAA") == ["fd00:89:61::10"]  # at the IPv6 gateway too
    assert lan.answered("web", gateway, "10.89.61.10", "PTR") == ["web"]
    assert lan.answered("web", gateway, "fd00:89:61::10", "PTR") == ["web"]
    assert lan.ask("web", gateway, "both", tcp=True).values("A") == ["10.89.61.20"]
    # A sandbox on two networks resolves the names of both, each at its network's gateway.
    assert lan.answered("both", gateway, "web") == ["10.89.61.10"]
    assert lan.answered("both", BACK_GATEWAYS[0], "database") == ["10.89.62.10"]
    assert lan.answered("both", BACK_GATEWAYS[0], "both") == ["10.89.62.20"]
    assert server.drift(lan.directory, [front(), back()]) == []
    assert server.converge(lan.directory, [front(), back()]) == []


def test_a_name_of_another_network_is_not_answered_at_this_gateway(lan):
    server.converge(lan.directory, [front(), back()])
    assert lan.ask("web", FRONT_GATEWAYS[0], "db").rcode == "NXDOMAIN"
    assert lan.ask("web", FRONT_GATEWAYS[0], "database", "AAAA").rcode == "NXDOMAIN"
    assert lan.answered("web", FRONT_GATEWAYS[0], "10.89.62.10", "PTR") in (None, [])
    # The same name on two networks: each network answers its own.
    assert lan.answered("web", FRONT_GATEWAYS[0], "both") == ["10.89.61.20"]
    assert lan.answered("db", BACK_GATEWAYS[0], "both") == ["10.89.62.20"]


def test_a_name_held_twice_answers_every_address_as_docker_does(lan):
    api = [config.Record("api1", ("api",), ("10.89.61.31",)), config.Record("api2", ("api",), ("10.89.61.32",))]
    server.converge(lan.directory, [front(WEB, *api)])
    assert lan.answered("web", FRONT_GATEWAYS[0], "api") == ["10.89.61.31", "10.89.61.32"]
    assert lan.answered("web", FRONT_GATEWAYS[0], "10.89.61.32", "PTR") == ["api2"]


def test_changes_resolve_within_half_a_second_with_one_reload_per_batch(lan):
    server.converge(lan.directory, [front(), back()])
    pid = lan.pid("f1")
    added = [config.Record("new%d" % number, (), ("10.89.61.%d" % (100 + number),)) for number in range(100)]
    # A batch of 100 new names and one removed: one reload of front's server, back's untouched.
    assert server.converge(lan.directory, [front(BOTH_FRONT, *added), back()]) == [
        "reloaded the DNS server of network front"]
    new_resolves = wait_for(lambda: lan.answered("both", FRONT_GATEWAYS[0], "new99") == ["10.89.61.199"])
    removed_gone = wait_for(lambda: lan.ask("both", FRONT_GATEWAYS[0], "web").rcode == "NXDOMAIN")
    assert new_resolves is not None and removed_gone is not None
    assert lan.pid("f1") == pid  # reloaded in place, not restarted
    assert lan.answered("both", FRONT_GATEWAYS[0], "new0") == ["10.89.61.100"]


def test_forwarding_reaches_the_networks_upstream_resolver(lan):
    stand_in = lan.stand_in()
    try:
        server.converge(lan.directory, [front()])
        assert lan.answered("web", FRONT_GATEWAYS[0], "www.example.org") == [FORWARDED_ANSWER]
        assert stand_in.asked == ["www.example.org"]
        # Single-label names that are not the network's are never sent upstream.
        assert lan.ask("web", FRONT_GATEWAYS[0], "nosuchname").rcode != "NOERROR"
        assert stand_in.asked == ["www.example.org"]
    finally:
        stand_in.close()


def test_an_internal_network_resolves_its_names_and_forwards_nothing(lan):
    stand_in = lan.stand_in()
    try:
        server.converge(lan.directory, [front(internal=True)])
        assert lan.answered("web", FRONT_GATEWAYS[0], "www") == ["10.89.61.10"]
        assert lan.ask("web", FRONT_GATEWAYS[0], "www.example.org").rcode == "NXDOMAIN"
        assert lan.ask("web", FRONT_GATEWAYS[0], "192.0.2.1", "PTR").rcode == "NXDOMAIN"
        assert stand_in.asked == []
    finally:
        stand_in.close()


def test_a_killed_server_is_drift_and_the_next_run_restarts_it(lan):
    server.converge(lan.directory, [front(), back()])
    os.kill(lan.pid("f1"), signal.SIGKILL)
    assert wait_for(lambda: lan.ask("web", FRONT_GATEWAYS[0], "web") is None, 2.0) is not None
    assert server.drift(lan.directory, [front(), back()]) == ["the DNS server of network front is not running"]
    assert server.converge(lan.directory, [front(), back()]) == ["started the DNS server of network front"]
    assert lan.answered("web", FRONT_GATEWAYS[0], "web") == ["10.89.61.10"]
    assert server.drift(lan.directory, [front(), back()]) == []


def test_a_pid_file_naming_another_process_is_not_taken_for_the_server(lan):
    """After a reboot the pid in the file may be anyone's: it is never signalled, a server is started."""
    server.converge(lan.directory, [front(), back()])
    killed = lan.pid("f1")
    os.kill(killed, signal.SIGKILL)
    assert wait_for(lambda: not running(killed), 2.0) is not None  # its sockets closed
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        for pid in (stranger.pid, lan.pid("b2")):  # another program; another network's dnsmasq
            with open(os.path.join(lan.directory, "f1.pid"), "w") as handle:
                handle.write("%d\n" % pid)
            assert server.drift(lan.directory, [front(), back()]) == ["the DNS server of network front is not running"]
        back_pid = lan.pid("b2")
        assert server.converge(lan.directory, [front(), back()]) == ["started the DNS server of network front"]
        assert stranger.poll() is None and running(back_pid)  # neither was signalled
        assert lan.pid("f1") not in (stranger.pid, back_pid)
    finally:
        stranger.kill()
        stranger.wait()


def test_a_stale_running_configuration_is_drift_and_repaired(lan):
    server.converge(lan.directory, [front()])
    pid = lan.pid("f1")
    # Names added on disk outside pynet.
    with open(os.path.join(lan.directory, "f1.d", "intruder"), "w") as handle:  # dnsmasq reads it at once
        handle.write("10.89.61.66 intruder\n")
    assert wait_for(lambda: lan.answered("web", FRONT_GATEWAYS[0], "intruder") == ["10.89.61.66"]) is not None
    assert server.drift(lan.directory, [front()]) == [
        "the DNS server of network front answers other names than pynet's store has"]
    assert server.converge(lan.directory, [front()]) == ["reloaded the DNS server of network front"]
    assert wait_for(lambda: lan.ask("web", FRONT_GATEWAYS[0], "intruder").rcode == "NXDOMAIN") is not None
    # A run cut off after writing the files but before the reload: the record of what was loaded is older.
    with open(os.path.join(lan.directory, "f1.loaded"), "w") as handle:
        handle.write('{"conf": "old", "hosts": "old"}')
    assert server.drift(lan.directory, [front()]) == [
        "the DNS server of network front runs with other addresses or upstream servers than pynet's store has"]
    # New upstream servers need a restart (dnsmasq reads them at its start only).
    assert server.converge(lan.directory, [front(upstream=("10.89.250.3",))]) == [
        "restarted the DNS server of network front"]
    assert lan.pid("f1") != pid and lan.answered("web", FRONT_GATEWAYS[0], "web") == ["10.89.61.10"]
    assert server.drift(lan.directory, [front(upstream=("10.89.250.3",))]) == []


def test_a_server_stops_with_its_network_and_nothing_is_left(lan):
    server.converge(lan.directory, [front(), back()])
    back_pid = lan.pid("b2")
    assert server.drift(lan.directory, [front()]) == ["the DNS server of network b2 runs but pynet serves no such network"]
    assert server.converge(lan.directory, [front()]) == ["stopped the DNS server of network b2"]
    assert not running(back_pid)
    assert lan.ask("db", BACK_GATEWAYS[0], "db") is None
    assert lan.answered("web", FRONT_GATEWAYS[0], "web") == ["10.89.61.10"]
    assert server.converge(lan.directory, []) == ["stopped the DNS server of network f1"]
    assert dnsmasqs_here() == []
    assert os.listdir(lan.directory) == [server.LOCK_NAME]
    assert server.drift(lan.directory, []) == []


def directory_contents(directory):
    """{relative path: bytes} of the files under `directory`."""
    found = {}
    for where, _subdirectories, names in os.walk(directory):
        for name in names:
            with open(os.path.join(where, name), "rb") as handle:
                found[os.path.relpath(os.path.join(where, name), directory)] = handle.read()
    return found


def test_bad_names_are_refused_before_anything_changes(lan):
    server.converge(lan.directory, [front(), back()])
    before = directory_contents(lan.directory)
    pids = dnsmasqs_here()
    bad = [(front(config.Record("web", ("bad name",), ("10.89.61.10",))), "aliases"),
           (front(config.Record("web\naddn-hosts=/etc/shadow", (), ("10.89.61.10",))), "name"),
           (front(config.Record("web", (), ("10.89.61.10\nserver=192.0.2.1",))), "address"),
           (front(config.Record("web", (), (), ("10.89.61.10",))), "address_ipv6"),
           (front(upstream=("8.8.8.8#53",)), "dns_servers"),
           (front(domain="-bad-"), "domain")]
    for network, param in bad:
        with pytest.raises(errors.InvalidParameterError) as raised:
            server.converge(lan.directory, [back(DB), network])
        assert raised.value.param == param
    # back lost a name, which alone would reload it, but came with a bad network: nothing was touched.
    assert directory_contents(lan.directory) == before
    assert dnsmasqs_here() == pids


def test_files_are_private_and_symlinks_are_never_followed(lan, tmp_path):
    old_umask = os.umask(0)
    try:
        server.converge(lan.directory, [front()])
    finally:
        os.umask(old_umask)
    # Passable (dnsmasq reads its hosts files as its own user), not listable; only the hosts files are that
    # user's, read-only; the rest is root's alone.
    assert stat.S_IMODE(os.stat(lan.directory).st_mode) == 0o711
    dnsmasq_uid = server.account()[0]
    found = {}
    for directory, subdirectories, names in os.walk(lan.directory):
        for name in subdirectories + names:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, lan.directory)] = (oct(stat.S_IMODE(os.stat(path).st_mode)), os.stat(path).st_uid)
    assert found == {"lock": ("0o600", 0), "f1.conf": ("0o600", 0), "f1.pid": ("0o600", 0), "f1.loaded": ("0o600", 0),
                     "f1.d": ("0o500", dnsmasq_uid),
                     **{"f1.d/" + config.record_file(record)[0]: ("0o400", dnsmasq_uid) for record in (WEB, BOTH_FRONT)}}
    # A symlink planted at a file's name is replaced, its target untouched.
    target = tmp_path / "target"
    target.write_text("precious\n")
    hosts = os.path.join(lan.directory, "f1.d", config.record_file(WEB)[0])
    os.unlink(hosts)
    os.symlink(target, hosts)
    assert server.drift(lan.directory, [front()]) == [
        "the DNS server of network front answers other names than pynet's store has"]
    server.converge(lan.directory, [front()])
    assert target.read_text() == "precious\n" and not os.path.islink(hosts)
    # A symlinked directory on the way is refused.
    os.symlink(lan.host.state_dir, tmp_path / "linked")
    with pytest.raises(OSError):
        server.converge(str(tmp_path / "linked" / "dns"), [])
    with pytest.raises(OSError):
        with files.directory(str(tmp_path / "linked"), create_mode=0o700):
            pass


def test_servers_run_in_the_namespace_of_the_calling_thread(lan):
    server.converge(lan.directory, [front()])
    here = os.stat("/proc/thread-self/ns/net").st_ino
    assert os.stat("/proc/%d/ns/net" % lan.pid("f1")).st_ino == here  # the test's private namespace


def test_a_server_started_before_its_gateway_exists_answers_once_it_appears(lan):
    """After a reboot the servers may start before the bridges are rebuilt (bind-dynamic)."""
    later = config.DnsNetwork(id="c3", name="later", gateways=("10.89.63.1",), internal=True,
                              records=(config.Record("late", (), ("10.89.63.10",)),))
    assert server.converge(lan.directory, [later]) == ["started the DNS server of network later"]
    add_bridge("pndns-later", "10.89.63.1/24")
    add_sandbox(lan.key("late"), "pndns-late", "pndns-later", ["10.89.63.10/24"], "10.89.63.1")
    assert wait_for(lambda: lan.answered("late", "10.89.63.1", "late") == ["10.89.63.10"]) is not None


def directory_unlocked(directory):
    """Whether no run holds the directory's lock (a lock taken and let go at once)."""
    fd = os.open(os.path.join(directory, server.LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_runs_at_the_same_time_end_with_the_last_view_of_the_store(lan):
    """16 threads each add a name to a shared 'store' and converge, reading it once the directory is
    locked: afterwards the server answers every name, and nothing is left to change."""
    store, store_lock, read_unlocked = [], threading.Lock(), []

    def read_store():
        read_unlocked.append(directory_unlocked(lan.directory))
        return [front(*store)]

    def add(number):
        with store_lock:
            store.append(config.Record("ep%d" % number, (), ("10.89.61.%d" % (100 + number),)))
        server.converge(lan.directory, read_store)

    threads = [threading.Thread(target=add, args=(number,)) for number in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert read_unlocked == [False] * 16
    assert server.drift(lan.directory, [front(*store)]) == []
    assert [lan.answered("web", FRONT_GATEWAYS[0], "ep%d" % number) for number in range(16)] == [
        ["10.89.61.%d" % (100 + number)] for number in range(16)]
