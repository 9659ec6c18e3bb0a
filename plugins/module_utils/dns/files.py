# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files written whole, in a directory reached without following symlinks.

A directory is opened one component at a time from / with O_NOFOLLOW, and every file in it is
read, written and removed relative to that descriptor, so a symlink planted anywhere on the path
(or at a file's name) is refused or replaced, never followed. A file is written to a new temporary
name and renamed over the old one: a reader (dnsmasq on SIGHUP, a runtime copying resolv.conf) sees
the old file or the new one, never a part. No fsync: every file here is rendered again from the
store, and a file cut short by a crash differs from its rendering, which drift reports.
"""

from __future__ import annotations

import contextlib
import errno
import os

_DIRECTORY_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _check_file_name(name):
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise ValueError("%r is not a file name" % (name,))


@contextlib.contextmanager
def directory(path, create_mode=None):
    """A descriptor of the directory at the absolute `path` for the block. Components that are
    symlinks raise OSError (ELOOP or ENOTDIR); missing ones are made with `create_mode` when it is
    given, FileNotFoundError otherwise."""
    if not os.path.isabs(path) or os.path.normpath(path) != path.rstrip("/") or not path.rstrip("/"):
        raise ValueError("%r is not an absolute, normalised directory path" % (path,))
    fd = os.open("/", _DIRECTORY_FLAGS)
    try:
        for part in path.strip("/").split("/"):
            try:
                inner = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if create_mode is None:
                    raise
                with contextlib.suppress(FileExistsError):  # made meanwhile by another process
                    os.mkdir(part, create_mode, dir_fd=fd)
                inner = os.open(part, _DIRECTORY_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def subdirectory(directory_fd, name, mode=None, owner=None):
    """A descriptor of the directory `name` in the directory for the block (not a symlink there); made
    with `mode` and the user id `owner` (group root) when missing and `mode` is given, FileNotFoundError
    otherwise."""
    _check_file_name(name)
    try:
        fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=directory_fd)
    except FileNotFoundError:
        if mode is None:
            raise
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=directory_fd)
        fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=directory_fd)
        # An O_PATH descriptor takes neither chown nor chmod: through /proc/self/fd, the very directory.
        if owner is not None:
            os.chown("/proc/self/fd/%d" % fd, owner, 0)
        os.chmod("/proc/self/fd/%d" % fd, mode)
    try:
        yield fd
    finally:
        os.close(fd)


def read(directory_fd, name):
    """The bytes of the file `name`, or None when there is none (or a symlink is there)."""
    _check_file_name(name)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def write_atomically(directory_fd, name, data, mode=0o600, owner=None):
    """Replace the file `name` with `data` (bytes) in one rename; a symlink at `name` is replaced,
    not followed. The file has `mode` whatever the umask, and the user id `owner` when given."""
    _check_file_name(name)
    temporary = ".%s.%s.tmp" % (name, os.urandom(4).hex())
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                 dir_fd=directory_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            if owner is not None:
                os.fchown(handle.fileno(), owner, -1)
            handle.write(data)
        os.rename(temporary, name, src_dir_fd=directory_fd, dst_dir_fd=directory_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary, dir_fd=directory_fd)
        raise


def remove(directory_fd, name):
    """Remove the file `name` (a symlink there is removed itself); a missing one is not an error."""
    _check_file_name(name)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=directory_fd)


def names(directory_fd):
    """The names in the directory."""
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=directory_fd)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


def set_mode(directory_fd, name, mode, owner=None):
    """chmod the regular file `name` (not a symlink there) to `mode`, and chown it to the user id `owner`
    (group root) when given."""
    _check_file_name(name)
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory_fd)
    try:
        if owner is not None:
            os.fchown(fd, owner, 0)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
