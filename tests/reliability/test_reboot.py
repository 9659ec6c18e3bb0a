"""Part 4: a reboot. Every kernel object goes (a brand-new network namespace stands for the
rebooted host, the sandbox mounts are gone), the state directory stays; one run of the play
restores everything declared, and the garbage collector (pynet_endpoint prune_stale) releases
what nothing declares any more."""

import subprocess

import consistency
import pynet_testing
from pynet_testing import ip_json, run_play
from traffic import tcp_connect_from, tcp_reachable

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl

PART = "4 reboot"


def play(paths, containers, prune_stale=False):
    common = {"state_dir": paths.state_dir}
    tasks = [("pynet_driver", dict(common, name="bridge")),
             ("pynet_network", dict(common, name="front", ipam=[{"subnet": "10.89.40.0/24"},
                                                                {"subnet": "fd00:89:40::/64"}])),
             ("pynet_network", dict(common, name="back", internal=True, ipam=[{"subnet": "10.89.41.0/24"}]))]
    tasks += [("pynet_sandbox", dict(common, key=paths.sandbox_key(name))) for name in containers]
    front = [{"name": name, "sandbox": paths.sandbox_key(name)} for name in containers]
    front[0]["ports"] = [{"host_port": 8080, "container_port": 80}]
    back = [{"name": name, "sandbox": paths.sandbox_key(name), "ifname": "eth1"} for name in containers]
    tasks += [("pynet_endpoint", dict(common, network="front", endpoints=front)),
              ("pynet_endpoint", dict(common, network="back", endpoints=back, prune_stale=prune_stale))]
    return tasks


def reboot(paths):
    """What a reboot leaves of the sandboxes: no mounts; the file of `a` gone too (as on a tmpfs),
    the others left as empty files (as in a directory on disk)."""
    for point in pynet_testing.mounts_under(paths.root):
        if point == paths.sandbox_key("a"):
            netns.destroy(point)
        else:
            subprocess.run(["umount", point], check=True)


def addresses(results, network):
    task = next(r for r in results if r["task"] == "pynet_endpoint" and r["endpoints"][0]["network"] == network)
    return {ep["name"]: ep["sandbox_info"]["interfaces"][0]["address"].split("/")[0] for ep in task["endpoints"]}


def bridge_macs():
    return {link["ifname"]: link["address"] for link in ip_json("link", "show", "type", "bridge")}


def failures(results):
    return ["%s: %s" % (r["task"], r["msg"]) for r in results if r.get("failed")]


def test_one_run_restores_a_rebooted_host_and_prune_stale_collects_the_rest(host, figures):
    first = run_play(play(host, ("a", "b", "c")))
    assert failures(first) == []
    front_before = addresses(first, "front")
    macs_before = bridge_macs()
    with netns.private():  # the rebooted host: no bridge, veth, nftables table or sysctl of before
        with rtnl.connect() as connection:
            connection.set_up(rtnl.LOOPBACK_INDEX)
        reboot(host)
        assert consistency.kernel_leftovers(host) == []
        # Container c is not started again after the reboot: the play no longer declares it.
        restore = run_play(play(host, ("a", "b")))
        macs_after = bridge_macs()
        left = [problem for problem in consistency.problems(host) if " c" not in problem and "/c" not in problem]
        reached = [tcp_reachable(host.sandbox_key(server), front_before[server], host.sandbox_key(client))
                   for server, client in (("a", "b"), ("b", "a"))]
        published = tcp_connect_from(None, host.sandbox_key("a"), front_before["a"], "127.0.0.1", 8080, 80)
        again = run_play(play(host, ("a", "b")))
        stale_before = consistency.store_rows(host.state_dir)
        check_prune = run_play(play(host, ("a", "b"), prune_stale=True), check=True)
        prune = run_play(play(host, ("a", "b"), prune_stale=True))
        rows = consistency.store_rows(host.state_dir)
        problems_after_gc = consistency.problems(host)
        # Its address is free again: another endpoint can take exactly it.
        reuse = run_play([("pynet_sandbox", {"state_dir": host.state_dir, "key": host.sandbox_key("d")}),
                          ("pynet_endpoint", {"state_dir": host.state_dir, "network": "front", "name": "d",
                                              "sandbox": host.sandbox_key("d"), "ip": front_before["c"]})])
        run_play([(task, dict(args, state="absent")) for task, args in reversed(play(host, ("a", "b", "d")))
                  if task != "pynet_driver"])
        leftovers = consistency.kernel_leftovers(host)

    restored = (not failures(restore) and addresses(restore, "front") == {k: front_before[k] for k in ("a", "b")}
                and len(macs_before) == 2 and macs_after == macs_before)
    figures.record(PART, "declared objects restored by one run (same addresses, same bridge MACs)", restored, True,
                   restored)
    figures.record(PART, "store/kernel disagreements after the run", len(left), 0, not left)
    figures.record(PART, "traffic a<->b and published port after the run", "%d/3" % (sum(reached) + bool(published)),
                   "3/3", all(reached) and published)
    changed_again = [r["task"] for r in again if r.get("changed")]
    figures.record(PART, "tasks changed by a second run", len(changed_again), 0, not changed_again)
    stale = [ep["name"] for ep in stale_before["endpoints"] if ep["name"] == "c"]
    pruned = [ep for r in prune if r["task"] == "pynet_endpoint" for ep in r["endpoints"] if ep["action"] == "delete"]
    predicted = [ep for r in check_prune if r["task"] == "pynet_endpoint"
                 for ep in r["endpoints"] if ep["action"] == "delete"]
    collected = (len(stale) == 2 and len(pruned) == 2 and len(predicted) == 2
                 and not any(ep["name"] == "c" for ep in rows["endpoints"])
                 and host.sandbox_key("c") not in {sb["key"] for sb in rows["sandboxes"]})
    figures.record(PART, "stale endpoints collected by prune_stale (check mode predicts them)",
                   "%d/%d" % (len(pruned), len(stale)), "2/2", collected)
    released = not failures(reuse)
    figures.record(PART, "a collected endpoint's address taken again", released, True, released)
    figures.record(PART, "pynet objects left after everything is removed", len(leftovers), 0, not leftovers)
    assert restored, failures(restore)
    assert left == [] and all(reached) and published
    assert changed_again == []
    assert collected and problems_after_gc == [], (pruned, predicted, problems_after_gc)
    assert released, failures(reuse)
    assert leftovers == []
