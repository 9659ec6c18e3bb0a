# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interface every driver implements: what a network type is and does to the kernel.

A driver owns everything about its network type: its option tables (the one source of option
names: the modules' argument specs are derived from them), the options derived from a network's id,
the conflicts between its networks, what the host and the firewall need for them, and the kernel
objects. The orchestrator gives it typed records (records.py) and never lets it touch the store: it
records intent first, then asks the driver to make the kernel match. Every method that changes
the kernel is idempotent, so a run cut off at any point is finished by the next one.
"""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import firewall, ipam, options, static_routes
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import EndpointRecord, FirewallPort, NetworkRecord

# The network options that turn each IP version on, by version.
IP_VERSION_OPTIONS = ((4, "enable_ipv4"), (6, "enable_ipv6"))


class Driver:
    network_type = ""
    # Host-wide options (new_network_driver), by name.
    DRIVER_OPTIONS: dict = {}
    # The network options every network type takes; a driver adds its own to these.
    NETWORK_OPTIONS = {
        "ipam": options.Option(options.passthrough, None, "list of pools: subnet, gateway, ip_range, aux_addresses",
                               spec=dict(type="list", elements="dict", options=dict(
                                   subnet=dict(type="str", required=True),
                                   gateway=dict(type="str"),
                                   ip_range=dict(type="str"),
                                   aux_addresses=dict(type="dict"),
                               ))),
        "enable_ipv4": options.Option(options.check_bool, True, spec=dict(type="bool")),
        "enable_ipv6": options.Option(options.check_bool, None, spec=dict(type="bool")),
        "internal": options.Option(options.check_bool, False, spec=dict(type="bool")),
        "labels": options.Option(options.check_labels, {}, spec=dict(type="dict")),
        "routes": options.Option(static_routes.check_routes, [], spec=dict(
            type="list", elements="dict", options=static_routes.ARGUMENT_SPEC)),
        "no_default_route": options.Option(options.check_bool, False, spec=dict(type="bool")),
    }
    ENDPOINT_OPTIONS: dict = {}
    # Networks of this type have address pools and their endpoints addresses.
    uses_ipam = False
    # An endpoint of this type is an interface in its sandbox (with a name, a MAC and a host end).
    gives_interface = False
    # New pools must not overlap the networks on the host's links and routes (False: the network's
    # subnets are those of the host's own networks, as a macvlan's are).
    avoids_host_networks = True
    # The driver option that turns pynet's firewall off (None: the driver has no say in it).
    FIREWALL_SWITCH: str | None = None
    # False: networks of this type make nothing in the kernel (no objects, host settings, firewall rules or DNS
    # server), so their creation, repair and removal sync none of the host's state (nor read its drift).
    changes_kernel = True
    # Endpoints of this type are in the host's own namespace (the sandbox key `host`), and only there.
    shares_host_namespace = False
    # Networks of this type are global: recorded in a cluster store, where every host configured
    # with it sees them (same id); each host's store holds its own share (pools, endpoints).
    is_global = False

    def __init__(self, driver_options: dict):
        self.options = driver_options

    @classmethod
    def validate_driver_options(cls, given: object) -> dict:
        return options.validate(given, cls.DRIVER_OPTIONS, "options.")

    def validate_network_options(self, given: object) -> dict:
        """A new network's options checked against NETWORK_OPTIONS, with defaults filled in."""
        return options.validate(given, self.NETWORK_OPTIONS)

    def default_pools(self, version: int) -> tuple[list[tuple], str]:
        """Where a network without a pool of that IP version gets one: (base network, prefix length) pairs
        in order, and where they are configured (for errors). None of IPv6 means a unique local /64 of the
        network's own (ipam.ula_subnet); none of IPv4, that the network must be given one."""
        return [], "the %s driver has no default pools" % self.network_type

    def check_kernel(self) -> None:
        """Refuse the driver, before any change, on a kernel that lacks what it needs (naming the feature)."""

    @property
    def firewall_enabled(self) -> bool:
        return bool(self.options[self.FIREWALL_SWITCH]) if self.FIREWALL_SWITCH else True

    # --- networks: options --------------------------------------------------------------------

    def check_network(self, network_options: dict) -> None:
        """Refuse network options that this driver's host-wide options or the host forbid, and fill in
        those whose default comes from the host (in place)."""

    def derived_options(self, network_id: str) -> dict:
        """The options whose default derives from the network's id, as they would be for that id."""
        return {}

    def complete_network_options(self, network_options: dict, network_id: str) -> dict:
        """The options with those that derive from the id filled in where they were not given."""
        for name, value in self.derived_options(network_id).items():
            if not network_options.get(name):
                network_options[name] = value
        return network_options

    def check_conflicts(self, network_options: dict, others: list[NetworkRecord]) -> None:
        """Refuse a new network whose options clash with another network's (NetworkRecords)."""

    def check_pools(self, name: str, pools: list[ipam.PoolSpec]) -> None:
        """Refuse address pools (ipam.PoolSpecs) that the network `name` of this type cannot have."""

    # --- global networks (is_global): the cluster store ----------------------------------------

    def join(self) -> None:
        """This host's options were just recorded: make it a member of the cluster (global drivers)."""

    def leave(self) -> None:
        """This host's options are about to be forgotten: it leaves the cluster (global drivers)."""

    def global_network(self, name: str | None = None, network_id: str | None = None) -> NetworkRecord | None:
        """The global network of that name (or id) as the cluster store holds it, or None."""
        return None

    def global_networks(self) -> list[NetworkRecord]:
        """Every global network of this type in the cluster store."""
        return []

    def publish_network(self, network: NetworkRecord) -> NetworkRecord:
        """Record a new network in the cluster store; returns the record that stands under its name
        (another host's when it recorded one of that name first)."""
        return network

    def unpublish_network(self, network: NetworkRecord) -> None:
        """Remove the network from the cluster store; ActiveEndpointsError (nothing changed) while any
        host has endpoints on it."""

    def claim_pools(self, network: NetworkRecord, held: list[str], version: int) -> list[ipam.PoolSpec]:
        """More pools of the IP version for this host's share of a global network (`held`: the ranges it
        has), at least one."""
        return []

    def planned_pools(self, network: NetworkRecord, held: list[str], version: int) -> list[ipam.PoolSpec]:
        """The pool claim_pools() would try first, claiming nothing (check mode's prediction)."""
        return []

    # --- networks: the kernel, the host, the firewall -----------------------------------------

    def create_network(self, network: NetworkRecord) -> None:
        """Make (or repair) the network's kernel objects (network: a NetworkRecord)."""

    def delete_network(self, network: NetworkRecord) -> None:
        """Remove the network's kernel objects that pynet made."""

    def network_drift(self, network: NetworkRecord) -> list[str]:
        """What differs between the kernel and the declared network, as sentences (empty: none)."""
        return []

    def host_settings(self, network: NetworkRecord, published: bool) -> dict[str, str]:
        """What the host needs for this network, beyond the network's own objects, as {setting: value}
        (settings named as host_changes.py names them); `published` tells whether its endpoints publish
        ports. The orchestrator records each change and puts it back once no network needs it."""
        return {}

    def tenant_links(self, network: NetworkRecord) -> set[str]:
        """The names of the host's links where the network's tenants are (a bridge): never given accept_ra 2."""
        return set()

    @staticmethod
    def owns_link(link: rtnl.Link) -> bool:
        """Whether a host link (an rtnl.Link) is one this driver made for tenants' traffic."""
        return False

    @staticmethod
    def network_of_link(link: rtnl.Link) -> str | None:
        """The id of the network a host link was made for (a network's bridge), or None."""
        return None

    def firewall_inputs(self, network: NetworkRecord,
                        ports: list[FirewallPort]) -> tuple[firewall.Interface | None, list[firewall.Dnat]]:
        """What the firewall needs for the network and the published ports of its endpoints
        (FirewallPorts): (a firewall.Interface or None, [firewall.Dnat, ...])."""
        return None, []

    # --- endpoints ----------------------------------------------------------------------------

    def validate_endpoint_options(self, given: object) -> dict:
        return options.validate(given, self.ENDPOINT_OPTIONS)

    def host_ifname(self, endpoint_id: str) -> str:
        """The name of an endpoint's host end ('' for an endpoint that has none)."""
        return ""

    def endpoint_mac(self, network: NetworkRecord, endpoint_id: str, requested: str | None) -> str:
        """The MAC address of a new endpoint's interface (gives_interface): `requested`, or one derived
        from its id."""
        return requested or ipam.mac_from_id(endpoint_id)

    def create_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[Exception | None]:
        """Make (or repair) the endpoints' kernel objects (EndpointRecords; sandbox_key is a netns path).

        Returns one entry per endpoint: None, or the exception that stopped it; an endpoint that
        fails leaves nothing in the kernel, the others stand.
        """
        return [None] * len(endpoints)

    def delete_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> None:
        """Remove the endpoints' kernel objects; ones already gone are fine."""

    def set_default_route(self, network: NetworkRecord, endpoint: EndpointRecord) -> None:
        """Give the endpoint's sandbox the default routes of the IP versions in endpoint.default_routes."""

    def endpoints_drift(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[list[str]]:
        """Per endpoint, what differs between the kernel and its declaration, as sentences (empty: none)."""
        return [[] for _endpoint in endpoints]
