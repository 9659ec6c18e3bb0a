"""The simulated fleet's own cost (tests/fleet/rig.py): set-up and teardown of N hosts, etcd
included, and one ad-hoc Ansible command over them, side by side for each N.

    python benchmarks/fleet_rig.py [N ...]      (as root; default 5 20)

Set-up: the underlay, one etcd member (ready to answer), N hosts each with its namespaces, keys
and sshd (listening). Teardown: every process stopped by pid, every namespace and mount gone
(checked). The ad-hoc command is `ansible fleet -m ansible.builtin.command -a true` with
forks = N: the floor of every play run on the fleet.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fleet"))

import rig  # noqa: E402


def measure(count):
    root = tempfile.mkdtemp(prefix="pynet-fleet-rig-")
    try:
        started = time.perf_counter()
        underlay = rig.Underlay(root)
        cluster = rig.EtcdCluster(underlay, root).start()
        fleet = rig.Fleet(underlay, root, count).start()
        set_up = time.perf_counter() - started
        started = time.perf_counter()
        run = fleet.ansible("ansible", "fleet", "--forks", str(count), "-m", "ansible.builtin.command", "-a", "true")
        ad_hoc = time.perf_counter() - started
        if run.returncode != 0:
            raise SystemExit(run.stdout[-2000:] + run.stderr[-2000:])
        started = time.perf_counter()
        fleet.close()
        cluster.close()
        strays = underlay.close()
        teardown = time.perf_counter() - started
        left = underlay.leftovers()
        if strays or left:
            raise SystemExit("missed by the rig's stops: %s; left behind: %s" % (strays, left))
        return set_up, ad_hoc, teardown
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main():
    counts = [int(arg) for arg in sys.argv[1:]] or [5, 20]
    print("| hosts | set-up s | ad-hoc command over all s | teardown s |")
    print("|---|---|---|---|")
    for count in counts:
        print("| %d | %.2f | %.2f | %.2f |" % ((count,) + measure(count)), flush=True)


if __name__ == "__main__":
    main()
