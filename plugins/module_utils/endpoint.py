# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Endpoints: a network's connection into one sandbox (libnetwork's Endpoint).

An Endpoint is its record (records.EndpointRecord) and its Network; what it changes goes through
its network to the orchestrator.
"""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils.records import (
    EndpointRecord, NetworkRecord, RecordView, record_field)


class Endpoint(RecordView):
    """libnetwork's Endpoint: id, name, network_name, sandbox_info(), delete()."""

    id = record_field("id")
    name = record_field("name")
    sandbox_key = record_field("sandbox_key")
    ifname = record_field("ifname", "the interface's name in the sandbox ('' for an endpoint that has none)")
    owner = record_field("owner", "who made it: None for a playbook or the library, records.OWNER_CNI for a runtime")
    container_id = record_field("container_id", "the runtime's container of the attachment (container_id, ifname)")
    state = record_field("state", "creating, ready or deleting")
    options = record_field("options", "the normalised options")

    def __init__(self, network, record: EndpointRecord):
        """`network`: the Network (network.py) the endpoint belongs to."""
        super().__init__(record)
        self._network = network

    @property
    def network_name(self) -> str:
        """The name of the network this endpoint belongs to (libnetwork's Endpoint.Network())."""
        return self._network.name

    def __repr__(self) -> str:
        return "Endpoint(%r, network=%r)" % (self.name, self.network_name)

    def ports(self) -> list[dict]:
        """The published ports with the host ports they hold, as dicts."""
        return [port._asdict() for port in self._network.published_ports(self.id)]

    def default_routes(self) -> tuple[int, ...]:
        """The IP versions whose default route in the sandbox goes through this endpoint."""
        return self._network.default_routes(self)

    def sandbox_info(self) -> dict:
        """What the container sees: its interface, the gateways, which default routes are this endpoint's,
        and its sandbox's resolv.conf and hosts files."""
        return sandbox_info(self._network.record(), self._record._replace(default_routes=self.default_routes()),
                            self._network.sandbox_files(self.sandbox_key))

    def info(self) -> dict:
        return {"id": self.id, "name": self.name, "network": self.network_name, "sandbox": self.sandbox_key,
                "options": self.options, "state": self.state, "sandbox_info": self.sandbox_info(),
                "ports": self.ports(), "owner": self.owner, "container_id": self.container_id}

    def drift(self) -> list[str]:
        """What the kernel lacks of this endpoint, as sentences (empty: nothing)."""
        return self._network.endpoints_drift([self])[0]

    def delete(self) -> None:
        """Remove the endpoint from the kernel, then from the store, releasing its addresses."""
        self._network.delete_endpoints([self])


def sandbox_info(network: NetworkRecord, endpoint: EndpointRecord, files: dict | None = None) -> dict:
    """libnetwork's SandboxInfo of an endpoint (an EndpointRecord, stored or predicted, with its
    default_routes) of `network` (a NetworkRecord): its interface in the sandbox, the gateways, whether
    the sandbox's default route of each IP version goes through this endpoint's gateway, and the paths
    of its sandbox's files (`files`, as Orchestrator.sandbox_files gives them: resolv_conf, hosts,
    netns_resolv_conf)."""
    interfaces = []
    if endpoint.ifname:
        interfaces.append({
            "src_name": endpoint.host_ifname,
            "dst_name": endpoint.ifname,
            "address": endpoint.ipv4,
            "address_ipv6": endpoint.ipv6,
            "mac": endpoint.mac,
        })
    gateways = {} if network.internal else network.gateways()
    return {
        "interfaces": interfaces,
        "gateway": gateways.get(4) if endpoint.ipv4 else None,
        "gateway_ipv6": gateways.get(6) if endpoint.ipv6 else None,
        "default_route": 4 in endpoint.default_routes,
        "default_route_ipv6": 6 in endpoint.default_routes,
        **(files or {}),
    }
