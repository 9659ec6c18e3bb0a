"""What the kernel and reliability tests share: the collection importable from this checkout, a
private 'host' namespace per test, snapshots of the kernel and the store, module runs.

Importing this module makes `ansible_collections.pynet.libnetwork` importable (a temporary
collections root with a symlink to the checkout) and exports its path as PYNET_COLLECTIONS_PATH
for child processes.
"""

import atexit
import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collection_path():
    """A directory that holds ansible_collections/pynet/libnetwork -> this checkout (removed at exit)."""
    root = tempfile.mkdtemp(prefix="pynet-collections-")
    os.makedirs(os.path.join(root, "ansible_collections", "pynet"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "pynet", "libnetwork"))
    atexit.register(shutil.rmtree, root, True)
    return root


COLLECTIONS = os.environ.get("PYNET_COLLECTIONS_PATH") or _collection_path()
os.environ["PYNET_COLLECTIONS_PATH"] = COLLECTIONS
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl  # noqa: E402


class Paths:
    """Where one test keeps its state directory and its sandboxes."""

    def __init__(self, root):
        self.root = str(root)
        self.state_dir = os.path.join(self.root, "state")
        self.netns_dir = os.path.join(self.root, "netns")

    def sandbox_key(self, name):
        return os.path.join(self.netns_dir, name)


def mounts_under(path):
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [point for point in points if point.startswith(path + "/")]


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def _mount(source, target, fstype, options=None, flags=0):
    if _libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                   options.encode() if options else None) != 0:
        raise OSError(ctypes.get_errno(), "mount %s on %s" % (source, target))


@contextlib.contextmanager
def private_mounts(root):
    """The calling thread in a new mount namespace for the block, nothing propagating to the host's: /run
    a fresh tmpfs (pynet's DNS servers keep their files under /run/pynet, sandboxes may sit under
    /run/netns) and /etc an overlay whose changes (/etc/netns) go to a directory under `root`. Child
    processes started in the block (dnsmasq, module runs) inherit it."""
    home = os.open("/proc/thread-self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    cwd = os.getcwd()
    try:
        if _libc.unshare(CLONE_NEWNS) != 0:
            raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
        try:
            _mount("none", "/", None, flags=MS_REC | MS_PRIVATE)
            _mount("pn-run", "/run", "tmpfs", "mode=0755")
            layers = os.path.join(str(root), "etc-overlay")
            os.makedirs(os.path.join(layers, "upper"))
            os.makedirs(os.path.join(layers, "work"))
            _mount("pn-etc", "/etc", "overlay", "lowerdir=/etc,upperdir=%s/upper,workdir=%s/work" % (layers, layers))
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the caller's mount namespace")
            os.chdir(cwd)
    finally:
        os.close(home)


def dnsmasqs_here():
    """Pids of the dnsmasq processes in the calling thread's network namespace."""
    here = os.stat("/proc/thread-self/ns/net").st_ino
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if (os.stat("/proc/%s/ns/net" % entry).st_ino == here
                        and os.readlink("/proc/%s/exe" % entry).startswith("/usr/sbin/dnsmasq")):
                    found.append(int(entry))
    return found


def stop_dnsmasqs():
    """Kill the dnsmasq processes in the calling thread's network namespace (servers a test's networks
    started and left running); returns their pids."""
    found = dnsmasqs_here()
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


@contextlib.contextmanager
def private_host(root):
    """The calling thread in a fresh network namespace (lo up) and private mounts (private_mounts) for the
    block; child processes started in the block inherit them. Sandboxes mounted under root are
    unmounted by path at the end, and DNS servers left running are stopped."""
    with netns.private(), private_mounts(root):
        with rtnl.connect() as connection:
            connection.set_up(rtnl.LOOPBACK_INDEX)
        try:
            yield Paths(root)
        finally:
            stop_dnsmasqs()
            for point in mounts_under(str(root)):
                netns.destroy(point)


def _json(argv):
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout or "null")


def ip_json(*args, key=None):
    """What iproute2 reports, as JSON: in the caller's namespace, or in the sandbox at `key`."""
    prefix = ["nsenter", "--net=" + key] if key else []
    return _json(prefix + ["ip", "-j"] + list(args)) or []


def netns_view(prefix=()):
    """Links, addresses and routes (v4 and v6) of one namespace, and its nftables ruleset, as the
    iproute2 and nft tools print them."""
    prefix = list(prefix)
    return {"addr": _json(prefix + ["ip", "-j", "addr", "show"]),
            "route4": _json(prefix + ["ip", "-j", "-4", "route", "show", "table", "all"]),
            "route6": _json(prefix + ["ip", "-j", "-6", "route", "show", "table", "all"]),
            "nft": _json(prefix + ["nft", "-j", "list", "ruleset"])}


def kernel_snapshot(paths):
    """The test host namespace, every sandbox under paths.netns_dir, and which paths are mounted."""
    snap = {"host": netns_view(), "mounts": sorted(mounts_under(paths.root))}
    if os.path.isdir(paths.netns_dir):
        for name in sorted(os.listdir(paths.netns_dir)):
            key = os.path.join(paths.netns_dir, name)
            snap[key] = netns_view(["nsenter", "--net=" + key]) if netns.is_netns(key) else "not a netns"
    return snap


def state_files(state_dir):
    """The paths of the state directory's files, its subdirectories' (sandboxes/) included, relative to it."""
    found = []
    for directory, _subdirectories, names in os.walk(state_dir):
        found += [os.path.relpath(os.path.join(directory, name), state_dir) for name in names]
    return sorted(found)


def store_snapshot(state_dir):
    """Every file of the state directory (and of its subdirectories): mode and sha256 of its bytes."""
    snap = {}
    for name in state_files(state_dir):
        path = os.path.join(state_dir, name)
        with open(path, "rb") as handle:
            snap[name] = (oct(os.stat(path).st_mode), hashlib.sha256(handle.read()).hexdigest())
    return snap


def run_module(name, args, check=False, diff=True, timeout=300, python_path=(), prefix=()):
    """Run a pynet module the way Ansible does (its arguments as JSON on stdin) and return its
    result, with 'rc' and 'stderr' added. `python_path`: directories searched before the collection;
    `prefix`: an argv to run it under (such as unshare)."""
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    proc = subprocess.run(list(prefix) + [sys.executable, "-m",
                                          "ansible_collections.pynet.libnetwork.plugins.modules." + name],
                          input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}), capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=os.pathsep.join([*python_path, COLLECTIONS])),
                          check=False)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = {"failed": True, "msg": "no JSON from the module: " + proc.stdout[-2000:]}
    result.update(rc=proc.returncode, stderr=proc.stderr)
    return result


def run_play(tasks, check=False):
    """Run (module, args) tasks in order, as a play does; stops at the first failure.
    Returns the results, each with 'task' (the module name) added."""
    results = []
    for name, args in tasks:
        result = dict(run_module(name, args, check=check), task=name)
        results.append(result)
        if result.get("failed"):
            break
    return results
