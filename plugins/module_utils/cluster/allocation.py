# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Cluster IPAM by address blocks, after Calico's block affinities, and VXLAN ids of global networks.

A host claims a whole block of a global network's subnet (by default a /26 of IPv4, a /122 of
IPv6: Calico's sizes) with one compare-and-swap transaction: the block's key is created with the
host as its owner, together with its index entry, if the key is absent and the host is a member
(members.py). The host then hands out the block's addresses itself with no etcd round trip per
address: only its own store knows which of them are in use, and its callers hold that store's lock
around allocate() and release_empty_blocks(). Blocks are disjoint, so no address is given out twice
across hosts whatever the timing; a block goes back to the pool (one CAS) when it holds no address
in use. Claims are rare: one per 64 addresses by default.

Which block to try: each host starts at a point of the subnet picked by a hash of its name, and
takes the first block from there that it does not know to be taken (Calico seeds its block
generator with the host name for the same reason: hosts that claim at the same moment try
different blocks, where "the lowest free block" would have them all race for one). It tries
without listing the blocks first, so a claim is one round trip when that block is free. A lost
race brings back, in the same round trip, the blocks claimed since the host last looked (all of
them the first time; etcd's min_create_revision), and the host starts again from a new hashed
point rather than the next block, which the other losers would race for too. (A block released
meanwhile is not seen free until the next claim.) benchmarks/cluster_ipam.py measures these
choices with 1,000 hosts claiming at once.

VXLAN ids (VNIs) are taken the same way: one transaction writes the VNI's key and the network's,
if both are absent; a host that finds the network's already written (in the same round trip)
uses that one.
"""

from __future__ import annotations

import collections
import hashlib
import json

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import etcd, layout

DEFAULT_BLOCK_PREFIXLEN = {4: 26, 6: 122}
# VXLAN ids below 4096 are left to vxlan devices made by hand (Docker's overlay starts there too).
FIRST_VNI = 4096
LAST_VNI = (1 << 24) - 1


# A block claimed (a CIDR), with the races lost on the way.
Claim = collections.namedtuple("Claim", "block conflicts")
# The addresses handed out, every block the host holds in the network now, the Claims made.
Allocation = collections.namedtuple("Allocation", "addresses blocks claims")


# Where to look: pure.

def block_prefixlen(subnet, prefixlen=None):
    """The prefix length of `subnet`'s blocks: `prefixlen`, or the default for its IP version (the
    subnet itself when it is smaller than a default block)."""
    network = addresses.network(subnet)
    if prefixlen is None:
        return max(DEFAULT_BLOCK_PREFIXLEN[network.version], network.prefixlen)
    if isinstance(prefixlen, bool) or not isinstance(prefixlen, int) or not (
            network.prefixlen <= prefixlen <= addresses.ADDRESS_BITS[network.version]):
        raise errors.InvalidParameterError("block_prefixlen", "must be a prefix length from %d (the subnet %s) to %d"
                                           % (network.prefixlen, network, addresses.ADDRESS_BITS[network.version]))
    return prefixlen


def hashed(*parts):
    """A number from `parts`, the same in every process (Python's hash() is not): where a host starts."""
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


def first_free(count, start, taken):
    """The first index of range(count) at or after `start` (wrapping) that is not in `taken`, or None."""
    if len(taken) >= count:
        return None
    index = start % count
    while index in taken:
        index = (index + 1) % count
    return index


def block_at(subnet, prefixlen, index):
    network = addresses.network(subnet)
    size = 1 << (addresses.ADDRESS_BITS[network.version] - prefixlen)
    return "%s/%d" % (network.network_address + index * size, prefixlen)


def index_of(subnet, prefixlen, block):
    """The index of `block` among `subnet`'s blocks, or None if it is not one of them."""
    network, candidate = addresses.network(subnet), addresses.network(block)
    if candidate.prefixlen != prefixlen or candidate.version != network.version or not candidate.subnet_of(network):
        return None
    return (int(candidate.network_address) - int(network.network_address)) >> (
        addresses.ADDRESS_BITS[network.version] - prefixlen)


def _block_order(block):
    """Blocks in address order, IPv4 first (ipaddress does not compare networks of two versions)."""
    network = addresses.network(block)
    return network.version, int(network.network_address), network.prefixlen


def indexes_of(subnet, prefixlen, blocks):
    """The indexes of those `blocks` that are blocks of `subnet`."""
    return {index for index in (index_of(subnet, prefixlen, block) for block in blocks) if index is not None}


def free_addresses(blocks, used, count, reserved=()):
    """Up to `count` addresses of `blocks`, in order, that are neither `used` nor `reserved`."""
    skip = {addresses.address(address) for address in list(used) + list(reserved)}
    found = []
    if count < 1:
        return found
    for block in blocks:
        for address in addresses.network(block):
            if address not in skip:
                found.append(str(address))
                if len(found) == count:
                    return found
    return found


# Blocks in etcd.

def _owner_value(host):
    return json.dumps({"host": host})


# held: the host holds the block now (by this try, or an earlier one whose answer was lost);
# claimed: when another host holds it, the network's blocks claimed after `since`;
# revision: etcd's revision when the try was made.
Try = collections.namedtuple("Try", "held claimed revision")


def try_claim(client, network, block, host, since=0, required=()):
    """One compare-and-swap transaction: claim `block` for `host`. When another host holds it, the
    same round trip brings back the network's blocks claimed after revision `since` (all of them
    with 0). errors.NotAMemberError if `host` is not a member; errors.UnknownNetworkError if a key
    of `required` (a global network's record) is gone."""
    key, member_key = layout.block_key(network, block), layout.host_key(host)
    result = client.txn([etcd.compare_absent(key), etcd.compare_present(member_key),
                         *(etcd.compare_present(needed) for needed in required)],
                        [etcd.put_request(key, _owner_value(host)),
                         etcd.put_request(layout.host_block_key(host, network, block), "")],
                        [etcd.get_request(key), etcd.get_request(member_key),
                         etcd.get_request(layout.blocks_prefix(network), prefix=True, keys_only=True,
                                          created_after=since),
                         *(etcd.get_request(needed, keys_only=True) for needed in required)])
    if result.succeeded:
        return Try(True, [], result.revision)
    owner, member, claimed = result.responses[:3]
    if not member:
        raise errors.NotAMemberError(host)
    if not all(result.responses[3:]):
        raise errors.UnknownNetworkError(network)
    held = bool(owner) and owner[0].value == _owner_value(host)
    return Try(held, [] if held else [layout.block_of(kv.key) for kv in claimed], result.revision)


def claim_block(client, network, subnet, host, prefixlen=None, held=(), required=()):
    """Claim a free block of `subnet` for `host`, which holds the blocks `held` already: one
    transaction when the first block tried is free, one more per race lost (`required` as try_claim's)."""
    prefixlen = block_prefixlen(subnet, prefixlen)
    count = 1 << (prefixlen - addresses.network(subnet).prefixlen)
    taken = indexes_of(subnet, prefixlen, held)
    conflicts, since = 0, 0
    while True:
        index = first_free(count, hashed(network, host, str(conflicts)), taken)
        if index is None:
            raise errors.NoFreeBlockError(network, subnet, prefixlen)
        block = block_at(subnet, prefixlen, index)
        attempt = try_claim(client, network, block, host, since, required)
        if attempt.held:
            return Claim(block, conflicts)
        taken.add(index)
        taken.update(indexes_of(subnet, prefixlen, attempt.claimed))
        conflicts, since = conflicts + 1, attempt.revision


def host_blocks(client, network, host):
    """The blocks `host` holds in `network`, as etcd knows them (to adopt after a crash)."""
    keys = client.get_prefix(layout.host_blocks_prefix(host, network), keys_only=True)
    return sorted((layout.block_of(kv.key) for kv in keys), key=_block_order)


def release_block(client, network, block, host):
    """Give `block` back if `host` holds it: one transaction. True if it was released."""
    key = layout.block_key(network, block)
    return client.txn([etcd.compare_value(key, _owner_value(host))],
                      [etcd.delete_request(key),
                       etcd.delete_request(layout.host_block_key(host, network, block))]).succeeded


def allocate(client, network, subnet, host, blocks, used, count, reserved=(), prefixlen=None):
    """`count` addresses for `host` in `subnet`: free ones of its `blocks` first, then of blocks it
    claims as needed. `used` are the addresses the host has handed out, `reserved` those never to be
    (the subnet's network and broadcast addresses, gateways). The caller records the result."""
    blocks, claims = list(blocks), []
    addresses = free_addresses(blocks, used, count, reserved)
    while len(addresses) < count:
        claim = claim_block(client, network, subnet, host, prefixlen, blocks)
        claims.append(claim)
        blocks.append(claim.block)
        addresses = free_addresses(blocks, used, count, reserved)
    return Allocation(addresses, blocks, claims)


def release_empty_blocks(client, network, host, blocks, used):
    """Give back every block of `blocks` that holds none of the `used` addresses; returns them."""
    in_use = [addresses.address(address) for address in used]
    released = []
    for block in blocks:
        cidr = addresses.network(block)
        if not any(address.version == cidr.version and address in cidr for address in in_use) and release_block(client, network, block, host):
            released.append(block)
    return released


# VXLAN ids.

def allocate_vni(client, network):
    """The VNI of `network`: the one it has, or a free one taken now. One transaction when the
    network has one or the first VNI tried is free; a lost race brings back the VNIs taken since
    the last look, as for blocks."""
    key = layout.network_vni_key(network)
    taken, conflicts, since = set(), 0, 0
    while True:
        index = first_free(LAST_VNI - FIRST_VNI + 1, hashed(network, str(conflicts)), taken)
        if index is None:
            raise errors.NoFreeVNIError(FIRST_VNI, LAST_VNI)
        vni = FIRST_VNI + index
        result = client.txn([etcd.compare_absent(layout.vni_key(vni)), etcd.compare_absent(key)],
                            [etcd.put_request(layout.vni_key(vni), network), etcd.put_request(key, str(vni))],
                            [etcd.get_request(key),
                             etcd.get_request(layout.VNIS, prefix=True, keys_only=True, created_after=since)])
        if result.succeeded:
            return vni
        own, claimed = result.responses
        if own:  # the network has its VNI (another host gave it one meanwhile)
            return int(own[0].value)
        taken.add(index)
        taken.update(int(layout.last_component(kv.key)) - FIRST_VNI for kv in claimed)
        conflicts, since = conflicts + 1, result.revision


def release_vni(client, network):
    """Free the VNI of `network`, if it has one: one transaction. True if one was freed."""
    key = layout.network_vni_key(network)
    existing = client.get(key)
    if existing is None:
        return False
    vni_key = layout.vni_key(int(existing.value))
    return client.txn([etcd.compare_value(key, existing.value), etcd.compare_value(vni_key, network)],
                      [etcd.delete_request(key), etcd.delete_request(vni_key)]).succeeded
