# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one write path: every change of drivers, networks and endpoints, in one order.

    record intent (store) -> driver (kernel) -> host settings and firewall -> sandbox default routes

The controller builds one Orchestrator and hands it to the networks and endpoints it returns, whose
public methods (libnetwork's API) delegate here. It works on typed records (records.py), never on
those objects, and holds one driver instance per network type for its lifetime (a run). A failure
of the kernel after intent was recorded is undone whole, so that what the next sync renders is what
stands; a process killed in between leaves records that are not 'ready', which the next run
completes or removes.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator

from ansible_collections.pynet.libnetwork.plugins.module_utils import (
    addresses, errors, firewall, firewalld, host_changes, ipam, options, ports, records, static_routes)
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import config as dns_config
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import sandbox_files
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import server as dns_server
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import IP_VERSION_OPTIONS, Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import (
    STATE_CREATING, STATE_DELETING, STATE_READY, EndpointRecord, NetworkRecord)
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import Snapshot, Store, Writer

CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

# The DNS servers' files: under /run (gone with a reboot, as the servers are), since dnsmasq, running as
# its own user, could not reach them in the private state directory; a directory per nftables table,
# that is per state directory.
DNS_ROOT = "/run/pynet/dns"


class Orchestrator:
    """The writes of one store, and the firewall table that renders it."""

    def __init__(self, store: Store, firewall_table: str):
        self.store = store
        self.firewall_table = firewall_table
        self._drivers = {}

    # --- drivers ------------------------------------------------------------------------------

    def driver(self, network_type: str) -> Driver:
        """The driver instance of a (canonical) network type: configured here, or with its defaults."""
        if network_type not in self._drivers:
            configured = self.store.snapshot().driver_options(network_type)
            cls = registry.DRIVERS[network_type]
            # Validated again: options added since the driver was configured get their defaults.
            self._drivers[network_type] = cls(cls.validate_driver_options(configured or {}))
        return self._drivers[network_type]

    def configure_driver(self, network_type: str, driver_options: dict | None) -> Driver:
        """Record a driver's host-wide options (replacing any) and return its instance."""
        normalised = registry.DRIVERS[network_type].validate_driver_options(driver_options)
        impl = registry.DRIVERS[network_type](normalised)
        impl.check_kernel()
        impl.join()  # a cluster that cannot be reached fails here, before anything is recorded
        with self.store.write() as tx:
            tx.save_driver(network_type, normalised)
        self._drivers[network_type] = impl
        return impl

    def forget_driver(self, network_type: str) -> None:
        """Forget a driver's configuration; refused while networks use it."""
        with self.store.write() as tx:
            users = [network.name for network in tx.networks(network_type)]
            if users:
                raise errors.DriverInUseError(network_type, users)
            self.driver(network_type).leave()
            tx.forget_driver(network_type)
        self._drivers.pop(network_type, None)

    # --- networks -----------------------------------------------------------------------------

    def create_network(self, network_type: str, name: str, network_options: dict | None) -> NetworkRecord:
        """Record, make and sync a new network; returns its NetworkRecord."""
        impl = self.driver(network_type)
        if impl.is_global:
            return self._create_global_network(impl, name, network_options)
        opts, pools = self._check_network(impl, name, network_options)
        host_networks = self._networks_on_host() if impl.uses_ipam and impl.avoids_host_networks else []
        with self.store.write() as tx:
            network, pools = self._prepare_network(tx, impl, name, opts, pools, host_networks)
            tx.add_network(network)
            ipam.add_pools(tx, network.id, pools)
        return self._make_network(impl, network)

    def _make_network(self, impl: Driver, network: NetworkRecord, undo: Callable | None = None) -> NetworkRecord:
        """The kernel step of a network recorded as 'creating', and the host's sync; a failure undoes the
        network whole (and calls `undo`, if given), then raises."""
        try:
            impl.create_network(network)
            if impl.changes_kernel:
                self.sync_host()
                self.sync_dns()
        except BaseException:
            with self.store.write() as tx:
                tx.set_network_state(network.id, STATE_DELETING)
            if impl.changes_kernel:
                self._undo_sync()
                with contextlib.suppress(errors.PynetError):  # the first failure is the one to report
                    self.sync_dns()
            impl.delete_network(network._replace(state=STATE_DELETING))
            with self.store.write() as tx:
                tx.forget_network(network.id)
            if undo is not None:
                undo()
            raise
        with self.store.write() as tx:
            tx.set_network_state(network.id, STATE_READY)
        return network._replace(state=STATE_READY)

    def plan_network(self, network_type: str, name: str, network_options: dict | None,
                     replacing: NetworkRecord | None = None) -> dict:
        """The normalised options create_network() would record, or its error; nothing is changed.

        With `replacing` (a NetworkRecord), the plan is for recreating that network: its name,
        bridge and pools do not count as taken.
        """
        impl = self.driver(network_type)
        opts, pools = self._check_network(impl, name, network_options)
        if impl.is_global and replacing is None and impl.global_network(name=name) is not None:
            raise errors.NetworkNameError(name)
        host_networks = self._networks_on_host() if impl.uses_ipam and impl.avoids_host_networks else []
        if replacing is not None:
            own = [addresses.network(pool.subnet) for pool in replacing.pools]
            host_networks = [net for net in host_networks
                             if not any(net.version == mine.version and net.subnet_of(mine) for mine in own)]
        with self.store.trial() as tx:
            if replacing is not None:
                tx.forget_endpoints([endpoint.id for endpoint in tx.endpoints(replacing.id)])
                tx.forget_network(replacing.id)
            return self._prepare_network(tx, impl, name, opts, pools, host_networks)[0].options

    @staticmethod
    def _check_network(impl: Driver, name: str, network_options: dict | None) -> tuple[dict, list[ipam.PoolSpec]]:
        """A new network's options validated and normalised, and its pools (PoolSpecs): what needs
        neither the store nor a network id. Raises before any change."""
        options.check_name("name", name)
        opts = impl.validate_network_options(network_options)
        pools = ipam.parse_pools(opts.pop("ipam"))
        impl.check_pools(name, pools)
        if pools and not impl.uses_ipam:
            raise errors.InvalidParameterError("ipam", "the %s driver gives no addresses; leave ipam out"
                                               % impl.network_type)
        has_ipv6 = any(pool.version == 6 for pool in pools)
        if opts["enable_ipv6"] is None:
            opts["enable_ipv6"] = has_ipv6
        for version, flag in IP_VERSION_OPTIONS:
            if not opts[flag] and any(pool.version == version for pool in pools):
                raise errors.InvalidParameterError(flag, "is false but ipam has an IPv%d subnet; leave it out, or "
                                                   "set %s: true" % (version, flag))
        if impl.uses_ipam and not (opts["enable_ipv4"] or opts["enable_ipv6"]):
            raise errors.InvalidParameterError("enable_ipv4", "is false, and so is enable_ipv6: a %s network needs "
                                               "addresses of at least one IP version" % impl.network_type)
        if not impl.uses_ipam and opts["enable_ipv6"]:
            raise errors.InvalidParameterError("enable_ipv6", "the %s driver gives no addresses; leave it out"
                                               % impl.network_type)
        impl.check_network(opts)
        return opts, pools

    @staticmethod
    def _prepare_network(tx: Writer, impl: Driver, name: str, opts: dict, pools: list[ipam.PoolSpec],
                         host_networks: list) -> tuple[NetworkRecord, list[ipam.PoolSpec]]:
        """The NetworkRecord of a new network (state 'creating'), checked against the store in `tx`, and
        its pools (PoolSpecs), a default one added where it has no IPv4 pool."""
        network_id = records.new_id()
        opts = impl.complete_network_options(dict(opts), network_id)
        if tx.network(name=name):
            raise errors.NetworkNameError(name)
        impl.check_conflicts(opts, tx.networks(impl.network_type))
        if impl.uses_ipam:
            for version, flag in IP_VERSION_OPTIONS:
                if opts[flag] and not any(pool.version == version for pool in pools):
                    subnet = Orchestrator._default_subnet(tx, impl, network_id, version, host_networks)
                    pools = sorted(pools + ipam.parse_pools([{"subnet": str(subnet)}]), key=lambda pool: pool.version)
            ipam.check_pools_free(tx, pools, host_networks)
        static_routes.check_gateways(opts.get("routes") or [], [pool.subnet for pool in pools])
        opts["ipam"] = [pool.as_option() for pool in pools]
        return records.NetworkRecord(network_id, name, impl.network_type, opts, STATE_CREATING,
                                     records.pools_of(opts["ipam"])), pools

    @staticmethod
    def _default_subnet(tx: Writer, impl: Driver, network_id: str, version: int, host_networks: list):
        """The subnet of a new network that has no pool of that IP version: from the driver's default pools,
        else (IPv6) a unique local /64 of the network's own; a driver without IPv4 ones needs a given pool."""
        bases, where = impl.default_pools(version)
        if bases:
            return ipam.choose_default_subnet(tx, bases, host_networks, where)
        if version == 6:
            return ipam.ula_subnet(tx, network_id, host_networks)
        raise errors.InvalidParameterError("ipam", "has no IPv4 subnet, and %s; give one, or set enable_ipv4: false"
                                           % where)

    @staticmethod
    def _networks_on_host() -> list:
        """Networks on this host's links and routes, which a new pool must not overlap."""
        with rtnl.connect() as connection:
            found = connection.networks_in_use()
        networks = [addresses.interface(cidr).network for cidr in found]
        return [net for net in networks if not net.is_loopback and not net.is_link_local]

    def repair_network(self, network: NetworkRecord) -> NetworkRecord:
        """Make the kernel match the network again (after damage outside pynet, or a creation cut off)."""
        if self.driver(network.type).is_global and self.store.snapshot().network(network_id=network.id) is None:
            return self._join_global_network(network)
        impl = self.driver(network.type)
        impl.create_network(network)
        if network.state != STATE_READY:
            with self.store.write() as tx:
                tx.set_network_state(network.id, STATE_READY)
        if impl.changes_kernel:
            self.sync_host()
            self.sync_dns()
        return network._replace(state=STATE_READY)

    def set_labels(self, network: NetworkRecord, labels: object) -> NetworkRecord:
        """Labels are the one option changed in place: they live only in the store."""
        opts = dict(network.options, labels=options.check_labels("labels", labels))
        with self.store.write() as tx:
            tx.set_network_options(network.id, opts)
        return network._replace(options=opts)

    def set_dns(self, network: NetworkRecord, dns_enabled: object, dns_servers: object) -> NetworkRecord:
        """dns_enabled and dns_servers change in place: the network's DNS server is started, restarted or
        stopped, the firewall rendered again, and the files of its sandboxes written again."""
        impl = self.driver(network.type)
        if "dns_enabled" not in impl.NETWORK_OPTIONS:
            raise errors.InvalidParameterError("dns_enabled", "networks of the %s driver have no gateway to answer "
                                               "names at" % network.type)
        checked = options.validate({"dns_enabled": dns_enabled, "dns_servers": dns_servers},
                                   {name: impl.NETWORK_OPTIONS[name] for name in ("dns_enabled", "dns_servers")})
        opts = dict(network.options, **checked)
        impl.check_network(dict(opts))
        with self.store.write() as tx:
            tx.set_network_options(network.id, opts)
        network = network._replace(options=opts)
        self.sync_host()
        self.sync_dns()
        self.sync_sandbox_files({endpoint.sandbox_key for endpoint in self.store.snapshot().endpoints(network.id)})
        return network

    def delete_network(self, network: NetworkRecord) -> None:
        """Remove the network; refused (ActiveEndpointsError, nothing changed) while it has endpoints."""
        if self.driver(network.type).is_global:
            self._unpublish_network(network)
        with self.store.write() as tx:
            names = [endpoint.name for endpoint in tx.endpoints(network.id)]
            if names:
                raise errors.ActiveEndpointsError("network", network.name, names)
            tx.set_network_state(network.id, STATE_DELETING)
        impl = self.driver(network.type)
        if impl.changes_kernel:
            self.sync_host()
            self.sync_dns()
        impl.delete_network(network._replace(state=STATE_DELETING))
        with self.store.write() as tx:
            tx.forget_network(network.id)

    def network_drift(self, network: NetworkRecord) -> list[str]:
        """What the kernel lacks of the network (its firewall included), as sentences (empty: nothing)."""
        impl = self.driver(network.type)
        drift = impl.network_drift(network)
        if impl.changes_kernel:
            drift += self.firewall_drift() + self.dns_drift()
        if network.state != STATE_READY:
            drift.append("network %s was left %s by a run that was cut off" % (network.name, network.state))
        return drift

    # --- global networks: in a cluster store, seen by every host configured with it ------------

    def _global_drivers(self) -> list[Driver]:
        snapshot = self.store.snapshot()
        return [self.driver(network_type) for network_type, cls in registry.DRIVERS.items()
                if cls.is_global and snapshot.driver_options(network_type) is not None]

    def global_network(self, name: str | None = None, network_id: str | None = None) -> NetworkRecord | None:
        """A global network of that name (or id) in the cluster store of a driver configured here, or None."""
        for impl in self._global_drivers():
            found = impl.global_network(name=name, network_id=network_id)
            if found is not None:
                return found
        return None

    def remote_networks(self, local_ids: set[str]) -> list[NetworkRecord]:
        """The global networks of the drivers configured here that this host's store does not hold."""
        return [found for impl in self._global_drivers() for found in impl.global_networks()
                if found.id not in local_ids]

    def _create_global_network(self, impl: Driver, name: str, network_options: dict | None) -> NetworkRecord:
        """A new global network: checked, recorded here, then in the cluster store (where a network of
        the same name recorded first by another host wins: NetworkNameError), then set up here."""
        opts, pools = self._check_network(impl, name, network_options)
        if impl.global_network(name=name) is not None:
            raise errors.NetworkNameError(name)
        host_networks = self._networks_on_host()
        with self.store.write() as tx:
            network = self._prepare_network(tx, impl, name, opts, pools, host_networks)[0]
            tx.add_network(network)
        try:
            published = impl.publish_network(network)
            if published.id != network.id:
                raise errors.NetworkNameError(name)
        except BaseException:
            with self.store.write() as tx:
                tx.forget_network(network.id)
            raise
        network = network._replace(options=published.options)
        with self.store.write() as tx:
            tx.set_network_options(network.id, network.options)
        return self._make_network(impl, network, lambda: self._unpublish_quietly(impl, network))

    def _join_global_network(self, network: NetworkRecord) -> NetworkRecord:
        """Set up on this host a global network that another host recorded: its record in this host's
        store (same id), its kernel objects, the host's settings and firewall."""
        impl = self.driver(network.type)
        with self.store.write() as tx:
            if tx.network(network_id=network.id) is None:
                if tx.network(name=network.name) is not None:
                    raise errors.NetworkNameError(network.name)
                tx.add_network(network._replace(state=STATE_CREATING))
        return self._make_network(impl, network._replace(state=STATE_CREATING))

    @staticmethod
    def _unpublish_quietly(impl: Driver, network: NetworkRecord) -> None:
        """Take back a global network this run recorded and could not set up (the set-up's error is
        the one to report)."""
        with contextlib.suppress(errors.PynetError):
            impl.unpublish_network(network)

    def _unpublish_network(self, network: NetworkRecord) -> None:
        """Remove a global network from the cluster store, before this host's share goes: refused while
        this host or any other has endpoints on it."""
        names = [endpoint.name for endpoint in self.store.snapshot().endpoints(network.id)]
        if names:
            raise errors.ActiveEndpointsError("network", network.name, names)
        self.driver(network.type).unpublish_network(network)

    def _grow_global_pools(self, impl: Driver, network: NetworkRecord, needed: int) -> None:
        """Pools enough for `needed` more addresses of this host's share of a global network: blocks
        claimed in the cluster store (one transaction each), recorded as pools of this host's store."""
        for version in sorted({pool.version for pool in network.pools}):
            while ipam.free_count(self.store.snapshot(), network.id, version) < needed:
                pools = impl.claim_pools(network, ipam.pool_ranges(self.store.snapshot(), network.id), version)
                with self.store.write() as tx:
                    held = set(ipam.pool_ranges(tx, network.id))  # another process of this host may have added it
                    ipam.add_pools(tx, network.id, [pool for pool in pools if str(pool.ip_range) not in held])

    # --- endpoints ----------------------------------------------------------------------------

    def check_endpoint(self, network: NetworkRecord, name: str, sandbox_key: str, endpoint_options: dict | None,
                       host_addresses: ports.HostAddresses | None = None) -> dict:
        """The endpoint options normalised, or an error naming the one at fault; no store, and no
        kernel but the host's addresses (host_addresses, a ports.HostAddresses) when a port gives host_ip."""
        options.check_name("name", name)
        sandboxes.check_key(sandbox_key, "sandbox")
        impl = self.driver(network.type)
        _check_host_namespace(network, impl, sandbox_key)
        opts = impl.validate_endpoint_options(endpoint_options)
        for index, mapping in enumerate(opts.get("ports") or []):
            if mapping["host_ip"]:
                host_addresses = host_addresses or ports.HostAddresses()
                host_addresses.check("ports[%d].host_ip" % index, mapping["host_ip"])
        return opts

    def create_endpoints(self, network: NetworkRecord, specs: list[tuple],
                         host_addresses: ports.HostAddresses | None = None) -> list[EndpointRecord | Exception]:
        """Create many endpoints with two store transactions and one netlink socket on the host.

        specs: records.EndpointSpec tuples, (name, sandbox_key, options[, owner, container_id]). Returns, in
        order, an EndpointRecord or the error that stopped that one: a failed endpoint leaves nothing
        behind (nor the record of a namespace its creation adopted), the others stand.
        Intent is recorded first (state 'creating'), then the kernel is changed, then the
        endpoints are marked ready; a record whose kernel step failed goes with its addresses.
        """
        specs = [records.EndpointSpec(*spec) for spec in specs]
        results = [None] * len(specs)
        checked = []
        impl = self.driver(network.type)
        if impl.is_global and self.store.snapshot().network(network_id=network.id) is None:
            network = self._join_global_network(network)
        host_addresses = host_addresses or ports.HostAddresses()
        for index, spec in enumerate(specs):
            try:
                opts = self.check_endpoint(network, spec.name, spec.sandbox_key, spec.options, host_addresses)
                _check_attachment(spec.owner, spec.container_id)
                if not sandboxes.is_there(spec.sandbox_key):
                    raise errors.SandboxKeyError(spec.sandbox_key, "is not a network namespace: create it with "
                                                 "new_sandbox() first", param="sandbox")
                checked.append((index, spec, opts))
            except errors.PynetError as exc:
                results[index] = exc
        free_ports = self.free_ports([(network, opts) for _i, _s, opts in checked])
        if impl.is_global and checked:
            self._grow_global_pools(impl, network, len(checked))
        made, adopted = [], set()
        with self.store.write() as tx:
            for index, spec, opts in checked:
                try:
                    with tx.savepoint():
                        endpoint = self._prepare_endpoint(tx, network, spec.name, spec.sandbox_key, opts, free_ports,
                                                          spec.owner, spec.container_id)
                        if tx.adopt_sandbox(spec.sandbox_key, spec.owner):
                            adopted.add(spec.sandbox_key)
                        made.append((index, endpoint))
                except errors.PynetError as exc:
                    results[index] = exc
        if made:
            for (index, endpoint), failure in zip(made, self._make(network, [endpoint for _i, endpoint in made],
                                                                   adopted=adopted)):
                results[index] = endpoint._replace(state=STATE_READY) if failure is None else failure
        return results

    def repair_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[EndpointRecord]:
        """Make the kernel match these endpoints again (after damage outside pynet, or a creation cut off),
        as create_endpoints() makes them; raises the first failure."""
        deleting = {endpoint.id for endpoint in endpoints if endpoint.state == STATE_DELETING}
        if deleting:
            # Intent first, as for a new endpoint: its firewall rules render again (those of an endpoint
            # being deleted do not), and a run cut off from here on leaves it to be repaired again.
            with self.store.write() as tx:
                tx.set_endpoint_state(sorted(deleting), STATE_CREATING)
            endpoints = [endpoint._replace(state=STATE_CREATING) if endpoint.id in deleting else endpoint
                         for endpoint in endpoints]
        failures = self._make(network, endpoints, repairing=True)
        for failure in failures:
            if failure is not None:
                raise failure
        return [endpoint._replace(state=STATE_READY) for endpoint in endpoints]

    def _make(self, network: NetworkRecord, endpoints: list[EndpointRecord],
              repairing: bool = False, adopted: set[str] | frozenset = frozenset()) -> list[Exception | None]:
        """The kernel step of creating (or repairing) recorded endpoints, then the host's sync if they
        publish ports, then the records marked ready. Per endpoint: None or its error. A new endpoint
        the kernel refused goes with its record (and with the record of the namespace its creation
        adopted, at a key in `adopted`); any other failure undoes the new ones whole."""
        impl = self.driver(network.type)
        publishing = any(endpoint.options.get("ports") for endpoint in endpoints)
        snapshot = self.store.snapshot()
        try:
            failures = impl.create_endpoints(network, [self._with_routes(snapshot, endpoint) for endpoint in endpoints])
            if not repairing:
                self._forget([endpoint for endpoint, failure in zip(endpoints, failures) if failure is not None],
                             adopted)
            if publishing:
                self.sync_host()
        except BaseException:
            if not repairing:
                impl.delete_endpoints(network, endpoints)
                self._forget(endpoints, adopted)
                if publishing:
                    self._undo_sync()
            raise
        made = [endpoint.id for endpoint, failure in zip(endpoints, failures)
                if failure is None and endpoint.state != STATE_READY]
        if made:
            with self.store.write() as tx:
                tx.set_endpoint_state(made, STATE_READY)
        self._names_changed(network, endpoints)
        return [failure if failure is None or isinstance(failure, errors.PynetError)
                else errors.KernelError.refused("endpoint %s" % endpoint.name, failure, "name")
                for endpoint, failure in zip(endpoints, failures)]

    def delete_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> None:
        """Remove endpoints from the kernel (in one request), then from the store, releasing their addresses."""
        if not endpoints:
            return
        with self.store.write() as tx:
            tx.set_endpoint_state([endpoint.id for endpoint in endpoints], STATE_DELETING)
        if any(endpoint.options.get("ports") for endpoint in endpoints):
            self.sync_host()
        self.driver(network.type).delete_endpoints(network, endpoints)
        self._forget(endpoints)
        snapshot = self.store.snapshot()
        for sandbox_key in sorted({endpoint.sandbox_key for endpoint in endpoints}):
            sandboxes.refresh_default_routes(snapshot, sandbox_key, self.driver)
        self._names_changed(network, endpoints)

    def endpoints_drift(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[list[str]]:
        """Per endpoint, what the kernel lacks of it, as sentences (empty: nothing); one pass for all."""
        snapshot = self.store.snapshot()
        found = self.driver(network.type).endpoints_drift(
            network, [self._with_routes(snapshot, endpoint) for endpoint in endpoints])
        for endpoint, drift in zip(endpoints, found):
            if endpoint.state != STATE_READY:
                drift.append("endpoint %s was left %s by a run that was cut off" % (endpoint.name, endpoint.state))
        return found

    def default_routes(self, endpoint: EndpointRecord) -> tuple[int, ...]:
        """The IP versions whose default route in its sandbox goes through the endpoint."""
        return self._with_routes(self.store.snapshot(), endpoint).default_routes

    @contextlib.contextmanager
    def predicting(self, removed: list[EndpointRecord], free_ports: dict) -> Iterator[tuple[Callable, Callable]]:
        """For check mode: in a transaction that is rolled back, the `removed` endpoints (EndpointRecords)
        forgotten, then two functions: predict(network, name, sandbox_key, options) records a creation as
        a real run would, returning (EndpointRecord, [PublishedPort]) or raising the error that run would
        meet; routed(endpoint), once all are predicted, gives an EndpointRecord its default_routes as the
        run would leave them. `free_ports` as free_ports() gives them."""
        with self.store.trial() as tx:
            for endpoint in removed:
                ipam.release(tx, endpoint.id)
            tx.forget_endpoints([endpoint.id for endpoint in removed])

            def predict(network: NetworkRecord, name: str, sandbox_key: str, opts: dict) -> tuple:
                impl = self.driver(network.type)
                if impl.is_global:  # the blocks a real run would claim, as this host would try them first
                    if tx.network(network_id=network.id) is None:
                        tx.add_network(network)
                    for version in sorted({pool.version for pool in network.pools}):
                        if ipam.free_count(tx, network.id, version) < 1:
                            ipam.add_pools(tx, network.id,
                                           impl.planned_pools(network, ipam.pool_ranges(tx, network.id), version))
                endpoint = self._prepare_endpoint(tx, network, name, sandbox_key, opts, free_ports)
                return endpoint, tx.ports(endpoint.id)

            def routed(endpoint: EndpointRecord) -> EndpointRecord:
                return self._with_routes(tx, endpoint)

            yield predict, routed

    def free_ports(self, endpoints: list[tuple[NetworkRecord, dict]]) -> dict:
        """Free host ports for the mappings with host_port 0 of the endpoints given as (NetworkRecord,
        options) pairs: see ports.probe_free_ports."""
        mappings = [(mapping, network.options.get("host_binding_ipv4") or "")
                    for network, opts in endpoints for mapping in opts.get("ports") or []]
        needs = ports.free_port_needs(mappings)
        return ports.probe_free_ports(self.store.snapshot(), needs) if needs else {}

    def _prepare_endpoint(self, tx: Writer, network: NetworkRecord, name: str, sandbox_key: str, opts: dict,
                          free_ports: dict, owner: str | None = None,
                          container_id: str | None = None) -> EndpointRecord:
        """Record a new endpoint in `tx` (state 'creating') with its addresses and host ports."""
        if tx.endpoint(network.id, name=name):
            raise errors.EndpointNameError(name, network.name)
        impl = self.driver(network.type)
        endpoint_id = records.new_id()
        endpoint = records.EndpointRecord(endpoint_id, network.id, name, sandbox_key, opts.get("ifname") or "", "",
                                          "", None, None, opts, STATE_CREATING, owner=owner, container_id=container_id)
        if container_id is not None and tx.attachment(network.id, container_id, endpoint.ifname):
            raise errors.AttachmentExistsError(container_id, endpoint.ifname, network.name)
        if impl.gives_interface:
            for found in tx.endpoints_in_sandbox(sandbox_key):
                if found.endpoint.ifname == endpoint.ifname:
                    raise errors.InvalidParameterError(
                        "ifname", "%s is already used in sandbox %s by endpoint %s of network %s; choose another "
                        "(such as eth1)" % (endpoint.ifname, sandbox_key, found.endpoint.name, found.network))
            endpoint = endpoint._replace(host_ifname=impl.host_ifname(endpoint_id),
                                         mac=impl.endpoint_mac(network, endpoint_id, opts.get("mac")))
        if impl.uses_ipam:
            endpoint = endpoint._replace(
                ipv4=ipam.allocate(tx, network.name, network.id, 4, endpoint_id, opts.get("ip"), "ip"),
                ipv6=ipam.allocate(tx, network.name, network.id, 6, endpoint_id, opts.get("ipv6"), "ipv6"))
        tx.add_endpoint(endpoint)
        mappings = opts.get("ports") or []
        _check_ports(network, endpoint, mappings)
        # After the endpoint's record: a port it lists twice is then found as taken.
        ports.reserve(tx, endpoint_id, mappings, network.options.get("host_binding_ipv4") or "", free_ports)
        return endpoint

    def _forget(self, endpoints: list[EndpointRecord], adopted: set[str] | frozenset = frozenset()) -> None:
        """Forget endpoints and release their addresses; and the record of a namespace pynet did not make
        that they leave empty, where an endpoint's creation recorded it: for an owner's endpoint (a
        runtime's netns, which goes with its last attachment), or at a key in `adopted` (a creation that
        failed leaves no record)."""
        if not endpoints:
            return
        with self.store.write() as tx:
            for endpoint in endpoints:
                ipam.release(tx, endpoint.id)
            tx.forget_endpoints([endpoint.id for endpoint in endpoints])
            for key in sorted({endpoint.sandbox_key for endpoint in endpoints}):
                record = tx.sandbox(key)
                runtimes = record is not None and not record.created and (record.owner is not None or key in adopted)
                if runtimes and not tx.endpoints_in_sandbox(key):
                    tx.forget_sandbox(key)

    @staticmethod
    def _with_routes(snapshot: Snapshot, endpoint: EndpointRecord) -> EndpointRecord:
        """The endpoint record as a driver takes it: with the IP versions whose default route it owns."""
        owners = sandboxes.default_route_owners(snapshot.endpoints_in_sandbox(endpoint.sandbox_key))
        return sandboxes.with_default_routes(endpoint, owners)

    # --- names: the networks' DNS servers and the sandboxes' files, functions of the store --------

    def _names_changed(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> None:
        """After endpoints of `network` were made or removed: its DNS server given the records of those
        the store holds now and rid of the others' (a file each, however big the network: the whole
        sync only when the server is not running as rendered), the files of their sandboxes written
        again. Endpoints without a record (no DNS name, such as a CNI attachment named by a runtime's
        64-character container id, and no alias) change no server's names."""
        if network.options.get("dns_enabled"):
            before = [record for record in map(_dns_record, endpoints) if record]
            if before:
                with self._dns_refusals():
                    updated = dns_server.update(self.dns_directory, _dns_network(network, ()),
                                                lambda: self._dns_records_now(network, endpoints), before)
                if not updated:
                    self.sync_dns()
        self.sync_sandbox_files({endpoint.sandbox_key for endpoint in endpoints})

    def _dns_records_now(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[dns_config.Record]:
        """The records of those of `endpoints` that the store holds now (and not as being deleted)."""
        snapshot = self.store.snapshot()
        found = [snapshot.endpoint(network.id, endpoint_id=endpoint.id) for endpoint in endpoints]
        held = [endpoint for endpoint in found if endpoint is not None and endpoint.state != STATE_DELETING]
        return [record for record in map(_dns_record, held) if record]

    @property
    def dns_directory(self) -> str:
        return os.path.join(DNS_ROOT, self.firewall_table)

    def dns_networks(self) -> list[dns_config.DnsNetwork]:
        """The networks whose names are served, with their names, as the store has them now."""
        snapshot = self.store.snapshot()
        served = []
        for network in snapshot.networks():
            if network.state == STATE_DELETING or not network.options.get("dns_enabled"):
                continue
            found = [_dns_record(endpoint) for endpoint in snapshot.endpoints(network.id)
                     if endpoint.state != STATE_DELETING]
            served.append(_dns_network(network, [record for record in found if record]))
        return served

    def sync_dns(self) -> None:
        """Make the DNS servers match the store: started, reloaded in place (SIGHUP) or stopped."""
        with self._dns_refusals():
            dns_server.converge(self.dns_directory, self.dns_networks)

    def dns_drift(self) -> list[str]:
        with self._dns_refusals():
            return dns_server.drift(self.dns_directory, self.dns_networks())

    @staticmethod
    @contextlib.contextmanager
    def _dns_refusals() -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise errors.KernelError("DNS server: %s" % (exc.strerror or exc), param="dns_enabled") from None

    def sandbox_files(self, key: str) -> dict:
        """Where the resolv.conf and hosts files of the sandbox at `key` are (see dns/sandbox_files.py); the
        host's namespace has none of pynet's (its processes read the host's own)."""
        if key == sandboxes.HOST_SANDBOX_KEY:
            return dict.fromkeys(sandbox_files.paths(self.store.state_dir, key))
        return sandbox_files.paths(self.store.state_dir, key)

    def sync_sandbox_files(self, keys: set[str]) -> None:
        """Write the resolv.conf and hosts files of the sandboxes at `keys` from the store: the gateways of
        their DNS networks as nameservers (the host's resolvers when none), their own names."""
        snapshot = self.store.snapshot()
        for key in sorted(keys - {sandboxes.HOST_SANDBOX_KEY}):
            members = snapshot.endpoints_in_sandbox(key)
            if not members and snapshot.sandbox(key) is None:
                sandbox_files.remove(self.store.state_dir, key)
                continue
            nameservers, names = [], []
            for found in members:
                endpoint = found.endpoint
                network = snapshot.network(network_id=endpoint.network_id)
                if network.options.get("dns_enabled"):
                    nameservers += [pool.gateway for pool in network.pools
                                    if endpoint.address(pool.version) and pool.holds(endpoint.address(pool.version))]
                names.append(_dns_record(endpoint))
            nameservers = list(dict.fromkeys(nameservers)) or sandbox_files.host_nameservers()
            with self._dns_refusals():
                sandbox_files.write(self.store.state_dir, key, dns_config.resolv_conf(nameservers),
                                    dns_config.hosts([record for record in names if record]))

    # --- the host's settings and the firewall: functions of the store -------------------------

    def _firewall_enabled(self) -> bool:
        return all(self.driver(network_type).firewall_enabled for network_type in registry.DRIVERS)

    def sync_host(self) -> None:
        """Make the host's settings (recorded, see host_changes.py) and pynet's nftables table (applied
        in one transaction; none when a driver's option turns the firewall off) match the store: one
        process at a time."""
        with self.store.host_lock():
            self._sync_host_settings()
            if self._firewall_enabled():
                with self._firewall_refusals():
                    self._apply_firewall()

    def _undo_sync(self) -> None:
        """sync_host() for a creation being undone after a failure, which is the error to report: the
        firewall's own failure (often the same one again) is left for the next sync to correct."""
        with self.store.host_lock():
            self._sync_host_settings()
            if self._firewall_enabled():
                with contextlib.suppress(OSError):
                    self._apply_firewall()

    def _apply_firewall(self) -> None:
        """pynet's table, and its accepts in other firewalls' chains (firewall.find_anchors), in one
        transaction: those accepts are recorded as host changes before they are made, and forgotten once
        they are gone (with the last network, or their chain). Then firewalld's zone for the bridges."""
        interfaces, dnats = self._firewall_inputs()
        rules = firewall.render_rules(interfaces, dnats)
        accepts = firewall.render_accepts(interfaces) if rules else []
        anchors = firewall.find_anchors(self.firewall_table)
        placed = {anchor.setting for anchor in anchors if anchor.chain and accepts}
        recorded = {change.setting for change in self.store.snapshot().host_changes()
                    if change.setting.startswith(host_changes.RULES + ":")}
        if placed - recorded:
            with self.store.write() as tx:
                for setting in sorted(placed - recorded):
                    tx.record_host_change(setting, "", self.firewall_table)
        firewall.apply(self.firewall_table, rules, anchors, accepts)
        if recorded - placed:
            with self.store.write() as tx:
                for setting in sorted(recorded - placed):
                    tx.forget_host_change(setting)
        firewalld.sync(self.store, [interface.name for interface in interfaces] if rules else [])

    def _firewall_inputs(self) -> tuple[list[firewall.Interface], list[firewall.Dnat]]:
        """The drivers' firewall inputs for every network and published port that is not being deleted
        (their rules go first, so a deletion cut off leaves none behind)."""
        networks, published = self.store.snapshot().firewall_inputs()
        interfaces, dnats = [], []
        for network in networks:
            interface, found = self.driver(network.type).firewall_inputs(
                network, [port for port in published if port.network_id == network.id])
            if interface is not None:
                interfaces.append(interface)
            dnats.extend(found)
        dnats.sort(key=lambda dnat: (dnat.protocol, dnat.host_ip, dnat.host_port))
        return interfaces, dnats

    def _sync_host_settings(self) -> None:
        snapshot = self.store.snapshot()
        publishing = snapshot.networks_publishing()
        networks = snapshot.networks()
        wanted = {}
        for network in networks:
            if network.state != STATE_DELETING:
                wanted.update(self.driver(network.type).host_settings(network, network.id in publishing))
        tenant_links = set()
        for network in networks:
            tenant_links |= self.driver(network.type).tenant_links(network)

        def faces_tenants(link: rtnl.Link) -> bool:
            return link.name in tenant_links or any(driver.owns_link(link) for driver in registry.DRIVERS.values())

        def others_on_host() -> bool:
            ours = {network.id for network in networks}
            with rtnl.connect() as connection:
                found = {driver.network_of_link(link) for link in connection.links()
                         for driver in registry.DRIVERS.values()}
            return bool(found - ours - {None})

        host_changes.sync(self.store, wanted, faces_tenants, others_on_host)

    def firewall_drift(self) -> list[str]:
        if not self._firewall_enabled():
            return []
        interfaces, dnats = self._firewall_inputs()
        with self._firewall_refusals():
            return firewall.drift(self.firewall_table, firewall.render_rules(interfaces, dnats),
                                  firewall.render_accepts(interfaces)) + firewalld.drift(
                                      [interface.name for interface in interfaces])

    @contextlib.contextmanager
    def _firewall_refusals(self) -> Iterator[None]:
        """nftables' refusals (OSError from kernel/nftables.py, nft missing included) as the user's error,
        naming the driver option that asks for the firewall."""
        try:
            yield
        except OSError as exc:
            switches = [driver.FIREWALL_SWITCH for driver in registry.DRIVERS.values() if driver.FIREWALL_SWITCH]
            raise errors.KernelError(exc.strerror, param=switches[0] if switches else None) from None


def _check_attachment(owner: str | None, container_id: str | None) -> None:
    """An endpoint's owner is a name (None: a playbook's or the library's); a container id, which only an
    owner's endpoint has, one of the CNI spec's (letters, digits, '_', '.', '-')."""
    if owner is not None:
        options.check_name("owner", owner)
    if container_id is not None:
        if owner is None:
            raise errors.InvalidParameterError("container_id", "is the id of a runtime's container: give the "
                                               "owner too, such as %s" % records.OWNER_CNI)
        if not isinstance(container_id, str) or not CONTAINER_ID.match(container_id):
            raise errors.InvalidParameterError("container_id", "%r is not a container id: letters, digits, '_', "
                                               "'.' and '-', starting with a letter or digit" % (container_id,))


def _check_host_namespace(network: NetworkRecord, impl: Driver, sandbox_key: str) -> None:
    """The host's namespace (the sandbox key `host`) takes only the endpoints of a host network, and those
    go nowhere else: as Docker's, a container on the host network is on no other."""
    in_host = sandbox_key == sandboxes.HOST_SANDBOX_KEY
    if in_host and not impl.shares_host_namespace:
        raise errors.InvalidParameterError(
            "sandbox", "%s is the host's own namespace, which only endpoints of a host network join; network %s is "
            "a %s network, whose endpoints need a namespace of their own: give its path"
            % (sandbox_key, network.name, network.type))
    if impl.shares_host_namespace and not in_host:
        raise errors.InvalidParameterError(
            "network", "%s is a host network: its endpoints are in the host's own namespace, the sandbox %s, not in "
            "%s; give sandbox %s, or a network of another driver"
            % (network.name, sandboxes.HOST_SANDBOX_KEY, sandbox_key, sandboxes.HOST_SANDBOX_KEY))


def _check_ports(network: NetworkRecord, endpoint: EndpointRecord, mappings: list[dict]) -> None:
    """Ports are published only where traffic can reach them: as Docker's, not on an internal
    network, and on a host address of an IP version the endpoint has."""
    if mappings and network.internal:
        raise errors.InvalidParameterError("ports", "network %s is internal: nothing beyond its subnets reaches "
                                           "it, so its endpoints publish no ports" % network.name)
    for index, mapping in enumerate(mappings):
        if not mapping["host_ip"]:
            continue
        version = addresses.version(mapping["host_ip"])
        if not endpoint.address(version):
            raise errors.InvalidParameterError(
                "ports[%d].host_ip" % index, "%s is an IPv%d address, and endpoint %s has no IPv%d address on "
                "network %s; give a host_ip of the other version, or none"
                % (mapping["host_ip"], version, endpoint.name, version, network.name))


def _dns_record(endpoint: EndpointRecord) -> dns_config.Record | None:
    """The names an endpoint gives its networks' DNS servers and its sandbox's hosts file, or None."""
    return dns_config.endpoint_record(endpoint.name, endpoint.options.get("aliases") or (), endpoint.ipv4,
                                      endpoint.ipv6)


def _dns_network(network: NetworkRecord, dns_records: list[dns_config.Record] | tuple) -> dns_config.DnsNetwork:
    """A DNS network's server as dns/config.py renders it: its gateways, upstream servers and records."""
    return dns_config.DnsNetwork(network.id, network.name, tuple(pool.gateway for pool in network.pools),
                                 internal=network.internal, upstream=tuple(network.options.get("dns_servers") or ()),
                                 records=tuple(dns_records))
