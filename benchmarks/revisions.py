"""pynet's library batch at another git revision and in this checkout, side by side in one run.

    python benchmarks/revisions.py [--base REV] [--rounds R] [N]
        (as root; default: main against this checkout, 3 rounds, N=1000; benchmarks/run.sh runs it
        when PYNET_BENCH_BASE names a revision)

The collection at REV comes from `git archive` into a temporary directory; this checkout is taken
as it is, uncommitted changes included. Each measurement is the "pynet library, batch" row of
endpoints.py (N sandboxes and a network made untimed, create_endpoints in ten slices of N/10, one
delete_endpoints for all), in a process of its own with private namespaces, so that each imports
one collection. The runs alternate, base then this checkout, R times each, so a busy machine
weighs on both alike. Prints ms per endpoint of every run, the medians, and this checkout over
the base.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

import common

KEYS = ("create_ms", "delete_ms")


def run_once(source, count):
    """The batch figures of the collection at `source`, measured in a child process."""
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure", source, str(count)],
                          stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout)


def measure(source, count):
    """In the child: private namespaces, the collection at `source` importable, one batch."""
    common.isolate()
    sys.path.insert(0, common.collection_path(source))
    work = tempfile.mkdtemp(prefix="pynet-bench-revisions-")
    try:
        print(json.dumps(common.bench_library(count, work, batch=True)))
    finally:
        shutil.rmtree(work)


def archive(revision, where):
    """The tree of `revision` of this repository, extracted under `where`."""
    commit = subprocess.run(["git", "-C", common.REPO, "rev-parse", "--short", revision + "^{commit}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    tree = subprocess.run(["git", "-C", common.REPO, "archive", commit], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", where], input=tree, check=True)
    return commit


def report(count, base_label, runs):
    labels = (base_label, "this checkout")
    print("\nN=%d, pynet library batch: ms per endpoint; the runs alternate, %s first" % (count, base_label))
    print("%-8s %-19s %-19s" % ("", labels[0], labels[1]))
    row = "%-8s %9s %9s %9s %9s"
    print(row % ("run", "create", "delete", "create", "delete"))
    for number, (base, this) in enumerate(zip(runs[labels[0]], runs[labels[1]]), 1):
        print(row % ((number,) + tuple("%.3f" % side[key] for side in (base, this) for key in KEYS)))
    medians = {label: {key: statistics.median(run[key] for run in runs[label]) for key in KEYS} for label in labels}
    print(row % (("median",) + tuple("%.3f" % medians[label][key] for label in labels for key in KEYS)))
    print("this checkout / %s, medians: create %.3f, delete %.3f" % (base_label, *(
        medians[labels[1]][key] / medians[labels[0]][key] for key in KEYS)))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        measure(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("count", nargs="?", type=int, default=1000, metavar="N", help="endpoints (default 1000)")
    parser.add_argument("--base", default="main", metavar="REV", help="the git revision to compare with (main)")
    parser.add_argument("--rounds", type=int, default=3, metavar="R", help="runs of each side (default 3)")
    args = parser.parse_args()
    if args.count < common.SLICES or args.rounds < 1:
        parser.error("N must be at least %d and R at least 1" % common.SLICES)
    where = tempfile.mkdtemp(prefix="pynet-bench-base-")
    try:
        base_label = "base " + archive(args.base, where)
        sides = ((base_label, where), ("this checkout", common.REPO))
        runs = {label: [] for label, unused_source in sides}
        for number in range(1, args.rounds + 1):
            for label, source in sides:
                common.say("N=%d round %d/%d: %s" % (args.count, number, args.rounds, label))
                runs[label].append(run_once(source, args.count))
    finally:
        shutil.rmtree(where)
    report(args.count, base_label, runs)


if __name__ == "__main__":
    main()
