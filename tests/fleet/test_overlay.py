"""The overlay driver on the simulated fleet: global networks in etcd, endpoints on different hosts
reaching each other over VXLAN, cluster IPAM under concurrency, deletion refused while any host has
endpoints, and hosts that join and leave. Each host runs the library in its own namespaces
(on_host.py); traffic is sent from the sandboxes themselves; etcd and the kernel are read with
etcdctl, iproute2 and bridge, not through the library."""

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time

import netaddr
import pynet_testing
import pytest
import rig
import traffic

HERE = os.path.dirname(os.path.abspath(__file__))
SUBNET = "10.251.0.0/16"


def run_on(host, code, expect_error=False):
    """Run library code on `host` (on_host.py); its `result`, or the error it reported."""
    proc = subprocess.run(host.nsenter(sys.executable, os.path.join(HERE, "on_host.py")),
                          input=textwrap.dedent(code), capture_output=True, text=True, timeout=120, check=False,
                          env=dict(os.environ, PYTHONPATH=pynet_testing.COLLECTIONS))
    assert proc.returncode in (0, 3), proc.stderr[-3000:]
    answer = json.loads(proc.stdout.splitlines()[-1])
    assert (proc.returncode == 3) == expect_error, answer
    return answer


def configure(host, etcd_cluster):
    run_on(host, 'c.new_network_driver("overlay", {"cluster_store": %r, "advertise_address": %r})'
           % (etcd_cluster.cluster_store, host.address))


def at_once(hosts, work):
    """work(host) on every host at the same moment, each in a thread of its own: {host name: its result}.
    A host's failure is raised here, in the test's thread."""
    with concurrent.futures.ThreadPoolExecutor(len(hosts)) as pool:
        futures = {host.name: pool.submit(work, host) for host in hosts}
    return {name: future.result() for name, future in futures.items()}


def create_network(host, name="ov", extra="", subnet=SUBNET):
    return run_on(host, """
        driver = c.driver("overlay")
        started = time.monotonic()
        net = c.new_network(driver, %r, {"ipam": [{"subnet": %r}]%s})
        result = {"id": net.id, "took": time.monotonic() - started, "options": net.options}
        """ % (name, subnet, extra))


def create_endpoints(host, names, network="ov"):
    """Sandboxes /run/pynet/netns/<name> and an endpoint in each, in one batch: {name: address}, time."""
    return run_on(host, """
        net = c.network_by_name(%r)
        started = time.monotonic()
        keys = [new_sandbox("/run/pynet/netns/" + name).key for name in %r]
        made = net.create_endpoints([(name, key, {}) for name, key in zip(%r, keys)])
        failed = [str(ep) for ep in made if isinstance(ep, Exception)]
        assert not failed, failed
        result = {"addresses": {ep.name: ep.record().ipv4 for ep in made}, "took": time.monotonic() - started}
        """ % (network, list(names), list(names)))


def sandbox(host, name):
    """The path of a sandbox of `host` as the machine reaches it: through the host's root."""
    return "/proc/%d/root/run/pynet/netns/%s" % (host.process.pid, name)


def tcp(server, server_name, address, client, client_name, port=5201):
    """A TCP exchange from a sandbox of `client` to one of `server` listening on `address`: the peer
    address the server saw. The namespaces are opened through the hosts' roots (/proc/PID/root, a
    symlink that pynet's own path walk refuses, so they are given as descriptors)."""
    server_path = server_name if server is None else sandbox(server, server_name)
    fds = [os.open(path, os.O_RDONLY | os.O_CLOEXEC) for path in (server_path, sandbox(client, client_name))]
    try:
        got_server, got_client, peer = traffic.tcp_exchange(fds[0], address, fds[1], port=port)
        assert (got_server, got_client) == (b"ping from client", b"pong from server")
        return peer
    finally:
        for fd in fds:
            os.close(fd)


def ping(host, name, address, count=3):
    """Ping from a sandbox; the average RTT in ms, or None when nothing came back."""
    proc = subprocess.run(["nsenter", "--net=" + sandbox(host, name), "ping", "-n", "-q", "-c", str(count),
                           "-i", "0.2", "-W", "1", address], capture_output=True, text=True, check=False)
    found = re.search(r"= [\d.]+/([\d.]+)/", proc.stdout)
    return float(found.group(1)) if proc.returncode == 0 and found else None


