"""Cluster IPAM by blocks, VXLAN ids, membership and the cluster GC, against a real etcd. What etcd
holds is checked with etcdctl, not through the library."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import netaddr
import pynet_testing
import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import allocation, etcd, layout, members
from ansible_collections.pynet.libnetwork.plugins.module_utils.errors import (
    NoFreeBlockError, NotAMemberError)

NET = "a" * 64
SUBNET = "10.251.0.0/16"
HERE = os.path.dirname(os.path.abspath(__file__))


def revision(client):
    """etcd's current revision: it moves by one per write transaction."""
    return client.txn([], []).revision


def stored(etcd_cluster, prefix="/pynet/"):
    """{key: value} under prefix, read with etcdctl."""
    lines = etcd_cluster.etcdctl("get", "--prefix", prefix).splitlines()
    return dict(zip(lines[0::2], lines[1::2]))


def stored_blocks(etcd_cluster, network=NET):
    """{block: owner} of a network, read with etcdctl."""
    return {layout.block_of(key): json.loads(value)["host"]
            for key, value in stored(etcd_cluster, layout.blocks_prefix(network)).items()}


def join(client, *hosts, ttl=members.DEFAULT_LIVENESS_TTL):
    for index, host in enumerate(hosts, 1):
        members.join(client, host, "10.250.9.%d" % index, ttl)


def at_once(count, work, underlay, etcd_cluster):
    """Run work(index, client) in `count` threads that start together, each with a client of its
    own in the fabric; returns their results in order."""
    results, failures = [None] * count, []
    barrier = threading.Barrier(count)

    def run(index):
        try:
            with underlay.entered(), etcd.EtcdClient(etcd_cluster.cluster_store, timeout=30) as client:
                barrier.wait()
                results[index] = work(index, client)
        except Exception as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return results


def test_a_claim_is_one_transaction_writing_the_block_and_its_index(client, etcd_cluster):
    join(client, "h1")
    before = revision(client)
    claim = allocation.claim_block(client, NET, SUBNET, "h1")
    assert revision(client) == before + 1
    assert claim.conflicts == 0
    block = netaddr.IPNetwork(claim.block)
    assert block.prefixlen == 26 and block in netaddr.IPNetwork(SUBNET)
    assert stored(etcd_cluster) == {
        "/pynet/v1/alive/h1": "", "/pynet/v1/hosts/h1": '{"address": "10.250.9.1"}',
        "/pynet/v1/blocks/%s/%s" % (NET, claim.block.replace("/", "-")): '{"host": "h1"}',
        "/pynet/v1/host-blocks/h1/%s/%s" % (NET, claim.block.replace("/", "-")): ""}
    assert allocation.host_blocks(client, NET, "h1") == [claim.block]


class CountingClient(etcd.EtcdClient):
    """A real client that counts its requests to etcd."""
    requests = 0

    def _call(self, *args, **kwargs):
        self.requests += 1
        return super()._call(*args, **kwargs)


def test_addresses_cost_no_round_trip_but_a_claim_per_block(underlay, etcd_cluster):
    with underlay.entered(), CountingClient(etcd_cluster.cluster_store) as client:
        join(client, "h1")
        start, client.requests = revision(client), 0
        reserved = ["10.251.0.0", "10.251.0.1"]  # the subnet's network address and a gateway
        first = allocation.allocate(client, NET, SUBNET, "h1", [], [], 25, reserved)
        assert (len(first.claims), client.requests) == (1, 1)  # one transaction, no listing
        second = allocation.allocate(client, NET, SUBNET, "h1", first.blocks, first.addresses, 50, reserved)
        assert (len(second.claims), client.requests) == (1, 2)
        used = first.addresses + second.addresses
        third = allocation.allocate(client, NET, SUBNET, "h1", second.blocks, used, 50, reserved)
        assert (third.claims, client.requests) == ([], 2)  # room left in its blocks: etcd is not asked
        assert revision(client) == start + 2
    everything = used + third.addresses
    assert len(set(everything)) == 125
    assert not set(reserved) & set(everything)
    blocks = [netaddr.IPNetwork(block) for block in third.blocks]
    assert all(any(netaddr.IPAddress(address) in block for block in blocks) for address in everything)
    assert sorted(stored_blocks(etcd_cluster)) == sorted(third.blocks)


def test_hosts_allocating_at_once_never_share_an_address(underlay, etcd_cluster):
    hosts = 40

    def work(index, client):
        host = "h%d" % index
        members.join(client, host, "10.250.9.%d" % (index + 1))
        return host, allocation.allocate(client, NET, "10.251.0.0/18", host, [], [], 100)

    results = at_once(hosts, work, underlay, etcd_cluster)
    addresses = [address for _host, result in results for address in result.addresses]
    assert len(addresses) == len(set(addresses)) == hosts * 100
    owners = {block: host for host, result in results for block in result.blocks}
    assert len(owners) == sum(len(result.blocks) for _host, result in results) == hosts * 2
    assert stored_blocks(etcd_cluster, NET) == owners
    conflicts = sum(claim.conflicts for _host, result in results for claim in result.claims)
    print("40 hosts x 2 blocks at once: %d races lost" % conflicts)


