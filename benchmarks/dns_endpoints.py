"""What names cost endpoints: pynet's library with DNS on and off, side by side in one run.

In private network and mount namespaces (/run a tmpfs of its own: the DNS servers' files and the
sandboxes live there), a network with DNS (dns_enabled) and one without, a client sandbox on the first:

- per endpoint, one by one: the time create_endpoint takes with DNS on and off (alternating), and the
  time from create_endpoint returning until the client resolves the new name at the gateway (polled);
  the same after delete() until the name is gone;
- a batch of N endpoints (create_endpoints, one reload of the server for the batch) with DNS on and off,
  alternating, and their ratio;
- the whole sync: Orchestrator.sync_dns() with N names when nothing changed, and when one name changed
  (render every name, remove the one hosts file that went: dnsmasq watches its hostsdir), and the time
  until dnsmasq answers after it returns. An endpoint made or removed does not run it (its own file is
  written or removed: dns/server.update); a repair, or a server to start or restart, does.

Usage: dns_endpoints.py [N ...] (default 200 1000)."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import common

sys.path.insert(0, os.path.join(common.REPO, "tests", "lib"))
sys.path.insert(0, common.collection_path())

import dnswire  # noqa: E402

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller  # noqa: E402
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns  # noqa: E402

KEYS = "/run/pnbench-netns"  # in the private /run; not /run/netns, whose sandboxes get /etc/netns files
OUTPUT = os.path.join(common.REPO, "benchmarks", "output", "dns_endpoints.json")
TIMEOUT = 2.0


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def ms(values):
    figures = (1000 * statistics.median(values), 1000 * percentile(values, 0.99), 1000 * max(values))
    return "median %.2f ms, p99 %.2f ms, max %.2f ms" % figures


def until(check):
    start = time.perf_counter()
    while time.perf_counter() - start < TIMEOUT:
        if check():
            return time.perf_counter() - start
    raise RuntimeError("not answered within %.1f s" % TIMEOUT)


def private_run():
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.mount(b"pynet-bench-run", b"/run", b"tmpfs", 0, b"mode=0755") != 0:
        raise OSError(ctypes.get_errno(), "tmpfs on /run")
    os.makedirs(KEYS)


class Bench:
    def __init__(self, count):
        self.count = count
        self.state_dir = tempfile.mkdtemp(prefix="pynet-bench-dns-state-")
        self.controller = Controller(state_dir=self.state_dir)
        driver = self.controller.new_network_driver("bridge", {})
        self.on = self.controller.new_network(driver, "on", {"ipam": [{"subnet": "10.92.0.0/16"}]})
        self.off = self.controller.new_network(driver, "off", {"ipam": [{"subnet": "10.93.0.0/16"}],
                                                               "dns_enabled": False})
        self.gateway = self.on.record().gateways()[4]
        self.client = self.sandbox("client")
        self.on.create_endpoint("client", self.client, {})
        self.keys = {net: [self.sandbox("%s%d" % (net, number)) for number in range(count)] for net in ("on", "off")}

    def sandbox(self, name):
        key = os.path.join(KEYS, name)
        self.controller.new_sandbox(key)
        return key

    def ask(self, name):
        with netns.entered(self.client):
            return dnswire.ask(self.gateway, name, timeout=0.2)

    def resolves(self, name, address):
        answer = self.ask(name)
        return answer is not None and answer.values("A") == [address]

    def gone(self, name):
        answer = self.ask(name)
        return answer is not None and answer.rcode == "NXDOMAIN"

    def one_by_one(self):
        create = {"on": [], "off": []}
        to_resolve, to_vanish, deleted = [], [], []
        for number in range(self.count):
            for net, network in (("on", self.on), ("off", self.off)):
                name = "%s%d" % (net, number)
                start = time.perf_counter()
                endpoint = network.create_endpoint(name, self.keys[net][number], {})
                create[net].append(time.perf_counter() - start)
                if net == "on":
                    address = endpoint.sandbox_info()["interfaces"][0]["address"].split("/")[0]
                    to_resolve.append(until(lambda: self.resolves(name, address)))
        for endpoint in [ep for ep in self.on.endpoints() if ep.name != "client"][:self.count // 10]:
            start = time.perf_counter()
            endpoint.delete()
            deleted.append(time.perf_counter() - start)
            to_vanish.append(until(lambda: self.gone(endpoint.name)))
        return create, to_resolve, to_vanish, deleted

    def clear(self):
        for network in (self.on, self.off):
            network.delete_endpoints([ep for ep in network.endpoints() if ep.name != "client"])

    def batches(self, rounds=3):
        times = {"on": [], "off": []}
        for _round in range(rounds):
            for net, network in (("on", self.on), ("off", self.off)):
                specs = [("%s%d" % (net, number), self.keys[net][number], {}) for number in range(self.count)]
                start = time.perf_counter()
                made = network.create_endpoints(specs)
                times[net].append(time.perf_counter() - start)
                assert not [item for item in made if isinstance(item, Exception)], made
                if net == "on":
                    last = made[-1].sandbox_info()["interfaces"][0]["address"].split("/")[0]
            until(lambda: self.resolves("on%d" % (self.count - 1), last))
            self.clear()
        return times

    def reload_cost(self, rounds=20):
        network = self.on
        network.create_endpoints([("on%d" % number, self.keys["on"][number], {}) for number in range(self.count)])
        orchestrator = self.controller._orchestrator  # pylint: disable=protected-access  # the benchmark's subject
        unchanged, changed, answered = [], [], []
        for number in range(rounds):
            start = time.perf_counter()
            orchestrator.sync_dns()
            unchanged.append(time.perf_counter() - start)
            endpoint = network.endpoint_by_name("on%d" % number)
            # One name changed: the record is gone from the store as delete_endpoints leaves it, then synced.
            with orchestrator.store.write() as tx:
                tx.set_endpoint_state([endpoint.id], "deleting")
            start = time.perf_counter()
            orchestrator.sync_dns()
            changed.append(time.perf_counter() - start)
            answered.append(until(lambda: self.gone("on%d" % number)))
            with orchestrator.store.write() as tx:
                tx.set_endpoint_state([endpoint.id], "ready")
            orchestrator.sync_dns()
        self.clear()
        return unchanged, changed, answered

    def close(self):
        self.clear()
        for network in (self.on, self.off):
            for endpoint in network.endpoints():
                endpoint.delete()
            network.delete()
        for sandbox in self.controller.sandboxes():
            sandbox.destroy()
        self.controller.close()
        shutil.rmtree(self.state_dir)


def main():
    parser = common.counts_parser(__doc__, "endpoints")
    parser.set_defaults(counts=[200, 1000])
    counts = parser.parse_args().counts
    common.isolate()
    private_run()
    results = {}
    for count in counts:
        print("N=%d" % count, flush=True)
        bench = Bench(count)
        try:
            create, to_resolve, to_vanish, deleted = bench.one_by_one()
            bench.clear()
            batches = bench.batches()
            unchanged, changed, answered = bench.reload_cost()
        finally:
            bench.close()
        ratio = statistics.median(batches["on"]) / statistics.median(batches["off"])
        row = {
            "create_endpoint, DNS on": ms(create["on"]),
            "create_endpoint, DNS off": ms(create["off"]),
            "from create_endpoint returning to the name resolving": ms(to_resolve),
            "delete(), DNS on (first N/10)": ms(deleted),
            "from delete() returning to NXDOMAIN": ms(to_vanish),
            "batch of N, DNS on (s)": ["%.3f" % value for value in batches["on"]],
            "batch of N, DNS off (s)": ["%.3f" % value for value in batches["off"]],
            "batch on/off (medians)": "%.3f" % ratio,
            "sync_dns(), nothing changed": ms(unchanged),
            "sync_dns(), one name gone (render all, remove its file)": ms(changed),
            "then until dnsmasq answers NXDOMAIN": ms(answered),
        }
        results[count] = row
        for key, value in row.items():
            print("  %-52s %s" % (key, value), flush=True)
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    with open(OUTPUT, "w") as handle:
        json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