def ip(address):
    return address.split("/")[0]


def kernel(host, *argv):
    return subprocess.run(host.nsenter(*argv), capture_output=True, text=True, check=True).stdout


def flood_peers(host, network_id):
    """The remotes a host's vxlan device of the network floods to, read with `bridge fdb`."""
    lines = kernel(host, "bridge", "fdb", "show", "dev", "pnx" + network_id[:12]).splitlines()
    return sorted(line.split(" dst ")[1].split()[0] for line in lines if line.startswith("00:00:00:00:00:00"))


def stored(etcd_cluster, prefix):
    lines = etcd_cluster.etcdctl("get", "--prefix", prefix).splitlines()
    return dict(zip(lines[0::2], lines[1::2]))


@pytest.fixture
def hosts(underlay, etcd_cluster, tmp_path):
    """Three hosts with the overlay driver configured on each."""
    fleet = rig.Fleet(underlay, tmp_path, 3)
    try:
        fleet.start()
        for host in fleet.hosts:
            configure(host, etcd_cluster)
        yield fleet.hosts
    finally:
        fleet.close()


def test_a_global_network_spans_hosts_and_its_endpoints_reach_each_other(hosts, etcd_cluster, underlay):
    first = hosts[0]
    created = create_network(first)
    network_id = created["id"]
    # Recorded once in etcd, with a VNI; every host sees it with the same id, and makes no second one.
    record = json.loads(stored(etcd_cluster, "/pynet/v1/networks/")["/pynet/v1/networks/" + network_id])
    assert record["name"] == "ov" and record["options"]["vni"] >= 4096
    assert record["options"]["mtu"] == 1450  # the underlay's 1500 - 50
    for host in hosts[1:]:
        seen = run_on(host, "result = [[n.name, n.id] for n in c.networks()] + [c.network_by_name('ov').id]")
        assert seen == [["ov", network_id], network_id]
        assert run_on(host, "c.new_network(c.driver('overlay'), 'ov', {'ipam': [{'subnet': %r}]})" % SUBNET,
                      expect_error=True)["error"] == "NetworkNameError"
    assert list(stored(etcd_cluster, "/pynet/v1/network-names/").values()) == [network_id]
    # An endpoint per host: the first on a host sets the network up there.
    made = {host.name: create_endpoints(host, ["e-" + host.name]) for host in hosts}
    endpoints = {host.name: made[host.name]["addresses"]["e-" + host.name] for host in hosts}
    assert len({ip(address) for address in endpoints.values()}) == 3
    assert all(address.endswith("/16") for address in endpoints.values())
    rtts = []
    for source in hosts:
        for target in hosts:
            if target is not source:
                rtt = ping(source, "e-" + source.name, ip(endpoints[target.name]))
                assert rtt is not None, (source.name, target.name)
                rtts.append(rtt)
                assert tcp(target, "e-" + target.name, ip(endpoints[target.name]), source,
                           "e-" + source.name) == ip(endpoints[source.name])
    # An endpoint made later on one host is reachable at once from the others, with nothing run there.
    late = create_endpoints(hosts[2], ["late"])["addresses"]["late"]
    assert ping(hosts[0], "e-" + hosts[0].name, ip(late), count=1) is not None
    assert tcp(hosts[2], "late", ip(late), hosts[1], "e-" + hosts[1].name) == ip(endpoints[hosts[1].name])
    # Outbound traffic leaves through the sandbox's own host, masqueraded: the underlay sees the host.
    assert tcp(None, underlay.fabric, rig.CONTROL_ADDRESS, hosts[1], "e-" + hosts[1].name, port=5301) == hosts[1].address
    # The same on a local bridge of one host, for comparison.
    run_on(first, """
        # No DNS: its dnsmasq would outlive the test (the network stays), and RTT is all this is for.
        net = c.new_network(c.driver("bridge"), "pnlocal", {"ipam": [{"subnet": "10.252.0.0/24"}],
                                                          "dns_enabled": False})
        for name in ("b1", "b2"):
            net.create_endpoint(name, new_sandbox("/run/pynet/netns/" + name).key, {})
        """)
    bridge_rtt = ping(first, "b1", "10.252.0.3", count=10)
    overlay_rtt = ping(hosts[0], "e-" + hosts[0].name, ip(endpoints[hosts[1].name]), count=10)
    print("\noverlay: network created in %.3f s; first endpoint per host %s s; ping RTT avg %.3f ms across "
          "the overlay (pairs: %s), %.3f ms on a local bridge" % (
              created["took"], ", ".join("%.3f" % made[h.name]["took"] for h in hosts), overlay_rtt,
              ", ".join("%.3f" % rtt for rtt in rtts), bridge_rtt))


