"""The library's layers: every module of plugins/module_utils imports only the modules below it (a
module listed before it in LAYERS), imports inside functions included; only the standard library
beyond the collection; SQL only in the store (and ipam's own tables); the modules import only the
Ansible glue and converge. The README's Layout section shows the same order."""

from __future__ import annotations

import ast
import os
import re
import sys

import pytest

import ansible_collections.pynet.libnetwork.plugins.module_utils as module_utils_package

PREFIX = "ansible_collections.pynet.libnetwork.plugins.module_utils"
MODULE_UTILS = list(module_utils_package.__path__)[0]
MODULES = os.path.join(os.path.dirname(MODULE_UTILS), "modules")

# Lowest first: a module may import only the modules listed before it.
LAYERS = [
    # foundations: import nothing of pynet
    "errors", "addresses",
    # kernel adapters: names, addresses and file descriptors; they raise OSError
    "kernel.paths", "kernel.netns", "kernel.sysctl", "kernel.rtnl", "kernel.nftables", "kernel.dbus",
    # pure values: option checking, typed records
    "options", "static_routes", "records",
    # the store: the only SQL (but ipam's own tables)
    "store",
    # services over the store and the kernel
    "ipam", "ports", "host_changes", "firewall", "firewalld",
    "dns.config", "dns.files", "dns.server", "dns.sandbox_files",
    "cluster.layout", "cluster.etcd", "cluster.members", "cluster.allocation", "cluster.networks",
    # drivers: what a network type is and does
    "drivers.base", "drivers.interface", "drivers.bridge", "drivers.null", "drivers.host", "drivers.macvlan", "drivers.overlay",
    "drivers.registry",
    # sandboxes and their gateway policy
    "sandbox",
    # the one write path
    "orchestrator",
    # libnetwork's API: entities over records, and the controller that builds them
    "endpoint", "network", "controller",
    # faces: what the Ansible modules do, and the CNI plugin
    "converge.diff", "converge.drivers", "converge.networks", "converge.sandboxes", "converge.endpoints",
    "converge.info", "converge.cluster", "bytecode", "module_support",
    "cni_plugin.protocol", "cni_plugin.verbs", "cni", "cni_plugin.zipapp",
]
# Packages that are only a namespace: their __init__ imports nothing.
PACKAGES = ("kernel", "drivers", "dns", "cluster", "converge", "cni_plugin")
# SQL statements, as they stand in string constants.
SQL = re.compile(r"\b(SELECT\s.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
                 r"CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|PRAGMA)\b", re.S)
SQL_MODULES = ("store", "ipam")


def library_modules():
    """{dotted name under module_utils: path} of every Python file of the library."""
    found = {}
    for directory, _subdirs, files in os.walk(MODULE_UTILS):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                dotted = os.path.relpath(path, MODULE_UTILS)[:-3].replace(os.sep, ".")
                found[dotted] = path
    return found


def parsed(path):
    with open(path, encoding="utf-8") as source:
        return ast.parse(source.read(), path)


def imported(tree, known):
    """(line, what) of every import in `tree`, functions included: a library module as ("lib", its dotted
    name), anything else as the name of the module imported."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, _resolve(alias.name, known)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            if node.module == PREFIX or node.module.startswith(PREFIX + "."):
                for alias in node.names:  # `from package import module`, or `from module import name`
                    yield node.lineno, _resolve(node.module + "." + alias.name, known)
            else:
                yield node.lineno, node.module


def _resolve(name, known):
    if not name.startswith(PREFIX + "."):
        return name
    dotted = name[len(PREFIX) + 1:]
    while dotted and dotted not in known and dotted + ".__init__" not in known:
        dotted = dotted.rpartition(".")[0]
    return "lib", dotted if dotted in known else dotted + ".__init__"


def test_every_module_has_its_place():
    modules = library_modules()
    unplaced = sorted(set(modules) - set(LAYERS) - {package + ".__init__" for package in PACKAGES})
    assert unplaced == [], "add these to LAYERS (and the README's Layout) where they belong: %s" % unplaced
    assert sorted(set(LAYERS) - set(modules)) == []


@pytest.mark.parametrize("name", sorted(library_modules()))
def test_imports_point_down_only(name):
    modules = library_modules()
    if name.endswith(".__init__"):
        assert not [found for _line, found in imported(parsed(modules[name]), modules) if isinstance(found, tuple)]
        return
    rank = LAYERS.index(name)
    upward = ["line %d imports %s" % (line, found[1]) for line, found in imported(parsed(modules[name]), modules)
              if isinstance(found, tuple) and LAYERS.index(found[1]) >= rank]
    assert upward == [], "%s imports upward (see LAYERS): %s" % (name, upward)


@pytest.mark.parametrize("name", sorted(library_modules()))
def test_only_the_standard_library_and_ansible(name):
    """Targets need nothing beyond Python: no netaddr, no pyroute2."""
    modules = library_modules()
    foreign = sorted({found.split(".")[0] for _line, found in imported(parsed(modules[name]), modules)
                      if isinstance(found, str) and found.split(".")[0] not in sys.stdlib_module_names
                      and found.split(".")[0] not in ("__future__", "ansible", "ansible_collections")})
    assert foreign == []


@pytest.mark.parametrize("name", sorted(library_modules()))
def test_sql_only_in_the_store(name):
    if name in SQL_MODULES:
        return
    modules = library_modules()
    statements = [node.value for node in ast.walk(parsed(modules[name]))
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value)]
    assert statements == []


def test_an_upward_import_fails():
    """The check itself: a lower module that imports the controller is caught."""
    modules = library_modules()
    tree = ast.parse("from %s.controller import Controller\nimport %s.store\n" % (PREFIX, PREFIX))
    found = [entry for _line, entry in imported(tree, modules) if isinstance(entry, tuple)]
    assert ("lib", "controller") in found and LAYERS.index("controller") > LAYERS.index("network")


@pytest.mark.parametrize("path", sorted(os.path.join(MODULES, name) for name in os.listdir(MODULES)
                                        if name.endswith(".py")))
def test_the_modules_import_only_the_ansible_glue_and_converge(path):
    modules = library_modules()
    used = {entry[1] for _line, entry in imported(parsed(path), modules) if isinstance(entry, tuple)}
    assert used and all(name == "module_support" or name.startswith("converge.") for name in used), used
