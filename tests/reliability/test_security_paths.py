"""Part 7: security, the paths pynet acts on (issue 12, findings 4, 5, 6, 10 and 11). Each test makes
the attack or the misuse: a writer of a directory on a sandbox key's path swapping it for a symlink
(before, during and after pynet's work), state directories that others could write or that are not
where they say, the host's own namespace given as a sandbox, a namespace replaced at a key after a
reboot, and damaged databases. Whatever the attacker points at must come out unchanged.

The attacker's directory belongs to uid 1000; the test process (root) does what that user could do.
"""

import contextlib
import ctypes
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import consistency
import crash_runner
from pynet_testing import COLLECTIONS, ip_json, mounts_under, run_module

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
from ansible_collections.pynet.libnetwork.plugins.module_utils.sandbox import new_sandbox

PART = "7 security"
ATTACKER_UID = 1000
SECRET = b"root's own file\n"
SUBNET = "10.89.120.0/24"
HOST_ADDRESS, HOST_GATEWAY = "10.89.121.2/24", "10.89.121.1"

_libc = ctypes.CDLL(None, use_errno=True)


# --- helpers ---------------------------------------------------------------------------------------


def attacker_directory(root, name="attacker"):
    path = os.path.join(root, name)
    os.makedirs(path)
    os.chown(path, ATTACKER_UID, ATTACKER_UID)
    return path


def victim_file(directory, name, content=SECRET):
    """A file of root's that pynet must never mount over, unlink or change."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "wb") as handle:
        handle.write(content)
    return path


def file_view(path):
    """What a file is, independently of pynet: its inode, its bytes, whether something is mounted on it."""
    if not os.path.lexists(path):
        return "missing"
    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError as exc:  # a namespace mounted on it cannot be read
        content = repr(exc)
    return {"inode": os.stat(path).st_ino, "content": content, "mounted": path in mounts_under(os.path.dirname(path))}


def sql(database, statement, *params):
    """One statement on a database, committed, as another program than pynet would run it."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        with db:
            return db.execute(statement, params).fetchall()


def netns_identity(path):
    st = os.stat(path)
    return (st.st_dev, st.st_ino) if netns.is_netns(path) else None


def foreign_netns(path):
    """A network namespace mounted at `path` by util-linux (another tool), not by pynet."""
    with open(path, "w"):
        pass
    subprocess.run(["unshare", "--net=" + path, "true"], check=True)
    return netns_identity(path)


def swap_for_symlink(directory, target):
    """The attacker's move: `directory` renamed away and replaced by a symlink to `target`."""
    os.rename(directory, directory + "-moved")
    os.symlink(target, directory)


def refused(result, param, words):
    return bool(result.get("failed")) and result.get("param") == param and words in result.get("msg", "") \
        and "Traceback" not in result["stderr"]


@contextlib.contextmanager
def library_error():
    """The PynetError a library call raises, or None."""
    caught = []
    try:
        yield caught
    except errors.PynetError as exc:
        caught.append(exc)


# --- finding 4: sandbox keys never followed through a symlink --------------------------------------------


