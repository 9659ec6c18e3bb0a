"""One of the concurrent processes of test_concurrency: creates and deletes endpoints, round
after round, in its own sandboxes on shared networks, either through the library or through
module runs, and writes what it held and when (CLOCK_MONOTONIC is the same for every process).

    python concurrency_worker.py JOB.json RESULT.json
"""

import json
import sys
import time

import pynet_testing
from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller


class Log:
    def __init__(self):
        self.held = []  # name, network, address, created (returned), deleting (called)
        self.failures = []
        self.exhausted = 0

    def created(self, network, name, address):
        self.held.append({"name": name, "network": network, "address": address, "created": time.monotonic(),
                          "deleting": None})

    def deleting(self, names):
        now = time.monotonic()
        for entry in self.held:
            if entry["name"] in names and entry["deleting"] is None:
                entry["deleting"] = now

    def failed(self, message, exhausted):
        if exhausted:
            self.exhausted += 1
        else:
            self.failures.append(message)


def library_round(job, log, number, keep):
    controller = Controller(state_dir=job["state_dir"])
    try:
        network = controller.network_by_name(job["network"])
        specs = [("%s-r%d-%d" % (job["worker"], number, index), key, None) for index, key in enumerate(job["sandboxes"])]
        if number % 2:  # one call per endpoint on odd rounds, the batch API on even ones
            made = []
            for spec in specs:
                try:
                    made.append(network.create_endpoint(*spec))
                except errors.PynetError as exc:
                    made.append(exc)
        else:
            made = network.create_endpoints(specs)
        for (name, unused_key, unused_options), endpoint in zip(specs, made):
            if isinstance(endpoint, Exception):
                log.failed("%s: %s" % (name, endpoint), isinstance(endpoint, errors.NoAvailableIPsError))
            else:
                log.created(job["network"], name, endpoint.sandbox_info()["interfaces"][0]["address"])
        if keep:
            return
        alive = [endpoint for endpoint in made if not isinstance(endpoint, Exception)]
        log.deleting({endpoint.name for endpoint in alive})
        if number % 2:
            for endpoint in alive:
                endpoint.delete()
        else:
            network.delete_endpoints(alive)
    finally:
        controller.close()


def module_round(job, log, number, keep):
    items = [{"name": "%s-r%d-%d" % (job["worker"], number, index), "sandbox": key}
             for index, key in enumerate(job["sandboxes"])]
    args = {"state_dir": job["state_dir"], "network": job["network"], "endpoints": items}
    result = pynet_testing.run_module("pynet_endpoint", args)
    if result.get("failed"):
        log.failed("create: %s" % result.get("msg"), "no available" in result.get("msg", ""))
        return
    for entry in result["endpoints"]:
        log.created(job["network"], entry["name"], entry["sandbox_info"]["interfaces"][0]["address"])
    if keep:
        return
    log.deleting({item["name"] for item in items})
    result = pynet_testing.run_module("pynet_endpoint", dict(args, endpoints=[dict(item, state="absent")
                                                                              for item in items]))
    if result.get("failed"):
        log.failed("delete: %s" % result.get("msg"), False)


def main(job_path, result_path):
    with open(job_path) as handle:
        job = json.load(handle)
    log = Log()
    run_round = library_round if job["mode"] == "library" else module_round
    for number in range(job["rounds"]):
        try:
            run_round(job, log, number, keep=number == job["rounds"] - 1 and job["keep_last"])
        except Exception as exc:  # pylint: disable=broad-exception-caught  # a failure is the finding
            log.failed("round %d: %r" % (number, exc), isinstance(exc, errors.NoAvailableIPsError))
    with open(result_path, "w") as handle:
        json.dump({"held": log.held, "failures": log.failures, "exhausted": log.exhausted}, handle)


if __name__ == "__main__":
    main(*sys.argv[1:])