def test_empty_blocks_go_back_to_the_pool(client, etcd_cluster):
    subnet = "10.251.0.0/25"  # two blocks
    join(client, "h1", "h2")
    held = allocation.allocate(client, NET, subnet, "h1", [], [], 70)
    assert len(held.blocks) == 2
    with pytest.raises(NoFreeBlockError):
        allocation.claim_block(client, NET, subnet, "h2")
    assert not allocation.release_block(client, NET, held.blocks[0], "h2")  # not h2's to give
    still_used = [address for address in held.addresses if netaddr.IPAddress(address) in netaddr.IPNetwork(
        held.blocks[0])]
    assert allocation.release_empty_blocks(client, NET, "h1", held.blocks, still_used) == [held.blocks[1]]
    assert stored_blocks(etcd_cluster) == {held.blocks[0]: "h1"}
    assert allocation.claim_block(client, NET, subnet, "h2").block == held.blocks[1]


def test_only_members_claim(client, etcd_cluster):
    before = revision(client)
    with pytest.raises(NotAMemberError) as caught:
        allocation.claim_block(client, NET, SUBNET, "stranger")
    assert caught.value.param == "cluster_store"
    assert revision(client) == before and stored(etcd_cluster) == {}
    join(client, "h1")
    members.leave(client, "h1")
    with pytest.raises(NotAMemberError):
        allocation.claim_block(client, NET, SUBNET, "h1")


def test_a_retried_claim_recognises_its_own(client):
    join(client, "h1", "h2")
    assert allocation.try_claim(client, NET, "10.251.0.0/26", "h1").held
    assert allocation.try_claim(client, NET, "10.251.0.0/26", "h1").held  # the answer to the first was lost
    lost = allocation.try_claim(client, NET, "10.251.0.0/26", "h2")
    assert (lost.held, lost.claimed) == (False, ["10.251.0.0/26"])
    allocation.try_claim(client, NET, "10.251.0.64/26", "h1")
    # A lost race brings back what was claimed since the loser last looked, and only that.
    again = allocation.try_claim(client, NET, "10.251.0.0/26", "h2", since=lost.revision)
    assert (again.held, again.claimed) == (False, ["10.251.0.64/26"])


def test_a_full_subnet(client):
    join(client, "h1", "h2", "h3", "h4", "h5")
    blocks = {allocation.claim_block(client, NET, "10.251.0.0/24", host).block for host in ("h1", "h2", "h3", "h4")}
    assert len(blocks) == 4
    with pytest.raises(NoFreeBlockError) as caught:
        allocation.claim_block(client, NET, "10.251.0.0/24", "h5")
    assert caught.value.param == "ipam"
    assert str(caught.value) == (
        "ipam: no free /26 address block left in 10.251.0.0/24 of network %s: every block is claimed by a host; a "
        "larger subnet, or the cluster GC of hosts that are gone, frees some" % NET)


def test_ipv6_blocks_and_other_block_sizes(client):
    join(client, "h1")
    v6 = allocation.allocate(client, NET, "fd00:1::/64", "h1", [], [], 3, ["fd00:1::"])
    assert netaddr.IPNetwork(v6.blocks[0]).prefixlen == 122
    assert all(netaddr.IPAddress(address) in netaddr.IPNetwork(v6.blocks[0]) for address in v6.addresses)
    small = allocation.claim_block(client, "b" * 64, SUBNET, "h1", prefixlen=28)
    assert netaddr.IPNetwork(small.block).prefixlen == 28
    # A network's IPv4 and IPv6 blocks share its prefix in etcd without getting in each other's way.
    assert allocation.claim_block(client, NET, "10.251.0.0/26", "h1").block == "10.251.0.0/26"


def test_one_vni_per_network_even_when_hosts_ask_at_once(underlay, etcd_cluster, client):
    vnis = at_once(20, lambda index, own: allocation.allocate_vni(own, NET), underlay, etcd_cluster)
    assert len(set(vnis)) == 1
    vni = vnis[0]
    assert allocation.FIRST_VNI <= vni <= allocation.LAST_VNI
    other = allocation.allocate_vni(client, "b" * 64)
    assert other != vni
    assert stored(etcd_cluster) == {"/pynet/v1/vnis/%s" % vni: NET, "/pynet/v1/network-vni/%s" % NET: str(vni),
                                    "/pynet/v1/vnis/%s" % other: "b" * 64,
                                    "/pynet/v1/network-vni/%s" % ("b" * 64): str(other)}
    assert allocation.release_vni(client, NET)
    assert not allocation.release_vni(client, NET)
    assert sorted(stored(etcd_cluster)) == ["/pynet/v1/network-vni/" + "b" * 64, "/pynet/v1/vnis/%s" % other]


