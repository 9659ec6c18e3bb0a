"""Endpoint create and delete cost, side by side in one run: pynet's library (one call per
endpoint, and the batch API), the CNI reference plugins (bridge + host-local + loopback, an exec
per endpoint, as container runtimes call them) and the `ip -batch` floor.

    python benchmarks/endpoints.py [N ...]      (as root; default N=100 1000)

Runs in private mount and network namespaces (/run/netns and the state dirs are private), so
nothing on the host is touched. Every approach starts from N existing sandboxes and makes, per
endpoint, a veth pair with the host end on a bridge and the other end in the sandbox as eth0
with an IPv4 address, up, loopback up, a default route. Creation is timed in ten slices of N/10
(first and last 10%% show whether cost grows with N); deletion as a whole.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import common


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


CNI_PATH = "/usr/lib/cni"
SLICES = 10


def ip_batch(lines, netns=None):
    command = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    subprocess.run(command, input="\n".join(lines) + "\n", text=True, check=True)


def slices(count):
    step = max(1, count // SLICES)
    return [range(start, min(start + step, count)) for start in range(0, count, step)]


def make_netns(names):
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)


def drop_netns(names):
    for name in names:
        subprocess.run(["ip", "netns", "del", name], check=True)


def bench_ip_batch(count):
    """The floor: iproute2's batch mode, one exec per slice on the host and one per sandbox;
    deletion of every veth in one request (by interface group)."""
    names = ["pnfloor%d" % i for i in range(count)]
    make_netns(names)
    ip_batch(["link add pnbr0 type bridge", "addr add 10.90.0.1/16 dev pnbr0", "link set pnbr0 up"])
    timings = []
    for part in slices(count):
        start = time.perf_counter()
        host = []
        for i in part:
            host.append("link add pnbh%d group 77 type veth peer name eth0 netns %s" % (i, names[i]))
            host.append("link set pnbh%d master pnbr0 up" % i)
        ip_batch(host)
        for i in part:
            ip_batch(["link set lo up", "addr add 10.90.%d.%d/16 dev eth0" % ((i + 2) // 256, (i + 2) % 256),
                      "link set eth0 up", "route add default via 10.90.0.1"], netns=names[i])
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    ip_batch(["link del group 77"])
    deleted = time.perf_counter() - start
    ip_batch(["link del pnbr0"])
    drop_netns(names)
    return timings, deleted


def cni(plugin, command, config, netns, container_id):
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
           "CNI_PATH": CNI_PATH, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run([os.path.join(CNI_PATH, plugin)], input=json.dumps(config), env=env, text=True,
                   capture_output=True, check=True)


def bench_cni(count, data_dir):
    """The CNI reference plugins as a runtime calls them: bridge (with host-local IPAM) and loopback
    ADD per endpoint, bridge DEL per endpoint; one exec each."""
    names = ["pncni%d" % i for i in range(count)]
    make_netns(names)
    host_local = {"type": "host-local", "subnet": "10.94.0.0/16", "dataDir": data_dir,
                  "routes": [{"dst": "0.0.0.0/0"}]}
    bridge = {"cniVersion": "1.0.0", "name": "pnbench", "type": "bridge", "bridge": "pncni0", "isGateway": True,
              "ipMasq": False, "ipam": host_local}
    loopback = {"cniVersion": "1.0.0", "name": "pnbench-lo", "type": "loopback"}
    timings = []
    for part in slices(count):
        start = time.perf_counter()
        for i in part:
            cni("bridge", "ADD", bridge, "/run/netns/" + names[i], names[i])
            cni("loopback", "ADD", loopback, "/run/netns/" + names[i], names[i])
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    for name in names:
        cni("bridge", "DEL", bridge, "/run/netns/" + name, name)
    deleted = time.perf_counter() - start
    ip_batch(["link del pncni0"])
    drop_netns(names)
    return timings, deleted


def bench_pynet(count, state_dir, netns_dir, batch):
    """pynet's library: one call per endpoint, or the batch API (one create_endpoints per slice,
    one delete_endpoints for all)."""
    from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
    controller = Controller(state_dir=state_dir)
    network = controller.new_network(controller.new_network_driver("bridge", {}), "bench",
                                     {"ipam": [{"subnet": "10.91.0.0/16"}]})
    sandboxes = [controller.new_sandbox(os.path.join(netns_dir, "s%d" % i)) for i in range(count)]
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
    for sandbox in sandboxes:
        sandbox.destroy()
    controller.close()
    return timings, deleted


def report(count, results):
    cni_create = sum(results["CNI bridge+host-local"][0]) / count
    cni_delete = results["CNI bridge+host-local"][1] / count
    print("\nN=%d endpoints (ms per endpoint; 'x CNI' = how many times faster than the CNI plugins)" % count)
    row = "%-24s %9s %9s %8s %8s %11s %10s"
    print(row % ("approach", "create", "delete", "x CNI", "x CNI", "first 10%", "last 10%"))
    print(row % ("", "", "", "create", "delete", "create", "create"))
    for name, (timings, deleted) in results.items():
        per_slice = [1000 * t / max(1, count // SLICES) for t in timings]
        create = sum(timings) / count
        print("%-24s %9.2f %9.2f %8.1f %8.1f %11.2f %10.2f" % (
            name, 1000 * create, 1000 * deleted / count, cni_create / create, cni_delete / max(deleted / count, 1e-9),
            per_slice[0], per_slice[-1]))


def main():
    counts = [int(arg) for arg in sys.argv[1:]] or [100, 1000]
    isolate()
    sys.path.insert(0, common.collection_path())
    if not os.path.exists(os.path.join(CNI_PATH, "bridge")):
        sys.exit("the CNI reference plugins are missing: apt-get install containernetworking-plugins")
    work = tempfile.mkdtemp(prefix="pynet-bench-state-")
    for count in counts:
        where = os.path.join(work, str(count))
        results = {
            "ip -batch (floor)": bench_ip_batch(count),
            "CNI bridge+host-local": bench_cni(count, os.path.join(where, "cni")),
            "pynet library, 1 by 1": bench_pynet(count, os.path.join(where, "one"), os.path.join(where, "ns1"), False),
            "pynet library, batch": bench_pynet(count, os.path.join(where, "batch"), os.path.join(where, "ns2"), True),
        }
        report(count, results)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("\npeak memory of this process (pynet's library runs in it): %.1f MiB" % (peak / 1024))


if __name__ == "__main__":
    main()
