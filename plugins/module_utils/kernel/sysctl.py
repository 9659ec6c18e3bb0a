# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sysctls of the calling thread's network namespace, written through procfs instances of our own.

In the host's /proc, every namespace that has looked up its IPv6 sysctls leaves a dentry named
"ipv6" under /proc/sys/net, and the kernel compares a lookup with each of them in turn: turning
IPv6 off in a new sandbox costs about 80 us among the first 100 sandboxes and 440 us among the
tenth hundred (benchmarks/sysctl.py). A procfs instance has dentries of its own, so a lookup through a fresh one compares
only with the namespaces that went through it. Making one costs about 20 us and dropping it 70 us,
so one serves LOOKUPS_PER_INSTANCE lookups and is then replaced.
"""

from __future__ import annotations

import ctypes
import os

LOOKUPS_PER_INSTANCE = 32
# Linux 5.2's mount API; the numbers are the same on every architecture but alpha.
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432
FSOPEN_CLOEXEC = 0x1
FSCONFIG_CMD_CREATE = 6
FSMOUNT_CLOEXEC = 0x1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class Sysctls:
    """Reads and writes sysctls by path under /proc/sys, in whatever namespace the calling thread is in then."""

    def __init__(self) -> None:
        self._root = None
        self._lookups = 0

    def __enter__(self) -> Sysctls:
        return self

    def __exit__(self, *exc_info) -> None:
        self._drop_root()

    def write(self, path: str, value: object) -> None:
        """Set the sysctl at `path` (relative to /proc/sys, such as "net/ipv4/ip_forward")."""
        knob = os.open(path, os.O_WRONLY | os.O_CLOEXEC, dir_fd=self._sys())
        try:
            os.write(knob, str(value).encode())
        finally:
            os.close(knob)

    def read(self, path: str) -> str | None:
        """The sysctl's value as text without its newline, or None when there is no such sysctl (its
        interface is gone)."""
        try:
            knob = os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=self._sys())
        except FileNotFoundError:
            return None
        try:
            return os.read(knob, 4096).decode().strip()
        finally:
            os.close(knob)

    def _sys(self) -> int:
        if self._root is None or self._lookups == LOOKUPS_PER_INSTANCE:
            self._drop_root()
            self._root = _new_procfs()
            self._lookups = 0
        self._lookups += 1
        return self._root

    def _drop_root(self) -> None:
        if self._root is not None:
            os.close(self._root)
            self._root = None


def _new_procfs() -> int:
    """The sys directory of a new procfs instance, or /proc/sys where the kernel (before 5.2) or a
    seccomp filter refuses the mount API: correct either way, only slower."""
    try:
        return _mount_procfs_sys()
    except OSError:
        return os.open("/proc/sys", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _mount_procfs_sys() -> int:
    config = _syscall(SYS_FSOPEN, b"proc", FSOPEN_CLOEXEC)
    try:
        _syscall(SYS_FSCONFIG, config, FSCONFIG_CMD_CREATE, None, None, 0)
        root = _syscall(SYS_FSMOUNT, config, FSMOUNT_CLOEXEC, 0)  # mounted nowhere: only this fd reaches it
    finally:
        os.close(config)
    try:
        return os.open("sys", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root)
    finally:
        os.close(root)


def _syscall(number: int, *args: object) -> int:
    args = [ctypes.c_long(arg) if isinstance(arg, int) else arg for arg in args]
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result
