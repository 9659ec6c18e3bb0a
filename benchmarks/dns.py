"""The two DNS servers pynet could run, side by side on the same data: dnsmasq 2.90 as pynet runs it
(plugins/module_utils/dns: one process per network) and aardvark-dns 1.4.0 as netavark runs it (one
process, a config file per network), both from Debian.

    python benchmarks/dns.py        (as root; benchmarks/run.sh runs it)

In private network and mount namespaces: 4 networks (a bridge each, IPv4 and IPv6 gateways), 1,000
names (250 a network, each with an IPv4 and an IPv6 address), a client sandbox on each network whose
address is one of those names (aardvark-dns answers by the asker's address). For each server in turn:

- latency: one query at a time for 2 s (p50, p99, queries/s), from pynet's Python client;
- throughput: 32 queries in flight for 3 s, then dnsperf (Debian's dnsperf 2.10) for 5 s;
- reload: a name added, the configuration written and the server told (SIGHUP), until the new name
  resolves (20 times); meanwhile a second client queries without pause: failed queries are counted;
- memory per network (RSS and PSS of the processes, divided by the networks);
- what it answers: AAAA, PTR, TCP, a name held by two records, a name of another network at this
  network's gateway and at that network's own gateway, forwarding to a stand-in upstream resolver
  (an upstream per network, and none at all for an internal network).

The host's /etc/resolv.conf is replaced, in the private mount namespace only, by one that names the
stand-in resolver (aardvark-dns forwards to the resolvers it lists).
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

import common

sys.path.insert(0, os.path.join(common.REPO, "tests", "lib"))
sys.path.insert(0, common.collection_path())
import bridged  # noqa: E402
import dnswire  # noqa: E402
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import config, server as dns_server  # noqa: E402
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns  # noqa: E402

NETWORKS = 4
NAMES = 1000
AARDVARK = "/usr/lib/podman/aardvark-dns"
DNSPERF = "/usr/bin/dnsperf"
UPSTREAM = "10.89.250.2"  # the stand-in resolver, in a namespace of its own
RELOADS = 20
OUTPUT = os.path.join(common.REPO, "benchmarks", "output", "dns.json")


def gateway(index, version=4):
    return "10.89.%d.1" % index if version == 4 else "fd00:89:%d::1" % index


def record_address(index, number, version=4):
    return "10.89.%d.%d" % (index, number + 2) if version == 4 else "fd00:89:%d::%x" % (index, number + 2)


class Topology:
    """Bridges, client sandboxes and the upstream namespace (tests/lib/bridged.py: iproute2)."""

    def __init__(self, where):
        self.clients = []
        for index in range(NETWORKS):
            bridged.add_bridge("pnb%d" % index, gateway(index) + "/24", gateway(index, 6) + "/64")
            key = os.path.join(where, "client%d" % index)
            bridged.add_sandbox(key, "pnc%d" % index, "pnb%d" % index,
                                [record_address(index, 0) + "/24", record_address(index, 0, 6) + "/64"], gateway(index))
            self.clients.append(key)
        self.upstream = os.path.join(where, "upstream")
        bridged.add_sandbox(self.upstream, "pnu0", None, [UPSTREAM + "/24"])
        bridged.ip("addr", "add", "10.89.250.1/24", "dev", "pnu0")

    def destroy(self):
        for key in self.clients + [self.upstream]:
            netns.destroy(key)
        for index in range(NETWORKS):
            bridged.ip("link", "del", "pnb%d" % index)


def records_of(index, extra=()):
    """(name, alias, v4, v6) of network `index`: 250 names, plus `extra`."""
    rows = [("n%d-%d" % (index, number), "a%d-%d" % (index, number), record_address(index, number),
             record_address(index, number, 6)) for number in range(NAMES // NETWORKS)]
    # A name held twice: the alias "shared" on the first two records.
    rows[1] = rows[1][:1] + ("shared",) + rows[1][2:]
    rows[2] = rows[2][:1] + ("shared",) + rows[2][2:]
    return rows + list(extra)


# --- the two servers, as each is run ---------------------------------------------------------------


class Dnsmasq:
    label = "dnsmasq 2.90 (pynet)"

    def __init__(self, where):
        self.directory = os.path.join(where, "dnsmasq")

    def networks(self, extra):
        return [config.DnsNetwork(id="%02x" % index, name="net%d" % index, gateways=(gateway(index), gateway(index, 6)),
                                  internal=index == NETWORKS - 1, upstream=(UPSTREAM,),
                                  records=tuple(config.Record(name, (alias,), (v4,), (v6,)) for name, alias, v4, v6
                                                in records_of(index, extra.get(index, ()))))
                for index in range(NETWORKS)]

    def start(self):
        dns_server.converge(self.directory, self.networks({}))

    def change(self, extra):
        """Write the configuration with `extra` names and tell the server (what pynet does per batch)."""
        dns_server.converge(self.directory, self.networks(extra))

    def pids(self):
        return [int(open(os.path.join(self.directory, name)).read()) for name in sorted(os.listdir(self.directory))
                if name.endswith(".pid")]

    def stop(self):
        dns_server.converge(self.directory, [])


class Aardvark:
    label = "aardvark-dns 1.4.0"

    def __init__(self, where):
        self.directory = os.path.join(where, "aardvark")
        os.makedirs(self.directory)

    def write(self, extra):
        # As netavark 1.4 writes it: the gateways (and the network's DNS servers), then a line per
        # container: id, IPv4s, IPv6s, names. Internal networks cannot be told apart in 1.4.0.
        for index in range(NETWORKS):
            upstream = "" if index == NETWORKS - 1 else " " + UPSTREAM  # the internal one: none given
            lines = ["%s,%s%s" % (gateway(index), gateway(index, 6), upstream)]
            lines += ["%064x %s %s %s,%s" % (index * 100000 + number, v4, v6, name, alias)
                      for number, (name, alias, v4, v6) in enumerate(records_of(index, extra.get(index, ())))]
            path = os.path.join(self.directory, "net%d" % index)
            with open(path + ".tmp", "w") as handle:
                handle.write("\n".join(lines) + "\n")
            os.rename(path + ".tmp", path)

    def start(self):
        self.write({})
        subprocess.run([AARDVARK, "--config", self.directory, "-p", "53", "run"], check=True,
                       capture_output=True)
        # Its first process returns before the servers bind: wait until every gateway answers.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if all(dnswire.ask(gateway(index), "n%d-0" % index, timeout=0.05) for index in range(NETWORKS)):
                return
        raise RuntimeError("aardvark-dns does not answer")

    def change(self, extra):
        self.write(extra)
        os.kill(self.pids()[0], signal.SIGHUP)

    def pids(self):
        return [int(open(os.path.join(self.directory, "aardvark.pid")).read())]

    def stop(self):
        for pid in self.pids():
            os.kill(pid, signal.SIGTERM)


class DnsmasqOneProcess:
    """dnsmasq with every network's names in one process (for the isolation figure only)."""

    label = "dnsmasq, one process"

    def __init__(self, where):
        self.directory = os.path.join(where, "dnsmasq-one")
        os.makedirs(self.directory)

    def start(self):
        hosts = os.path.join(self.directory, "hosts")
        with open(hosts, "w") as handle:
            for index in range(NETWORKS):
                handle.writelines("%s %s %s\n%s %s %s\n" % (v4, name, alias, v6, name, alias)
                                  for name, alias, v4, v6 in records_of(index))
        conf = os.path.join(self.directory, "conf")
        with open(conf, "w") as handle:
            handle.write("port=53\nbind-dynamic\nno-hosts\nuser=root\nno-resolv\nlocal=/#/\naddn-hosts=%s\n"
                         "pid-file=%s/pid\n" % (hosts, self.directory)
                         + "".join("listen-address=%s\n" % gateway(index) for index in range(NETWORKS)))
        subprocess.run(["/usr/sbin/dnsmasq", "--conf-file=" + conf], check=True)

    def pids(self):
        return [int(open(os.path.join(self.directory, "pid")).read())]

    def stop(self):
        os.kill(self.pids()[0], signal.SIGTERM)


