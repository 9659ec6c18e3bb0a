# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network namespaces at filesystem paths, as `ip netns add` makes them; no fork, no exec.

Python 3.11 has no os.setns/os.unshare, so they come from libc through ctypes. Only the
calling thread changes namespace; /proc/thread-self is used for that reason.

A namespace file is reached without following a symbolic link (kernel/paths.py) and acted on
through the descriptor that was checked: a symlink at a path or on its way is never a namespace,
a new one is mounted onto the very file made for it, and the one unmounted is the one looked at.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import stat
from collections.abc import Iterator

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import paths

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
NSFS_MAGIC = 0x6E736673
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3)
THREAD_NETNS = "/proc/thread-self/ns/net"
INIT_NETNS = "/proc/1/ns/net"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
ENTRY_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC

# What examine_at() finds at a path.
MISSING = "missing"
NETNS = "netns"
PLACEHOLDER = "placeholder"  # an empty file of root's: what a namespace is mounted on
SYMLINK = "symlink"
OTHER = "other"

# The C library the interpreter runs with: ctypes.util.find_library would fork `ldconfig -p` at every
# import (the CNI plugin is a process per call).
_libc = ctypes.CDLL(None, use_errno=True)


class _Statfs(ctypes.Structure):
    # Only f_type is read; the buffer is large enough for struct statfs on every Linux ABI.
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 256)]


def _check(result: int, what: str, path: str = "") -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, "%s: %s" % (what, os.strerror(code)), path or None)


def _fd_path(fd: int) -> bytes:
    return b"/proc/self/fd/%d" % fd


# --- looking: without following a symlink ------------------------------------------------------


def _parent(path: str) -> int:
    """The O_PATH descriptor of the directory of `path` (absolute, no '..'), reached without symlinks."""
    return paths.open_directory(os.path.dirname(path))


