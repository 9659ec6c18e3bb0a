"""CNI ADD and DEL per container, exec'd as a runtime execs them, side by side in one run: the
reference chain (bridge with host-local IPAM, then loopback; containernetworking-plugins) and pynet's
plugin, both as issue 15's contract runs it (`python3 -m ...cni`, the collection on PYTHONPATH) and as
the zipapp a host installs (`#!python -IS`). Then where pynet's time goes: interpreter start, the
standard library ADD's path imports (the floor of a Python plugin), the imports of ADD's path (the
costliest named), and the rest (store and kernel: ADD and DEL in the benchmark's own process, their
imports done). Then `podman run --rm IMAGE true` with a pynet network and with podman's own CNI
bridge network (bridge, portmap, firewall, tuning), same run.

    python benchmarks/cni.py [N ...] [--podman-runs R] [--base REV] [--prefill P]
        (as root; benchmarks/run.sh installs what it needs)

With --base, the plugin of git revision REV (python3 -m and zipapp, on a network its own library made
in a state directory of its own) takes its turns too: before and after a change, side by side.

With --prefill, each network already holds P named containers before the timed ones (made untimed: the
chain's by its plugins, pynet's by its library in one batch): what a container costs on a big network
(P + N at most 1023, the ports of a Linux bridge).

Every approach starts from N network namespaces made beforehand (untimed), as a runtime makes them,
and execs, per container, its plugins for ADD (the chain: bridge then loopback; pynet sets lo up
itself), then, once all are added, DEL (the chain in reverse: loopback then bridge). The approaches
take turns slice by slice (ten slices of N/10), so the machine's load falls on all of them alike.
Runs in private mount and network namespaces (tests/lib/podman_rig.isolate_process): nothing on the
host is touched. Figures are wall clock; writes benchmarks/output/cni.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common
from revisions import archive

sys.path.insert(0, os.path.join(common.REPO, "tests", "lib"))
import podman_rig  # noqa: E402

CNI_PATH = common.CNI_PATH
PLUGIN_MODULE = "ansible_collections.pynet.libnetwork.plugins.module_utils.cni"
PLUGIN_PACKAGE = PLUGIN_MODULE + "_plugin"  # its parts: verbs, zipapp
NETWORK = "pnbench"
CHAIN = "CNI bridge+host-local+loopback"
MODULE = "pynet, python3 -m"
ZIPAPP = "pynet, zipapp"
OUTPUT = os.path.join(common.REPO, "benchmarks", "output", "cni.json")


def execute(argv, command, config, container, netns, env=None):
    """One plugin exec as a runtime makes it; raises if the plugin fails."""
    variables = {"CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
                 "CNI_PATH": CNI_PATH, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    variables.update(env or {})
    done = subprocess.run(argv, input=json.dumps(config).encode(), env=variables, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError("%s %s %s: %s %s" % (argv[-1], command, container, done.stdout, done.stderr))


class Chain:
    """The reference plugins, as podman's or containerd's default networks run them."""

    label = CHAIN

    def __init__(self, where):
        ipam = {"type": "host-local", "subnet": "10.94.0.0/16", "dataDir": os.path.join(where, "host-local"),
                "routes": [{"dst": "0.0.0.0/0"}]}
        self.plugins = [([os.path.join(CNI_PATH, "bridge")],
                         {"cniVersion": "1.0.0", "name": "pnchain", "type": "bridge", "bridge": "pnchain0",
                          "isGateway": True, "ipMasq": False, "ipam": ipam}),
                        ([os.path.join(CNI_PATH, "loopback")],
                         {"cniVersion": "1.0.0", "name": "pnchain", "type": "loopback"})]

    def add(self, container, netns):
        for argv, config in self.plugins:
            execute(argv, "ADD", config, container, netns)

    def prefill(self, keys):
        """A container f<index> in a namespace made at each key (all in one directory)."""
        make_netns(os.path.dirname(keys[0]), [os.path.basename(key) for key in keys])
        for index, key in enumerate(keys):
            self.add("f%d" % index, key)

    def empty(self, keys):
        for index, key in enumerate(keys):
            self.delete("f%d" % index, key)
        drop_netns(keys)

    def delete(self, container, netns):
        for argv, config in reversed(self.plugins):
            execute(argv, "DEL", config, container, netns)

    def close(self):
        subprocess.run(["ip", "link", "del", "pnchain0"], check=False)


class Pynet:
    """pynet's plugin, on a network of its own made (untimed) by the library of the collection under
    `collection`, in `state_dir`."""

    def __init__(self, label, argv, env, collection, state_dir, name, subnet):
        self.label = label
        self.argv, self.env = argv, env
        self.collection, self.state_dir, self.name = collection, state_dir, name
        self._library("c.new_network(c.new_network_driver('bridge', {}), %r, {'ipam': [{'subnet': %r}]})"
                      % (name, subnet))
        self.config = {"cniVersion": "1.1.0", "name": name, "type": "pynet", "state_dir": state_dir}

    def _library(self, statement):
        """A statement on Controller `c` of the state directory, by that collection's library."""
        subprocess.run([sys.executable, "-c", "from ansible_collections.pynet.libnetwork.plugins.module_utils."
                        "controller import Controller; c = Controller(%r); %s" % (self.state_dir, statement)],
                       env=dict(os.environ, PYTHONPATH=self.collection), check=True)

    def add(self, container, netns):
        execute(self.argv, "ADD", self.config, container, netns, self.env)

    def prefill(self, keys):
        """An endpoint named f<index> (a DNS name) in a sandbox made at each key, in one batch of the library."""
        self._library("keys = %r; [c.new_sandbox(key) for key in keys]; c.network_by_name(%r).create_endpoints("
                      "[('f%%d' %% index, key, {}) for index, key in enumerate(keys)])" % (keys, self.name))

    def empty(self, keys):
        self._library("keys = %r; n = c.network_by_name(%r); n.delete_endpoints([n.endpoint_by_name('f%%d' %% i) "
                      "for i in range(len(keys))]); [c.sandbox_by_key(key).destroy() for key in keys]" % (keys, self.name))

    def delete(self, container, netns):
        execute(self.argv, "DEL", self.config, container, netns, self.env)

    def close(self):
        self._library("c.network_by_name(%r).delete()" % self.name)