def test_ipv6_of_a_dual_stack_overlay_reaches_across_hosts(hosts, etcd_cluster):
    run_on(hosts[0], 'c.new_network(c.driver("overlay"), "ov6", {"ipam": [{"subnet": "10.254.0.0/16"}, '
                     '{"subnet": "fd00:254::/64"}]})')
    made = at_once(hosts, lambda host: run_on(host, """
        net = c.network_by_name("ov6")
        made = net.create_endpoints([(name, new_sandbox("/run/pynet/netns/" + name).key, {})
                                     for name in ("d1-%(host)s", "d2-%(host)s")])
        result = {ep.name: [ep.record().ipv4, ep.record().ipv6] for ep in made}
        """ % {"host": host.name}))
    v6 = {host.name: {name: ip(pair[1]) for name, pair in made[host.name].items()} for host in hosts}
    assert all(pair[1].endswith("/64") for found in made.values() for pair in found.values())
    # Unique, each in an IPv6 block (a /122) that etcd records as its host's, as the sandboxes' kernels show them.
    assert_unique_and_in_own_blocks(etcd_cluster, {host.name: sandbox_addresses(host, "d?-" + host.name, 6)
                                                   for host in hosts})
    for host in hosts:
        # The default route of each version goes through its own block's gateway, on its own host.
        name = "d1-" + host.name
        routes = json.loads(kernel(host, "nsenter", "--net=/run/pynet/netns/" + name, "ip", "-j", "-6", "route",
                                   "show", "default"))
        block = netaddr.IPNetwork(v6[host.name][name] + "/122")
        assert [route["gateway"] for route in routes] == [str(block.network + 1)]
    for source in hosts:
        for target in hosts:
            if target is not source:
                server = "d2-" + target.name
                assert tcp(target, server, v6[target.name][server], source, "d1-" + source.name) == \
                    v6[source.name]["d1-" + source.name]


def test_internal_and_enable_icc_keep_their_meaning_across_hosts(hosts, underlay):
    create_network(hosts[0], "inside", ', "internal": True')
    refused = run_on(hosts[1], "c.new_network(c.driver('overlay'), 'apart', {'ipam': [{'subnet': '10.251.128.0/17'}]})",
                     expect_error=True)
    assert (refused["error"], refused["param"]) == ("PoolOverlapError", "ipam[0].subnet")
    create_network(hosts[0], "apart", ', "enable_icc": False', subnet="10.253.0.0/16")
    inside = {host.name: create_endpoints(host, ["i-" + host.name], "inside")["addresses"]["i-" + host.name]
              for host in hosts[:2]}
    apart = {host.name: create_endpoints(host, ["a-" + host.name, "b-" + host.name], "apart")["addresses"]
             for host in hosts[:2]}
    first, second = hosts[:2]
    # internal: the endpoints reach each other across hosts, and nothing beyond their subnet.
    assert tcp(second, "i-pnh2", ip(inside["pnh2"]), first, "i-pnh1") == ip(inside["pnh1"])
    assert ping(first, "i-pnh1", rig.CONTROL_ADDRESS, count=1) is None
    assert ping(first, "i-pnh1", second.address, count=1) is None
    # enable_icc false: no endpoint reaches another, on its host or across, but all reach the outside.
    assert ping(first, "a-pnh1", ip(apart["pnh2"]["a-pnh2"]), count=1) is None
    assert ping(first, "a-pnh1", ip(apart["pnh1"]["b-pnh1"]), count=1) is None
    assert ping(first, "a-pnh1", rig.CONTROL_ADDRESS, count=1) is not None