def test_sandbox_keys_are_not_followed_through_symlinks(host, figures, monkeypatch):
    os.makedirs(host.netns_dir)
    attacker = attacker_directory(host.root)
    outcomes = {}

    # (a) A symlinked directory on the key's path: refused, nothing made through it.
    elsewhere = os.path.join(host.root, "elsewhere")
    os.makedirs(elsewhere)
    os.symlink(elsewhere, os.path.join(attacker, "linked"))
    key = os.path.join(attacker, "linked", "c1")
    module = run_module("pynet_sandbox", {"state_dir": host.state_dir, "key": key})
    with library_error() as raised:
        new_sandbox(os.path.join(attacker, "linked", "sub", "c2"), state_dir=host.state_dir)
    made_there = os.listdir(elsewhere)
    real = host.sandbox_key("real")
    new_sandbox(real, state_dir=host.state_dir)
    os.symlink(real, os.path.join(attacker, "ns-link"))  # a symlink to a namespace is not a namespace key
    through_link = run_module("pynet_sandbox", {"state_dir": host.state_dir, "key": os.path.join(attacker, "ns-link")})
    outcomes["(a) a symlinked directory on the key's path"] = (
        refused(module, "key", "must not contain symlinks") and raised and raised[0].param == "key"
        and "must not contain symlinks" in str(raised[0]) and made_there == []
        and refused(through_link, "key", "must not contain symlinks")
        and not netns.is_netns(os.path.join(attacker, "ns-link")))

    # (b) The race between making the file and mounting on it: once the file is made, the key's
    # directory becomes a symlink to a directory holding a file of root's.
    victims = os.path.join(host.root, "victims")
    victim = victim_file(victims, "c3")
    raced = os.path.join(attacker, "raced")
    os.makedirs(raced)
    key = os.path.join(raced, "c3")

    def racing(step):
        def wrapper(*args, **kwargs):
            if os.path.lexists(key) and not os.path.islink(raced):
                swap_for_symlink(raced, victims)
            return step(*args, **kwargs)
        return wrapper

    # Every namespace step the crash runner kills at: the swap happens at the first one after the file.
    for name in crash_runner.KERNEL_CHANGES[netns]:
        monkeypatch.setattr(netns, name, racing(getattr(netns, name)))
    victim_before = dict(file_view(victim), mounted=False)
    with library_error():
        new_sandbox(key, state_dir=host.state_dir)
    monkeypatch.undo()
    swapped = os.path.islink(raced)
    outcomes["(b) the directory swapped between making the file and mounting on it"] = (
        swapped and file_view(victim) == victim_before and not netns.is_netns(victim))

    # (c) The key's directory re-pointed after creation at another tool's namespace: `state: absent`
    # and destroy() must not unmount it.
    theirs_dir = os.path.join(host.root, "other-tool")
    os.makedirs(theirs_dir)
    theirs = foreign_netns(os.path.join(theirs_dir, "c4"))
    repointed = os.path.join(attacker, "repointed")
    os.makedirs(repointed)
    key = os.path.join(repointed, "c4")
    sandbox = new_sandbox(key, state_dir=host.state_dir)
    swap_for_symlink(repointed, theirs_dir)
    absent = run_module("pynet_sandbox", {"state_dir": host.state_dir, "key": key, "state": "absent"})
    with library_error() as raised:
        sandbox.destroy()
    outcomes["(c) the directory re-pointed at another tool's namespace before state: absent"] = (
        refused(absent, "key", "must not contain symlinks") and raised and raised[0].param == "key"
        and netns_identity(os.path.join(theirs_dir, "c4")) == theirs)

    # (d) prune_stale after a reboot (the namespace gone, its empty file left) with the key's
    # directory re-pointed at a directory holding an empty file of root's.
    empty_victim = victim_file(os.path.join(host.root, "empty-victims"), "c5", content=b"")
    pruned_dir = os.path.join(attacker, "pruned")
    os.makedirs(pruned_dir)
    key = os.path.join(pruned_dir, "c5")
    new_sandbox(key, state_dir=host.state_dir)
    subprocess.run(["umount", key], check=True)
    swap_for_symlink(pruned_dir, os.path.dirname(empty_victim))
    empty_before = file_view(empty_victim)
    prune = run_module("pynet_endpoint", {"state_dir": host.state_dir, "endpoints": [], "prune_stale": True})
    outcomes["(d) prune_stale through a re-pointed directory"] = (
        not prune.get("failed") and file_view(empty_victim) == empty_before
        and key + " is not collected" in json.dumps(prune.get("warnings")))

    failed = [name for name, ok in outcomes.items() if not ok]
    figures.record(PART, "4: symlink attacks on sandbox keys that reached a file elsewhere (of %d)" % len(outcomes),
                   len(failed), 0, not failed)
    assert failed == [], (failed, module, through_link, absent, prune)


