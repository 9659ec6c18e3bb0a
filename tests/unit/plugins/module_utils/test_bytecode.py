"""bytecode.py: the library's compiled code kept on the host for modules imported from a zip (AnsiballZ)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import os
import subprocess
import sys
import zipfile

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import bytecode
from ansible_collections.pynet.libnetwork.plugins.module_utils.bytecode import Cache
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import paths

MODULE_UTILS = os.path.dirname(os.path.abspath(bytecode.__file__))
ZIP_PREFIX = "ansible_collections/pynet/libnetwork/plugins/module_utils"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the cache is root's")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # this machine's environment may set it
    fd = paths.open_directory(str(tmp_path / "cache"), make_mode=0o700)
    yield Cache(fd)
    os.close(fd)


def entries(cache):
    return sorted(name for name in os.listdir("/proc/self/fd/%d" % cache.directory_fd) if not name.startswith("."))


def run(code):
    namespace = {}
    exec(code, namespace)
    return namespace["x"]


def entry_name(name, source):
    return "%s.%s.%s" % (name, sys.implementation.cache_tag, hashlib.sha256(source).hexdigest()[:32])


def test_compiled_once_then_read_from_the_cache(cache):
    assert run(cache.code("store", b"x = 1\n", "/a.zip/store.py")) == 1
    assert entries(cache) == [entry_name("store", b"x = 1\n")]
    # What the entry holds is what runs: plant other code under the same name, and it is what comes back.
    planted = importlib.util.MAGIC_NUMBER + marshal.dumps(compile("x = 2\n", "/old.zip/store.py", "exec"))
    with open("/proc/self/fd/%d/%s" % (cache.directory_fd, entries(cache)[0]), "wb") as entry:
        entry.write(planted)
    code = cache.code("store", b"x = 1\n", "/b.zip/store.py")
    assert run(code) == 2
    assert code.co_filename == "/b.zip/store.py"  # tracebacks name this run's file, not the one it was compiled from


def test_a_changed_source_replaces_the_modules_entry(cache):
    cache.code("store", b"x = 1\n", "/a.zip/store.py")
    cache.code("ipam", b"x = 1\n", "/a.zip/ipam.py")
    assert run(cache.code("store", b"x = 3\n", "/a.zip/store.py")) == 3
    assert entries(cache) == sorted([entry_name("store", b"x = 3\n"), entry_name("ipam", b"x = 1\n")])


@pytest.mark.parametrize("damage", [b"", b"\0\0\0\0junk", importlib.util.MAGIC_NUMBER + b"\xff\x00"])
def test_an_entry_cut_short_or_foreign_is_compiled_again(cache, damage):
    cache.code("store", b"x = 1\n", "/a.zip/store.py")
    path = "/proc/self/fd/%d/%s" % (cache.directory_fd, entries(cache)[0])
    with open(path, "wb") as entry:
        entry.write(damage)
    assert run(cache.code("store", b"x = 1\n", "/a.zip/store.py")) == 1
    with open(path, "rb") as entry:
        assert entry.read(4) == importlib.util.MAGIC_NUMBER and os.path.getsize(path) > 16


def test_a_symlink_at_an_entry_is_neither_followed_nor_written_through(cache, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(importlib.util.MAGIC_NUMBER + marshal.dumps(compile("x = 2\n", "e", "exec")))
    before = elsewhere.read_bytes()
    name = entry_name("store", b"x = 1\n")
    os.symlink(str(elsewhere), name, dir_fd=cache.directory_fd)
    assert run(cache.code("store", b"x = 1\n", "/a.zip/store.py")) == 1
    assert elsewhere.read_bytes() == before
    assert not os.path.islink("/proc/self/fd/%d/%s" % (cache.directory_fd, name))


def test_nothing_is_written_when_python_is_told_not_to(cache, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert run(cache.code("store", b"x = 1\n", "/a.zip/store.py")) == 1
    assert entries(cache) == []


@root_only
@pytest.mark.parametrize("mode, owner, trusted", [
    (0o700, 0, True), (0o755, 0, True), (0o1777, 0, True),  # sticky, as /tmp: others add only their own entries
    (0o777, 0, False), (0o775, 0, False), (0o700, 65534, False)])
def test_only_directories_that_only_root_can_change_are_trusted(tmp_path, mode, owner, trusted):
    directory = tmp_path / "d"
    directory.mkdir()
    os.chmod(directory, mode)
    os.chown(directory, owner, 0)
    if trusted:
        os.close(paths.open_directory(str(directory / "cache"), make_mode=0o700, check=bytecode._root_only))
    else:
        with pytest.raises(PermissionError, match="only root"):
            paths.open_directory(str(directory / "cache"), make_mode=0o700, check=bytecode._root_only)
        assert not (directory / "cache").exists()  # refused before anything is made in it


def library_zip(path):
    """The library in a zip as AnsiballZ ships it: sources only, under its import path."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        parts = ZIP_PREFIX.split("/")
        for depth in range(1, len(parts) + 1):
            archive.writestr("/".join(parts[:depth]) + "/__init__.py", "")
        for directory, _subdirs, names in os.walk(MODULE_UTILS):
            for name in names:
                if name.endswith(".py"):
                    source = os.path.join(directory, name)
                    archive.write(source, ZIP_PREFIX + "/" + os.path.relpath(source, MODULE_UTILS))
    return str(path)


