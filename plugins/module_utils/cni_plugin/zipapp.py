# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI plugin as one executable file: a zipapp of pynet's library, run in isolated mode.

    PYTHON -m ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin.zipapp TARGET

PYTHON, the interpreter that builds the archive, is the one that runs it: the archive holds
plugins/module_utils (the library and this package) under its import path with bytecode PYTHON
compiled, and its first line is `#!PYTHON -IS` (-I -S: a shebang passes one argument). The same sources
and PYTHON make the same bytes (fixed times and modes in the archive), so an installer can compare
a new build with the installed file. -I: no
PYTHONPATH, no user site, no current directory, so nothing but the archive is imported as pynet. -S: no
`site` and its .pth files (about 3 ms of each run): the library needs nothing beyond the standard library.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import shutil
import sys
import tempfile
import zipapp

PACKAGE = ("ansible_collections", "pynet", "libnetwork", "plugins", "module_utils")
# Every entry's time (zip's earliest, 1980-01-01) and mode, whatever the sources' are.
ENTRY_TIME = 315532800
FILE_MODE, DIRECTORY_MODE = 0o644, 0o755
# zipapp's own generated __main__ drops the exit status; the plugin's is the protocol's.
MAIN = """from ansible_collections.pynet.libnetwork.plugins.module_utils import cni
raise SystemExit(cni.main())
"""


def build(target):
    """Write the plugin to `target` (mode 0755), for this interpreter."""
    module_utils = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory(prefix="pynet-cni-") as staging:
        package = os.path.join(staging, *PACKAGE)
        shutil.copytree(module_utils, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for depth in range(1, len(PACKAGE)):  # zipimport finds packages by their __init__
            init = os.path.join(staging, *PACKAGE[:depth], "__init__.py")
            if not os.path.exists(init):
                open(init, "w").close()
        for directory, _subdirs, files in os.walk(staging):
            for name in files:
                if name.endswith(".py"):
                    source = os.path.join(directory, name)
                    # Beside the source, where zipimport looks; a hash that is not checked, as zip
                    # entries keep times only to two seconds; named by its path in the archive, not
                    # in this temporary directory.
                    py_compile.compile(source, cfile=source + "c", dfile=os.path.relpath(source, staging),
                                       doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        with open(os.path.join(staging, "__main__.py"), "w") as main:
            main.write(MAIN)
        for directory, _subdirs, files in os.walk(staging, topdown=False):
            for name in files:
                os.chmod(os.path.join(directory, name), FILE_MODE)
                os.utime(os.path.join(directory, name), (ENTRY_TIME, ENTRY_TIME))
            os.chmod(directory, DIRECTORY_MODE)
            os.utime(directory, (ENTRY_TIME, ENTRY_TIME))
        parent = os.path.dirname(os.path.abspath(target))
        os.makedirs(parent, exist_ok=True)
        partial = tempfile.NamedTemporaryFile(dir=parent, prefix=".pynet-cni-", delete=False)
        partial.close()
        try:
            zipapp.create_archive(staging, partial.name, interpreter=sys.executable + " -IS")
            os.chmod(partial.name, 0o755)
            os.replace(partial.name, target)  # a runtime exec'ing the old file meanwhile still gets a whole one
        except BaseException:
            os.unlink(partial.name)
            raise


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build pynet's CNI plugin as one executable file, run by this "
                                                 "interpreter (%s)." % sys.executable)
    parser.add_argument("target", help="where to write it, such as /opt/cni/bin/pynet")
    build(parser.parse_args(argv).target)


if __name__ == "__main__":
    main()
