"""Turning IPv6 off in each new sandbox as sandboxes accumulate: through the host's /proc/sys, and
through pynet's own procfs instances (kernel/sysctl.py), side by side.

    python benchmarks/sysctl.py [N]      (as root; default N=1000; benchmarks/run.sh runs it)

In private namespaces, for each way in turn: N sandboxes (network namespaces) made one after
another, in each of which lo's disable_ipv6 is written that way, timed. Prints microseconds per
sandbox in ten slices of N/10. Through /proc/sys, the lookup of net/ipv6 from a new namespace is
compared with the entry each earlier namespace left there, so its cost grows with N.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

import common

KNOB = "net/ipv6/conf/lo/disable_ipv6"


def through_proc(path, value):
    knob = os.open("/proc/sys/" + path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(knob, str(value).encode())
    finally:
        os.close(knob)


def per_slice(count, write, netns):
    """Microseconds of write(KNOB, 1) per new sandbox, for each slice of N/10."""
    work = tempfile.mkdtemp(prefix="pynet-bench-sysctl-")
    keys = []
    figures = []
    try:
        for part in common.slices(count):
            seconds = 0.0
            for number in part:
                keys.append(os.path.join(work, "s%d" % number))
                netns.create(keys[-1])
                with netns.entered(keys[-1]):
                    start = time.perf_counter()
                    write(KNOB, 1)
                    seconds += time.perf_counter() - start
            figures.append(1e6 * seconds / len(part))
    finally:
        for key in keys:
            netns.destroy(key)
        shutil.rmtree(work)
    return figures


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    common.isolate()
    sys.path.insert(0, common.collection_path())
    from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, sysctl
    rows = []
    with sysctl.Sysctls() as sysctls:
        for label, write in (("/proc/sys", through_proc), ("pynet (kernel/sysctl.py)", sysctls.write)):
            common.say("N=%d: IPv6 off in each new sandbox through %s" % (count, label))
            rows.append((label, per_slice(count, write, netns)))
    print("\nN=%d sandboxes made one by one, IPv6 turned off in each: us per sandbox, in %d slices of %d"
          % (count, len(rows[0][1]), len(common.slices(count)[0])))
    print("%-26s" % "through" + "".join("%7d" % (n + 1) for n in range(len(rows[0][1]))) + "  last/first")
    for label, figures in rows:
        print("%-26s" % label + "".join("%7.1f" % figure for figure in figures) + "  %10.2f" % (figures[-1] / figures[0]))


if __name__ == "__main__":
    main()
