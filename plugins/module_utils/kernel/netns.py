# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network namespaces at filesystem paths, as `ip netns add` makes them; no fork, no exec.

Python 3.11 has no os.setns/os.unshare, so they come from libc through ctypes. Only the
calling thread changes namespace; /proc/thread-self is used for that reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import threading

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MNT_DETACH = 0x2
NSFS_MAGIC = 0x6E736673
NS_GET_NSTYPE = 0xB703  # _IO(0xb7, 0x3)
THREAD_NETNS = "/proc/thread-self/ns/net"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class _Statfs(ctypes.Structure):
    # Only f_type is read; the buffer is large enough for struct statfs on every Linux ABI.
    _fields_ = [("f_type", ctypes.c_long), ("_rest", ctypes.c_byte * 256)]


def _check(result, what, path=""):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, "%s: %s" % (what, os.strerror(code)), path or None)


def is_netns(path):
    """True if `path` is a network namespace file (a bind mount of an nsfs inode)."""
    buf = _Statfs()
    if _libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0 or buf.f_type != NSFS_MAGIC:
        return False
    # nsfs holds every kind of namespace: ask the kernel which kind this one is.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return fcntl.ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET
    except OSError:
        return False
    finally:
        os.close(fd)


def create(path):
    """Make a new network namespace bind-mounted at `path` (the file must not exist), `lo` down."""
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    os.close(fd)
    failure = []

    def make():
        # A throwaway thread: it unshares, leaving every other thread where it was.
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            _check(_libc.mount(os.fsencode(THREAD_NETNS), os.fsencode(path), None, MS_BIND, None),
                   "bind mount of a new network namespace", path)
        except OSError as exc:
            failure.append(exc)

    worker = threading.Thread(target=make, name="pynet-netns-create")
    worker.start()
    worker.join()
    if failure:
        os.unlink(path)
        raise failure[0]


def destroy(path):
    """Unmount and remove a namespace file made by create(); a missing one is not an error."""
    if _libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            raise OSError(code, "umount: %s" % os.strerror(code), path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


@contextlib.contextmanager
def entered(path_or_fd):
    """Run the body with the calling thread inside the namespace; always return to where it was."""
    target = path_or_fd if isinstance(path_or_fd, int) else os.open(path_or_fd, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with _returning():
            _check(_libc.setns(target, CLONE_NEWNET), "setns into %s" % path_or_fd)
            yield
    finally:
        if target is not path_or_fd:
            os.close(target)


def open_fd(path):
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


@contextlib.contextmanager
def private():
    """Move the calling thread into a brand-new namespace for the body (tests use it); it vanishes after."""
    with _returning():
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        yield


@contextlib.contextmanager
def _returning():
    """The calling thread back in the namespace it is in now once the body is done, however it ends."""
    home = os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        yield
    finally:
        try:
            _check(_libc.setns(home, CLONE_NEWNET), "setns back to the caller's namespace")
        finally:
            os.close(home)