def _netns_fd(entry: int) -> int | None:
    """A descriptor for setns of the file of the O_PATH descriptor `entry`, or None if that is not a
    network namespace. nsfs holds every kind of namespace: the kernel says which kind this one is."""
    buf = _Statfs()
    if _libc.fstatfs(entry, ctypes.byref(buf)) != 0 or buf.f_type != NSFS_MAGIC:
        return None
    fd = paths.reopen(entry, os.O_RDONLY)
    try:
        if fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET:
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _identity(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


def examine_at(parent_fd: int, name: str) -> tuple[str, tuple[int, int] | None]:
    """(what is at `name` in the directory `parent_fd`, the namespace's (st_dev, st_ino) if it is one)."""
    try:
        entry = os.open(name, ENTRY_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        return MISSING, None
    try:
        st = os.fstat(entry)
        if stat.S_ISLNK(st.st_mode):
            return SYMLINK, None
        netns_fd = _netns_fd(entry)
        if netns_fd is not None:
            os.close(netns_fd)
            return NETNS, _identity(st)
        if stat.S_ISREG(st.st_mode) and st.st_size == 0 and st.st_uid == os.geteuid():
            return PLACEHOLDER, None
        return OTHER, None
    finally:
        os.close(entry)


def open_fd(path: str) -> int:
    """A descriptor (for setns) of the network namespace file at `path`, reached without symlinks."""
    entry = paths.open_entry(path)
    try:
        fd = _netns_fd(entry)
    finally:
        os.close(entry)
    if fd is None:
        raise OSError(errno.EINVAL, "not a network namespace", path)
    return fd


def is_netns(path: str) -> bool:
    """True if `path` is a network namespace file (a bind mount of an nsfs inode) reached without symlinks."""
    try:
        os.close(open_fd(path))
    except OSError:
        return False
    return True


def host_identities() -> set[tuple[int, int]]:
    """(st_dev, st_ino) of the calling thread's network namespace and of PID 1's: no sandbox is either."""
    found = {_identity(os.stat(THREAD_NETNS))}
    with contextlib.suppress(OSError):  # PID 1's may be hidden (hidepid=): the thread's is still known
        found.add(_identity(os.stat(INIT_NETNS)))
    return found


@functools.lru_cache(maxsize=None)
def boot_id() -> str:
    """This boot's id: a namespace's (st_dev, st_ino) names it only until the next boot."""
    with open(BOOT_ID) as handle:
        return handle.read().strip()


# --- making and removing ------------------------------------------------------------------------


def new() -> tuple[int, tuple[int, int]]:
    """A new network namespace (`lo` down), held by the descriptor returned with its (st_dev, st_ino).
    It is mounted nowhere: it vanishes when the descriptor is closed, unless bind_at() mounted it."""
    made = []

    def make() -> None:
        # A throwaway thread: it unshares, leaving every other thread where it was.
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            made.append(os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC))
        except OSError as exc:
            made.append(exc)

    import threading  # pylint: disable=import-outside-toplevel  # only making a namespace needs it (1 ms of a CNI call)
    worker = threading.Thread(target=make, name="pynet-netns-new")
    worker.start()
    worker.join()
    if isinstance(made[0], OSError):
        raise made[0]
    return made[0], _identity(os.fstat(made[0]))


def bind_at(ns_fd: int, parent_fd: int, name: str) -> None:
    """Mount the namespace of `ns_fd` at `name` in the directory `parent_fd`, as `ip netns add` does.

    The file is made here (O_EXCL: never one that was there) and the namespace is mounted onto
    that very file through its descriptor, wherever a writer of the directory may have moved it."""
    placeholder = _make_placeholder(parent_fd, name)
    try:
        made = os.fstat(placeholder)
        try:
            _mount(ns_fd, placeholder, name)
        except BaseException:
            with contextlib.suppress(OSError):
                if _identity(os.stat(name, dir_fd=parent_fd, follow_symlinks=False)) == _identity(made):
                    _remove_placeholder(parent_fd, name)
            raise
    finally:
        os.close(placeholder)


def destroy_at(parent_fd: int, name: str, identity: tuple[int, int] | None) -> None:
    """Unmount the network namespace of (st_dev, st_ino) `identity` at `name` in the directory
    `parent_fd` (None: unmount none), then remove the empty file it was mounted on. Anything else
    found there is left alone; nothing there is not an error."""
    try:
        entry = os.open(name, ENTRY_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        return
    try:
        netns_fd = _netns_fd(entry)
        if netns_fd is not None:
            os.close(netns_fd)
            if identity is not None and identity == _identity(os.fstat(entry)):
                _unmount(entry, name)
    finally:
        os.close(entry)
    if examine_at(parent_fd, name)[0] == PLACEHOLDER:
        _remove_placeholder(parent_fd, name)


def create(path: str) -> tuple[int, int]:
    """A new network namespace mounted at `path` (its directory exists), `lo` down; returns its (st_dev, st_ino)."""
    parent = _parent(path)
    try:
        ns_fd, identity = new()
        try:
            bind_at(ns_fd, parent, os.path.basename(path))
        finally:
            os.close(ns_fd)
    finally:
        os.close(parent)
    return identity


def destroy(path: str) -> None:
    """Unmount whatever network namespace is at `path` and remove its file, as destroy_at() does."""
    try:
        parent = _parent(path)
    except FileNotFoundError:
        return
    try:
        name = os.path.basename(path)
        destroy_at(parent, name, examine_at(parent, name)[1])
    finally:
        os.close(parent)


# Each step that changes something is a function of its own: the crash tests kill a process before each.


def _make_placeholder(parent_fd: int, name: str) -> int:
    return os.open(name, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o444,
                   dir_fd=parent_fd)


def _mount(ns_fd: int, placeholder_fd: int, name: str) -> None:
    _check(_libc.mount(_fd_path(ns_fd), _fd_path(placeholder_fd), None, MS_BIND, None),
           "bind mount of a network namespace", name)


def _unmount(entry_fd: int, name: str) -> None:
    # Through the descriptor that was checked: the mount whose root it is, and no other.
    _check(_libc.umount2(_fd_path(entry_fd), MNT_DETACH), "umount", name)


def _remove_placeholder(parent_fd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=parent_fd)


# --- entering -----------------------------------------------------------------------------------


@contextlib.contextmanager
def entered(path_or_fd: str | int) -> Iterator[None]:
    """Run the body with the calling thread inside the namespace; always return to where it was."""
    target = path_or_fd if isinstance(path_or_fd, int) else open_fd(path_or_fd)
    try:
        with _returning():
            _check(_libc.setns(target, CLONE_NEWNET), "setns into %s" % path_or_fd)
            yield
    finally:
        if target is not path_or_fd:
            os.close(target)


@contextlib.contextmanager
def private() -> Iterator[None]:
    """Move the calling thread into a brand-new namespace for the body (tests use it); it vanishes after."""
    with _returning():
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        yield


@contextlib.contextmanager
def _returning() -> Iterator[None]:
    """The calling thread back in the namespace it is in now once the body is done, however it ends."""
    home = os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield
    finally:
        try:
            _check(_libc.setns(home, CLONE_NEWNET), "setns back to the caller's namespace")
        finally:
            os.close(home)