def wait_silent(client, host):
    """Until the liveness lease of `host` has lapsed in etcd."""
    deadline = time.monotonic() + 10
    while client.get(layout.alive_key(host)) is not None:
        assert time.monotonic() < deadline, "the liveness lease of %s never lapsed" % host
        time.sleep(0.1)


def test_gc_forgets_silent_hosts_left_out_of_the_fleet(client, etcd_cluster):
    join(client, "h1")
    join(client, "h2", ttl=1)
    kept = allocation.claim_block(client, NET, SUBNET, "h1").block
    gone = allocation.claim_block(client, NET, SUBNET, "h2").block
    # Left out of the fleet, but it ran a moment ago: an inventory mistake costs it nothing.
    assert members.gc(client, ["h1"]) == members.GCResult([], ["h2"], [], ["h1", "h2"])
    assert stored_blocks(etcd_cluster) == {kept: "h1", gone: "h2"}
    wait_silent(client, "h2")
    # Check mode predicts the GC and changes nothing.
    assert members.gc(client, ["h1"], check_mode=True) == members.GCResult(["h2"], [], [(NET, gone)], ["h1"])
    assert sorted(members.members(client)) == ["h1", "h2"]
    assert stored_blocks(etcd_cluster) == {kept: "h1", gone: "h2"}
    assert members.gc(client, ["h1"]) == members.GCResult(["h2"], [], [(NET, gone)], ["h1"])
    assert stored_blocks(etcd_cluster) == {kept: "h1"}
    assert sorted(members.members(client)) == ["h1"]
    with pytest.raises(NotAMemberError):
        allocation.claim_block(client, NET, SUBNET, "h2")


def test_gc_finishes_an_interrupted_gc_but_spares_a_host_that_came_back(client, etcd_cluster):
    join(client, "h1", "h2", "h3")
    blocks = {host: allocation.claim_block(client, NET, SUBNET, host).block for host in ("h1", "h2", "h3")}
    # A GC stopped after deleting memberships (its first step): h2's and h3's blocks are left...
    for host in ("h2", "h3"):
        etcd_cluster.etcdctl("del", layout.host_key(host))
    join(client, "h3")  # ...and h3 joins again before the next GC.
    assert members.gc(client, ["h1", "h2", "h3"], check_mode=True) == members.GCResult([], [], [(NET, blocks["h2"])], ["h1", "h3"])
    result = members.gc(client, ["h1", "h2", "h3"])
    assert result == members.GCResult([], [], [(NET, blocks["h2"])], ["h1", "h3"])
    assert stored_blocks(etcd_cluster) == {blocks["h1"]: "h1", blocks["h3"]: "h3"}
    # Each block's deletion checks again, inside etcd, that its host is not a member: a host that
    # joins between the GC's read and its deletion keeps its blocks.
    assert members.free_blocks(client, "h3") == []
    assert stored_blocks(etcd_cluster) == {blocks["h1"]: "h1", blocks["h3"]: "h3"}


def killed_mid_allocation(underlay, etcd_cluster, host, subnet, ttl):
    """A run of `host` that claims a block and is SIGKILLed before it records any address."""
    worker = subprocess.Popen(["nsenter", "--net=" + underlay.fabric, sys.executable,
                               os.path.join(HERE, "claim_worker.py"), etcd_cluster.cluster_store, host,
                               "10.250.9.99", NET, subnet, str(ttl)], stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=pynet_testing.COLLECTIONS))
    block = worker.stdout.readline().strip()
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL
    return block


def test_a_run_killed_mid_allocation_loses_no_address_for_good(underlay, etcd_cluster, client):
    subnet = "10.251.0.0/25"  # two blocks: each lost one would show
    back = killed_mid_allocation(underlay, etcd_cluster, "back", subnet, 600)
    gone = killed_mid_allocation(underlay, etcd_cluster, "gone", subnet, 1)
    assert sorted(stored_blocks(etcd_cluster)) == sorted([back, gone])
    # "back" runs again: etcd tells it which blocks it holds; none holds an address of its own.
    held = allocation.host_blocks(client, NET, "back")
    assert held == [back]
    assert allocation.release_empty_blocks(client, NET, "back", held, []) == [back]
    # "gone" never comes back: once silent for its TTL, the GC of the fleet that left it out frees its block.
    wait_silent(client, "gone")
    assert members.gc(client, ["back", "h1"]).freed == [(NET, gone)]
    join(client, "h1")
    assert len(allocation.allocate(client, NET, subnet, "h1", [], [], 128).blocks) == 2


def test_a_vni_taken_by_another_network_is_skipped(client, etcd_cluster):
    span = allocation.LAST_VNI - allocation.FIRST_VNI + 1
    first_choice = allocation.FIRST_VNI + allocation.hashed(NET, "0") % span
    etcd_cluster.etcdctl("put", layout.vni_key(first_choice), "c" * 64)
    vni = allocation.allocate_vni(client, NET)
    assert vni != first_choice
    assert stored(etcd_cluster, layout.VNIS) == {layout.vni_key(first_choice): "c" * 64, layout.vni_key(vni): NET}
    assert allocation.allocate_vni(client, NET) == vni
