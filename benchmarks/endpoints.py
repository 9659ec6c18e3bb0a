"""Endpoint create and delete cost, side by side in one run: the `ip -batch` floor, the CNI reference
plugins (bridge + host-local + loopback, an exec per endpoint, as container runtimes call them),
pynet's library (one call per endpoint, and the batch API) and pynet's pynet_endpoint module as
Ansible runs it (one task with the `endpoints` list, and one module run per endpoint with `loop`).

    python benchmarks/endpoints.py [N ...] [--skip APPROACH]... [--plot PNG]
                                   (as root; default N=100 1000; benchmarks/run.sh installs what it needs)

Runs in private mount and network namespaces (/run/netns and the state dirs are private; the
ansible-playbook and module processes inherit them), so nothing on the host is touched. Every
approach starts from N existing sandboxes and a network (for the modules, made beforehand by the
library and by pynet_network, untimed) and makes, per endpoint, a veth pair with the host end on a
bridge and the other end in the sandbox as eth0 with an IPv4 address, up, loopback up, a default route.

The figures are wall clock per endpoint. For the modules they are the whole ansible-playbook run,
start-up included, as a user waits for it. First and last 10% show whether cost grows with N: the
floor, CNI and the library are timed in ten slices of N/10; the loop by the moments its items are
reported (the mean interval between item results); the one-task form runs once, so it has none ("-"),
as splitting it into ten tasks would add nine module start-ups. Deletion is timed as a whole.

For the one-task form, with N endpoints in place, it also times the same task again (it must
report changed=0), and the process time (user + system CPU) of one module run that changes
nothing, started alone with its arguments on stdin: pynet_network, and pynet_endpoint for one endpoint.

Prints a table per N; writes the figures as JSON and a plot of them (PNG) after each N.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import common
import modules

try:
    import plot
except ImportError as missing:  # matplotlib: benchmarks/run.sh installs it
    sys.exit("%s: run benchmarks/run.sh, or pip install -r benchmarks/requirements.txt" % missing)

CNI_PATH = common.CNI_PATH
CNI = "CNI bridge+host-local"


def ip_batch(lines, netns=None):
    command = ["ip"] + (["-n", netns] if netns else []) + ["-batch", "-"]
    subprocess.run(command, input="\n".join(lines) + "\n", text=True, check=True)


def make_netns(names):
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)


def drop_netns(names):
    for name in names:
        subprocess.run(["ip", "netns", "del", name], check=True)


def bench_ip_batch(count):
    """The floor: iproute2's batch mode, one exec per slice on the host and one per sandbox;
    deletion of every veth in one request (by interface group). The bridge is made as pynet makes
    its bridges (a MAC of its own, multicast snooping off)."""
    names = ["pnfloor%d" % i for i in range(count)]
    make_netns(names)
    ip_batch(["link add pnbr0 address 02:00:00:00:00:01 type bridge mcast_snooping 0",
              "addr add 10.90.0.1/16 dev pnbr0", "link set pnbr0 up"])
    timings = []
    for part in common.slices(count):
        start = time.perf_counter()
        host = []
        for i in part:
            host.append("link add pnbh%d group 77 type veth peer name eth0 netns %s" % (i, names[i]))
            host.append("link set pnbh%d master pnbr0 up" % i)
        ip_batch(host)
        for i in part:
            ip_batch(["link set lo up", "addr add 10.90.%d.%d/16 dev eth0" % ((i + 2) // 256, (i + 2) % 256),
                      "link set eth0 up", "route add default via 10.90.0.1"], netns=names[i])
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    ip_batch(["link del group 77"])
    deleted = time.perf_counter() - start
    ip_batch(["link del pnbr0"])
    drop_netns(names)
    return common.sliced(count, timings, deleted)


def cni(plugin, command, config, netns, container_id):
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns, "CNI_IFNAME": "eth0",
           "CNI_PATH": CNI_PATH, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run([os.path.join(CNI_PATH, plugin)], input=json.dumps(config), env=env, text=True,
                   capture_output=True, check=True)


def bench_cni(count, where):
    """The CNI reference plugins as a runtime calls them: bridge (with host-local IPAM) and loopback
    ADD per endpoint, bridge DEL per endpoint; one exec each."""
    names = ["pncni%d" % i for i in range(count)]
    make_netns(names)
    host_local = {"type": "host-local", "subnet": "10.94.0.0/16", "dataDir": where, "routes": [{"dst": "0.0.0.0/0"}]}
    bridge = {"cniVersion": "1.0.0", "name": "pnbench", "type": "bridge", "bridge": "pncni0", "isGateway": True,
              "ipMasq": False, "ipam": host_local}
    loopback = {"cniVersion": "1.0.0", "name": "pnbench-lo", "type": "loopback"}
    timings = []
    for part in common.slices(count):
        start = time.perf_counter()
        for i in part:
            cni("bridge", "ADD", bridge, "/run/netns/" + names[i], names[i])
            cni("loopback", "ADD", loopback, "/run/netns/" + names[i], names[i])
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    for name in names:
        cni("bridge", "DEL", bridge, "/run/netns/" + name, name)
    deleted = time.perf_counter() - start
    ip_batch(["link del pncni0"])
    drop_netns(names)
    return common.sliced(count, timings, deleted)


def bench_module(count, where, ansible, loop):
    """pynet_endpoint run by ansible-playbook: every endpoint in one task (list form), or one task
    per endpoint (loop). The network is made by pynet_network beforehand, and removed after, untimed."""
    label = "N=%d pynet module, %s" % (count, "loop" if loop else "one task")
    controller, sandboxes = common.new_sandboxes(count, where)
    network_vars = {"state_dir": controller.state_dir, "network": common.NETWORK, "subnet": common.SUBNET}
    ansible.playbook("network.yml", dict(network_vars, network_state="present"))
    endpoints = [{"name": "e%d" % i, "sandbox": sandbox.key} for i, sandbox in enumerate(sandboxes)]
    step = max(1, count // common.SLICES)

    def run(state):
        def progress(done):
            if done % step == 0:
                common.say("%s: %s %d/%d" % (label, state, done, count))
        playbook = "endpoints-loop.yml" if loop else "endpoints-task.yml"
        finished = ansible.playbook(playbook, dict(network_vars, endpoints=endpoints, endpoint_state=state), progress)
        if finished.changed == 0:
            raise RuntimeError("%s: %s %s changed nothing" % (label, playbook, state))
        return finished

    created = run("present")
    unchanged = None if loop else nothing_to_change(ansible, network_vars, endpoints, label)
    deleted = run("absent")
    ansible.playbook("network.yml", dict(network_vars, network_state="absent"))
    common.destroy_sandboxes(controller, sandboxes)
    if loop:
        times = created.item_times
        result = common.figures(count, created.wall, deleted.wall, (times[step] - times[0]) / step,
                                (times[-1] - times[-1 - step]) / step)
    else:
        result = common.figures(count, created.wall, deleted.wall)
        result["unchanged"] = unchanged
    return result


def nothing_to_change(ansible, network_vars, endpoints, label):
    """With the N endpoints in place: the same one-task playbook again (must change nothing), and the
    process time of one module run alone that changes nothing."""
    common.say("%s: the same task again" % label)
    again = ansible.playbook("endpoints-task.yml", dict(network_vars, endpoints=endpoints, endpoint_state="present"))
    if again.changed != 0:
        raise RuntimeError("the same task again reported changed=%d" % again.changed)
    network_cpu, network_wall = ansible.module_process_time("pynet_network", {
        "state_dir": network_vars["state_dir"], "name": common.NETWORK, "ipam": [{"subnet": common.SUBNET}]})
    endpoint_cpu, endpoint_wall = ansible.module_process_time("pynet_endpoint", {
        "state_dir": network_vars["state_dir"], "network": common.NETWORK, "name": endpoints[0]["name"],
        "sandbox": endpoints[0]["sandbox"]})
    return {"same_task_again_s": again.wall, "same_task_again_changed": again.changed,
            "pynet_network_cpu_s": network_cpu, "pynet_network_wall_s": network_wall,
            "pynet_endpoint_cpu_s": endpoint_cpu, "pynet_endpoint_wall_s": endpoint_wall}


# (key for --skip, label in the table, function(N, a work directory of its own, modules.Ansible))
APPROACHES = [
    ("floor", "ip -batch (floor)", lambda count, where, ansible: bench_ip_batch(count)),
    ("cni", CNI, lambda count, where, ansible: bench_cni(count, where)),
    ("library", "pynet library, 1 by 1", lambda count, where, ansible: common.bench_library(count, where, batch=False)),
    ("batch", "pynet library, batch", lambda count, where, ansible: common.bench_library(count, where, batch=True)),
    ("task", "pynet module, one task", lambda count, where, ansible: bench_module(count, where, ansible, loop=False)),
    ("loop", "pynet module, loop", lambda count, where, ansible: bench_module(count, where, ansible, loop=True)),
]


def milliseconds(value):
    return "-" if value is None else "%.2f" % value


def times_faster(reference, figure, key):
    """How many times faster than the reference, with two decimals below 1 (the modules' loop)."""
    if reference is None:
        return "-"
    times = reference[key] / max(figure[key], 1e-6)
    return ("%.1f" if times >= 1 else "%.2f") % times


def report(count, results):
    reference = results.get(CNI)
    print("\nN=%d endpoints (ms per endpoint; 'x CNI' = how many times faster than the CNI plugins)" % count)
    row = "%-24s %9s %9s %8s %8s %11s %10s"
    print(row % ("approach", "create", "delete", "x CNI", "x CNI", "first 10%", "last 10%"))
    print(row % ("", "", "", "create", "delete", "create", "create"))
    for name, figure in results.items():
        print(row % (name, milliseconds(figure["create_ms"]), milliseconds(figure["delete_ms"]),
                     times_faster(reference, figure, "create_ms"), times_faster(reference, figure, "delete_ms"),
                     milliseconds(figure["first10_ms"]), milliseconds(figure["last10_ms"])))
    for name, figure in results.items():
        if figure.get("unchanged"):
            report_unchanged(count, name, figure["unchanged"])


def report_unchanged(count, name, unchanged):
    print("\n%s, nothing to change (%d endpoints in place):" % (name, count))
    print("  the same task again: %.2f s wall, changed=%d"
          % (unchanged["same_task_again_s"], unchanged["same_task_again_changed"]))
    print("  one module run alone, process time user+sys (wall), median of 5:")
    for module, what in (("pynet_network", "pynet_network"), ("pynet_endpoint", "pynet_endpoint, one endpoint")):
        print("    %-29s  %.3f s (%.3f s)" % (what + ":", unchanged[module + "_cpu_s"], unchanged[module + "_wall_s"]))


def peak_memory():
    """Peak RSS in MiB: this process (the library runs in it) and the largest child process."""
    return {"benchmark_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "largest_child_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def save(runs, png):
    """The figures as JSON beside the PNG (plot.py redraws the PNG from it), and the PNG."""
    os.makedirs(os.path.dirname(png), exist_ok=True)
    with open(os.path.splitext(png)[0] + ".json", "w", encoding="utf-8") as out:
        json.dump({"runs": runs, "peak_memory": peak_memory()}, out, indent=1)
    plot.plot(runs, png)


def arguments():
    parser = common.counts_parser(__doc__, "endpoints")
    keys = [approach[0] for approach in APPROACHES]
    parser.add_argument("--skip", action="append", default=[], choices=keys, metavar="APPROACH",
                        help="leave this approach out, one of %s; repeatable (the loop takes many minutes at "
                             "N=1000)" % ", ".join(keys))
    parser.add_argument("--plot", default=os.path.join(plot.OUTPUT, "endpoints.png"), metavar="PNG",
                        help="where to write the plot; the JSON goes beside it (default %(default)s)")
    return common.parse_counts(parser)


def main():
    args = arguments()
    common.isolate()
    collection = common.collection_path()
    sys.path.insert(0, collection)
    work = tempfile.mkdtemp(prefix="pynet-bench-state-")
    ansible = modules.Ansible(collection, work)
    png = os.path.abspath(args.plot)
    runs = []
    for count in args.counts:
        results = {}
        for key, label, bench in APPROACHES:
            if key not in args.skip:
                common.say("N=%d %s" % (count, label))
                results[label] = bench(count, os.path.join(work, str(count), key), ansible)
        report(count, results)
        runs.append({"count": count, "approaches": results})
        save(runs, png)
    memory = peak_memory()
    print("\npeak memory: this process (pynet's library runs in it) %.1f MiB; the largest child process "
          "(ansible-playbook, a module run, ip, a CNI plugin) %.1f MiB"
          % (memory["benchmark_mib"], memory["largest_child_mib"]))
    print("figures: %s and %s" % (png, os.path.splitext(png)[0] + ".json"))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