def make_netns(where, names):
    from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
    os.makedirs(where, exist_ok=True)
    keys = [os.path.join(where, name) for name in names]
    for key in keys:
        netns.create(key)
    return keys


def drop_netns(keys):
    from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
    for key in keys:
        netns.destroy(key)


def pynet_approaches(work, sides):
    """The plugin, python3 -m and zipapp, of each side: (label suffix, collection, zipapp)."""
    approaches = []
    for number, (suffix, collection, zipapp) in enumerate(sides):
        state_dir = os.path.join(work, "state" + suffix.replace(" ", "-"))
        approaches += [Pynet(MODULE + suffix, [sys.executable, "-m", PLUGIN_MODULE], {"PYTHONPATH": collection},
                             collection, state_dir, "pnbench%dm" % number, "10.%d.0.0/16" % (95 + 2 * number)),
                       Pynet(ZIPAPP + suffix, [zipapp], {}, collection, state_dir, "pnbench%dz" % number,
                             "10.%d.0.0/16" % (96 + 2 * number))]
    return approaches


def bench_exec(count, work, sides, prefill=0):
    """ADD then DEL of `count` containers for each approach, taking turns slice by slice, on networks that
    hold `prefill` containers already."""
    approaches = [Chain(work)] + pynet_approaches(work, sides)
    keys = {approach.label: make_netns(os.path.join(work, "ns", str(index)), ["c%d" % i for i in range(count)])
            for index, approach in enumerate(approaches)}
    filled = {}
    for index, approach in enumerate(approaches):
        filled[approach.label] = [os.path.join(work, "prefill", str(index), "f%d" % i) for i in range(prefill)]
        if prefill:
            common.say("%s: %d containers before the timed ones" % (approach.label, prefill))
            os.makedirs(os.path.join(work, "prefill", str(index)))
            approach.prefill(filled[approach.label])
    timings = {approach.label: {"ADD": [], "DEL": []} for approach in approaches}
    for verb in ("ADD", "DEL"):
        for number, part in enumerate(common.slices(count)):
            common.say("N=%d %s slice %d/%d" % (count, verb, number + 1, common.SLICES))
            for approach in approaches:
                run = approach.add if verb == "ADD" else approach.delete
                start = time.perf_counter()
                for i in part:
                    run("c%d" % i, keys[approach.label][i])
                timings[approach.label][verb].append((time.perf_counter() - start) / len(part))
    for approach in approaches:
        if prefill:
            approach.empty(filled[approach.label])
        approach.close()
        drop_netns(keys[approach.label])
    return {label: {"add_ms": 1000 * statistics.fmean(times["ADD"]), "del_ms": 1000 * statistics.fmean(times["DEL"]),
                    "add_first10_ms": 1000 * times["ADD"][0], "add_last10_ms": 1000 * times["ADD"][-1]}
            for label, times in timings.items()}


