"""Part 1: concurrency. 32 processes at once - library calls and module runs - create and delete
endpoints on the same networks, round after round; a small network runs out of addresses on
purpose. Afterwards: no address was ever held twice at once, every failure is a clear 'no
available addresses' from the exhausted pool, and the store agrees with the kernel."""

import json
import os
import subprocess
import sys

import consistency
import declared
import pynet_testing

PART = "1 concurrency"
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "concurrency_worker.py")
LIBRARY_WORKERS, MODULE_WORKERS, TINY_WORKERS = 14, 14, 4
SANDBOXES_PER_WORKER, TINY_SANDBOXES, ROUNDS = 16, 10, 5
TINY_ADDRESSES = 29  # a /27 less its network, broadcast and gateway addresses


def jobs(paths):
    def job(worker, mode, network, count):
        return {"worker": worker, "mode": mode, "network": network, "state_dir": paths.state_dir, "rounds": ROUNDS,
                "keep_last": True, "sandboxes": [paths.sandbox_key("%s-%d" % (worker, i)) for i in range(count)]}
    return ([job("lib%d" % n, "library", "shared", SANDBOXES_PER_WORKER) for n in range(LIBRARY_WORKERS)]
            + [job("mod%d" % n, "module", "shared", SANDBOXES_PER_WORKER) for n in range(MODULE_WORKERS)]
            + [job("tiny%d" % n, "library", "tiny", TINY_SANDBOXES) for n in range(TINY_WORKERS)])


def overlapping_holders(held):
    """Pairs of endpoints that held the same address of a network at the same time."""
    by_address = {}
    for entry in held:
        by_address.setdefault((entry["network"], entry["address"]), []).append(entry)
    found = []
    for (network, address), holders in by_address.items():
        holders.sort(key=lambda entry: entry["created"])
        for first, then in zip(holders, holders[1:]):
            if first["deleting"] is None or then["created"] < first["deleting"]:
                found.append("%s %s: %s and %s" % (network, address, first["name"], then["name"]))
    return found


def test_32_processes_create_and_delete_endpoints_on_shared_networks(host, figures, tmp_path):
    state = {"state_dir": host.state_dir}
    all_jobs = jobs(host)
    declared.apply(host.state_dir, [
        ("driver", dict(state, name="bridge")),
        ("network", dict(state, name="shared", ipam=[{"subnet": "10.89.60.0/22"}])),
        ("network", dict(state, name="tiny", ipam=[{"subnet": "10.89.64.0/27"}]))]
        + [("sandbox", dict(state, key=key)) for job in all_jobs for key in job["sandboxes"]])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([pynet_testing.COLLECTIONS] + sys.path))
    workers = []
    for job in all_jobs:
        job_path, result_path = tmp_path / (job["worker"] + ".job"), tmp_path / (job["worker"] + ".result")
        job_path.write_text(json.dumps(job))
        workers.append((result_path, subprocess.Popen([sys.executable, WORKER, str(job_path), str(result_path)],
                                                      env=env)))
    results = []
    for result_path, process in workers:
        process.wait(timeout=1200)
        results.append(json.loads(result_path.read_text()) if result_path.exists() else
                       {"held": [], "failures": ["worker exited %d without a result" % process.returncode],
                        "exhausted": 0})
    held = [entry for result in results for entry in result["held"]]
    failures = [failure for result in results for failure in result["failures"]]
    exhausted = sum(result["exhausted"] for result in results)
    duplicates = overlapping_holders(held)
    rows = consistency.store_rows(host.state_dir)
    networks = {net["id"]: net["name"] for net in rows["networks"]}
    tiny_held = sum(1 for ep in rows["endpoints"] if networks[ep["network_id"]] == "tiny")
    problems = consistency.problems(host)

    figures.record(PART, "processes at once (library + module runs)", len(all_jobs), ">= 32", len(all_jobs) >= 32)
    figures.record(PART, "endpoints created", len(held), ">= 2000", len(held) >= 2000)
    figures.record(PART, "addresses held twice at once", len(duplicates), 0, not duplicates)
    figures.record(PART, "failed operations, other than an exhausted pool", len(failures), 0, not failures)
    genuine = exhausted > 0 and tiny_held == TINY_ADDRESSES
    figures.record(PART, "refused 'no available addresses' (pool then full: %d/%d held)"
                   % (tiny_held, TINY_ADDRESSES), exhausted, "> 0, pool full", genuine)
    figures.record(PART, "store/kernel disagreements afterwards (%d endpoints)" % len(rows["endpoints"]),
                   len(problems), 0, not problems)
    assert len(held) >= 2000
    assert duplicates == []
    assert failures == []
    assert genuine
    assert problems == []