def test_check_mode_predicts_the_address_a_run_gives_on_a_host_with_no_block(hosts, etcd_cluster):
    create_network(hosts[0])
    before = stored(etcd_cluster, "/pynet/")
    predicted = run_on(hosts[1], """
        net = c.network_by_name("ov")
        with c.predicting([], {}) as (predict, _routed):
            result = predict(net.record(), "e1", "/run/pynet/netns/e1", net.check_endpoint("e1", "/run/pynet/netns/e1",
                                                                                          {}))[0].ipv4
        result = [result, [n.name for n in c.store.snapshot().networks()]]
        """)
    assert predicted[1] == [] and stored(etcd_cluster, "/pynet/") == before  # nothing recorded anywhere
    assert create_endpoints(hosts[1], ["e1"])["addresses"]["e1"] == predicted[0]


def test_every_host_declaring_the_same_network_at_once_makes_one(hosts, etcd_cluster):
    """What pynet_network does (converge), on every host at the same moment, six times: one network each
    time, the losers of the race setting up the winner's (a NetworkNameError got through before)."""
    code = """
        from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.networks import ensure_network
        done = ensure_network(c, {"name": "race%d", "state": "present", "driver": "overlay",
                                  "ipam": [{"subnet": "10.%d.0.0/16"}]}, False)
        result = [done.changed, done.returned["network"]["id"]]
        """
    for attempt in range(6):
        outcome = at_once(hosts, lambda host, attempt=attempt: run_on(host, code % (attempt, 100 + attempt)))
        assert [changed for changed, _id in outcome.values()] == [True] * 3
        assert len({network for _changed, network in outcome.values()}) == 1
    assert len(stored(etcd_cluster, "/pynet/v1/networks/")) == 6


def test_deleting_a_network_is_refused_while_any_host_has_endpoints(hosts, etcd_cluster):
    network_id = create_network(hosts[0])["id"]
    create_endpoints(hosts[1], ["busy"])
    before = stored(etcd_cluster, "/pynet/")
    refused = run_on(hosts[2], "c.network_by_name('ov').delete()", expect_error=True)
    assert refused["error"] == "ActiveEndpointsError"
    assert "busy (host pnh2)" in refused["message"]
    assert stored(etcd_cluster, "/pynet/") == before
    refused = run_on(hosts[0], "c.network_by_name('ov').delete()", expect_error=True)
    assert refused["error"] == "ActiveEndpointsError"
    run_on(hosts[1], "net = c.network_by_name('ov'); net.endpoint_by_name('busy').delete()")
    run_on(hosts[0], "c.network_by_name('ov').delete()")
    left = stored(etcd_cluster, "/pynet/")
    assert not [key for key in left if network_id in key], left  # record, name, VNI, blocks, endpoints
    assert run_on(hosts[2], "result = [n.name for n in c.networks()]") == []
    # The host that still has the network's objects removes them with its own delete.
    run_on(hosts[1], "c.network_by_name('ov').delete()")
    assert "pnx" + network_id[:12] not in kernel(hosts[1], "ip", "-br", "link")
    assert run_on(hosts[1], "result = [n.name for n in c.networks()]") == []


def test_a_batch_larger_than_an_etcd_transaction_and_a_block(hosts, etcd_cluster):
    """130 endpoints in one batch: three blocks claimed, their records in two transactions (etcd takes
    at most 128 requests in one); all of it gone with the endpoints and the network."""
    network_id = create_network(hosts[0])["id"]
    made = create_endpoints(hosts[0], ["x%d" % index for index in range(130)])["addresses"]
    assert len(set(made.values())) == 130
    assert len(stored(etcd_cluster, "/pynet/v1/endpoints/")) == 130
    assert len(stored(etcd_cluster, "/pynet/v1/blocks/")) == 3
    run_on(hosts[0], """
        net = c.network_by_name("ov")
        net.delete_endpoints(net.endpoints())
        net.delete()
        """)
    assert not [key for key in stored(etcd_cluster, "/pynet/") if network_id in key]


