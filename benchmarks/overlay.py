"""The overlay driver against the bridge driver, side by side on the simulated fleet.

    python benchmarks/overlay.py [N] [ROUNDS]      (as root; default N=500, 3 rounds)

On one host of the rig (tests/fleet/rig.py, etcd on the same underlay), each round creates a bridge
network and an overlay network, then a batch of N sandboxes with an endpoint each on one and on the
other, alternating which goes first, and deletes them: ms per endpoint to create (the sandboxes
excluded) and the overlay's ratio to the bridge (issue 14's goal: at most 1.5). Then, on two hosts,
the latency of a TCP connect across the overlay against one between two endpoints of a bridge on one
host (median of 200 connects each).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "fleet"))

import rig  # noqa: E402  (also puts tests/lib on the path)
import pynet_testing  # noqa: E402

ON_HOST = os.path.join(os.path.dirname(HERE), "tests", "fleet", "on_host.py")

BATCH = """
import os
net = c.new_network(c.driver(%(driver)r), %(name)r, {"ipam": [{"subnet": %(subnet)r}]})
keys = [new_sandbox("/run/pynet/netns/%(name)s-%%d" %% index).key for index in range(%(count)d)]
started = time.perf_counter()
made = net.create_endpoints([("e%%d" %% index, key, {}) for index, key in enumerate(keys)])
took = time.perf_counter() - started
assert not [ep for ep in made if isinstance(ep, Exception)], made
net.delete_endpoints(made)
net.delete()
for key in keys:
    c.sandbox_by_key(key).destroy()
result = took
"""

CONNECT = """
import socket, statistics
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
with netns.entered(%(key)r):
    times = []
    for _ in range(200):
        sock = socket.socket()
        started = time.perf_counter()
        sock.connect((%(address)r, 5400))
        times.append(time.perf_counter() - started)
        sock.close()
result = statistics.median(times) * 1000
"""

LISTEN = """
import socket
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
with netns.entered(%(key)r):
    server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((%(address)r, 5400))
server.listen(512)
print("listening", flush=True)
for _ in range(200):
    server.accept()[0].close()
"""


def run_on(host, code):
    proc = subprocess.run(host.nsenter(sys.executable, ON_HOST), input=textwrap.dedent(code), capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=pynet_testing.COLLECTIONS), check=False)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-3000:])
    return json.loads(proc.stdout.splitlines()[-1])


def configure(host, cluster):
    run_on(host, 'c.new_network_driver("overlay", {"cluster_store": %r, "advertise_address": %r})'
           % (cluster.cluster_store, host.address))


def connect_latency(server, client, server_key, address, client_key):
    listener = subprocess.Popen(server.nsenter(sys.executable, ON_HOST), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=pynet_testing.COLLECTIONS))
    listener.stdin.write(textwrap.dedent(LISTEN % {"key": server_key, "address": address}))
    listener.stdin.close()
    assert listener.stdout.readline().strip() == "listening"
    try:
        return run_on(client, CONNECT % {"key": client_key, "address": address})
    finally:
        listener.wait(30)


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    root = tempfile.mkdtemp(prefix="pynet-bench-overlay-")
    underlay = rig.Underlay(root)
    cluster = rig.EtcdCluster(underlay, root).start()
    fleet = rig.Fleet(underlay, root, 2).start()
    try:
        first, second = fleet.hosts
        for host in fleet.hosts:
            configure(host, cluster)
        times = {"bridge": [], "overlay": []}
        for index in range(rounds):
            order = ("bridge", "overlay") if index % 2 == 0 else ("overlay", "bridge")
            for driver in order:
                subnet = "10.252.0.0/16" if driver == "bridge" else "10.251.0.0/16"
                took = run_on(first, BATCH % {"driver": driver, "name": "pn%s%d" % (driver[0], index),
                                              "subnet": subnet, "count": count})
                times[driver].append(took * 1000 / count)
        print("| N=%d, ms per endpoint | rounds | median |" % count)
        print("|---|---|---|")
        for driver, found in times.items():
            print("| %s | %s | %.2f |" % (driver, ", ".join("%.2f" % value for value in found), statistics.median(found)))
        print("overlay / bridge: %.2f" % (statistics.median(times["overlay"]) / statistics.median(times["bridge"])))
        addresses = run_on(first, """
            ov = c.new_network(c.driver("overlay"), "ov", {"ipam": [{"subnet": "10.251.0.0/16"}]})
            br = c.new_network(c.driver("bridge"), "br", {"ipam": [{"subnet": "10.252.0.0/24"}]})
            result = {"ov1": ov.create_endpoint("ov1", new_sandbox("/run/pynet/netns/ov1").key, {}).record().ipv4,
                      "br1": br.create_endpoint("br1", new_sandbox("/run/pynet/netns/br1").key, {}).record().ipv4,
                      "br2": br.create_endpoint("br2", new_sandbox("/run/pynet/netns/br2").key, {}).record().ipv4}
            """)
        addresses["ov2"] = run_on(second, """
            result = c.network_by_name("ov").create_endpoint("ov2", new_sandbox("/run/pynet/netns/ov2").key,
                                                             {}).record().ipv4
            """)
        across = connect_latency(second, first, "/run/pynet/netns/ov2", addresses["ov2"].split("/")[0],
                                 "/run/pynet/netns/ov1")
        local = connect_latency(first, first, "/run/pynet/netns/br2", addresses["br2"].split("/")[0],
                                "/run/pynet/netns/br1")
        print("TCP connect, median of 200: %.3f ms across the overlay (two hosts), %.3f ms on a bridge (one host)"
              % (across, local))
    finally:
        fleet.close()
        cluster.close()
        underlay.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