# --- finding 5: the state directory ----------------------------------------------------------------------


class Opened:
    """Whether any process opens a file from now on (inotify IN_OPEN): 'refused before any read'."""

    IN_OPEN, IN_NONBLOCK, IN_CLOEXEC = 0x20, 0o4000, 0o2000000

    def __init__(self, path):
        self._fd = _libc.inotify_init1(self.IN_NONBLOCK | self.IN_CLOEXEC)
        assert self._fd >= 0 and _libc.inotify_add_watch(self._fd, os.fsencode(path), self.IN_OPEN) >= 0

    def seen(self):
        try:
            return bool(os.read(self._fd, 4096))
        except BlockingIOError:
            return False
        finally:
            os.close(self._fd)


def forged_database(state_dir, sandbox_key):
    """What uid 1000 could write in a state directory of its own: a store whose only sandbox, 'made by
    pynet', is a file of root's."""
    controller = Controller(state_dir=state_dir)
    with controller.store.write() as tx:
        tx.execute("INSERT INTO sandboxes(key, created) VALUES (?, 1)", (sandbox_key,))
    controller.close()
    for name in os.listdir(state_dir):
        os.chown(os.path.join(state_dir, name), ATTACKER_UID, ATTACKER_UID)
    os.chown(state_dir, ATTACKER_UID, ATTACKER_UID)


def tables():
    listed = subprocess.run(["nft", "-j", "list", "tables"], check=True, capture_output=True, text=True).stdout
    return [entry["table"]["name"] for entry in json.loads(listed)["nftables"] if "table" in entry]


def test_state_dir_must_be_roots_alone_and_real(host, figures):
    outcomes = {}
    network = {"name": "front", "ipam": [{"subnet": SUBNET}]}

    # `state_dir: /tmp`: refused, its mode kept. A /tmp of the test's own (mode 1777, root's): the
    # code before the fix made the real one 0700.
    shared = os.path.join(host.root, "tmp")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    result = run_module("pynet_network", dict(network, state_dir=shared))
    outcomes["a directory writable by all (as /tmp)"] = (
        refused(result, "state_dir", "writable by its group or others") and os.stat(shared).st_mode & 0o7777 == 0o1777
        and os.listdir(shared) == [])

    # A directory made by uid 1000 with a forged database: refused before the database is opened,
    # so its rows cannot make root remove a file of root's.
    root_only = victim_file(os.path.join(host.root, "root-only"), "file", content=b"")
    users = os.path.join(host.root, "users-state")
    forged_database(users, root_only)
    database = os.path.join(users, "pynet.db")
    opened = Opened(database)
    result = run_module("pynet_endpoint", {"state_dir": users, "endpoints": [], "prune_stale": True})
    outcomes["a directory of uid 1000 with a forged pynet.db"] = (
        refused(result, "state_dir", "owned by uid 1000") and not opened.seen() and os.path.exists(root_only))

    # A directory on the way that uid 1000 may write: they could swap the state directory in it.
    parent = attacker_directory(host.root, "users-parent")
    result = run_module("pynet_network", dict(network, state_dir=os.path.join(parent, "state")))
    outcomes["a directory of uid 1000 on the path"] = (
        refused(result, "state_dir", "another user could put their own state directory") and os.listdir(parent) == [])

    # A symlinked state directory: refused (its table would be named after the link, and its rules left).
    real = os.path.join(host.root, "real-state")
    link = os.path.join(host.root, "state-link")
    os.symlink(real, link)
    result = run_module("pynet_network", dict(network, state_dir=link))
    outcomes["a symlinked state directory"] = (
        refused(result, "state_dir", "symbolic link") and not os.path.exists(real) and tables() == [])

    # An existing directory of root's, readable by all: used as it is (never chmod-ed), files private.
    readable = os.path.join(host.root, "readable-state")
    os.mkdir(readable, 0o755)
    os.chmod(readable, 0o755)
    result = run_module("pynet_driver", {"state_dir": readable, "name": "bridge"})
    outcomes["an existing directory of root's, mode 0755, is used and not changed"] = (
        not result.get("failed") and os.stat(readable).st_mode & 0o7777 == 0o755
        and all(os.stat(os.path.join(readable, name)).st_mode & 0o077 == 0 for name in os.listdir(readable)))

    failed = [name for name, ok in outcomes.items() if not ok]
    figures.record(PART, "5: state_dir misuses accepted or directories changed (of %d)" % len(outcomes),
                   len(failed), 0, not failed)
    assert failed == []


