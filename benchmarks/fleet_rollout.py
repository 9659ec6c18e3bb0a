"""Roll-out of one overlay network plus 10 endpoints per host with the role fleet_network, on the
simulated fleet (tests/fleet/rig.py), over N hosts and over one host, side by side in one run.

    python benchmarks/fleet_rollout.py [N ...]      (as root; default 20)

For each count (one host first, then each N): a fresh underlay, etcd and fleet; one
`ansible-playbook` (forks = max(10, hosts), no serial: the whole fleet is one batch) that runs the
role (pre-flight, driver, network, canary endpoint and its TCP health check) and then, on every
host, 10 sandboxes and 10 endpoints on the network (each in one task, the modules' list forms).
Printed: the play's wall time, and its per-host share (wall time / hosts). The roll-out is
checked: the play succeeds and etcd holds 11 endpoints (10 and the canary) of the network per host.
Set-up and teardown of the rig are not timed (benchmarks/fleet_rig.py times them).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fleet"))

import rig  # noqa: E402

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


def measure(count, root):
    underlay = rig.Underlay(root)
    cluster = fleet = None
    try:
        cluster = rig.EtcdCluster(underlay, root).start()
        fleet = rig.Fleet(underlay, root, count, forks=max(10, count)).start()
        playbook = os.path.join(root, "rollout.yml")
        with open(playbook, "w") as handle:
            handle.write(PLAY)
        keys = ["/run/pynet/netns/pnb%d" % index for index in range(ENDPOINTS_PER_HOST)]
        variables = os.path.join(root, "rollout-vars.json")
        with open(variables, "w") as handle:
            json.dump({"cluster_store": cluster.cluster_store, "bench_sandboxes": [{"key": key} for key in keys],
                       "bench_endpoints": [{"name": "e%d" % index, "sandbox": key} for index, key in enumerate(keys)]},
                      handle)
        started = time.perf_counter()
        run = fleet.ansible("ansible-playbook", "-e", "@" + variables, playbook)
        wall = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(run.stdout[-4000:] + run.stderr[-2000:])
        listing = cluster.etcdctl("get", "--prefix", "--keys-only", "/pynet/v1/endpoints/")
        recorded = [line for line in listing.splitlines() if line]
        expected = count * (ENDPOINTS_PER_HOST + 1)
        if len(recorded) != expected:
            raise SystemExit("%d hosts: etcd holds %d endpoints, not %d" % (count, len(recorded), expected))
        return wall
    finally:
        if fleet is not None:
            fleet.close()
        if cluster is not None:
            cluster.close()
        underlay.close()


def main():
    counts = [1] + ([int(arg) for arg in sys.argv[1:]] or [20])
    print("| hosts | roll-out wall s | per-host share s |")
    print("|---|---|---|")
    for count in counts:
        root = tempfile.mkdtemp(prefix="pynet-fleet-rollout-")
        try:
            wall = measure(count, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print("| %d | %.1f | %.2f |" % (count, wall, wall / count), flush=True)


if __name__ == "__main__":
    main()
