"""Debian's podman (4.3) with its CNI backend, set up entirely here and shared with nobody: used by
tests/cni/test_podman.py and benchmarks/cni.py.

The process must first have moved itself into a private mount namespace and a private network namespace
with isolate_process() (tests/cni's conftest and benchmarks/cni.py do); the rig refuses to start
otherwise. In them:
- tmpfs over /run/netns (where podman makes the containers' netns, netns-<uuid>) and /var/lib/cni
  (libcni's cache of Results), so nothing of another podman is seen or touched;
- podman's storage (--root, --runroot, vfs: no mounts to leak), its tmp_dir, the network configs
  (network_config_dir) and the plugins (cni_plugin_dirs: pynet's zipapp first, then the reference
  plugins for podman's own bridge network) under one work directory, with a containers.conf of the
  rig's own (CONTAINERS_CONF): runc (crun fails on this kernel), cgroupfs, file events;
- a busybox image made from Debian's busybox-static, imported with `podman import`.
close() removes every container, checks that no process is left in the rig's mount namespace (conmon
and the containers live there), unmounts the tmpfs and whatever is mounted in the work directory, and
deletes the work directory.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pynet_testing

IMAGE = "localhost/pnbusybox:latest"
BUSYBOX = "/bin/busybox"
REFERENCE_PLUGINS = "/usr/lib/cni"
PRIVATE_MOUNTS = ("/run/netns", "/var/lib/cni")
ISOLATED_FROM = "PYNET_ISOLATED_FROM"  # the namespaces the process left, as "mnt:[N] net:[N]"
CLONE_NEWNS, CLONE_NEWNET, MS_REC, MS_PRIVATE = 0x00020000, 0x40000000, 0x4000, 0x40000
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=10240:10240", "nproc=8192:8192"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "{work}/tmp"

[network]
network_backend = "cni"
cni_plugin_dirs = ["{work}/plugins", "{reference}"]
network_config_dir = "{work}/net.d"
"""


def _namespace(kind, pid="self"):
    return os.readlink("/proc/%s/ns/%s" % (pid, kind))


def _namespaces():
    return " ".join(_namespace(kind) for kind in ("mnt", "net"))


def isolate_process():
    """Move this process (still single-threaded: unshare(CLONE_NEWNS) requires it) and its children to
    new mount and network namespaces, with / made private so that no mount propagates to the host."""
    original = _namespaces()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS | CLONE_NEWNET)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    os.environ[ISOLATED_FROM] = original


def processes_in_my_mount_namespace():
    """Other processes that share this process's mount namespace (conmon, containers left behind)."""
    mine, found = _namespace("mnt"), []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if _namespace("mnt", entry) == mine:
                    with open("/proc/%s/cmdline" % entry, "rb") as handle:
                        found.append((int(entry), handle.read().replace(b"\0", b" ").decode(errors="replace")))
            except OSError:
                continue  # gone meanwhile
    return found


class PodmanRig:
    def __init__(self, python=sys.executable):
        left = os.environ.get(ISOLATED_FROM, "").split()
        if len(left) != 2 or set(left) & set(_namespaces().split()):
            raise RuntimeError("the podman rig runs only in private mount and network namespaces: call "
                               "isolate_process() first")
        if processes_in_my_mount_namespace():
            raise RuntimeError("processes share this mount namespace already: %r" % processes_in_my_mount_namespace())
        self.work = tempfile.mkdtemp(prefix="pnpod-", dir="/tmp")  # short: podman's sockets live under it
        self.mounted = []
        try:
            self._setup(python)
        except BaseException:
            self.close()
            raise

    def _setup(self, python):
        for path in PRIVATE_MOUNTS:
            os.makedirs(path, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "pnpod", path], check=True)
            self.mounted.append(path)
        for sub in ("tmp", "plugins", "net.d"):
            os.makedirs(os.path.join(self.work, sub))
        self.conf = os.path.join(self.work, "containers.conf")
        with open(self.conf, "w") as handle:
            handle.write(CONTAINERS_CONF.format(work=self.work, reference=REFERENCE_PLUGINS))
        self.plugin = os.path.join(self.work, "plugins", "pynet")
        subprocess.run([python, "-m", "ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin.zipapp",
                        self.plugin], check=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
        self._import_busybox()

    def _import_busybox(self):
        rootfs = os.path.join(self.work, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for applet in applets:
            if applet != "busybox":
                os.symlink("busybox", os.path.join(rootfs, "bin", applet))
        tarball = os.path.join(self.work, "busybox.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tarball, "."], check=True)
        self.podman("import", tarball, IMAGE)
        shutil.rmtree(rootfs)

    def podman(self, *args, check=True, timeout=120):
        """Run podman with the rig's storage and configuration; returns the CompletedProcess."""
        argv = ["podman", "--root", os.path.join(self.work, "root"), "--runroot", os.path.join(self.work, "runroot"),
                "--storage-driver", "vfs"] + list(args)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                              env=dict(os.environ, CONTAINERS_CONF=self.conf))
        if check and done.returncode != 0:
            raise RuntimeError("%s: exit status %d: %s" % (" ".join(argv), done.returncode, done.stderr.strip()))
        return done

    def add_network(self, name, plugins, version="1.0.0"):
        """A network configuration list in network_config_dir (podman 4.3's libcni speaks up to 1.0.0)."""
        with open(os.path.join(self.work, "net.d", name + ".conflist"), "w") as handle:
            json.dump({"cniVersion": version, "name": name, "plugins": plugins}, handle, indent=1)

    def netns_files(self):
        return sorted(os.listdir("/run/netns"))

    def close(self):
        """Remove every container, then all the rig made; a process left behind (it can only be the rig's:
        the mount namespace is private) is killed by its pid, and reported."""
        leftovers = []
        if os.path.exists(os.path.join(self.work, "containers.conf")):
            self.podman("rm", "--all", "--force", "--time", "0", check=False)
            deadline = time.monotonic() + 10
            while processes_in_my_mount_namespace() and time.monotonic() < deadline:
                time.sleep(0.1)
            leftovers = processes_in_my_mount_namespace()
            for pid, _cmdline in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for path in reversed(self.mounted):
            subprocess.run(["umount", path], check=False)
        # Deepest first: such as a netns a test bind-mounted in the work directory.
        for path in sorted(pynet_testing.mounts_under(self.work), reverse=True):
            subprocess.run(["umount", path], check=False)
        shutil.rmtree(self.work)
        if leftovers:
            raise RuntimeError("processes left in the rig's mount namespace: %r" % leftovers)
