"""Where the cost of an endpoint grows with N: pynet's library batch timed step by step.

    python benchmarks/growth.py [N]      (as root; default N=1000; benchmarks/run.sh runs it)

In private namespaces (as endpoints.py): N sandboxes and one bridge network, then N endpoints made
by create_endpoints in ten slices of N/10. Each kernel request pynet makes is timed where it is
sent (one row per kind), so a row is the kernel's own cost of that step plus a system call; what
remains of the slice's wall time is pynet's own work (Python, the store, IPAM). Prints ms per
endpoint for each slice and how much the last slice costs more than the first: a row that grows
is a cost the kernel pays in proportion to the objects already there.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import shutil
import sys
import tempfile
import time

import common

OWN_WORK = "pynet's own work (Python, store, IPAM)"


class StepTimer:
    """Seconds per step; a timed call inside another one counts for the outer one only."""

    def __init__(self):
        self.seconds = collections.Counter()
        self.depth = 0

    @contextlib.contextmanager
    def step(self, label):
        self.depth += 1
        start = time.perf_counter()
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0:
                self.seconds[label] += time.perf_counter() - start

    def wrap(self, owner, name, label):
        """Time every call of owner.name under `label` (a function of the call's arguments, or a str)."""
        function = getattr(owner, name)

        @functools.wraps(function)
        def timed(*args, **kwargs):
            with self.step(label(*args, **kwargs) if callable(label) else label):
                return function(*args, **kwargs)
        setattr(owner, name, timed)

    def wrap_context(self, owner, name, label):
        """Time entering and leaving a context manager (the body is not its cost)."""
        factory = getattr(owner, name)

        @functools.wraps(factory)
        @contextlib.contextmanager
        def timed(*args, **kwargs):
            manager = factory(*args, **kwargs)
            with self.step(label):
                value = manager.__enter__()
            try:
                yield value
            finally:
                with self.step(label):
                    manager.__exit__(*sys.exc_info())
        setattr(owner, name, timed)


def instrument(timer):
    from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import bridge
    from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl, sysctl
    side = {True: "host end", False: "sandbox end"}
    timer.wrap(rtnl.Connection, "add_veth", "veth pair, host end on the bridge")
    timer.wrap(rtnl.Connection, "add_address", "address")
    timer.wrap(rtnl.Connection, "set_up", "link up (eth0, lo)")
    timer.wrap(rtnl.Connection, "set_default_route", "default route")
    timer.wrap(rtnl.Connection, "link", "link lookup by name")
    timer.wrap(rtnl.Connection, "wait_oper_up", "wait for the host end's carrier")
    timer.wrap(rtnl, "_socket", "netlink socket")
    timer.wrap(sysctl.Sysctls, "write", lambda self, path, value: "IPv6 off, %s (sysctl)"
               % side[path.split("/")[3].startswith(bridge.VETH_PREFIX)])
    timer.wrap_context(netns, "entered", "enter and leave the sandbox (setns)")
    timer.wrap(netns, "open_fd", "open the sandbox")


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    common.isolate()
    sys.path.insert(0, common.collection_path())
    work = tempfile.mkdtemp(prefix="pynet-bench-growth-")
    common.say("N=%d: %d sandboxes and a network" % (count, count))
    controller, sandboxes = common.new_sandboxes(count, work)
    network = controller.new_network(controller.new_network_driver("bridge", {}), "growth",
                                     {"ipam": [{"subnet": "10.92.0.0/16"}]})
    timer = StepTimer()
    instrument(timer)
    rows = []
    common.say("N=%d: endpoints in %d slices" % (count, common.SLICES))
    for part in common.slices(count):
        timer.seconds.clear()
        start = time.perf_counter()
        network.create_endpoints([("e%d" % i, sandboxes[i].key, {}) for i in part])
        wall = time.perf_counter() - start
        kernel = sum(timer.seconds.values())
        row = {label: 1000 * seconds / len(part) for label, seconds in timer.seconds.items()}
        row[OWN_WORK] = 1000 * (wall - kernel) / len(part)
        row["all"] = 1000 * wall / len(part)
        rows.append(row)
    report(count, rows)
    network.delete_endpoints(network.endpoints())
    network.delete()
    common.destroy_sandboxes(controller, sandboxes)
    shutil.rmtree(work)


def report(count, rows):
    print("\nN=%d, library batch in %d slices of %d: ms per endpoint; 'grows' = last slice minus first"
          % (count, len(rows), len(common.slices(count)[0])))
    labels = sorted({label for row in rows for label in row} - {"all"}, key=lambda label: -rows[-1].get(label, 0))
    print("%-46s" % "step" + "".join("%7d" % (n + 1) for n in range(len(rows))) + "   grows")
    for label in labels + ["all"]:
        figures = [row.get(label, 0.0) for row in rows]
        print("%-46s" % label + "".join("%7.3f" % figure for figure in figures) + "  %+6.3f" % (figures[-1] - figures[0]))
    print("last/first, all: %.2f" % (rows[-1]["all"] / rows[0]["all"]))


if __name__ == "__main__":
    main()
