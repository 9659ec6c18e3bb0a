# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The library's compiled code, kept on the host for the modules Ansible runs there.

Ansible sends a module with the library's source in a zip (AnsiballZ), and Python compiles what it
imports from a zip on every run, twice with Python 3.11's zipimport (once to name the file, once to
load it): about 0.13 s of CPU per task for pynet's library, most of what a pynet task costs a host
beyond Ansible's own. Python caches compiled code beside source files, never for a zip. This keeps
it in CACHE, only where the library is imported from a zip, as root; elsewhere (the library from its
files, the CNI plugin) Python's own __pycache__ does the work.

An entry is named by the module, the interpreter's cache tag and the SHA-256 of the source, so a
changed source or another interpreter never reads another's code; a new entry replaces the module's
older ones (one entry per module and interpreter). CACHE and every directory above it must belong
to root and be writable by nobody else (or be sticky, as /tmp), and no symbolic link is followed on
the way or at an entry: what root executes is what root wrote. Anything amiss (not root, a read-only
or full file system, an entry cut short) costs only the compilation, never the task.
"""

from __future__ import annotations

import _imp
import hashlib
import importlib.abc
import importlib.util
import marshal
import os
import stat
import sys
import types
import zipimport

from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import files
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import paths

CACHE = "/var/cache/pynet/bytecode"
PACKAGE = __name__.rpartition(".")[0]


def install() -> None:
    """Serve the library's modules imported from now on from CACHE, when this module itself came
    from a zip and CACHE can be trusted; otherwise leave importing as it is."""
    if not isinstance(__loader__, zipimport.zipimporter) or sys.implementation.cache_tag is None:
        return
    if any(isinstance(finder, _Finder) for finder in sys.meta_path):
        return
    try:
        directory_fd = paths.open_directory(CACHE, make_mode=0o700, check=_root_only)
    except OSError:
        return
    sys.meta_path.insert(0, _Finder(Cache(directory_fd)))


def _root_only(path: str, status: os.stat_result, made: bool) -> None:
    """Refuses a directory that someone other than root could change: owned by another user, or writable
    by others (but a sticky one, such as /tmp, where they can add only their own entries)."""
    writable = status.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not status.st_mode & stat.S_ISVTX
    if status.st_uid != 0 or os.geteuid() != 0 or writable:
        raise PermissionError("%s: not a directory that only root can change" % path)


class Cache:
    """Compiled modules in the directory `directory_fd` (trusted by the caller)."""

    def __init__(self, directory_fd: int):
        self.directory_fd = directory_fd

    def code(self, name: str, source: bytes, origin: str):
        """The code object of the module `name` (dotted, under the library) whose source is `source`,
        from the cache, or compiled and then kept there."""
        prefix = "%s.%s." % (name, sys.implementation.cache_tag)
        entry = prefix + hashlib.sha256(source).hexdigest()[:32]
        try:
            kept = files.read(self.directory_fd, entry)
        except OSError:
            kept = None
        if kept is not None and kept[:4] == importlib.util.MAGIC_NUMBER:
            try:
                code = marshal.loads(kept[4:])
            except (EOFError, ValueError, TypeError):
                code = None
            if isinstance(code, types.CodeType):
                _imp._fix_co_filename(code, origin)  # as importlib does for a .pyc: tracebacks name this run's file
                return code
        code = compile(source, origin, "exec", dont_inherit=True)
        if not sys.dont_write_bytecode:
            self._keep(prefix, entry, importlib.util.MAGIC_NUMBER + marshal.dumps(code))
        return code

    def _keep(self, prefix: str, entry: str, data: bytes) -> None:
        try:
            files.write_atomically(self.directory_fd, entry, data, mode=0o600)
            for name in files.names(self.directory_fd):
                if name.startswith(prefix) and name != entry:
                    files.remove(self.directory_fd, name)
        except OSError:
            pass


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the library's modules in a zip, and loads them through the cache. Not through zipimport's own
    find_spec: it compiles the module to learn its file name (Python 3.11), and its loader compiles it again."""

    def __init__(self, cache: Cache):
        self.cache = cache

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(PACKAGE + ".") or path is None:
            return None
        last = fullname.rpartition(".")[2]
        for entry in path:
            importer = sys.path_importer_cache.get(entry)
            if importer is None:
                try:
                    importer = sys.path_importer_cache[entry] = zipimport.zipimporter(entry)
                except zipimport.ZipImportError:
                    continue
            if not isinstance(importer, zipimport.zipimporter):
                continue
            try:
                package = importer.is_package(fullname)
            except zipimport.ZipImportError:
                continue
            location = "%s/%s%s" % (importer.archive, importer.prefix, last)
            origin = location + "/__init__.py" if package else location + ".py"
            try:
                source = importer.get_data(origin)
            except OSError:  # compiled code only: zipimport's to load
                return None
            loader = _Loader(fullname[len(PACKAGE) + 1:], source, origin, package, self.cache)
            spec = importlib.util.spec_from_loader(fullname, loader, origin=origin, is_package=package)
            if package:
                spec.submodule_search_locations = [location]
            spec.has_location = True
            return spec
        return None


class _Loader(importlib.abc.InspectLoader):
    """InspectLoader's exec_module runs what get_code returns, as importlib's own loaders do."""

    def __init__(self, name: str, source: bytes, origin: str, package: bool, cache: Cache):
        self.name = name
        self.source = source
        self.origin = origin
        self.package = package
        self.cache = cache

    def get_code(self, fullname: str) -> types.CodeType:
        return self.cache.code(self.name, self.source, self.origin)

    def get_source(self, fullname: str) -> str:
        """For tracebacks (linecache)."""
        return importlib.util.decode_source(self.source)

    def is_package(self, fullname: str) -> bool:
        return self.package
