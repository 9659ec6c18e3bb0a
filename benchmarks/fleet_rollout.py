"""Roll-out of one overlay network plus 10 endpoints per host with the role fleet_network, on the
simulated fleet (tests/fleet/rig.py), over N hosts and over one host, side by side in one run.

    python benchmarks/fleet_rollout.py [N ...] [--base REV] [--rounds R]     (as root; default 20)

For each count (one host first, then each N): a fresh underlay, etcd and fleet; one
`ansible-playbook` (forks = max(10, hosts), no serial: the whole fleet is one batch) that runs the
role (pre-flight, driver, network, canary endpoint and its TCP health check) and then, on every
host, 10 sandboxes and 10 endpoints on the network (each in one task, the modules' list forms).
Printed: the play's wall time, its per-host share (wall time / hosts), the CPU time of the control
node (ansible-playbook, its workers and ssh clients) and the machine's busy CPU time during the play
(hosts' modules, sshd, etcd, the kernel, and anything else running). The roll-out is
checked: the play succeeds and etcd holds 11 endpoints (10 and the canary) of the network per host.
Set-up and teardown of the rig are not timed (benchmarks/fleet_rig.py times them).

The reference, on the same fleet and in the same run: Ansible's own floor, a play of as many tasks per
host (one of them run once) that each run ansible.builtin.ping, the lightest module: what any roll-out
of that many tasks costs before pynet does anything.

With --base, the collection of git revision REV rolls the same play out too, taking turns with this
checkout's (base, this, base, this for each count, R rounds), so both meet the machine's load alike.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fleet"))

import common  # noqa: E402
import rig  # noqa: E402
from revisions import archive  # noqa: E402

ENDPOINTS_PER_HOST = 10
PLAY = """
- hosts: fleet
  gather_facts: false
  max_fail_percentage: 0
  roles:
    - role: pynet.libnetwork.fleet_network
      vars:
        fleet_network_cluster_store: "{{ cluster_store }}"
        fleet_network_networks:
          - {name: ov, subnet: 10.251.0.0/16}
  tasks:
    - name: Sandboxes for the endpoints
      pynet.libnetwork.pynet_sandbox:
        sandboxes: "{{ bench_sandboxes }}"
    - name: Endpoints on the overlay network
      pynet.libnetwork.pynet_endpoint:
        network: ov
        endpoints: "{{ bench_endpoints }}"
"""
# As many tasks per host as PLAY runs: the role's pre-flight, driver, network, canary sandbox, canary
# endpoint and probe, then the play's sandboxes and endpoints; and the role's two run once (the prune,
# the canaries that are up). Not the role's include and argument check (a second each, whatever the hosts).
FLOOR_PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
""" + """
    - name: A task of the floor
      ansible.builtin.ping:
""" * 8 + """
    - name: A task run once
      ansible.builtin.ping:
      run_once: true
""" * 2


def machine_busy():
    """CPU seconds the whole machine has spent busy (every process, the kernel's work included)."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measure(count, root, collections=None, floor=False):
    underlay = rig.Underlay(root)
    cluster = fleet = None
    try:
        cluster = rig.EtcdCluster(underlay, root).start()
        fleet = rig.Fleet(underlay, root, count, forks=max(10, count), collections=collections).start()
        playbook = os.path.join(root, "rollout.yml")
        with open(playbook, "w") as handle:
            handle.write(FLOOR_PLAY if floor else PLAY)
        keys = ["/run/pynet/netns/pnb%d" % index for index in range(ENDPOINTS_PER_HOST)]
        variables = os.path.join(root, "rollout-vars.json")
        with open(variables, "w") as handle:
            json.dump({"cluster_store": cluster.cluster_store, "bench_sandboxes": [{"key": key} for key in keys],
                       "bench_endpoints": [{"name": "e%d" % index, "sandbox": key} for index, key in enumerate(keys)]},
                      handle)
        started, busy, children = time.perf_counter(), machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN)
        run = fleet.ansible("ansible-playbook", "-e", "@" + variables, playbook)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        controller = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        machine = machine_busy() - busy
        if run.returncode != 0:
            raise SystemExit(run.stdout[-4000:] + run.stderr[-2000:])
        if floor:
            return wall, controller, machine
        listing = cluster.etcdctl("get", "--prefix", "--keys-only", "/pynet/v1/endpoints/")
        recorded = [line for line in listing.splitlines() if line]
        expected = count * (ENDPOINTS_PER_HOST + 1)
        if len(recorded) != expected:
            raise SystemExit("%d hosts: etcd holds %d endpoints, not %d" % (count, len(recorded), expected))
        return wall, controller, machine
    finally:
        if fleet is not None:
            fleet.close()
        if cluster is not None:
            cluster.close()
        underlay.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("counts", nargs="*", type=int, default=[20], metavar="N")
    parser.add_argument("--base", metavar="REV", help="also the collection of this git revision, taking turns")
    parser.add_argument("--rounds", type=int, default=1, metavar="R")
    args = parser.parse_args()
    sides = [("this checkout", None, False), ("Ansible's floor (ping)", None, True)]
    if args.base:
        source = tempfile.mkdtemp(prefix="pynet-fleet-base-")
        sides.insert(0, ("@" + archive(args.base, source), common.collection_path(source), False))
    print("| hosts | play | round | roll-out wall s | per-host share s | controller CPU s | machine CPU s |")
    print("|---|---|---|---|---|---|---|")
    for count in [1] + args.counts:
        for round_number in range(1, args.rounds + 1):
            for label, collections, floor in sides:
                root = tempfile.mkdtemp(prefix="pynet-fleet-rollout-")
                try:
                    wall, controller, machine = measure(count, root, collections, floor)
                finally:
                    shutil.rmtree(root, ignore_errors=True)
                print("| %d | %s | %d | %.1f | %.2f | %.1f | %.1f |"
                      % (count, label, round_number, wall, wall / count, controller, machine), flush=True)
    if args.base:
        shutil.rmtree(source, ignore_errors=True)


if __name__ == "__main__":
    main()
