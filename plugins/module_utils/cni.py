# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet as a CNI plugin (spec 1.1.0; 0.4.0 and 1.0.0 configs too), exec'd by container runtimes as

    python3 -m ansible_collections.pynet.libnetwork.plugins.module_utils.cni

The call is read (cni_plugin/protocol.py), its verb run (cni_plugin/verbs.py), the answer printed.

VERSION and every malformed call are answered with the standard library alone; verbs.py, and with it
pynet's library, is imported only for the verbs that need the store or the kernel.
"""

from __future__ import annotations

import gc
import json
import os
import sys

from ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin import protocol


def main(environ=None, stdin=None, stdout=None):
    """Run the call described by the environment and stdin; print the answer; return the exit status."""
    environ = os.environ if environ is None else environ
    stdin = sys.stdin.buffer if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    command = environ.get("CNI_COMMAND", "")
    if command == "VERSION":
        stdout.write(json.dumps(protocol.version_result(protocol.read(stdin, lenient=True))))
        return 0
    version = protocol.SPEC_VERSION
    try:
        config = protocol.parse_config(protocol.read(stdin))
        version = config["cniVersion"]
        call = protocol.Call(protocol.check_environment(command, environ, version), environ, config)
        # Imported here: the library is needed from now on, and only from now on.
        from ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin import verbs  # pylint: disable=import-outside-toplevel
        result = verbs.run(call)
    except protocol.CniError as exc:
        stdout.write(json.dumps(protocol.error_object(exc, version)))
        return 1
    except Exception as exc:  # pylint: disable=broad-exception-caught  # reported as the spec's error, not a traceback
        import traceback  # pylint: disable=import-outside-toplevel  # 10 ms of imports (textwrap), for bugs only
        traceback.print_exc(file=sys.stderr)
        failure = protocol.CniError(protocol.INTERNAL, "pynet failed: %s" % exc, type(exc).__name__)
        stdout.write(json.dumps(protocol.error_object(failure, version)))
        return 1
    if result is not None:
        stdout.write(json.dumps(protocol.shape_result(result, version)))
    return 0


def run():
    """The process as a runtime execs it: main(), then exit with its status, the answer flushed.

    Short-lived, it skips what only a long life needs. No cyclic garbage collection: the imports
    alone would trigger some 20 collections, one of them of every object. No interpreter teardown
    (every object of some 130 modules freed) and no sqlite checkpoint on closing the store (fsyncs)
    at exit: every change is committed by then, in sqlite's write-ahead log, which the next process
    to open the store reads, as after a crash (synchronous=NORMAL: durable across a power loss from
    the next checkpoint on)."""
    gc.disable()
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