def test_every_host_allocating_at_once_gives_no_address_twice(hosts, etcd_cluster):
    create_network(hosts[0])
    count = 25
    results = at_once(hosts, lambda host: create_endpoints(host, ["c%d" % index for index in range(count)]))
    # What each host's kernel has, read in each sandbox with iproute2, checked against etcd's blocks.
    in_kernel = {host.name: sandbox_addresses(host, "c*") for host in hosts}
    assert [len(found) for found in in_kernel.values()] == [count] * len(hosts)
    assert_unique_and_in_own_blocks(etcd_cluster, in_kernel)
    print("\n%d endpoints on each of %d hosts at once: %s s per batch" % (
        count, len(hosts), ", ".join("%.2f" % results[h.name]["took"] for h in hosts)))


def test_peer_entries_follow_the_member_list_after_a_repair(underlay, etcd_cluster, tmp_path):
    fleet = rig.Fleet(underlay, tmp_path, 4)
    try:
        first, second, third, newcomer = fleet.start().hosts
        for host in (first, second, third):
            configure(host, etcd_cluster)
        network_id = create_network(first)["id"]
        for host in (first, second, third):
            create_endpoints(host, ["p-" + host.name])
        assert flood_peers(first, network_id) == sorted([second.address, third.address])
        # A host joins: the others flood nothing to it until they run again.
        configure(newcomer, etcd_cluster)
        joined = create_endpoints(newcomer, ["p-new"])["addresses"]["p-new"]
        assert flood_peers(first, network_id) == sorted([second.address, third.address])
        drift = run_on(first, "result = c.network_by_name('ov').drift()")
        assert drift == ["pnx%s lacks the peer %s" % (network_id[:12], newcomer.address)]
        run_on(first, "c.network_by_name('ov').repair()")
        assert flood_peers(first, network_id) == sorted([second.address, third.address, newcomer.address])
        assert ping(first, "p-" + first.name, ip(joined)) is not None
        assert run_on(first, "result = c.network_by_name('ov').drift()") == []
        # A host leaves the cluster for good, its endpoint left as it was: its blocks and endpoint records
        # go with it, and a repair on the others drops its entries.
        assert [key for key in stored(etcd_cluster, "/pynet/v1/endpoints/") if "/pnh3/" in key]
        run_on(third, """
            from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import members
            members.leave(c.driver('overlay').impl.client(), 'pnh3')
            """)
        assert not [key for key in stored(etcd_cluster, "/pynet/") if "pnh3" in key]
        for host in (first, second, newcomer):
            run_on(host, "c.network_by_name('ov').repair()")
            assert third.address not in flood_peers(host, network_id)
        assert flood_peers(first, network_id) == sorted([second.address, newcomer.address])
    finally:
        fleet.close()


def test_an_unreachable_etcd_fails_naming_cluster_store_and_leaves_nothing(hosts, etcd_cluster):
    host = hosts[0]
    etcd_cluster.stop_member(1)
    failed = run_on(host, "c.new_network(c.driver('overlay'), 'ov', {'ipam': [{'subnet': %r}]})" % SUBNET,
                    expect_error=True)
    assert failed["param"] == "cluster_store" and failed["error"] == "ClusterStoreError"
    assert run_on(host, "result = [n.name for n in c.store.snapshot().networks()]") == []
    assert "pn-" not in kernel(host, "ip", "-br", "link") and "pnx" not in kernel(host, "ip", "-br", "link")
    etcd_cluster.start_member(1)
    with etcd_cluster.underlay.entered():
        rig._wait("etcd", etcd_cluster._answers, 30)
    assert create_network(host)["id"]