# --- measurements ----------------------------------------------------------------------------------


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def load(client, server, names, window, seconds):
    """Queries for `names` (A) with `window` in flight for `seconds` from the client sandbox: (answered
    per second, latencies in microseconds, failures)."""
    with netns.entered(client):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((server, 53))
    sock.setblocking(False)
    queries = [dnswire.query(name, "A", ident=0) for name in names]
    in_flight, latencies, failures, ident = {}, [], 0, 0
    start = time.perf_counter()
    end = start + seconds
    with sock:
        while True:
            now = time.perf_counter()
            if now >= end and not in_flight:
                break
            while now < end and len(in_flight) < window:
                ident = (ident + 1) & 0xFFFF
                message = queries[ident % len(queries)]
                try:
                    sock.send(struct.pack("!H", ident) + message[2:])
                except BlockingIOError:
                    break
                except ConnectionRefusedError:  # an ICMP port unreachable of an earlier query
                    failures += 1
                    continue
                in_flight[ident] = now
            if not select.select([sock], [], [], 0.2)[0]:
                stale = [key for key, sent in in_flight.items() if time.perf_counter() - sent > 1.0]
                failures += len(stale)
                for key in stale:
                    del in_flight[key]
                continue
            while True:
                try:
                    reply = sock.recv(4096)
                except BlockingIOError:
                    break
                except ConnectionRefusedError:  # ICMP port unreachable: nothing listening
                    failures += 1
                    continue
                sent = in_flight.pop(struct.unpack_from("!H", reply)[0], None)
                if sent is None:
                    continue
                if reply[3] & 0xF == 0 and struct.unpack_from("!H", reply, 6)[0] > 0:
                    latencies.append(1e6 * (time.perf_counter() - sent))
                else:
                    failures += 1
    return len(latencies) / (time.perf_counter() - start), latencies, failures


