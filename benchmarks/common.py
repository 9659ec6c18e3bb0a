"""What the benchmarks share: the collection importable from this checkout (or another source),
private namespaces, progress messages, pynet's library timed per endpoint."""

from __future__ import annotations

import argparse
import atexit
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLICES = 10  # first and last 10%: N is timed in ten slices
NETWORK = "bench"
SUBNET = "10.91.0.0/16"
CNI_PATH = "/usr/lib/cni"  # the CNI reference plugins (containernetworking-plugins), the comparison


def collection_path(source=REPO):
    """A directory holding ansible_collections/pynet/libnetwork -> source (this checkout), for sys.path;
    removed when the process exits."""
    root = tempfile.mkdtemp(prefix="pynet-bench-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    os.makedirs(os.path.join(root, "ansible_collections", "pynet"))
    os.symlink(source, os.path.join(root, "ansible_collections", "pynet", "libnetwork"))
    return root


def isolate():
    """Private mount and network namespaces for this process and its children: /run/netns is a
    tmpfs of its own, nothing on the host is touched."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    clone_newns, clone_newnet, ms_rec, ms_private = 0x00020000, 0x40000000, 0x4000, 0x40000
    for result, what in ((libc.unshare(clone_newns | clone_newnet), "unshare"),
                         (libc.mount(b"none", b"/", None, ms_rec | ms_private, None), "make / private")):
        if result != 0:
            raise OSError(ctypes.get_errno(), what)
    os.makedirs("/run/netns", exist_ok=True)
    if libc.mount(b"pynet-bench", b"/run/netns", b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "tmpfs on /run/netns")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def counts_parser(doc, what):
    """An argument parser whose positional arguments N ... are numbers of `what` (default 100 1000)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n", maxsplit=1)[0])
    parser.add_argument("counts", nargs="*", type=int, default=[100, 1000], metavar="N",
                        help="numbers of %s (at least %d; default 100 1000)" % (what, SLICES))
    return parser


def parse_counts(parser):
    """The arguments, each N at least SLICES; and the CNI reference plugins, which both benchmarks run."""
    args = parser.parse_args()
    if any(count < SLICES for count in args.counts):
        parser.error("N must be at least %d" % SLICES)
    if not os.path.exists(os.path.join(CNI_PATH, "bridge")):
        sys.exit("the CNI reference plugins are missing: apt-get install containernetworking-plugins")
    return args


def say(message):
    """Progress, on stderr: a full run takes many minutes."""
    print("%s %s" % (time.strftime("%H:%M:%S"), message), file=sys.stderr, flush=True)


def slices(count):
    """range(count) in SLICES consecutive parts."""
    step = max(1, count // SLICES)
    return [range(start, min(start + step, count)) for start in range(0, count, step)]


def new_sandboxes(count, where):
    """The starting point of pynet's rows: a controller with a state of its own and N sandboxes."""
    from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
    controller = Controller(state_dir=os.path.join(where, "state"))
    return controller, [controller.new_sandbox(os.path.join(where, "ns", "s%d" % i)) for i in range(count)]


def destroy_sandboxes(controller, sandboxes):
    for sandbox in sandboxes:
        sandbox.destroy()
    controller.close()


def figures(count, create, deleted, first=None, last=None):
    """Milliseconds per endpoint; first/last: seconds per endpoint of the first and last 10%, if measured."""
    return {"create_ms": 1000 * create / count, "delete_ms": 1000 * deleted / count,
            "first10_ms": None if first is None else 1000 * first, "last10_ms": None if last is None else 1000 * last}


def sliced(count, timings, deleted):
    """Figures from ten timed slices of N/10 endpoints."""
    step = max(1, count // SLICES)
    return figures(count, sum(timings), deleted, timings[0] / step, timings[-1] / step)


def bench_library(count, where, batch):
    """pynet's library: one call per endpoint, or the batch API (one create_endpoints per slice,
    one delete_endpoints for all)."""
    controller, sandboxes = new_sandboxes(count, where)
    network = controller.new_network(controller.new_network_driver("bridge", {}), NETWORK,
                                     {"ipam": [{"subnet": SUBNET}]})
    endpoints = []
    timings = []
    for part in slices(count):
        start = time.perf_counter()
        if batch:
            endpoints.extend(network.create_endpoints([("e%d" % i, sandboxes[i].key, {}) for i in part]))
        else:
            endpoints.extend(network.create_endpoint("e%d" % i, sandboxes[i].key) for i in part)
        timings.append(time.perf_counter() - start)
    assert all(not isinstance(endpoint, Exception) for endpoint in endpoints)
    start = time.perf_counter()
    if batch:
        network.delete_endpoints(endpoints)
    else:
        for endpoint in endpoints:
            endpoint.delete()
    deleted = time.perf_counter() - start
    network.delete()
    destroy_sandboxes(controller, sandboxes)
    return sliced(count, timings, deleted)