def test_bad_driver_options_are_refused_before_any_change(hosts):
    host = hosts[0]
    for options, param in (({"cluster_store": "http://10.250.0.1:2379", "advertise_address": host.address},
                            "cluster_store"),
                           ({"cluster_store": "etcd://10.250.0.1:2379"}, "options.advertise_address"),
                           ({"cluster_store": "etcd://10.250.0.1:2379", "advertise_address": "10.250.9.9"},
                            "options.advertise_address"),
                           ({"cluster_store": "etcd://10.250.0.1:2379", "advertise_address": host.address,
                             "vxlan_port": 0}, "options.vxlan_port"),
                           ({"cluster_store": "etcd://10.250.0.1:2379", "advertise_address": host.address,
                             "liveness_ttl": 0}, "options.liveness_ttl")):
        failed = run_on(host, "c.new_network_driver('overlay', %r)" % (options,), expect_error=True)
        assert failed["param"] == param, failed
    assert run_on(host, "result = c.driver('overlay').options['advertise_address']") == host.address
    failed = run_on(host, "c.new_network(c.driver('overlay'), 'ov', {'ipam': [{'subnet': 'fd00:1::/64'}]})",
                    expect_error=True)
    assert failed["param"] == "ipam"


ROLE_PLAY = """
- hosts: fleet
  gather_facts: false
  serial: %(serial)s
  max_fail_percentage: 0
  pre_tasks:
    - name: Between the batches, the test stops etcd (when the test asks for it)
      when: (handover | default('') | length > 0) and inventory_hostname not in groups.fleet[:2]
      run_once: true
      delegate_to: localhost
      block:
        - name: Tell the test the first batch is done
          ansible.builtin.copy:
            dest: "{{ handover }}/first-batch-done"
            content: ""
            mode: "0600"
        - name: Wait until etcd is stopped
          ansible.builtin.wait_for:
            path: "{{ handover }}/etcd-stopped"
            timeout: 60
  roles:
    - role: pynet.libnetwork.fleet_network
      vars:
        fleet_network_cluster_store: "{{ cluster_store }}"
        fleet_network_state: %(state)s
        fleet_network_preflight: "{{ preflight | default(true) | bool }}"
        fleet_network_min_mtu: "{{ min_mtu | default(1280) }}"
        fleet_network_health_timeout: 1
        fleet_network_fleet: "{{ fleet_hosts | default(groups.fleet) }}"
        fleet_network_liveness_ttl: 3
        fleet_network_networks:
          - {name: ov, subnet: 10.251.0.0/16}
"""


def network_id(etcd_cluster, name="ov"):
    return stored(etcd_cluster, "/pynet/v1/network-names/")["/pynet/v1/network-names/" + name]


def recap(run):
    """{host: {"ok": n, "changed": n, "failed": n, ...}} of a play's recap."""
    found = {}
    for line in run.stdout.split("PLAY RECAP")[-1].splitlines():
        if " : " in line:
            host, counts = line.split(" : ")
            found[host.strip()] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
    return found


def sandbox_addresses(host, pattern, version=4):
    """The global addresses of the IP version on eth0 in the host's sandboxes /run/pynet/netns/<pattern>,
    read with iproute2."""
    listing = kernel(host, "sh", "-c", "for key in /run/pynet/netns/%s; do nsenter --net=$key ip -j -%d addr "
                                       "show dev eth0 scope global; done" % (pattern, version))
    return [info["local"] for line in listing.splitlines() for link in json.loads(line)
            for info in link["addr_info"] if "local" in info]


def assert_unique_and_in_own_blocks(etcd_cluster, in_kernel):
    """Every address of {host name: [address]} is unique, and lies in a block etcd records as its host's;
    blocks are disjoint."""
    every = [address for found in in_kernel.values() for address in found]
    assert len(set(every)) == len(every)
    blocks = {key.rsplit("/", 1)[1].replace("-", "/"): json.loads(value)["host"]
              for key, value in stored(etcd_cluster, "/pynet/v1/blocks/").items()}
    assert netaddr.IPSet([netaddr.IPNetwork(block) for block in blocks]).size == sum(
        netaddr.IPNetwork(block).size for block in blocks)
    for host_name, found in in_kernel.items():
        for address in found:
            owners = [owner for block, owner in blocks.items()
                      if netaddr.IPAddress(address) in netaddr.IPNetwork(block)]
            assert owners == [host_name], address