def test_modules_found_in_the_zip_as_source_only(cache, tmp_path):
    archive = str(tmp_path / "payload.zip")
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr(ZIP_PREFIX + "/plain.py", "x = 1\n")
        zipped.writestr(ZIP_PREFIX + "/kernel/__init__.py", "x = 2\n")
        zipped.writestr(ZIP_PREFIX + "/compiled.pyc", b"")
    finder = bytecode._Finder(cache)
    path = [archive + "/" + ZIP_PREFIX]
    plain = finder.find_spec(bytecode.PACKAGE + ".plain", path)
    assert plain.origin == archive + "/" + ZIP_PREFIX + "/plain.py" and plain.submodule_search_locations is None
    package = finder.find_spec(bytecode.PACKAGE + ".kernel", path)
    assert package.submodule_search_locations == [archive + "/" + ZIP_PREFIX + "/kernel"]
    assert package.origin.endswith("/kernel/__init__.py")
    # Compiled code without source, or not in this zip, or not pynet's: left to Python's own finders.
    assert finder.find_spec(bytecode.PACKAGE + ".compiled", path) is None
    assert finder.find_spec(bytecode.PACKAGE + ".missing", path) is None
    assert finder.find_spec("json.decoder", path) is None
    assert finder.find_spec(bytecode.PACKAGE + ".plain", [str(tmp_path)]) is None


# Counts what Python compiles while a module imports the library from the zip.
PROGRAM = """
import builtins, json, linecache, sys, types
compiled = []
compile_ = builtins.compile
def counting(source, filename, *args, **kwargs):
    compiled.append(filename)
    return compile_(source, filename, *args, **kwargs)
builtins.compile = counting
sys.path.insert(0, sys.argv[1])
from ansible_collections.pynet.libnetwork.plugins.module_utils import bytecode
bytecode.CACHE = sys.argv[2]
from ansible_collections.pynet.libnetwork.plugins.module_utils import module_support
from ansible_collections.pynet.libnetwork.plugins.module_utils import store
function = next(value for value in vars(store).values()
                if isinstance(value, types.FunctionType) and value.__module__ == store.__name__)
print(json.dumps({"compiled": [name.split("/module_utils/")[-1] for name in compiled if "/module_utils/" in name],
                  "origin": store.__spec__.origin, "file": store.__file__, "code_file": function.__code__.co_filename,
                  "source": linecache.lazycache(function.__code__.co_filename, vars(store))
                            and linecache.getline(function.__code__.co_filename, function.__code__.co_firstlineno),
                  "modules": sum(name.startswith(bytecode.PACKAGE) for name in sys.modules)}))
"""


@root_only
def test_a_module_run_from_a_zip_compiles_the_library_once_per_host(tmp_path):
    cache = str(tmp_path / "cache")
    runs = []
    for number in (1, 2):  # each run from a zip of its own, as Ansible's tasks do
        archive = library_zip(tmp_path / ("payload%d.zip" % number))
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        done = subprocess.run([sys.executable, "-I", "-c", PROGRAM, archive, cache], capture_output=True, text=True,
                              env=env, check=True)
        runs.append((archive, json.loads(done.stdout)))
    (_first_zip, first), (second_zip, second) = runs
    assert first["modules"] > 30 and second["modules"] == first["modules"]
    before_the_cache = {"__init__.py", "bytecode.py", "dns/__init__.py", "dns/files.py", "kernel/__init__.py",
                        "kernel/paths.py", "module_support.py"}
    assert first["compiled"].count("module_support.py") == 2  # zipimport's own: to name the file, then to load it
    assert first["compiled"].count("store.py") == 1
    # The second run compiles only what is imported before the cache is in place.
    assert set(second["compiled"]) == before_the_cache
    assert len(os.listdir(cache)) == len(set(first["compiled"]) - before_the_cache)
    origin = second_zip + "/" + ZIP_PREFIX + "/store.py"
    assert second["origin"] == second["file"] == second["code_file"] == origin
    assert second["source"].strip().startswith("def ")  # tracebacks show the source lines
