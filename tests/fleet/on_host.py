"""Run library code on a simulated host, as a run there would (its namespaces, its /var/lib/pynet):

    nsenter --target SSHD_PID --net --mount --uts python on_host.py < CODE    (PYTHONPATH holds the collection)

CODE runs with `c` (a Controller of the host's default store), `new_sandbox`, `errors` and `time`
at hand, and sets `result`, which is printed as JSON. A PynetError is printed as {"error": class,
"param": ..., "message": ...} (exit status 3), so that a test can check what a run reports.
"""

import json
import sys
import time

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.sandbox import new_sandbox


def main():
    code = sys.stdin.read()
    scope = {"c": Controller(), "new_sandbox": new_sandbox, "errors": errors, "time": time, "result": None}
    try:
        exec(code, scope)  # noqa: S102  (test code given by the test itself)
    except errors.PynetError as exc:
        print(json.dumps({"error": type(exc).__name__, "param": exc.param, "message": str(exc)}))
        sys.exit(3)
    print(json.dumps(scope["result"]))


if __name__ == "__main__":
    main()
