# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Global networks in etcd: their records, the endpoints each host has on them, and their deletion.

A global network is written once, by one transaction that creates its record (by id) and its name
(by name) if the name is free: two hosts that create a network of the same name at once end with
one network, the other host's attempt finding the record that won. Every host keeps the network in
its own store too, under the same id, with what is its own there (its address blocks as pools, its
endpoints, its kernel objects).

A host records the endpoints it has on a network under endpoints/<network>/<host>/, one key per
endpoint, in one transaction per batch of endpoints (never one round trip per endpoint): the
transaction checks that the network is still recorded. Deleting the network is one transaction
that checks that no key is under endpoints/<network>/ and that no block was claimed since it read
them, and deletes the network, its name, its VNI and every block of it; otherwise it reports every
endpoint with its host (ActiveEndpointsError) and changes nothing.
"""

from __future__ import annotations

import collections
import json

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import etcd, layout

# A global network as etcd holds it: id, name, type (the driver) and its normalised options.
GlobalNetwork = collections.namedtuple("GlobalNetwork", "id name type options")

# How often a deletion reads again when blocks were claimed between its read and its transaction.
_DELETE_ATTEMPTS = 5
# Requests per transaction: etcd refuses more than 128 by default (its --max-txn-ops).
TXN_REQUESTS = 100


def _chunks(items):
    return [items[start:start + TXN_REQUESTS] for start in range(0, len(items), TXN_REQUESTS)]


def _value(name, network_type, network_options):
    return json.dumps({"name": name, "type": network_type, "options": network_options}, sort_keys=True)


def _record(kv):
    data = json.loads(kv.value)
    return GlobalNetwork(layout.last_component(kv.key), data["name"], data["type"], data["options"])


def publish(client, network_id, name, network_type, network_options):
    """Record a network unless one of that name is recorded: one transaction. Returns the
    GlobalNetwork that stands under the name: this one, or the one another host recorded first."""
    name_key = layout.network_name_key(name)
    result = client.txn([etcd.compare_absent(name_key)],
                        [etcd.put_request(layout.network_key(network_id),
                                          _value(name, network_type, network_options)),
                         etcd.put_request(name_key, network_id)],
                        [etcd.get_request(name_key)])
    if result.succeeded:
        return GlobalNetwork(network_id, name, network_type, network_options)
    found = result.responses[0]
    if not found:  # the name was freed meanwhile: try again
        return publish(client, network_id, name, network_type, network_options)
    return by_id(client, found[0].value)


def by_id(client, network_id):
    """The GlobalNetwork of that id, or None."""
    kv = client.get(layout.network_key(network_id))
    return _record(kv) if kv is not None else None


def by_name(client, name):
    """The GlobalNetwork of that name, or None: one round trip for the name, one for the record."""
    kv = client.get(layout.network_name_key(name))
    return by_id(client, kv.value) if kv is not None else None


def all_networks(client):
    """Every global network, in id order."""
    return [_record(kv) for kv in client.get_prefix(layout.NETWORKS)]


def attach(client, network_id, host, endpoints):
    """Record `endpoints` ({endpoint id: name}) of `host` on the network, in one transaction per
    TXN_REQUESTS endpoints that checks that the network is still recorded (UnknownNetworkError if
    another host deleted it)."""
    for chunk in _chunks(sorted(endpoints.items())):
        result = client.txn([etcd.compare_present(layout.network_key(network_id))],
                            [etcd.put_request(layout.endpoint_key(network_id, host, endpoint_id), name)
                             for endpoint_id, name in chunk])
        if not result.succeeded:
            raise errors.UnknownNetworkError(network_id)


def detach(client, network_id, host, endpoint_ids):
    """Forget endpoints of `host` on the network: one transaction per TXN_REQUESTS (ones already gone
    are fine)."""
    for chunk in _chunks(sorted(endpoint_ids)):
        client.txn([], [etcd.delete_request(layout.endpoint_key(network_id, host, endpoint_id))
                        for endpoint_id in chunk])


def endpoints(client, network_id):
    """[(host, endpoint name)] of every host's endpoints on the network, in key order."""
    return [_host_and_name(kv) for kv in client.get_prefix(layout.endpoints_prefix(network_id))]


def _host_and_name(kv):
    return kv.key.rsplit("/", 2)[1], kv.value


def delete(client, network):
    """Delete the GlobalNetwork `network` with its name, VNI and blocks, in one transaction, unless a
    host has endpoints on it (ActiveEndpointsError naming each with its host; nothing changed); then
    the blocks' index by host (no block of the network can be claimed any more). Returns False when
    it was not recorded (any more)."""
    network_key, name_key = layout.network_key(network.id), layout.network_name_key(network.name)
    endpoints_prefix, blocks_prefix = layout.endpoints_prefix(network.id), layout.blocks_prefix(network.id)
    for _attempt in range(_DELETE_ATTEMPTS):
        read = client.txn([], [etcd.get_request(network_key), etcd.get_request(blocks_prefix, prefix=True),
                               etcd.get_request(layout.network_vni_key(network.id))])
        recorded, blocks, vni = read.responses
        if not recorded:
            return False
        deletions = [etcd.delete_request(network_key), etcd.delete_request(name_key),
                     etcd.delete_request(blocks_prefix, prefix=True),
                     etcd.delete_request(layout.network_vni_key(network.id))]
        if vni:
            deletions.append(etcd.delete_request(layout.vni_key(int(vni[0].value))))
        result = client.txn([etcd.compare_none_under(endpoints_prefix),
                             etcd.compare_unchanged_under(blocks_prefix, read.revision)], deletions, [etcd.get_request(endpoints_prefix, prefix=True)])
        if result.succeeded:
            index = [etcd.delete_request(layout.host_block_key(json.loads(kv.value)["host"], network.id,
                                                               layout.block_of(kv.key))) for kv in blocks]
            for chunk in _chunks(index):
                client.txn([], chunk)
            return True
        found = [_host_and_name(kv) for kv in result.responses[0]]
        if found:
            raise errors.ActiveEndpointsError(
                "network", network.name, ["%s (host %s)" % (name, host) for host, name in found],
                "delete them first, on their hosts")
    raise errors.ClusterStoreError("network %s: blocks kept being claimed while it was being deleted; "
                                   "try again" % network.name)