def median_wall(argv, runs=15, env=None, stdin=b""):
    times = []
    for _run in range(runs + 1):  # the first warms the page cache
        start = time.perf_counter()
        subprocess.run(argv, input=stdin, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[1:])


def where_the_time_goes(work, collection, zipapp):
    """pynet's ADD cut into interpreter start, imports and the rest; and the costliest imports."""
    pynet = Pynet(ZIPAPP, [zipapp], {}, collection, os.path.join(work, "state-split"), "pnbenchsplit",
                  "10.94.0.0/16")
    keys = make_netns(os.path.join(work, "ns-split"), ["s%d" % i for i in range(30)])
    imports = import_costs(zipapp, pynet.config, keys[0])
    env = {"PATH": "/usr/bin:/bin", "CNI_COMMAND": "VERSION"}
    verbs_import = ("import sys; sys.path.insert(0, %r); "
                    "import ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin.verbs" % zipapp)
    split = {
        "interpreter start (python -I -c pass)": median_wall([sys.executable, "-I", "-c", "pass"]),
        "interpreter start without site (-I -S)": median_wall([sys.executable, "-I", "-S", "-c", "pass"]),
        # The floor of any Python plugin that reads JSON, talks netlink and keeps a sqlite store.
        "start + the standard library ADD's path imports (-I -S)": median_wall(
            [sys.executable, "-I", "-S", "-c", "import " + ", ".join(imports["standard_library"])]),
        "VERSION, zipapp (start + protocol.py)": median_wall([zipapp], env=env, stdin=b'{"cniVersion":"1.1.0"}'),
        "start + imports of ADD's path, zipapp (-I -S)": median_wall([sys.executable, "-I", "-S", "-c", verbs_import]),
        "start + imports of ADD's path, python3 -m": median_wall(
            [sys.executable, "-c", "import " + PLUGIN_PACKAGE + ".verbs"], env=dict(os.environ, PYTHONPATH=collection)),
    }
    adds, dels = [], []
    for i, key in enumerate(keys[:15]):
        start = time.perf_counter()
        pynet.add("s%d" % i, key)
        adds.append(time.perf_counter() - start)
    for i, key in enumerate(keys[:15]):
        start = time.perf_counter()
        pynet.delete("s%d" % i, key)
        dels.append(time.perf_counter() - start)
    split["ADD, zipapp (a network of 0-15 containers)"] = 1000 * statistics.median(adds)
    split["DEL, zipapp"] = 1000 * statistics.median(dels)
    in_process = verbs_in_process(pynet.config, keys[15:])
    split["ADD in this process (no start, no imports: the rest)"] = in_process["ADD"]
    split["DEL in this process (the kernel's veth deletion included)"] = in_process["DEL"]
    pynet.close()
    drop_netns(keys)
    return split, imports


