"""A published range of N ports in pynet's nftables table: the renderer at a base revision (one rule per
port and chain) and in this checkout (one rule per range and chain), side by side in one run.

    python benchmarks/firewall_ranges.py [--base REV] [--rounds R] [N]
        (as root; default: the branch point a6f7f4e, 3 rounds, N=10000)

In private namespaces: one network, one endpoint (IPv4 and IPv6) publishing host ports 20000.. on
container ports 30000.. (a shifted range, the harder case: a map of N ports). Each round renders
the rules with each renderer and applies them whole (nft -j -f -, pynet's own apply), alternating
base and checkout; prints the DNAT rules, the JSON document's size, render and apply times, their
medians, and the checkout over the base.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import types

import common

sys.path.insert(0, common.collection_path())

from ansible_collections.pynet.libnetwork.plugins.module_utils import firewall  # noqa: E402
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import nftables  # noqa: E402

TABLE = "pynet_bench"
FILE = "plugins/module_utils/firewall.py"


def base_renderer(revision):
    """firewall.py as it was at `revision`, as a module (it imports the checkout's lower layers)."""
    source = subprocess.run(["git", "-C", common.REPO, "show", "%s:%s" % (revision, FILE)], check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("firewall_at_" + revision)
    exec(compile(source, "%s:%s" % (revision, FILE), "exec"), module.__dict__)  # pylint: disable=exec-used
    return module


def inputs(renderer, count):
    interface = renderer.Interface("pn-bench", ["10.91.0.0/24", "fd00:91::/64"], False, True, True)
    dnats = [renderer.Dnat("pn-bench", "tcp", "", 20000 + offset, address, 30000 + offset)
             for offset in range(count) for address in ("10.91.0.2", "fd00:91::2")]
    dnats.sort(key=lambda dnat: (dnat.protocol, dnat.host_ip, dnat.host_port))  # as the orchestrator does
    return [interface], dnats


def measure(renderer, count):
    interfaces, dnats = inputs(renderer, count)
    start = time.perf_counter()
    rules = renderer.render_rules(interfaces, dnats)
    commands = renderer.ruleset_commands(TABLE, rules)
    rendered = time.perf_counter()
    nftables.apply(commands)
    applied = time.perf_counter()
    nftables.apply(renderer.ruleset_commands(TABLE, []))
    return {"dnat_rules": sum(1 for _family, chain, _expr in rules if chain in ("prerouting", "output")),
            "json_kb": len(json.dumps(commands)) / 1024, "render_ms": (rendered - start) * 1000,
            "apply_ms": (applied - rendered) * 1000}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--base", default="a6f7f4e")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("count", nargs="?", type=int, default=10000)
    args = parser.parse_args()
    common.isolate()
    renderers = {"base " + args.base: base_renderer(args.base), "checkout": firewall}
    runs = {name: [] for name in renderers}
    for _round in range(args.rounds):
        for name, renderer in renderers.items():
            runs[name].append(measure(renderer, args.count))
    print("%d published ports (IPv4 and IPv6), %d rounds, alternating" % (args.count, args.rounds))
    print("%-16s %10s %9s %22s %24s" % ("renderer", "DNAT rules", "JSON KiB", "render ms (runs)", "apply ms (runs)"))
    medians = {}
    for name, measured in runs.items():
        medians[name] = {key: statistics.median(run[key] for run in measured) for key in ("render_ms", "apply_ms")}
        print("%-16s %10d %9.0f %22s %24s" % (
            name, measured[0]["dnat_rules"], measured[0]["json_kb"],
            "/".join("%.0f" % run["render_ms"] for run in measured),
            "/".join("%.0f" % run["apply_ms"] for run in measured)))
    base, checkout = (medians[name] for name in renderers)
    print("medians: render %.0f -> %.0f ms, apply %.0f -> %.0f ms (checkout/base %.3f)" % (
        base["render_ms"], checkout["render_ms"], base["apply_ms"], checkout["apply_ms"],
        checkout["apply_ms"] / base["apply_ms"]))


if __name__ == "__main__":
    main()