# --- finding 6: the host's own namespace is never a sandbox -------------------------------------------------


def run_in_own_pid_namespace(name, args):
    """A module run in a PID namespace of its own, where it is PID 1: /proc/1/ns/net is then the test's
    private host namespace, so that a pynet that accepted it could never touch the real host's."""
    return run_module(name, args, prefix=["unshare", "--pid", "--fork", "--mount-proc"])


def host_routes_and_links():
    """The test host's default routes and links (its IPv6 link-local routes still come and go after an up)."""
    return {"default": ip_json("-4", "route", "show", "default") + ip_json("-6", "route", "show", "default"),
            "ipv4 routes": ip_json("-4", "route", "show", "table", "all"),
            "links": [link["ifname"] for link in ip_json("link")]}


def test_the_hosts_namespace_is_never_a_sandbox(host, figures):
    common = {"state_dir": host.state_dir}
    for name, args in (("pynet_driver", dict(common, name="bridge")),
                       ("pynet_network", dict(common, name="front", ipam=[{"subnet": SUBNET}]))):
        assert not run_module(name, args).get("failed")
    # The test host's own uplink and default route, which an endpoint in its namespace would replace.
    for argv in (["ip", "link", "add", "pnt-up", "type", "veth", "peer", "name", "pnt-up-peer"],
                 ["ip", "addr", "add", HOST_ADDRESS, "dev", "pnt-up"], ["ip", "link", "set", "pnt-up", "up"],
                 ["ip", "link", "set", "pnt-up-peer", "up"], ["ip", "route", "add", "default", "via", HOST_GATEWAY]):
        subprocess.run(argv, check=True)
    os.makedirs(host.netns_dir)
    bound = host.sandbox_key("host-bound")
    with open(bound, "w"):
        pass
    subprocess.run(["mount", "--bind", "/proc/self/ns/net", bound], check=True)  # mount's namespace: the test host's
    before = host_routes_and_links()
    keys = ["/proc/self/ns/net", "/proc/1/ns/net", "/proc/thread-self/ns/net", bound]
    outcomes = {}
    for key in keys:
        endpoint = run_in_own_pid_namespace("pynet_endpoint", dict(common, network="front", name="e", sandbox=key))
        sandbox = run_in_own_pid_namespace("pynet_sandbox", dict(common, key=key))
        with library_error() as raised:
            new_sandbox(key, state_dir=host.state_dir)
        outcomes[key] = (refused(endpoint, "sandbox", key) and refused(sandbox, "key", key)
                         and raised and raised[0].param == "key" and host_routes_and_links() == before)
    failed = [key for key, ok in outcomes.items() if not ok]
    figures.record(PART, "6: the host's namespace accepted as a sandbox (of %d keys, endpoints and sandboxes)"
                   % len(keys), len(failed), 0, not failed)
    assert failed == []
    assert consistency.store_rows(host.state_dir)["endpoints"] == []


# --- finding 10: `created` names one namespace in one boot ---------------------------------------------------


def sandbox_result(paths, key, state="present"):
    return run_module("pynet_sandbox", {"state_dir": paths.state_dir, "key": key, "state": state})