def verbs_in_process(config, keys):
    """Median ms of ADD, then DEL, of a container per key, through the plugin's main() in this process,
    its imports done: what is left of a call without interpreter start and imports."""
    import io  # pylint: disable=import-outside-toplevel
    from ansible_collections.pynet.libnetwork.plugins.module_utils import cni  # main() put it first on sys.path
    times = {"ADD": [], "DEL": []}
    for command in times:
        for i, key in enumerate(keys):
            environ = {"CNI_COMMAND": command, "CNI_CONTAINERID": "p%d" % i, "CNI_NETNS": key, "CNI_IFNAME": "eth0",
                       "CNI_PATH": CNI_PATH}
            output = io.StringIO()
            start = time.perf_counter()
            status = cni.main(environ, io.BytesIO(json.dumps(config).encode()), output)
            times[command].append(time.perf_counter() - start)
            if status != 0:
                raise RuntimeError("in-process %s: %s" % (command, output.getvalue()))
    return {command: 1000 * statistics.median(values) for command, values in times.items()}


def import_costs(zipapp, config, key):
    """python -X importtime of one ADD, attributed: pynet's own modules (their own time), and each
    module of the standard library or PyPI that a pynet module was the first to import, with all it
    imported in turn (what dropping or deferring that import would save); the rest is the interpreter's."""
    env = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "imports", "CNI_NETNS": key, "CNI_IFNAME": "eth0",
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    with open(zipapp, "rb") as handle:
        interpreter = handle.readline().decode()[2:].split()
    done = subprocess.run(interpreter + ["-X", "importtime", zipapp], input=json.dumps(config).encode(), env=env,
                          capture_output=True, check=True)
    env["CNI_COMMAND"] = "DEL"
    subprocess.run([zipapp], input=json.dumps(config).encode(), env=env, capture_output=True, check=True)
    lines = []
    for line in done.stderr.decode().splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            own, cumulative, name = line[len("import time:"):].split("|")
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            lines.append((int(own) / 1000, int(cumulative) / 1000, name.strip(), depth))
    # importtime prints a module after the modules it imported: a module's importer is the next line
    # one level up.
    pynet, pulled, total = 0.0, {}, sum(own for own, _cumulative, _name, _depth in lines)
    for index, (own, cumulative, name, depth) in enumerate(lines):
        if name.startswith("ansible_collections"):
            pynet += own
            continue
        importer = next((later for later in lines[index + 1:] if later[3] == depth - 1), None)
        if importer is not None and importer[2].startswith("ansible_collections"):
            pulled[name] = pulled.get(name, 0.0) + cumulative
    costliest = dict(sorted(pulled.items(), key=lambda item: -item[1])[:12])
    return {"total_ms": total, "pynet_own_ms": pynet, "pulled_by_pynet_ms": costliest,
            "interpreter_ms": total - pynet - sum(pulled.values()), "standard_library": sorted(pulled)}


def bench_podman(runs, python):
    """`podman run --rm IMAGE true`, a pynet network and podman's own, in turns."""
    from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
    rig = podman_rig.PodmanRig(python)
    try:
        controller = Controller(state_dir=os.path.join(rig.work, "state"))
        controller.new_network(controller.new_network_driver("bridge", {}), NETWORK,
                               {"ipam": [{"subnet": "10.98.0.0/16"}]})
        rig.add_network(NETWORK, [{"type": "pynet", "state_dir": controller.state_dir,
                                   "capabilities": {"portMappings": True}}])
        times = {NETWORK: [], "podman": []}
        for run in range(runs + 1):
            for network in times:
                start = time.perf_counter()
                rig.podman("run", "--rm", "--network", network, podman_rig.IMAGE, "true")
                if run:  # the first of each warms the caches
                    times[network].append(time.perf_counter() - start)
        controller.network_by_name(NETWORK).delete()
        controller.close()
    finally:
        rig.close()
    return {("pynet network" if name == NETWORK else "podman's CNI bridge network"):
            {"median_ms": 1000 * statistics.median(values), "min_ms": 1000 * min(values),
             "max_ms": 1000 * max(values)} for name, values in times.items()}


