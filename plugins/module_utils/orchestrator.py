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
from collections.abc import Callable, Iterator

from ansible_collections.pynet.libnetwork.plugins.module_utils import (
    addresses, errors, firewall, host_changes, ipam, options, ports, records)
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import (
    STATE_CREATING, STATE_DELETING, STATE_READY, EndpointRecord, NetworkRecord)
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import Snapshot, Store, Writer


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
            self._drivers[network_type] = cls(cls.validate_driver_options({}) if configured is None else configured)
        return self._drivers[network_type]

    def configure_driver(self, network_type: str, driver_options: dict | None) -> Driver:
        """Record a driver's host-wide options (replacing any) and return its instance."""
        normalised = registry.DRIVERS[network_type].validate_driver_options(driver_options)
        impl = registry.DRIVERS[network_type](normalised)
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
        host_networks = self._networks_on_host() if impl.uses_ipam else []
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
            self.sync_host()
        except BaseException:
            with self.store.write() as tx:
                tx.set_network_state(network.id, STATE_DELETING)
            self._undo_sync()
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
        host_networks = self._networks_on_host() if impl.uses_ipam else []
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
        opts = options.validate(network_options, impl.NETWORK_OPTIONS)
        pools = ipam.parse_pools(opts.pop("ipam"))
        impl.check_pools(name, pools)
        if pools and not impl.uses_ipam:
            raise errors.InvalidParameterError("ipam", "the %s driver gives no addresses; leave ipam out"
                                               % impl.network_type)
        has_ipv6 = any(pool.version == 6 for pool in pools)
        if opts["enable_ipv6"] is None:
            opts["enable_ipv6"] = has_ipv6
        elif opts["enable_ipv6"] != has_ipv6:
            raise errors.InvalidParameterError(
                "enable_ipv6", "is %s but ipam %s; add one (such as fd00:89::/64) or set enable_ipv6 to match"
                % (opts["enable_ipv6"], "has an IPv6 subnet" if has_ipv6 else "has no IPv6 subnet"))
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
            if not any(pool.version == 4 for pool in pools):
                subnet = ipam.choose_default_subnet(tx, impl.options["default_address_pool"],
                                                    impl.options["default_subnet_size"], host_networks)
                pools = ipam.parse_pools([{"subnet": str(subnet)}]) + pools
            ipam.check_pools_free(tx, pools, host_networks)
        opts["ipam"] = [pool.as_option() for pool in pools]
        return records.NetworkRecord(network_id, name, impl.network_type, opts, STATE_CREATING,
                                     records.pools_of(opts["ipam"])), pools

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
        self.driver(network.type).create_network(network)
        if network.state != STATE_READY:
            with self.store.write() as tx:
                tx.set_network_state(network.id, STATE_READY)
        self.sync_host()
        return network._replace(state=STATE_READY)

    def set_labels(self, network: NetworkRecord, labels: object) -> NetworkRecord:
        """Labels are the one option changed in place: they live only in the store."""
        opts = dict(network.options, labels=options.check_labels("labels", labels))
        with self.store.write() as tx:
            tx.set_network_options(network.id, opts)
        return network._replace(options=opts)

    def delete_network(self, network: NetworkRecord) -> None:
        """Remove the network; refused (ActiveEndpointsError, nothing changed) while it has endpoints."""
        if self.driver(network.type).is_global:
            self._unpublish_network(network)
        with self.store.write() as tx:
            names = [endpoint.name for endpoint in tx.endpoints(network.id)]
            if names:
                raise errors.ActiveEndpointsError("network", network.name, names)
            tx.set_network_state(network.id, STATE_DELETING)
        self.sync_host()
        self.driver(network.type).delete_network(network._replace(state=STATE_DELETING))
        with self.store.write() as tx:
            tx.forget_network(network.id)

    def network_drift(self, network: NetworkRecord) -> list[str]:
        """What the kernel lacks of the network (its firewall included), as sentences (empty: nothing)."""
        drift = self.driver(network.type).network_drift(network) + self.firewall_drift()
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
        while ipam.free_count(self.store.snapshot(), network.id, 4) < needed:
            pools = impl.claim_pools(network, ipam.pool_ranges(self.store.snapshot(), network.id))
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
        opts = self.driver(network.type).validate_endpoint_options(endpoint_options)
        for index, mapping in enumerate(opts.get("ports") or []):
            if mapping["host_ip"]:
                host_addresses = host_addresses or ports.HostAddresses()
                host_addresses.check("ports[%d].host_ip" % index, mapping["host_ip"])
        return opts

    def create_endpoints(self, network: NetworkRecord, specs: list[tuple[str, str, dict | None]],
                         host_addresses: ports.HostAddresses | None = None) -> list[EndpointRecord | Exception]:
        """Create many endpoints with two store transactions and one netlink socket on the host.

        specs: (name, sandbox_key, options) tuples. Returns, in order, an EndpointRecord or the error
        that stopped that one: a failed endpoint leaves nothing behind, the others stand.
        Intent is recorded first (state 'creating'), then the kernel is changed, then the
        endpoints are marked ready; a record whose kernel step failed goes with its addresses.
        """
        results = [None] * len(specs)
        checked = []
        impl = self.driver(network.type)
        if impl.is_global and self.store.snapshot().network(network_id=network.id) is None:
            network = self._join_global_network(network)
        host_addresses = host_addresses or ports.HostAddresses()
        for index, (name, sandbox_key, endpoint_options) in enumerate(specs):
            try:
                opts = self.check_endpoint(network, name, sandbox_key, endpoint_options, host_addresses)
                if not netns.is_netns(sandbox_key):
                    raise errors.SandboxKeyError(sandbox_key, "is not a network namespace: create it with "
                                                 "new_sandbox() first", param="sandbox")
                checked.append((index, name, sandbox_key, opts))
            except errors.PynetError as exc:
                results[index] = exc
        free_ports = self.free_ports([(network, opts) for _i, _n, _k, opts in checked])
        if impl.is_global and checked:
            self._grow_global_pools(impl, network, len(checked))
        made = []
        with self.store.write() as tx:
            for index, name, sandbox_key, opts in checked:
                try:
                    with tx.savepoint():
                        made.append((index, self._prepare_endpoint(tx, network, name, sandbox_key, opts, free_ports)))
                        tx.adopt_sandbox(sandbox_key)
                except errors.PynetError as exc:
                    results[index] = exc
        if made:
            for (index, endpoint), failure in zip(made, self._make(network, [endpoint for _i, endpoint in made])):
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
              repairing: bool = False) -> list[Exception | None]:
        """The kernel step of creating (or repairing) recorded endpoints, then the host's sync if they
        publish ports, then the records marked ready. Per endpoint: None or its error. A new endpoint
        the kernel refused goes with its record; any other failure undoes the new ones whole."""
        impl = self.driver(network.type)
        publishing = any(endpoint.options.get("ports") for endpoint in endpoints)
        snapshot = self.store.snapshot()
        try:
            failures = impl.create_endpoints(network, [self._with_routes(snapshot, endpoint) for endpoint in endpoints])
            if not repairing:
                self._forget([endpoint for endpoint, failure in zip(endpoints, failures) if failure is not None])
            if publishing:
                self.sync_host()
        except BaseException:
            if not repairing:
                impl.delete_endpoints(network, endpoints)
                self._forget(endpoints)
                if publishing:
                    self._undo_sync()
            raise
        made = [endpoint.id for endpoint, failure in zip(endpoints, failures)
                if failure is None and endpoint.state != STATE_READY]
        if made:
            with self.store.write() as tx:
                tx.set_endpoint_state(made, STATE_READY)
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
    def predicting(self, removed: list[EndpointRecord], free_ports: dict) -> Iterator[Callable]:
        """For check mode: in a transaction that is rolled back, the `removed` endpoints (EndpointRecords)
        forgotten, then a function predict(network, name, sandbox_key, options) that records a creation as
        a real run would, returning (EndpointRecord, [PublishedPort]) or raising the error that run would
        meet. `free_ports` as free_ports() gives them."""
        with self.store.trial() as tx:
            for endpoint in removed:
                ipam.release(tx, endpoint.id)
            tx.forget_endpoints([endpoint.id for endpoint in removed])

            def predict(network: NetworkRecord, name: str, sandbox_key: str, opts: dict) -> tuple:
                impl = self.driver(network.type)
                if impl.is_global:  # the blocks a real run would claim, as this host would try them first
                    if tx.network(network_id=network.id) is None:
                        tx.add_network(network)
                    if ipam.free_count(tx, network.id, 4) < 1:
                        ipam.add_pools(tx, network.id, impl.planned_pools(network, ipam.pool_ranges(tx, network.id)))
                endpoint = self._prepare_endpoint(tx, network, name, sandbox_key, opts, free_ports)
                return endpoint, tx.ports(endpoint.id)

            yield predict

    def free_ports(self, endpoints: list[tuple[NetworkRecord, dict]]) -> dict:
        """Free host ports for the mappings with host_port 0 of the endpoints given as (NetworkRecord,
        options) pairs: see ports.probe_free_ports."""
        mappings = [(mapping, network.options.get("host_binding_ipv4") or "")
                    for network, opts in endpoints for mapping in opts.get("ports") or []]
        needs = ports.free_port_needs(mappings)
        return ports.probe_free_ports(self.store.snapshot(), needs) if needs else {}

    def _prepare_endpoint(self, tx: Writer, network: NetworkRecord, name: str, sandbox_key: str, opts: dict,
                          free_ports: dict) -> EndpointRecord:
        """Record a new endpoint in `tx` (state 'creating') with its addresses and host ports."""
        if tx.endpoint(network.id, name=name):
            raise errors.EndpointNameError(name, network.name)
        impl = self.driver(network.type)
        endpoint_id = records.new_id()
        endpoint = records.EndpointRecord(endpoint_id, network.id, name, sandbox_key, opts.get("ifname") or "", "",
                                          "", None, None, opts, STATE_CREATING)
        if impl.gives_interface:
            for found in tx.endpoints_in_sandbox(sandbox_key):
                if found.endpoint.ifname == endpoint.ifname:
                    raise errors.InvalidParameterError(
                        "ifname", "%s is already used in sandbox %s by endpoint %s of network %s; choose another "
                        "(such as eth1)" % (endpoint.ifname, sandbox_key, found.endpoint.name, found.network))
            endpoint = endpoint._replace(host_ifname=impl.host_ifname(endpoint_id),
                                         mac=opts.get("mac") or ipam.mac_from_id(endpoint_id))
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

    def _forget(self, endpoints: list[EndpointRecord]) -> None:
        if not endpoints:
            return
        with self.store.write() as tx:
            for endpoint in endpoints:
                ipam.release(tx, endpoint.id)
            tx.forget_endpoints([endpoint.id for endpoint in endpoints])

    @staticmethod
    def _with_routes(snapshot: Snapshot, endpoint: EndpointRecord) -> EndpointRecord:
        """The endpoint record as a driver takes it: with the IP versions whose default route it owns."""
        owners = sandboxes.default_route_owners(snapshot.endpoints_in_sandbox(endpoint.sandbox_key))
        return sandboxes.with_default_routes(endpoint, owners)

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
                    firewall.apply(self.firewall_table, self._firewall_rules())

    def _undo_sync(self) -> None:
        """sync_host() for a creation being undone after a failure, which is the error to report: the
        firewall's own failure (often the same one again) is left for the next sync to correct."""
        with self.store.host_lock():
            self._sync_host_settings()
            if self._firewall_enabled():
                with contextlib.suppress(OSError):
                    firewall.apply(self.firewall_table, self._firewall_rules())

    def _firewall_rules(self) -> list:
        """The rules the drivers' firewall inputs make, for every network and published port that is
        not being deleted (their rules go first, so a deletion cut off leaves none behind)."""
        networks, published = self.store.snapshot().firewall_inputs()
        interfaces, dnats = [], []
        for network in networks:
            interface, found = self.driver(network.type).firewall_inputs(
                network, [port for port in published if port.network_id == network.id])
            if interface is not None:
                interfaces.append(interface)
            dnats.extend(found)
        dnats.sort(key=lambda dnat: (dnat.protocol, dnat.host_ip, dnat.host_port))
        return firewall.render_rules(interfaces, dnats)

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
        with self._firewall_refusals():
            return firewall.drift(self.firewall_table, self._firewall_rules())

    @contextlib.contextmanager
    def _firewall_refusals(self) -> Iterator[None]:
        """nftables' refusals (OSError from kernel/nftables.py, nft missing included) as the user's error,
        naming the driver option that asks for the firewall."""
        try:
            yield
        except OSError as exc:
            switches = [driver.FIREWALL_SWITCH for driver in registry.DRIVERS.values() if driver.FIREWALL_SWITCH]
            raise errors.KernelError(exc.strerror, param=switches[0] if switches else None) from None


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