def test_created_holds_only_for_the_namespace_pynet_made_in_this_boot(host, figures):
    os.makedirs(host.netns_dir)
    database = os.path.join(host.state_dir, "pynet.db")
    outcomes = {}

    # The namespace unmounted and another tool's mounted at the key in the same boot.
    key = host.sandbox_key("replaced")
    assert sandbox_result(host, key)["sandbox"]["created"] is True
    subprocess.run(["umount", key], check=True)
    os.remove(key)
    theirs = foreign_netns(key)
    present = sandbox_result(host, key)
    absent = sandbox_result(host, key, "absent")
    outcomes["another tool's namespace at the key is not pynet's"] = (
        present["sandbox"]["created"] is False and not absent.get("failed") and netns_identity(key) == theirs)
    netns.destroy(key)

    # A reboot: the recorded boot is not this one. The namespace at the key counts as adopted.
    key = host.sandbox_key("rebooted")
    assert sandbox_result(host, key)["sandbox"]["created"] is True
    identity = netns_identity(key)
    sql(database, "UPDATE sandboxes SET boot_id = 'a-boot-before' WHERE key = ?", key)
    present = sandbox_result(host, key)
    absent = sandbox_result(host, key, "absent")
    outcomes["after a reboot, the namespace at the key is not pynet's"] = (
        present["sandbox"]["created"] is False and not present["changed"] and not absent.get("failed")
        and netns_identity(key) == identity)
    netns.destroy(key)

    # After a reboot pynet makes the namespace again: that one is its own, and removed by it.
    key = host.sandbox_key("made-again")
    assert sandbox_result(host, key)["sandbox"]["created"] is True
    sql(database, "UPDATE sandboxes SET boot_id = 'a-boot-before' WHERE key = ?", key)
    subprocess.run(["umount", key], check=True)  # what the reboot did; its empty file stays
    again = sandbox_result(host, key)
    absent = sandbox_result(host, key, "absent")
    outcomes["a namespace made again after a reboot is pynet's again"] = (
        again["changed"] and again["sandbox"]["created"] is True and absent["changed"]
        and not os.path.lexists(key))

    failed = [name for name, ok in outcomes.items() if not ok]
    figures.record(PART, "10: namespaces reported created or removed that pynet did not make in this boot (of %d)"
                   % len(outcomes), len(failed), 0, not failed)
    assert failed == []


def test_sandboxes_of_a_schema_2_store_are_taken_for_adopted(host):
    """A record of before schema 3 has no namespace identity: its namespace is left (it may be another
    tool's after a reboot), its empty file is still removed."""
    os.makedirs(host.netns_dir)
    os.makedirs(host.state_dir, mode=0o700)
    database = os.path.join(host.state_dir, "pynet.db")
    mounted, left = host.sandbox_key("mounted"), host.sandbox_key("left")
    identity = netns.create(mounted)
    netns.create(left)
    subprocess.run(["umount", left], check=True)
    for statement, params in (("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)", ()),
                              ("CREATE TABLE sandboxes (key TEXT PRIMARY KEY, created INTEGER NOT NULL)", ()),
                              ("INSERT INTO meta VALUES ('schema', '2')", ()),
                              ("INSERT INTO sandboxes VALUES (?, 1), (?, 1)", (mounted, left))):
        sql(database, statement, *params)
    results = [sandbox_result(host, key, "absent") for key in (mounted, left)]
    assert [result.get("failed") for result in results] == [None, None], results
    assert netns_identity(mounted) == identity and not os.path.lexists(left)
    assert consistency.store_rows(host.state_dir)["sandboxes"] == []
    assert sql(database, "SELECT value FROM meta WHERE key = 'schema'") == [("4",)]
    netns.destroy(mounted)


# --- finding 11: a damaged database is refused, never started afresh ------------------------------------------


DAMAGES = {"empty (0 bytes)": b"", "garbage": b"this is not a database\n" * 100}