def test_the_fleet_network_role_rolls_out_in_checked_batches_and_removes_all(underlay, etcd_cluster, tmp_path):
    fleet = rig.Fleet(underlay, tmp_path, 5, forks=10)
    handover = tmp_path / "handover"
    handover.mkdir()
    try:
        fleet.start()

        def play(serial, state, *extra):
            playbook = tmp_path / ("role-%s.yml" % state)
            playbook.write_text(ROLE_PLAY % {"serial": serial, "state": state})
            started = time.monotonic()
            run = fleet.ansible("ansible-playbook", "--forks", "10", "-e",
                                "cluster_store=%s" % etcd_cluster.cluster_store, *extra, str(playbook))
            took = time.monotonic() - started
            print("\nfleet_network %s, serial %s %s: %.1f s" % (state, serial, " ".join(extra), took))
            return run

        def untouched(host):
            links = kernel(host, "ip", "-br", "link")
            assert "pn-" not in links and "pnx" not in links and "pnv" not in links
            assert kernel(host, "sh", "-c", "ls -A /run/pynet/netns 2>/dev/null || true") == ""
            assert run_on(host, "result = [n.name for n in c.store.snapshot().networks()]") == []

        # Pre-flight: an etcd that does not answer and an underlay MTU too small are both named, and the
        # host is left untouched.
        preflight = play("0", "present", "--limit", "pnh1", "-e", "cluster_store=etcd://10.250.0.1:1",
                         "-e", "min_mtu=1460")
        assert preflight.returncode != 0
        assert re.search(r"cluster_store etcd://10.250.0.1:1: etcd does not answer from this host.*"
                         r"advertise_address 10.250.1.1: its link eth0 has MTU 1500, which leaves the overlay 1450, "
                         r"below fleet_network_min_mtu 1460", preflight.stdout), preflight.stdout[-3000:]
        untouched(fleet.hosts[0])

        # VXLAN cut between the hosts (UDP 4789 dropped on the underlay's bridge): the first batch's health
        # check fails, and max_fail_percentage stops the roll-out there: the other hosts are never touched.
        underlay.run(["nft", "-f", "-"], input="table bridge pnfleetcut {\n chain forward {\n"
                     "  type filter hook forward priority 0;\n  udp dport 4789 drop\n }\n}\n")
        cut = play("[2, 3]", "present")
        assert cut.returncode != 0
        assert "not reached by TCP across the overlay" in cut.stdout, cut.stdout[-5000:]
        assert [recap(cut)[name]["failed"] for name in ("pnh1", "pnh2")] == [1, 1]
        assert not set(recap(cut)) & {"pnh3", "pnh4", "pnh5"}
        underlay.run(["nft", "delete", "table", "bridge", "pnfleetcut"])

        # etcd stopped mid-roll-out, once the first batch is done (pre-flight off: the modules themselves
        # must fail cleanly, as they would when etcd dies after the pre-flight): a failure naming
        # cluster_store, and nothing made on the second batch's hosts.
        def stop_etcd_between_batches():
            rig._wait("the first batch", (handover / "first-batch-done").exists, 240)
            etcd_cluster.stop_member(1)
            (handover / "etcd-stopped").write_text("")

        stopper = threading.Thread(target=stop_etcd_between_batches)
        stopper.start()
        try:
            down = play("[2, 3]", "present", "-e", "handover=%s" % handover, "-e", "preflight=false")
        finally:
            stopper.join()
        assert down.returncode != 0
        assert [recap(down)[name]["failed"] for name in ("pnh1", "pnh2")] == [0, 0], down.stdout[-5000:]
        assert [recap(down)[name]["failed"] for name in ("pnh3", "pnh4", "pnh5")] == [1, 1, 1], down.stdout[-5000:]
        failures = re.findall(r"fatal: \[pnh[345]\].*", down.stdout)
        assert len(failures) == 3, down.stdout[-5000:]
        for failure in failures:
            assert "cluster_store" in failure, failure
        for host in fleet.hosts[2:]:
            untouched(host)
        etcd_cluster.start_member(1)
        with etcd_cluster.underlay.entered():
            rig._wait("etcd", etcd_cluster._answers, 30)

        # The next run, etcd back, completes: the first batch's two hosts already have the network.
        done = play("[2, 3]", "present")
        assert done.returncode == 0, done.stdout[-4000:]
        # The next run changes the peer entries of the hosts that others joined after, and nothing else.
        again = play("[2, 3]", "present")
        assert again.returncode == 0, again.stdout[-4000:]
        changed = {host: counts["changed"] for host, counts in recap(again).items()}
        assert changed["pnh1"] == changed["pnh2"] == 1 and set(changed.values()) <= {0, 1}, changed
        for host in fleet.hosts:
            assert flood_peers(host, network_id(etcd_cluster)) == sorted(other.address for other in fleet.hosts
                                                                         if other is not host)
        assert len(stored(etcd_cluster, "/pynet/v1/networks/")) == 1

        # After the roll-out, the canary endpoint of each host reaches those of three other hosts by TCP,
        # with the address the server sees being the client's own (no NAT across the overlay).
        in_kernel = {host.name: sandbox_addresses(host, "pnc-ov") for host in fleet.hosts}
        assert all(len(found) == 1 for found in in_kernel.values()), in_kernel
        for index, client in enumerate(fleet.hosts):
            for step in (1, 2, 3):
                server = fleet.hosts[(index + step) % len(fleet.hosts)]
                peer = tcp(server, "pnc-ov", in_kernel[server.name][0], client, "pnc-ov", port=5300 + step)
                assert peer == in_kernel[client.name][0]
        # Every address is unique across the fleet, read in each host's kernel and checked against etcd.
        assert_unique_and_in_own_blocks(etcd_cluster, in_kernel)

        # pnh5 is gone for good (it never runs again) and the inventory's fleet no longer names it: once
        # silent for its liveness TTL, the next roll-out prunes it from the cluster (its membership, blocks
        # and endpoint records), and the other hosts stop flooding to it in the same run.
        staying, gone = fleet.hosts[:4], fleet.hosts[4]
        rig._wait("pnh5's liveness to lapse", lambda: "/pynet/v1/alive/pnh5" not in stored(etcd_cluster, "/pynet/"),
                  30)
        limit = ("--limit", ",".join(host.name for host in staying),
                 "-e", json.dumps({"fleet_hosts": [host.name for host in staying]}))
        # The module itself: check mode predicts the prune with its diff and changes nothing; a fleet that
        # does not name the host it runs on is refused.
        fleet_names = [host.name for host in staying]
        predicted = pynet_testing.run_module("pynet_cluster_prune", {"fleet": fleet_names}, check=True,
                                             prefix=staying[0].nsenter())
        assert predicted["changed"] and predicted["forgotten"] == ["pnh5"] and predicted["freed"], predicted
        assert predicted["diff"] == {"before": {"members": fleet_names + ["pnh5"]}, "after": {"members": fleet_names}}
        assert "/pynet/v1/hosts/pnh5" in stored(etcd_cluster, "/pynet/")
        refused = pynet_testing.run_module("pynet_cluster_prune", {"fleet": fleet_names[1:]},
                                           prefix=staying[0].nsenter())
        assert refused.get("failed") and refused["param"] == "fleet" and "pnh1" in refused["msg"], refused
        pruned = play("0", "present", *limit)
        assert pruned.returncode == 0, pruned.stdout[-4000:]
        assert re.search(r"TASK \[.*Forget the hosts that left the fleet.*\n(changed: \[pnh\d\]\n)", pruned.stdout), \
            pruned.stdout[-4000:]
        in_etcd = stored(etcd_cluster, "/pynet/")
        assert not [key for key, value in in_etcd.items() if "pnh5" in key or '"pnh5"' in value], in_etcd
        for host in staying:
            assert flood_peers(host, network_id(etcd_cluster)) == sorted(other.address for other in staying
                                                                         if other is not host)
        assert gone.address not in json.dumps(in_etcd)

        removed = play("0", "absent", *limit)
        assert removed.returncode == 0, removed.stdout[-4000:]
        assert stored(etcd_cluster, "/pynet/") == {}
        for host in staying:
            untouched(host)
    finally:
        fleet.close()
