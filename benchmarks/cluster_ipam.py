"""1,000 simulated hosts claiming address blocks in one etcd at the same moment: compare-and-swap
conflicts and time per claim (issue 14, speed), for three ways of choosing the block to try.

    python benchmarks/cluster_ipam.py [--hosts 1000] [--processes 4]      (as root)

etcd (Debian's 3.4) runs in a network namespace of its own on an underlay made by the fleet rig
(tests/fleet/rig.py), as in the tests. Every simulated host joins the cluster (not timed), then
all claim one block at the same instant (a barrier across processes and threads). Two subnets: a
/12 (16,384 blocks of /26: 6% of them claimed at the end) and a /16 (1,024 blocks: 98% claimed,
the crowded case).

Every way tries a block without listing them first (one round trip when it is free); a lost race
brings back, in the same round trip, the blocks claimed since the host last looked. The ways of
choosing the next block (pynet's is the library's own allocation.claim_block):
- lowest:  the lowest block not known to be taken (no spreading; its races grow with the square
           of the hosts: run with 100 hosts, --lowest-hosts).
- walk:    from a point hashed from the host's name, the next block not known to be taken
           (Calico's randomBlockGenerator).
- rehash:  after each lost race, from a new hashed point (pynet).

A simulated host is a thread with a client (an HTTP connection) of its own, spread over a few
processes so that the clients' CPU (JSON, base64: about 0.3 ms a claim here) is not all behind one
interpreter lock. A process per host would not do: each costs about 22 MB, 22 GB for 1,000.

Seen here (2 cores, load average 12-15 from other work; the lowest way with 100 hosts):
| subnet | way | conflicts | most lost by one host | claim ms p50 | p99 | all claimed in s |
| /12 | lowest | 3437 | 72 | 1988 | 3147 | 3.15 |
| /12 | walk | 32 | 1 | 467 | 834 | 0.91 |
| /12 | rehash | 29 | 1 | 551 | 1005 | 1.22 |
| /16 | lowest | 3496 | 74 | 2090 | 3085 | 3.08 |
| /16 | walk | 2097 | 37 | 1284 | 9421 | 9.64 |
| /16 | rehash | 727 | 9 | 1658 | 5964 | 6.00 |
One host alone claims a block in 1.0 ms (one transaction). With 1,000 at once, a claim's time is
its wait behind the others: etcd commits about 1,000 claims a second here.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fleet"))

import rig  # noqa: E402  (also makes the collection importable)
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import allocation, etcd, members  # noqa: E402

SUBNETS = ("10.64.0.0/12", "10.251.0.0/16")
WAYS = ("lowest", "walk", "rehash")
OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "output", "cluster_ipam.json")


def claim(client, way, network, subnet, host):
    """Claim one block for `host` the given way; returns the races it lost."""
    if way == "rehash":
        return allocation.claim_block(client, network, subnet, host).conflicts
    prefixlen = allocation.block_prefixlen(subnet)
    count = 1 << (prefixlen - int(subnet.split("/")[1]))
    taken, conflicts, since = set(), 0, 0
    index = 0 if way == "lowest" else allocation.hashed(network, host, "0")
    while True:
        index = allocation.first_free(count, index, taken)
        attempt = allocation.try_claim(client, network, allocation.block_at(subnet, prefixlen, index), host, since)
        if attempt.held:
            return conflicts
        taken.add(index)
        taken.update(allocation.indexes_of(subnet, prefixlen, attempt.claimed))
        conflicts, since = conflicts + 1, attempt.revision


def simulate(fabric, cluster_store, hosts, barrier, jobs, results):
    """Run in one process: a thread per (number, name) of `hosts`. For each job, every host of every
    process waits at the barrier, and the job's first `count` hosts claim a block. Puts one list on
    results: (way, subnet, conflicts, seconds) per claim, or ("failed", host, reason)."""
    from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
    rows = []

    def host_thread(number, host):
        try:
            with netns.entered(fabric), etcd.EtcdClient(cluster_store, timeout=60) as client:
                client.get("/pynet/v1/connect")  # the connection is made before the clock starts
                for way, network, subnet, count in jobs:
                    barrier.wait(900)
                    if number < count:
                        started = time.perf_counter()
                        conflicts = claim(client, way, network, subnet, host)
                        rows.append((way, subnet, conflicts, time.perf_counter() - started))
        except Exception as exc:  # reported by the parent
            rows.append(("failed", host, repr(exc)))
            barrier.abort()

    threading.stack_size(256 * 1024)
    threads = [threading.Thread(target=host_thread, args=host) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(rows)


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--lowest-hosts", type=int, default=100,
                        help="hosts for the 'lowest' way, whose races grow with the square of the hosts")
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="pynet-cluster-ipam-")
    underlay = rig.Underlay(root)
    cluster = rig.EtcdCluster(underlay, root)
    try:
        cluster.start()
        hosts = ["host%04d" % index for index in range(args.hosts)]
        with underlay.entered(), etcd.EtcdClient(cluster.cluster_store) as client:
            started = time.perf_counter()
            for host in hosts:
                members.join(client, host, rig.host_address(1))
            join_ms = (time.perf_counter() - started) / len(hosts) * 1000
            # One host alone: the floor of a claim (a range and one transaction).
            alone = []
            for host in hosts[:200]:
                started = time.perf_counter()
                allocation.claim_block(client, "solo", SUBNETS[0], host)
                alone.append(time.perf_counter() - started)
        # Every (way, subnet) in turn, each on a network of its own, all hosts at one instant.
        jobs = [(way, "%s-%d" % (way, number), subnet, min(args.lowest_hosts, args.hosts) if way == "lowest"
                 else args.hosts)
                for number, (subnet, way) in enumerate((subnet, way) for subnet in SUBNETS for way in WAYS)]
        results, barrier = multiprocessing.Queue(), multiprocessing.Barrier(len(hosts))
        numbered = list(enumerate(hosts))
        processes = [multiprocessing.Process(target=simulate, args=(underlay.fabric, cluster.cluster_store,
                                                                    numbered[part::args.processes], barrier, jobs,
                                                                    results))
                     for part in range(args.processes)]
        for process in processes:
            process.start()
        collected = []
        for _process in processes:
            collected.extend(results.get())
        for process in processes:
            process.join()
        failed = [row for row in collected if row[0] == "failed"]
        if failed:
            raise SystemExit("%d simulated hosts failed, first: %s" % (len(failed), failed[0]))
    finally:
        cluster.close()
        underlay.close()
        shutil.rmtree(root, ignore_errors=True)
    report = {"hosts": args.hosts, "processes": args.processes, "join_ms": join_ms,
              "alone_ms": {"median": statistics.median(alone) * 1000, "p99": percentile(alone, 0.99) * 1000},
              "runs": []}
    print("%d hosts, %d processes; join %.2f ms per host; one host alone: a claim in %.2f ms (p99 %.2f)"
          % (args.hosts, args.processes, join_ms, report["alone_ms"]["median"], report["alone_ms"]["p99"]))
    print("| subnet | way | hosts | conflicts | hosts that lost a race | most lost by one host | claim ms p50 | p90 | p99 "
          "| max | all claimed in s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for subnet in SUBNETS:
        for way in WAYS:
            rows = [row for row in collected if row[0] == way and row[1] == subnet]
            conflicts = [row[2] for row in rows]
            seconds = [row[3] for row in rows]
            run = {"subnet": subnet, "way": way, "hosts": len(rows), "conflicts": sum(conflicts),
                   "hosts_with_conflicts": sum(1 for value in conflicts if value), "max_conflicts": max(conflicts),
                   "ms": {name: percentile(seconds, fraction) * 1000
                          for name, fraction in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0))},
                   "makespan_s": max(seconds)}
            report["runs"].append(run)
            print("| %s | %s | %d | %d | %d | %d | %.1f | %.1f | %.1f | %.1f | %.2f |" % (
                subnet, way, run["hosts"], run["conflicts"], run["hosts_with_conflicts"], run["max_conflicts"], run["ms"]["p50"],
                run["ms"]["p90"], run["ms"]["p99"], run["ms"]["max"], run["makespan_s"]))
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    with open(OUTPUT, "w") as handle:
        json.dump(report, handle, indent=1)


if __name__ == "__main__":
    main()