def crash_points_of_a_new_store(state_dir):
    """Kill a process at every sqlite statement of the making of a new store: each time, pynet.db must
    be missing or a whole store. Returns the kill points and the sentences of what went wrong."""
    script = (
        "import os, signal, sqlite3, sys\n"
        "from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller\n"
        "kill_at, calls, connect = int(sys.argv[2]), [0], sqlite3.connect\n"
        "class Counted:\n"
        "    def __init__(self, db): object.__setattr__(self, '_db', db)\n"
        "    def __getattr__(self, name): return getattr(self._db, name)\n"
        "    def __setattr__(self, name, value): setattr(self._db, name, value)\n"
        "    def execute(self, *args):\n"
        "        calls[0] += 1\n"
        "        if calls[0] == kill_at: os.kill(os.getpid(), signal.SIGKILL)\n"
        "        return self._db.execute(*args)\n"
        "sqlite3.connect = lambda *args, **kwargs: Counted(connect(*args, **kwargs))\n"
        "Controller(state_dir=sys.argv[1]).new_network_driver('bridge', {})\n")
    points, problems = 0, []
    for kill_at in range(1, 200):
        shutil.rmtree(state_dir, ignore_errors=True)
        killed = subprocess.run([sys.executable, "-c", script, state_dir, str(kill_at)], capture_output=True,
                                env=dict(os.environ, PYTHONPATH=COLLECTIONS), check=False).returncode == -9
        database = os.path.join(state_dir, "pynet.db")
        if os.path.exists(database) and os.path.getsize(database) == 0:
            problems.append("killed at statement %d: pynet.db is left empty" % kill_at)
        try:
            Controller(state_dir=state_dir).close()
        except errors.PynetError as exc:
            problems.append("killed at statement %d: the next run fails: %s" % (kill_at, exc))
        if not killed:
            break
        points += 1
    return points, problems


def test_a_damaged_database_is_refused_and_a_new_one_is_made_whole(host, figures):
    outcomes = {}
    for damage, content in DAMAGES.items():
        state_dir = os.path.join(host.root, damage.split()[0])
        os.mkdir(state_dir, 0o700)
        database = os.path.join(state_dir, "pynet.db")
        with open(database, "wb") as handle:
            handle.write(content)
        os.chmod(database, 0o600)
        runs = [run_module("pynet_info", {"state_dir": state_dir}),
                run_module("pynet_network", {"state_dir": state_dir, "name": "n", "ipam": [{"subnet": SUBNET}]}),
                run_module("pynet_network", {"state_dir": state_dir, "name": "n", "ipam": [{"subnet": SUBNET}]},
                           check=True)]
        with library_error() as raised:
            Controller(state_dir=state_dir)
        outcomes["a database %s" % damage] = (
            all(refused(result, "state_dir", database) and "move it aside" in result["msg"] for result in runs)
            and raised and raised[0].param == "state_dir" and "restore it from a backup" in str(raised[0])
            and open(database, "rb").read() == content and sorted(os.listdir(state_dir)) == ["pynet.db"])

    # Check mode and read-only modules read a missing state directory as empty, and make nothing.
    missing = os.path.join(host.root, "missing-state")
    info = run_module("pynet_info", {"state_dir": missing})
    check = run_module("pynet_network", {"state_dir": missing, "name": "n", "ipam": [{"subnet": SUBNET}]}, check=True)
    outcomes["a missing state directory in check mode and pynet_info"] = (
        not info.get("failed") and info["networks"] == [] and check["changed"] and not os.path.exists(missing))

    points, problems = crash_points_of_a_new_store(os.path.join(host.root, "crashed-state"))
    outcomes["a store killed while being made (%d kill points)" % points] = points > 3 and not problems

    failed = [name for name, ok in outcomes.items() if not ok]
    figures.record(PART, "11: damaged databases used without a clear error, or left by a crash (of %d)"
                   % len(outcomes), len(failed), 0, not failed)
    assert failed == [], problems
