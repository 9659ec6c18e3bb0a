# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI plugin as one executable file: a zipapp of pynet's library, run in isolated mode.

    PYTHON -m ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin.zipapp [--check] TARGET...

PYTHON, the interpreter that builds the archive, is the one that runs it: the archive holds
plugins/module_utils (the library and this package) under its import path with bytecode PYTHON
compiled, and its first line is `#!PYTHON -IS` (-I -S: a shebang passes one argument). The same sources
and PYTHON make the same bytes (fixed times and modes in the archive): a target that holds them is
left alone, so that installing reports a change only when it makes one (and --check predicts it). -I: no
PYTHONPATH, no user site, no current directory, so nothing but the archive is imported as pynet. -S: no
`site` and its .pth files (about 3 ms of each run): the library needs nothing beyond the standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import py_compile
import shutil
import stat
import sys
import tempfile
import zipapp

PACKAGE = ("ansible_collections", "pynet", "libnetwork", "plugins", "module_utils")
# Every entry's time (zip's earliest, 1980-01-01) and mode, whatever the sources' are.
ENTRY_TIME = 315532800
FILE_MODE, DIRECTORY_MODE = 0o644, 0o755
PROGRAM_MODE = 0o755  # of the plugin
# zipapp's own generated __main__ drops the exit status; the plugin's is the protocol's.
MAIN = """from ansible_collections.pynet.libnetwork.plugins.module_utils import cni
cni.run()
"""


def build():
    """The plugin, for this interpreter, as bytes."""
    module_utils = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="pynet-cni-") as staging:
        package = os.path.join(staging, "app", *PACKAGE)
        shutil.copytree(module_utils, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        app = os.path.join(staging, "app")
        for depth in range(1, len(PACKAGE)):  # zipimport finds packages by their __init__
            init = os.path.join(app, *PACKAGE[:depth], "__init__.py")
            if not os.path.exists(init):
                open(init, "w").close()
        for directory, _subdirs, files in os.walk(app):
            for name in files:
                if name.endswith(".py"):
                    source = os.path.join(directory, name)
                    # Beside the source, where zipimport looks; a hash that is not checked, as zip
                    # entries keep times only to two seconds; named by its path in the archive, not
                    # in this temporary directory.
                    py_compile.compile(source, cfile=source + "c", dfile=os.path.relpath(source, app),
                                       doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        with open(os.path.join(app, "__main__.py"), "w") as main:
            main.write(MAIN)
        for directory, _subdirs, files in os.walk(app, topdown=False):
            for name in files:
                os.chmod(os.path.join(directory, name), FILE_MODE)
                os.utime(os.path.join(directory, name), (ENTRY_TIME, ENTRY_TIME))
            os.chmod(directory, DIRECTORY_MODE)
            os.utime(directory, (ENTRY_TIME, ENTRY_TIME))
        archive = os.path.join(staging, "pynet")
        zipapp.create_archive(app, archive, interpreter=sys.executable + " -IS")
        with open(archive, "rb") as made:
            return made.read()


def install(targets, check=False):
    """Build the plugin once and write it to each target (mode 0755; missing directories made, mode
    0755) where the file there differs. Returns the targets that differed; with `check`, writes nothing."""
    plugin = build()
    differing = [target for target in targets if not _holds(target, plugin)]
    if not check:
        for target in differing:
            parent = os.path.dirname(os.path.abspath(target))
            os.makedirs(parent, mode=DIRECTORY_MODE, exist_ok=True)
            partial = tempfile.NamedTemporaryFile(dir=parent, prefix=".pynet-cni-", delete=False)
            try:
                with partial:
                    partial.write(plugin)
                os.chmod(partial.name, PROGRAM_MODE)
                os.replace(partial.name, target)  # a runtime exec'ing the old file meanwhile still gets a whole one
            except BaseException:
                os.unlink(partial.name)
                raise
    return differing


def _holds(target, plugin):
    """Whether `target` is a regular file of these bytes and mode 0755."""
    try:
        with open(target, "rb") as found:
            return stat.S_IMODE(os.fstat(found.fileno()).st_mode) == PROGRAM_MODE and found.read() == plugin
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build pynet's CNI plugin as one executable file, run by this "
                                                 "interpreter (%s), and install it where it differs; prints the "
                                                 "targets written as a JSON list." % sys.executable)
    parser.add_argument("targets", nargs="+", metavar="target", help="where to write it, such as /opt/cni/bin/pynet")
    parser.add_argument("--check", action="store_true", help="write nothing: only print the targets that differ")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(install(args.targets, args.check)) + "\n")


if __name__ == "__main__":
    main()
