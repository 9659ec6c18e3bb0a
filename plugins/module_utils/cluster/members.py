# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hosts of the cluster: membership, liveness, and the GC of hosts that are gone.

The rule:
- A host is a member while its key hosts/<host> exists. join() writes it on every run on the host,
  with the host's underlay address. It has no lease: pynet runs no agent on the hosts, so nothing
  renews a lease between two runs, and a lease that lapsed on a healthy but idle host must never
  hand its addresses to another host.
- Each run also renews alive/<host>, a key on a lease of `liveness_ttl` seconds: the host ran lately.
- A host claims blocks only while it is a member (the claim's transaction checks hosts/<host>), so a
  block never outlives its owner's membership unnoticed.
- gc(client, fleet) is the explicit GC step: an admin action, which the roll-out runs with the
  inventory's list of hosts. A member that the list does not name is forgotten (its membership, then
  every block it holds, deleted) unless it ran within its liveness TTL: a live host is never
  forgotten because an inventory was partial or wrong. It is forgotten by a later GC once it has
  stayed silent for the TTL, or at once if it leaves itself (leave()). Then every block whose host
  is not a member is freed, which also finishes a GC that was interrupted.
- The endpoints a host recorded on global networks (layout's endpoints/<network>/<host>/) go with its
  blocks: a host that is gone has none, and they no longer hold its networks from being deleted.
- Every deletion is one transaction that checks its condition again inside etcd (the membership
  unchanged since it was read and the host still silent; the block still the same claim and its host
  still not a member), so a host that joins or claims in the meantime keeps what it has.
"""

from __future__ import annotations

import collections
import json

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import etcd, layout

# How long a host counts as alive after its last run: the GC keeps a host that ran this recently
# even when the fleet list leaves it out.
DEFAULT_LIVENESS_TTL = 600


# A member: its name, underlay address, and whether it ran within its liveness TTL.
Member = collections.namedtuple("Member", "host address alive")
# What a GC did: the hosts whose membership it deleted; the hosts left out of the fleet that it
# kept because they ran within their liveness TTL; the (network, block) of every block freed; the
# members after it (with check_mode, those the GC would leave).
GCResult = collections.namedtuple("GCResult", "forgotten spared freed members")


def join(client, host, address, liveness_ttl=DEFAULT_LIVENESS_TTL):
    """Make `host` a member with its underlay `address`, alive for `liveness_ttl` seconds: two round trips."""
    key = layout.host_key(host)
    if not addresses.is_address(address):
        raise errors.InvalidParameterError("advertise_address", "%r is not an IP address" % (address,))
    if isinstance(liveness_ttl, bool) or not isinstance(liveness_ttl, int) or liveness_ttl < 1:
        raise errors.InvalidParameterError("liveness_ttl", "must be a whole number of seconds, 1 or more")
    lease = client.lease_grant(liveness_ttl)
    client.txn([], [etcd.put_request(key, json.dumps({"address": address})),
                    etcd.put_request(layout.alive_key(host), "", lease.id)])


def members(client):
    """Every member, by host name."""
    alive = {layout.last_component(kv.key) for kv in client.get_prefix(layout.ALIVE, keys_only=True)}
    found = {}
    for kv in client.get_prefix(layout.HOSTS):
        host = layout.last_component(kv.key)
        found[host] = Member(host, json.loads(kv.value)["address"], host in alive)
    return found


def leave(client, host):
    """`host` leaves the cluster (run on the host itself, or by an admin who knows it is gone for
    good): membership and liveness deleted, its blocks and endpoint records freed. Returns the
    (network, block) freed."""
    client.txn([], [etcd.delete_request(layout.host_key(host)), etcd.delete_request(layout.alive_key(host))])
    freed = free_blocks(client, host)
    forget_endpoints(client, {host})
    return freed


def gc(client, fleet, check_mode=False):
    """The cluster GC (see the module's docstring): forget the silent members that `fleet` (the
    names of every host of the fleet) leaves out, then free every block of a host that is not a member.
    With check_mode, nothing changes and the result is what a GC would do now."""
    fleet = {layout.component(host, "host") for host in fleet}
    forgotten, spared = [], []
    for host, member in sorted(members(client).items()):
        if host in fleet:
            continue
        if check_mode:
            (spared if member.alive else forgotten).append(host)
        elif _forget_if_silent(client, host):
            forgotten.append(host)
        else:
            spared.append(host)
    current = set(members(client)) - set(forgotten if check_mode else ())
    freed = []
    owners = {_host_of(kv.key) for kv in client.get_prefix(layout.HOST_BLOCKS, keys_only=True)}
    for host in sorted(owners - current):
        freed.extend(free_blocks(client, host, check_mode))
    if not check_mode:
        forget_endpoints(client, current, keep=True)
    return GCResult(forgotten, spared, freed, sorted(current))


def _forget_if_silent(client, host):
    """Delete the membership of `host` if it has not changed since read and the host is silent."""
    member = client.get(layout.host_key(host))
    if member is None:
        return True
    result = client.txn([etcd.compare_modified(member.key, member.mod_revision),
                         etcd.compare_absent(layout.alive_key(host))],
                        [etcd.delete_request(member.key)])
    return result.succeeded


def free_blocks(client, host, check_mode=False):
    """Free every block of `host`, each in one transaction that checks the host is not a member:
    a host that joins meanwhile keeps the rest. Returns the (network, block) freed (with check_mode,
    those it holds, and nothing changes)."""
    freed = []
    for kv in client.get_prefix(layout.host_blocks_prefix(host), keys_only=True):
        network, block = layout.network_of_block(kv.key), layout.block_of(kv.key)
        if check_mode:
            freed.append((network, block))
            continue
        block_key = layout.block_key(network, block)
        # The index and the block were created by one transaction: same create revision.
        result = client.txn([etcd.compare_absent(layout.host_key(host)),
                             etcd.compare_created(block_key, kv.create_revision)],
                            [etcd.delete_request(block_key), etcd.delete_request(kv.key)])
        if result.succeeded:
            freed.append((network, block))
    return freed


def forget_endpoints(client, hosts, keep=False):
    """Delete the endpoint records of `hosts` (of every host but `hosts` with keep=True) on global
    networks, each host's in one transaction that checks the host is not a member."""
    by_host = {}
    for kv in client.get_prefix(layout.ENDPOINTS, keys_only=True):
        host = kv.key.rsplit("/", 2)[1]
        if (host in hosts) != keep:
            by_host.setdefault(host, []).append(kv.key)
    for host, keys in sorted(by_host.items()):
        client.txn([etcd.compare_absent(layout.host_key(host))], [etcd.delete_request(key) for key in keys])


def _host_of(host_block_key):
    return host_block_key[len(layout.HOST_BLOCKS):].split("/", 1)[0]
