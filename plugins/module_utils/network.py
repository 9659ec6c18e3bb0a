# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Networks: named connectivity zones, each managed by one driver, with address pools (libnetwork's Network).

A Network is its record (records.NetworkRecord) and the orchestrator the controller gave it: it
reads from the store, and every change it is asked for is the orchestrator's, which works on
records and never calls back.
"""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, ipam
from ansible_collections.pynet.libnetwork.plugins.module_utils.endpoint import Endpoint
from ansible_collections.pynet.libnetwork.plugins.module_utils.orchestrator import Orchestrator
from ansible_collections.pynet.libnetwork.plugins.module_utils.ports import HostAddresses
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import (
    NetworkRecord, Pool, PublishedPort, RecordView, record_field)


class Network(RecordView):
    """libnetwork's Network: name, id, type, create_endpoint(), endpoints(), delete()."""

    name = record_field("name")
    id = record_field("id")
    type = record_field("type", "the network type (its driver's name)")
    state = record_field("state", "creating, ready or deleting")
    options = record_field("options", "the normalised options")

    def __init__(self, orchestrator: Orchestrator, record: NetworkRecord):
        super().__init__(record)
        self._orchestrator = orchestrator

    def __repr__(self) -> str:
        return "Network(%r, type=%r)" % (self.name, self.type)

    def pools(self) -> list[Pool]:
        """The address pools (records.Pool: version, subnet, gateway)."""
        return list(self._record.pools)

    def has_free_address(self, version: int = 4) -> bool:
        """Whether an endpoint created now would get an address of that IP version (read only): False
        when every pool of that version is exhausted, or the network has none."""
        return ipam.has_free_address(self._orchestrator.store.snapshot(), self.id, version)

    def info(self) -> dict:
        return {"id": self.id, "name": self.name, "driver": self.type, "options": self.options,
                "state": self.state, "endpoints": [ep.info() for ep in self.endpoints()]}

    # --- endpoints ----------------------------------------------------------------------------

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint(self, record) for record in self._orchestrator.store.snapshot().endpoints(self.id)]

    def endpoints_owned(self, owner: str | None) -> list[Endpoint]:
        """The endpoints `owner` made (None: playbooks and the library; records.OWNER_CNI: container runtimes)."""
        owned = self._orchestrator.store.snapshot().endpoints_owned(self.id, owner)
        return [Endpoint(self, record) for record in owned]

    def endpoint_by_attachment(self, container_id: str, ifname: str) -> Endpoint:
        """The endpoint of a runtime's attachment: its container's interface `ifname`."""
        record = self._orchestrator.store.snapshot().attachment(self.id, container_id, ifname)
        if record is None:
            raise errors.UnknownEndpointError("of container %s on %s" % (container_id, ifname), self.name)
        return Endpoint(self, record)

    def endpoint_by_name(self, name: str) -> Endpoint:
        record = self._orchestrator.store.snapshot().endpoint(self.id, name=name)
        if record is None:
            raise errors.UnknownEndpointError(name, self.name)
        return Endpoint(self, record)

    def endpoint_by_id(self, endpoint_id: str) -> Endpoint:
        record = self._orchestrator.store.snapshot().endpoint(self.id, endpoint_id=endpoint_id)
        if record is None:
            raise errors.UnknownEndpointError(endpoint_id, self.name)
        return Endpoint(self, record)

    def published_ports(self, endpoint_id: str) -> list[PublishedPort]:
        """The host ports an endpoint of this network holds (records.PublishedPort)."""
        return self._orchestrator.store.snapshot().ports(endpoint_id)

    def sandbox_files(self, sandbox_key: str) -> dict:
        """Where the resolv.conf and hosts files of the sandbox at `sandbox_key` are."""
        return self._orchestrator.sandbox_files(sandbox_key)

    def create_endpoint(self, name: str, sandbox_key: str, endpoint_options: dict | None = None,
                        owner: str | None = None, container_id: str | None = None) -> Endpoint:
        """Allocate addresses and connect the sandbox at `sandbox_key` to this network. A runtime's
        attachment gives its `owner` (records.OWNER_CNI) and `container_id`: the namespace it adopts is
        then forgotten with its last endpoint, and no playbook removes the endpoint unless it names it.
        A failed creation leaves nothing behind."""
        created = self.create_endpoints([(name, sandbox_key, endpoint_options, owner, container_id)])[0]
        if isinstance(created, Endpoint):
            return created
        raise created  # pylint: disable=raising-bad-type  # an exception: the batch gives Endpoint or error

    def create_endpoints(self, specs: list[tuple],
                         host_addresses: HostAddresses | None = None) -> list[Endpoint | Exception]:
        """Create many endpoints: (name, sandbox_key, options[, owner, container_id]) tuples. Returns, in
        order, an Endpoint or the error that stopped that one: a failed endpoint leaves nothing behind,
        the others stand.
        host_addresses: a ports.HostAddresses already read, if the caller has one."""
        return [created if isinstance(created, Exception) else Endpoint(self, created)
                for created in self._orchestrator.create_endpoints(self._record, specs, host_addresses)]

    def repair_endpoints(self, endpoints: list[Endpoint]) -> None:
        """Make the kernel match these endpoints again (after damage outside pynet, or a creation cut
        off), as creating them does; raises the first failure."""
        self._orchestrator.repair_endpoints(self._record, [endpoint.record() for endpoint in endpoints])

    def delete_endpoints(self, endpoints: list[Endpoint]) -> None:
        """Remove endpoints from the kernel (in one request), then from the store, releasing their addresses."""
        self._orchestrator.delete_endpoints(self._record, [endpoint.record() for endpoint in endpoints])

    def default_routes(self, endpoint: Endpoint) -> tuple[int, ...]:
        """The IP versions whose default route in its sandbox goes through the endpoint (of this network)."""
        return self._orchestrator.default_routes(endpoint.record())

    def endpoints_drift(self, endpoints: list[Endpoint]) -> list[list[str]]:
        """Per endpoint, what the kernel lacks of it, as sentences (empty: nothing); one pass for all."""
        return self._orchestrator.endpoints_drift(self._record, [endpoint.record() for endpoint in endpoints])

    def check_endpoint(self, name: str, sandbox_key: str, endpoint_options: dict | None,
                       host_addresses: HostAddresses | None = None) -> dict:
        """The endpoint options normalised, or an error naming the one at fault; nothing is changed."""
        return self._orchestrator.check_endpoint(self._record, name, sandbox_key, endpoint_options, host_addresses)

    # --- the network itself -------------------------------------------------------------------

    def drift(self) -> list[str]:
        """What the kernel lacks of this network, as sentences (empty: nothing)."""
        return self._orchestrator.network_drift(self._record)

    def repair(self) -> None:
        """Make the kernel match this network again (after damage outside pynet, or a creation cut off)."""
        self._record = self._orchestrator.repair_network(self._record)

    def set_labels(self, labels: dict) -> None:
        """Labels are the one option changed in place: they live only in the store."""
        self._record = self._orchestrator.set_labels(self._record, labels)

    def set_dns(self, dns_enabled: bool, dns_servers: list) -> None:
        """dns_enabled and dns_servers change in place: the network's DNS server follows."""
        self._record = self._orchestrator.set_dns(self._record, dns_enabled, dns_servers)

    def delete(self) -> None:
        """Remove the network; refused (ActiveEndpointsError, nothing changed) while it has endpoints."""
        self._orchestrator.delete_network(self._record)