def dnsperf(client, server, names, workdir):
    """(queries per second, average latency in microseconds) of dnsperf for 5 s, 4 clients."""
    data = os.path.join(workdir, "dnsperf.txt")
    with open(data, "w") as handle:
        handle.writelines("%s A\n" % name for name in names)
    done = subprocess.run(["nsenter", "--net=" + client, DNSPERF, "-s", server, "-d", data, "-l", "5", "-c", "4",
                           "-q", "64"], capture_output=True, text=True, check=True)
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", done.stdout).group(1))
    latency = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", done.stdout).group(1))
    lost = re.search(r"Queries lost:\s+(\d+)", done.stdout).group(1)
    return qps, 1e6 * latency, int(lost)


def memory(pids):
    """(RSS, PSS) in KiB summed over the processes."""
    rss = pss = 0
    for pid in pids:
        with open("/proc/%d/smaps_rollup" % pid) as handle:
            fields = dict(re.findall(r"^(\w+):\s+(\d+) kB$", handle.read(), re.MULTILINE))
        rss += int(fields["Rss"])
        pss += int(fields["Pss"])
    return rss, pss


def reloads(server, client):
    """Milliseconds from each change (files written, server told) to the new name resolving, the same
    from the server told, and the failed and sent queries of a client that queried without pause meanwhile."""
    stop = threading.Event()
    counts = {"sent": 0, "failed": 0}

    def query_without_pause():
        with netns.entered(client):
            while not stop.is_set():
                answer = dnswire.ask(gateway(0), "n0-%d" % random.randrange(NAMES // NETWORKS), timeout=0.5)
                counts["sent"] += 1
                counts["failed"] += answer is None or not answer.values("A")

    querier = threading.Thread(target=query_without_pause)
    querier.start()
    times, server_times = [], []
    try:
        for number in range(RELOADS):
            name = "new%d" % number
            address = record_address(0, 240 + number % 10)
            start = time.perf_counter()
            server.change({0: [(name, name + "-alias", address, record_address(0, 240, 6))]})
            told = time.perf_counter()
            with netns.entered(client):
                while True:
                    answer = dnswire.ask(gateway(0), name, timeout=0.05)
                    if answer is not None and answer.values("A") == [address]:
                        break
            times.append(1000 * (time.perf_counter() - start))
            server_times.append(1000 * (time.perf_counter() - told))
            time.sleep(0.05)
    finally:
        stop.set()
        querier.join()
    return times, server_times, counts


def behaviour(topology, stand_in):
    """What the server answers, as short strings."""
    client = topology.clients[0]
    with netns.entered(client):
        aaaa = dnswire.ask(gateway(0), "n0-5", "AAAA")
        ptr4 = dnswire.ask(gateway(0), record_address(0, 5), "PTR")
        ptr6 = dnswire.ask(gateway(0), record_address(0, 5, 6), "PTR")
        tcp = dnswire.ask(gateway(0), "n0-5", tcp=True)
        shared = dnswire.ask(gateway(0), "shared")
        other_here = [dnswire.ask(gateway(0), "n1-%d" % number) for number in range(20)]
        other_there = [dnswire.ask(gateway(1), "n1-%d" % number) for number in range(20)]
        stand_in.asked.clear()
        forwarded = dnswire.ask(gateway(0), "www.example.org")
    with netns.entered(topology.clients[NETWORKS - 1]):
        internal_before = len(stand_in.asked)
        internal = dnswire.ask(gateway(NETWORKS - 1), "www.example.net", timeout=2.0)
        own = dnswire.ask(gateway(NETWORKS - 1), "n%d-3" % (NETWORKS - 1))

    def shown(answer, rtype):
        return "no answer" if answer is None else (",".join(answer.values(rtype)) or answer.rcode)

    return {
        "AAAA": shown(aaaa, "AAAA"),
        "PTR (IPv4, IPv6)": "%s, %s" % (shown(ptr4, "PTR"), shown(ptr6, "PTR")),
        "TCP": shown(tcp, "A"),
        "name held twice": shown(shared, "A"),
        "other network's names answered at this gateway (of 20)":
            sum(1 for answer in other_here if answer is not None and answer.values("A")),
        "other network's names answered at its gateway, asked from here (of 20)":
            sum(1 for answer in other_there if answer is not None and answer.values("A")),
        "forwarded to the network's upstream": shown(forwarded, "A") + (" (upstream asked)" if stand_in.asked else ""),
        "internal network: own name, other name": "%s, %s" % (shown(own, "A"), shown(internal, "A")),
        "internal network: queries that reached upstream": len(stand_in.asked) - internal_before,
    }


def measure(topology, server, workdir, stand_in, full=True):
    common.say("%s: starting" % server.label)
    started = time.perf_counter()
    server.start()
    row = {"start (ms)": round(1000 * (time.perf_counter() - started), 1)}
    try:
        if not full:
            row.update(behaviour(topology, stand_in))
            return row
        names = ["n0-%d" % number for number in range(NAMES // NETWORKS)]
        random.Random(1).shuffle(names)
        common.say("%s: latency, throughput" % server.label)
        qps, latencies, failures = load(topology.clients[0], gateway(0), names, 1, 2.0)
        row.update({"1 in flight: queries/s": round(qps), "1 in flight: p50 (us)": round(percentile(latencies, 0.5)),
                    "1 in flight: p99 (us)": round(percentile(latencies, 0.99)), "1 in flight: failed": failures})
        qps, latencies, failures = load(topology.clients[0], gateway(0), names, 32, 3.0)
        row.update({"32 in flight: queries/s": round(qps), "32 in flight: p50 (us)": round(percentile(latencies, 0.5)),
                    "32 in flight: p99 (us)": round(percentile(latencies, 0.99)), "32 in flight: failed": failures})
        qps, average, lost = dnsperf(topology.clients[0], gateway(0), names, workdir)
        row.update({"dnsperf: queries/s": round(qps), "dnsperf: average latency (us)": round(average),
                    "dnsperf: lost": lost})
        rss, pss = memory(server.pids())
        row.update({"processes": len(server.pids()), "RSS per network (KiB)": rss // NETWORKS,
                    "PSS per network (KiB)": pss // NETWORKS})
        common.say("%s: reloads" % server.label)
        times, server_times, counts = reloads(server, topology.clients[0])
        row.update({"change to resolving: p50 (ms)": round(statistics.median(times), 2),
                    "change to resolving: max (ms)": round(max(times), 2),
                    "of which SIGHUP to resolving: p50 (ms)": round(statistics.median(server_times), 2),
                    "queries failed during %d reloads" % RELOADS: "%d of %d" % (counts["failed"], counts["sent"])})
        row.update(behaviour(topology, stand_in))
        return row
    finally:
        server.stop()


def main():
    for binary, package in ((AARDVARK, "aardvark-dns"), (DNSPERF, "dnsperf"), ("/usr/sbin/dnsmasq", "dnsmasq-base")):
        if not os.access(binary, os.X_OK):
            sys.exit("%s is missing: apt-get install %s (benchmarks/run.sh does)" % (binary, package))
    common.isolate()
    workdir = tempfile.mkdtemp(prefix="pynet-bench-dns-")
    os.chmod(workdir, 0o711)  # pynet's dnsmasq rereads its hosts file below it as the user dnsmasq
    # aardvark-dns forwards to the resolvers of /etc/resolv.conf: the stand-in's, in this mount namespace only.
    resolv = os.path.join(workdir, "resolv.conf")
    with open(resolv, "w") as handle:
        handle.write("nameserver %s\n" % UPSTREAM)
    subprocess.run(["mount", "--bind", resolv, "/etc/resolv.conf"], check=True)
    topology = Topology(workdir)
    with netns.entered(topology.upstream):
        stand_in = dnswire.StandInResolver(UPSTREAM)
    rows = {}
    try:
        for server_kind in (Dnsmasq(workdir), Aardvark(workdir)):
            rows[server_kind.label] = measure(topology, server_kind, workdir, stand_in)
        one = DnsmasqOneProcess(workdir)
        rows[one.label] = measure(topology, one, workdir, stand_in, full=False)
    finally:
        stand_in.close()
        topology.destroy()
        subprocess.run(["umount", "/etc/resolv.conf"], check=True)
        shutil.rmtree(workdir)
    labels = list(rows)
    figures = list(dict.fromkeys(figure for row in rows.values() for figure in row))
    print("\n%d networks, %d names (each with an alias, IPv4 and IPv6), queried from a sandbox on a network"
          % (NETWORKS, NAMES))
    width = max(len(figure) for figure in figures)
    print("%-*s | %s" % (width, "", " | ".join("%-24s" % label for label in labels)))
    for figure in figures:
        print("%-*s | %s" % (width, figure, " | ".join("%-24s" % rows[label].get(figure, "") for label in labels)))
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    with open(OUTPUT, "w") as handle:
        json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    main()
