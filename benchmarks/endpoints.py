"""Endpoint create and delete cost: pynet's library next to the `ip -batch` floor, in one run.

    python benchmarks/endpoints.py [N]        (as root; default N=100)

Runs in private mount and network namespaces (/run/netns and the state dir are private
tmpfs), so nothing on the host is touched. Both approaches start from N existing sandboxes
and one bridge, and make the same thing per endpoint: a veth pair, the host end on the
bridge, the other end in the sandbox as eth0 with an IPv4 address, up, a default route.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def isolate():
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


def collection_path():
    root = tempfile.mkdtemp(prefix="pynet-bench-")
    os.makedirs(os.path.join(root, "ansible_collections", "pynet"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "pynet", "libnetwork"))
    return root


def ip_batch(lines, netns=None):
    command = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    subprocess.run(command, input="\n".join(lines) + "\n", text=True, check=True)


def bench_ip_batch(count):
    """The floor: iproute2's batch mode, one exec on the host and one per sandbox."""
    names = ["pnbench%d" % i for i in range(count)]
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)
    ip_batch(["link add pnbr0 type bridge", "addr add 10.90.0.1/16 dev pnbr0", "link set pnbr0 up"])
    start = time.perf_counter()
    host = []
    for i, name in enumerate(names):
        host.append("link add pnbh%d group 77 type veth peer name eth0 netns %s" % (i, name))
        host.append("link set pnbh%d master pnbr0 up" % i)
    ip_batch(host)
    for i, name in enumerate(names):
        ip_batch(["link set lo up", "addr add 10.90.%d.%d/16 dev eth0" % ((i + 2) // 256, (i + 2) % 256),
                  "link set eth0 up", "route add default via 10.90.0.1"], netns=name)
    created = time.perf_counter() - start
    start = time.perf_counter()
    ip_batch(["link del pnbh%d" % i for i in range(count)])
    deleted = time.perf_counter() - start
    ip_batch(["link del pnbr0"])
    for name in names:
        subprocess.run(["ip", "netns", "del", name], check=True)
    return created, deleted


def bench_pynet(count, state_dir, netns_dir, batch):
    """pynet's library: one call per endpoint, or the batch API (create_endpoints, delete_endpoints)."""
    from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
    controller = Controller(state_dir=state_dir)
    network = controller.new_network(controller.new_network_driver("bridge", {}), "bench",
                                     {"ipam": [{"subnet": "10.91.0.0/16"}]})
    sandboxes = [controller.new_sandbox(os.path.join(netns_dir, "s%d" % i)) for i in range(count)]
    start = time.perf_counter()
    if batch:
        endpoints = network.create_endpoints([("e%d" % i, sandbox.key, {}) for i, sandbox in enumerate(sandboxes)])
    else:
        endpoints = [network.create_endpoint("e%d" % i, sandbox.key) for i, sandbox in enumerate(sandboxes)]
    created = time.perf_counter() - start
    assert all(not isinstance(endpoint, Exception) for endpoint in endpoints)
    start = time.perf_counter()
    if batch:
        network.delete_endpoints(endpoints)
    else:
        for endpoint in endpoints:
            endpoint.delete()
    deleted = time.perf_counter() - start
    network.delete()
    for sandbox in sandboxes:
        sandbox.destroy()
    controller.close()
    return created, deleted


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    isolate()
    sys.path.insert(0, collection_path())
    work = tempfile.mkdtemp(prefix="pynet-bench-state-")
    results = {
        "ip -batch (floor)": bench_ip_batch(count),
        "pynet, one by one": bench_pynet(count, os.path.join(work, "one"), os.path.join(work, "netns1"), False),
        "pynet, batch": bench_pynet(count, os.path.join(work, "batch"), os.path.join(work, "netns2"), True),
    }
    floor_create, floor_delete = results["ip -batch (floor)"]
    print("N=%d endpoints, ms per endpoint" % count)
    print("%-20s %10s %10s %14s %14s" % ("approach", "create", "delete", "create/floor", "delete/floor"))
    for name, (created, deleted) in results.items():
        print("%-20s %10.2f %10.2f %14.2f %14.2f" % (name, 1000 * created / count, 1000 * deleted / count,
                                                     created / floor_create, deleted / floor_delete))


if __name__ == "__main__":
    main()
