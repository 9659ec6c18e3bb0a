# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Endpoints: a network's connection into one sandbox."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import ports
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import STATE_READY


class Endpoint:
    """The seed's Endpoint interface: id, name, network, sandbox_info(), delete()."""

    def __init__(self, network, record):
        self._network = network
        self._record = record

    @property
    def id(self):
        return self._record["id"]

    @property
    def name(self):
        return self._record["name"]

    @property
    def network(self):
        """The name of the network this endpoint belongs to (as in the seed)."""
        return self._network.name

    @property
    def sandbox_key(self):
        return self._record["sandbox_key"]

    @property
    def options(self):
        return dict(self._record["options"])

    @property
    def state(self):
        return self._record["state"]

    def __repr__(self):
        return "Endpoint(%r, network=%r)" % (self.name, self.network)

    def record(self):
        return dict(self._record)

    def ports(self):
        """The published ports with the host ports they hold."""
        return ports.published(self._network.store.read(), self.id)

    def sandbox_info(self):
        """What the container sees: its interface and the gateways."""
        record = self._record
        interfaces = []
        if record["ifname"]:
            interfaces.append({
                "src_name": record["host_ifname"],
                "dst_name": record["ifname"],
                "address": record["address"],
                "address_ipv6": record["address_ipv6"],
                "mac": record["mac"],
            })
        gateways = {pool["version"]: pool["gateway"] for pool in reversed(self._network.pools())}
        internal = self._network.options.get("internal")
        return {
            "interfaces": interfaces,
            "gateway": None if internal or not record["address"] else gateways.get(4),
            "gateway_ipv6": None if internal or not record["address_ipv6"] else gateways.get(6),
        }

    def info(self):
        return {"id": self.id, "name": self.name, "network": self.network, "sandbox": self.sandbox_key,
                "options": self.options, "state": self.state, "sandbox_info": self.sandbox_info(),
                "ports": self.ports()}

    def drift(self):
        """What the kernel lacks of this endpoint, as sentences (empty: nothing)."""
        return self._network.endpoints_drift([self])[0]

    def repair(self):
        """Make the kernel match this endpoint again (after damage outside pynet, or a creation cut off)."""
        failure = self._network.driver_impl.create_endpoints(self._network.record(),
                                                             [self._network.driver_record(self._record)])[0]
        if failure is not None:
            raise failure
        if self.state != STATE_READY:
            with self._network.store.write() as tx:
                tx.execute("UPDATE endpoints SET state = ? WHERE id = ?", (STATE_READY, self.id))
            self._record["state"] = STATE_READY
        if self.options.get("ports"):
            self._network.controller.sync_host()

    def delete(self):
        """Remove the endpoint from the kernel, then from the store, releasing its addresses."""
        self._network.delete_endpoints([self])
