# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Networks: named connectivity zones, each managed by one driver, with address pools."""

from __future__ import annotations

import json
import os

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, ipam, options, ports
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.endpoint import Endpoint
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import (
    STATE_CREATING, STATE_DELETING, STATE_READY, encode_options)


class Network:
    """The seed's Network interface: name, id, type, create_endpoint(), endpoints(), delete()."""

    def __init__(self, controller, record):
        self._controller = controller
        self._record = record
        self._pools = None

    @property
    def name(self):
        return self._record["name"]

    @property
    def id(self):
        return self._record["id"]

    @property
    def type(self):
        return self._record["type"]

    @property
    def options(self):
        return dict(self._record["options"])

    @property
    def state(self):
        return self._record["state"]

    @property
    def controller(self):
        return self._controller

    @property
    def store(self):
        return self._controller.store

    @property
    def driver_impl(self):
        return self._controller.driver(self.type).impl

    def __repr__(self):
        return "Network(%r, type=%r)" % (self.name, self.type)

    def pools(self):
        """The address pools, read once: they stay as they are while the network lives (another
        ipam makes another network)."""
        if self._pools is None:
            self._pools = [{"version": pool["version"], "subnet": pool["subnet"], "gateway": pool["gateway"]}
                           for pool in ipam.network_pools(self.store.read(), self.id)]
        return [dict(pool) for pool in self._pools]

    def record(self):
        """The plain record the driver works from."""
        return dict(self._record, pools=self.pools())

    def info(self):
        return {"id": self.id, "name": self.name, "driver": self.type, "options": self.options,
                "state": self.state, "endpoints": [ep.info() for ep in self.endpoints()]}

    # --- endpoints ----------------------------------------------------------------------------

    def endpoints(self):
        rows = self.store.read().all("SELECT * FROM endpoints WHERE network_id = ? ORDER BY name", (self.id,))
        return [Endpoint(self, row) for row in rows]

    def endpoint_by_name(self, name):
        row = self.store.read().one("SELECT * FROM endpoints WHERE network_id = ? AND name = ?", (self.id, name))
        if row is None:
            raise errors.UnknownEndpointError(name, self.name)
        return Endpoint(self, row)

    def endpoint_by_id(self, endpoint_id):
        row = self.store.read().one("SELECT * FROM endpoints WHERE network_id = ? AND id = ?",
                                    (self.id, endpoint_id))
        if row is None:
            raise errors.UnknownEndpointError(endpoint_id, self.name)
        return Endpoint(self, row)

    def create_endpoint(self, name, sandbox_key, endpoint_options=None):
        """Allocate addresses and connect the sandbox at `sandbox_key` to this network."""
        created = self.create_endpoints([(name, sandbox_key, endpoint_options)])[0]
        if isinstance(created, Endpoint):
            return created
        raise created  # pylint: disable=raising-bad-type  # an exception: the batch gives Endpoint or error

    def create_endpoints(self, specs, host_addresses=None):
        """Create many endpoints with two store transactions and one netlink socket on the host.

        specs: (name, sandbox_key, options) tuples. Returns, in order, an Endpoint or the error
        that stopped that one: a failed endpoint leaves nothing behind, the others stand.
        Intent is recorded first (state 'creating'), then the kernel is changed, then the
        endpoints are marked ready; a record whose kernel step failed goes with its addresses.
        host_addresses: a ports.HostAddresses already read, if the caller has one.
        """
        results = [None] * len(specs)
        checked = []
        host_addresses = host_addresses or ports.HostAddresses()
        for index, (name, sandbox_key, endpoint_options) in enumerate(specs):
            try:
                opts = self.check_endpoint(name, sandbox_key, endpoint_options, host_addresses)
                if not netns.is_netns(sandbox_key):
                    raise errors.SandboxKeyError(sandbox_key, "is not a network namespace: create it with "
                                                 "new_sandbox() first", param="sandbox")
                checked.append((index, name, sandbox_key, opts))
            except errors.PynetError as exc:
                results[index] = exc
        records = []
        with self.store.write() as tx:
            for index, name, sandbox_key, opts in checked:
                tx.execute("SAVEPOINT endpoint")
                try:
                    records.append((index, self.prepare_endpoint(tx, name, sandbox_key, opts)))
                    tx.execute("INSERT OR IGNORE INTO sandboxes(key, created) VALUES (?, 0)", (sandbox_key,))
                except errors.PynetError as exc:
                    tx.execute("ROLLBACK TO endpoint")
                    results[index] = exc
                tx.execute("RELEASE endpoint")
        if not records:
            return results
        publishing = any(record["options"].get("ports") for _i, record in records)
        try:
            failures = self.driver_impl.create_endpoints(self.record(),
                                                         [self.driver_record(record) for _i, record in records])
            self._forget([record for (_i, record), failure in zip(records, failures) if failure is not None])
            if publishing:
                self._controller.sync_host()
        except BaseException:
            # Undone whole, so that what the next sync renders is what stands.
            self.driver_impl.delete_endpoints(self.record(), [record for _i, record in records])
            self._forget([record for _i, record in records])
            if publishing:
                self._controller.undo_sync()
            raise
        with self.store.write() as tx:
            for (index, record), failure in zip(records, failures):
                if failure is None:
                    tx.execute("UPDATE endpoints SET state = ? WHERE id = ?", (STATE_READY, record["id"]))
                    record["state"] = STATE_READY
                    results[index] = Endpoint(self, record)
                else:
                    results[index] = failure if isinstance(failure, errors.PynetError) else errors.KernelError.refused(
                        "endpoint %s" % record["name"], failure, "name")
        return results

    def delete_endpoints(self, endpoints):
        """Remove endpoints from the kernel (in one request), then from the store, releasing their addresses."""
        if not endpoints:
            return
        records = [endpoint.record() for endpoint in endpoints]
        with self.store.write() as tx:
            for record in records:
                tx.execute("UPDATE endpoints SET state = ? WHERE id = ?", (STATE_DELETING, record["id"]))
        if any(record["options"].get("ports") for record in records):
            self._controller.sync_host()
        self.driver_impl.delete_endpoints(self.record(), records)
        self._forget(records)
        for sandbox_key in sorted({record["sandbox_key"] for record in records}):
            self._controller.refresh_default_routes(sandbox_key)

    def endpoints_drift(self, endpoints):
        """Per endpoint, what the kernel lacks of it, as sentences (empty: nothing); one pass for all."""
        records = [self.driver_record(endpoint.record()) for endpoint in endpoints]
        found = self.driver_impl.endpoints_drift(self.record(), records)
        for record, drift in zip(records, found):
            if record["state"] != STATE_READY:
                drift.append("endpoint %s was left %s by a run that was cut off" % (record["name"], record["state"]))
        return found

    def _forget(self, records):
        with self.store.write() as tx:
            for record in records:
                ipam.release(tx, record["id"])
                tx.execute("DELETE FROM endpoints WHERE id = ?", (record["id"],))

    def check_endpoint(self, name, sandbox_key, endpoint_options, host_addresses=None):
        """The endpoint options normalised, or an error naming the one at fault; no store, and no
        kernel but the host's addresses (host_addresses, a ports.HostAddresses) when a port gives host_ip."""
        options.check_name("name", name)
        sandboxes.check_key(sandbox_key, "sandbox")
        opts = self.driver_impl.validate_endpoint_options(endpoint_options)
        for index, mapping in enumerate(opts.get("ports") or []):
            if mapping["host_ip"]:
                host_addresses = host_addresses or ports.HostAddresses()
                host_addresses.check("ports[%d].host_ip" % index, mapping["host_ip"])
        return opts

    def prepare_endpoint(self, tx, name, sandbox_key, opts):
        """Record a new endpoint in `tx` (state 'creating') with its addresses and host ports."""
        if tx.one("SELECT id FROM endpoints WHERE network_id = ? AND name = ?", (self.id, name)):
            raise errors.EndpointNameError(name, self.name)
        record = self._new_record(tx, self.driver_impl, os.urandom(32).hex(), name, sandbox_key, opts)
        tx.execute("INSERT INTO endpoints(id, network_id, name, sandbox_key, ifname, host_ifname, mac, address, "
                   "address_ipv6, options, state) VALUES (:id, :network_id, :name, :sandbox_key, :ifname, "
                   ":host_ifname, :mac, :address, :address_ipv6, :options, :state)",
                   dict(record, options=encode_options(record["options"])))
        mappings = opts.get("ports") or []
        self._check_ports(record, mappings)
        # After the endpoint's row: a port it lists twice is then found as taken.
        ports.reserve(tx, record["id"], mappings, self.options.get("host_binding_ipv4") or "")
        return record

    def _check_ports(self, record, mappings):
        """Ports are published only where traffic can reach them: as Docker's, not on an internal
        network, and on a host address of an IP version the endpoint has."""
        if mappings and self.options.get("internal"):
            raise errors.InvalidParameterError("ports", "network %s is internal: nothing beyond its subnets reaches "
                                               "it, so its endpoints publish no ports" % self.name)
        for index, mapping in enumerate(mappings):
            if not mapping["host_ip"]:
                continue
            version = addresses.version(mapping["host_ip"])
            if not record["address_ipv6" if version == 6 else "address"]:
                raise errors.InvalidParameterError(
                    "ports[%d].host_ip" % index, "%s is an IPv%d address, and endpoint %s has no IPv%d address on "
                    "network %s; give a host_ip of the other version, or none"
                    % (mapping["host_ip"], version, record["name"], version, self.name))

    def driver_record(self, record):
        """An endpoint record as the driver takes it: with the IP versions whose default route it owns."""
        owners = default_route_owners(self.store.read(), record["sandbox_key"])
        return dict(record, default_route=[version for version, owner in owners.items() if owner == record["id"]])

    def endpoint_view(self, record):
        """An Endpoint over a record that may not be stored (a prediction)."""
        return Endpoint(self, record)

    def _new_record(self, tx, impl, endpoint_id, name, sandbox_key, opts):
        record = {"id": endpoint_id, "network_id": self.id, "name": name, "sandbox_key": sandbox_key,
                  "ifname": opts.get("ifname") or "", "host_ifname": "", "mac": "", "address": None,
                  "address_ipv6": None, "options": opts, "state": STATE_CREATING}
        if not impl.uses_ipam:
            return record
        clash = tx.one("SELECT endpoints.name, networks.name AS network FROM endpoints JOIN networks "
                       "ON networks.id = endpoints.network_id WHERE sandbox_key = ? AND ifname = ?",
                       (sandbox_key, record["ifname"]))
        if clash:
            raise errors.InvalidParameterError(
                "ifname", "%s is already used in sandbox %s by endpoint %s of network %s; choose another "
                "(such as eth1)" % (record["ifname"], sandbox_key, clash["name"], clash["network"]))
        record["address"] = ipam.allocate(tx, self.name, self.id, 4, endpoint_id, opts.get("ip"), "ip")
        record["address_ipv6"] = ipam.allocate(tx, self.name, self.id, 6, endpoint_id, opts.get("ipv6"), "ipv6")
        record["host_ifname"] = impl.host_ifname(endpoint_id)
        record["mac"] = opts.get("mac") or ipam.mac_from_id(endpoint_id)
        return record

    # --- the network itself -------------------------------------------------------------------

    def drift(self):
        """What the kernel lacks of this network, as sentences (empty: nothing)."""
        drift = self.driver_impl.network_drift(self.record()) + self._controller.firewall_drift()
        if self.state != STATE_READY:
            drift.append("network %s was left %s by a run that was cut off" % (self.name, self.state))
        return drift

    def repair(self):
        """Make the kernel match this network again (after damage outside pynet, or a creation cut off)."""
        self.driver_impl.create_network(self.record())
        if self.state != STATE_READY:
            with self.store.write() as tx:
                tx.execute("UPDATE networks SET state = ? WHERE id = ?", (STATE_READY, self.id))
            self._record["state"] = STATE_READY
        self._controller.sync_host()

    def set_labels(self, labels):
        """Labels are the one option changed in place: they live only in the store."""
        self._record["options"]["labels"] = options.check_labels("labels", labels)
        with self.store.write() as tx:
            tx.execute("UPDATE networks SET options = ? WHERE id = ?",
                       (encode_options(self._record["options"]), self.id))

    def delete(self):
        """Remove the network; refused (ActiveEndpointsError, nothing changed) while it has endpoints."""
        with self.store.write() as tx:
            names = [row["name"] for row in tx.all("SELECT name FROM endpoints WHERE network_id = ?", (self.id,))]
            if names:
                raise errors.ActiveEndpointsError("network", self.name, names)
            tx.execute("UPDATE networks SET state = ? WHERE id = ?", (STATE_DELETING, self.id))
        self._controller.sync_host()
        self.driver_impl.delete_network(self.record())
        with self.store.write() as tx:
            tx.execute("DELETE FROM networks WHERE id = ?", (self.id,))


def default_route_owners(reader, sandbox_key):
    """Which endpoint gives the sandbox its default route, per IP version: of the endpoints on
    networks that are not internal, the one with the highest gw_priority, then the oldest."""
    rows = reader.all("SELECT endpoints.id, endpoints.address, endpoints.address_ipv6, endpoints.options, "
                      "networks.options AS network_options FROM endpoints JOIN networks "
                      "ON networks.id = endpoints.network_id WHERE endpoints.sandbox_key = ? ORDER BY endpoints.rowid",
                      (sandbox_key,))
    owners = {}
    for version, column in ((4, "address"), (6, "address_ipv6")):
        candidates = [row for row in rows
                      if row[column] and not json.loads(row["network_options"]).get("internal")]
        if candidates:
            best = max(candidates, key=lambda row: row["options"].get("gw_priority") or 0)
            owners[version] = best["id"]
    return owners