def report(count, results, prefill):
    reference = results[CHAIN]
    print("\nN=%d containers%s, ms per container (x chain: the share of the chain's time; goal ADD <= 1.0, DEL <= 0.5)"
          % (count, " on networks of %d already" % prefill if prefill else ""))
    row = "%-32s %8s %8s %9s %9s %10s %10s"
    print(row % ("approach", "ADD", "DEL", "x chain", "x chain", "first 10%", "last 10%"))
    print(row % ("", "", "", "ADD", "DEL", "ADD", "ADD"))
    for label, figure in results.items():
        print(row % (label, "%.1f" % figure["add_ms"], "%.1f" % figure["del_ms"],
                     "%.2f" % (figure["add_ms"] / reference["add_ms"]), "%.2f" % (figure["del_ms"] / reference["del_ms"]),
                     "%.1f" % figure["add_first10_ms"], "%.1f" % figure["add_last10_ms"]))


def build_zipapp(collection, target):
    subprocess.run([sys.executable, "-m", PLUGIN_PACKAGE + ".zipapp", target], check=True,
                   env=dict(os.environ, PYTHONPATH=collection))
    return target


def arguments():
    parser = common.counts_parser(__doc__, "containers")
    parser.add_argument("--podman-runs", type=int, default=20, metavar="R",
                        help="podman run --rm with each network, R times in turns (default 20; 0: none)")
    parser.add_argument("--base", metavar="REV", help="also the plugin of this git revision, side by side")
    parser.add_argument("--prefill", type=int, default=0, metavar="P",
                        help="each network holds P named containers before the timed ones (default 0; "
                             "P + N at most 1023)")
    return common.parse_counts(parser)


def main():
    args = arguments()
    podman_rig.isolate_process()
    collection = common.collection_path()
    sys.path.insert(0, collection)
    work = tempfile.mkdtemp(prefix="pynet-bench-cni-")
    zipapp = build_zipapp(collection, os.path.join(work, "pynet"))
    sides = [("", collection, zipapp)]
    if args.base:
        source = os.path.join(work, "base")
        os.makedirs(source)
        base_collection = common.collection_path(source)
        suffix = " @" + archive(args.base, source)
        sides.insert(0, (suffix, base_collection, build_zipapp(base_collection, os.path.join(work, "pynet-base"))))
    figures = {"exec": []}
    for count in args.counts:
        results = bench_exec(count, os.path.join(work, str(count)), sides, args.prefill)
        report(count, results, args.prefill)
        figures["exec"].append({"count": count, "prefill": args.prefill, "approaches": results})
    split, imports = where_the_time_goes(work, collection, zipapp)
    print("\nwhere pynet's time goes, ms (medians of 15):")
    for what, value in split.items():
        print("  %-58s %6.1f" % (what, value))
    print("imports during one ADD (python -X importtime, which adds its own overhead): %.1f ms in all; the "
          "interpreter's own %.1f, pynet's modules %.1f, and what they were first to import (with all it imports):"
          % (imports["total_ms"], imports["interpreter_ms"], imports["pynet_own_ms"]))
    for module, value in imports["pulled_by_pynet_ms"].items():
        print("  %-58s %6.1f" % (module, value))
    figures.update(split_ms=split, imports=imports)
    if args.podman_runs:
        common.say("podman run --rm, %d times with each network" % args.podman_runs)
        figures["podman"] = bench_podman(args.podman_runs, sys.executable)
        print("\npodman run --rm %s true, ms (%d runs each, in turns):" % (podman_rig.IMAGE, args.podman_runs))
        for network, figure in figures["podman"].items():
            print("  %-30s median %6.0f   min %6.0f   max %6.0f"
                  % (network, figure["median_ms"], figure["min_ms"], figure["max_ms"]))
    os.makedirs(os.path.dirname(OUTPUT), exist_ok=True)
    with open(OUTPUT, "w", encoding="utf-8") as out:
        json.dump(figures, out, indent=1)
    print("figures: %s" % OUTPUT)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
