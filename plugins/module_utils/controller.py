# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller: the one entry point, owning drivers, networks and sandboxes (the seed's libnetwork.New())."""

from __future__ import annotations

import contextlib
import os

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, firewall, host_changes, ipam, options
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.network import Network, default_route_owners
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import (
    DEFAULT_STATE_DIR, STATE_CREATING, STATE_DELETING, STATE_READY, Store, encode_options)

# Options every network type takes; drivers add their own.
NETWORK_OPTIONS = {
    "ipam": options.Option(options.passthrough, None, "list of pools: subnet, gateway, ip_range, aux_addresses"),
    "enable_ipv6": options.Option(options.check_bool, None),
    "internal": options.Option(options.check_bool, False),
    "labels": options.Option(options.check_labels, {}),
}


class NetworkDriver:
    """A configured driver: the seed's NetworkDriver, handed to new_network()."""

    def __init__(self, controller, network_type, driver_options, configured):
        self._controller = controller
        self.type = network_type
        self.options = driver_options
        self.configured = configured
        self.impl = registry.DRIVERS[network_type](driver_options)

    def __repr__(self):
        return "NetworkDriver(%r)" % self.type


class Controller:
    """Drivers, networks and sandboxes of one host, kept in the store under `state_dir`."""

    def __init__(self, state_dir=DEFAULT_STATE_DIR, create=True):
        self.store = Store(state_dir, create=create)
        self.state_dir = self.store.state_dir
        # One nftables table per store, so that two state directories on a host never
        # replace each other's rules: `pynet` for the default one.
        self.firewall_table = firewall.table_name(self.state_dir, DEFAULT_STATE_DIR)

    def close(self):
        self.store.close()

    # --- drivers ------------------------------------------------------------------------------

    def new_network_driver(self, network_type, driver_options=None):
        """Configure a driver on this host (again: its options are replaced) and return it."""
        name = registry.canonical_type(network_type)
        normalised = registry.DRIVERS[name].validate_driver_options(driver_options)
        with self.store.write() as tx:
            tx.execute("INSERT OR REPLACE INTO drivers(type, options) VALUES (?, ?)",
                       (name, encode_options(normalised)))
        return NetworkDriver(self, name, normalised, True)

    def driver(self, network_type):
        """The driver of that type as configured here, or with its defaults when it is not configured."""
        name = registry.canonical_type(network_type)
        row = self.store.read().one("SELECT options FROM drivers WHERE type = ?", (name,))
        if row is None:
            return NetworkDriver(self, name, registry.DRIVERS[name].validate_driver_options({}), False)
        return NetworkDriver(self, name, row["options"], True)

    def drivers(self):
        """The drivers configured on this host."""
        return [self.driver(row["type"]) for row in self.store.read().all("SELECT type FROM drivers ORDER BY type")]

    def delete_network_driver(self, network_type):
        """Forget a driver's configuration; refused while networks use it."""
        name = registry.canonical_type(network_type)
        with self.store.write() as tx:
            users = [row["name"] for row in tx.all("SELECT name FROM networks WHERE type = ?", (name,))]
            if users:
                raise errors.DriverInUseError(name, users)
            tx.execute("DELETE FROM drivers WHERE type = ?", (name,))

    # --- networks -----------------------------------------------------------------------------

    def new_network(self, driver, name, network_options=None):
        """Create a network managed by `driver` (from new_network_driver) with the given options."""
        self._check_driver(driver)
        host_networks = self._host_networks() if driver.impl.uses_ipam else []
        with self.store.write() as tx:
            network_id, opts, pools = self._prepare_network(tx, driver, name, network_options, host_networks)
            tx.execute("INSERT INTO networks(id, name, type, options, state) VALUES (?, ?, ?, ?, ?)",
                       (network_id, name, driver.type, encode_options(opts), STATE_CREATING))
            ipam.add_pools(tx, network_id, pools)
        network = Network(self, {"id": network_id, "name": name, "type": driver.type, "options": opts,
                                 "state": STATE_CREATING})
        try:
            driver.impl.create_network(network.record())
            self.sync_host()
        except BaseException:
            # Undone whole, so that what the next sync renders is what stands.
            with self.store.write() as tx:
                tx.execute("UPDATE networks SET state = ? WHERE id = ?", (STATE_DELETING, network_id))
            self.undo_sync()
            driver.impl.delete_network(network.record())
            with self.store.write() as tx:
                tx.execute("DELETE FROM networks WHERE id = ?", (network_id,))
            raise
        with self.store.write() as tx:
            tx.execute("UPDATE networks SET state = ? WHERE id = ?", (STATE_READY, network_id))
        return self.network_by_id(network_id)

    def plan_network(self, driver, name, network_options=None, replacing=None):
        """The normalised options new_network() would record, or its error; nothing is changed.

        With `replacing` (a Network), the plan is for recreating that network: its name,
        bridge and pools do not count as taken.
        """
        self._check_driver(driver)
        host_networks = self._host_networks() if driver.impl.uses_ipam else []
        if replacing is not None:
            own = [addresses.network(pool["subnet"]) for pool in replacing.pools()]
            host_networks = [net for net in host_networks
                             if not any(net.version == mine.version and net.subnet_of(mine) for mine in own)]
        with self.store.trial() as tx:
            if replacing is not None:
                tx.execute("DELETE FROM endpoints WHERE network_id = ?", (replacing.id,))
                tx.execute("DELETE FROM networks WHERE id = ?", (replacing.id,))
            return self._prepare_network(tx, driver, name, network_options, host_networks)[1]

    def _check_driver(self, driver):
        if driver is None:
            raise errors.NilNetworkDriverError()
        if not isinstance(driver, NetworkDriver):
            raise errors.InvalidNetworkDriverError()
        if driver._controller.state_dir != self.state_dir:
            raise errors.InvalidNetworkDriverError("it belongs to the controller of %s, not of %s"
                                                   % (driver._controller.state_dir, self.state_dir))

    def _prepare_network(self, tx, driver, name, network_options, host_networks):
        """Validate and normalise a new network's options inside `tx`; raise before any change."""
        options.check_name("name", name)
        impl = driver.impl
        opts = options.validate(network_options, dict(NETWORK_OPTIONS, **impl.NETWORK_OPTIONS))
        pools = ipam.parse_pools(opts.pop("ipam"))
        if pools and not impl.uses_ipam:
            raise errors.InvalidParameterError("ipam", "the %s driver gives no addresses; leave ipam out"
                                               % driver.type)
        has_ipv6 = any(pool.version == 6 for pool in pools)
        if opts["enable_ipv6"] is None:
            opts["enable_ipv6"] = has_ipv6
        elif opts["enable_ipv6"] != has_ipv6:
            raise errors.InvalidParameterError(
                "enable_ipv6", "is %s but ipam %s; add one (such as fd00:89::/64) or set enable_ipv6 to match"
                % (opts["enable_ipv6"], "has an IPv6 subnet" if has_ipv6 else "has no IPv6 subnet"))
        impl.check_network(opts)
        network_id = os.urandom(32).hex()
        opts = impl.complete_network_options(opts, network_id)
        if tx.one("SELECT id FROM networks WHERE name = ?", (name,)):
            raise errors.NetworkNameError(name)
        self._check_bridge_name(tx, opts)
        if impl.uses_ipam:
            if not any(pool.version == 4 for pool in pools):
                subnet = ipam.choose_default_subnet(tx, driver.options["default_address_pool"],
                                                    driver.options["default_subnet_size"], host_networks)
                pools = ipam.parse_pools([{"subnet": str(subnet)}]) + pools
            ipam.check_pools_free(tx, pools, host_networks)
        opts["ipam"] = [pool.as_option() for pool in pools]
        return network_id, opts, pools

    @staticmethod
    def _check_bridge_name(tx, opts):
        bridge = opts.get("bridge_name")
        if not bridge:
            return
        for row in tx.all("SELECT name, options FROM networks"):
            if row["options"].get("bridge_name") == bridge:
                raise errors.InvalidParameterError("bridge_name", "%s is already the bridge of network %s"
                                                   % (bridge, row["name"]))

    @staticmethod
    def _host_networks():
        """Networks on this host's links and routes, which a new pool must not overlap."""
        with rtnl.connect() as connection:
            found = connection.networks_in_use()
        networks = [addresses.interface(cidr).network for cidr in found]
        return [net for net in networks if not net.is_loopback and not net.is_link_local]

    def networks(self):
        return [Network(self, row) for row in self.store.read().all("SELECT * FROM networks ORDER BY name")]

    def network_by_name(self, name):
        row = self.store.read().one("SELECT * FROM networks WHERE name = ?", (name,))
        if row is None:
            raise errors.UnknownNetworkError(name)
        return Network(self, row)

    def network_by_id(self, network_id):
        row = self.store.read().one("SELECT * FROM networks WHERE id = ?", (network_id,))
        if row is None:
            raise errors.UnknownNetworkError(network_id)
        return Network(self, row)

    # --- the host's settings, the firewall and default routes: functions of the store ----------

    def _firewall_enabled(self):
        return self.driver("bridge").options["enable_firewall"]

    def sync_host(self):
        """Make the host's settings (recorded, see host_changes.py) and pynet's nftables table (applied
        in one transaction; none when the bridge driver's enable_firewall is false) match the store:
        one process at a time."""
        with self.store.host_lock():
            self._sync_host_settings()
            if self._firewall_enabled():
                with _firewall_refusals():
                    firewall.apply(self.firewall_table, firewall.rules_from_store(self.store.read()))

    def undo_sync(self):
        """sync_host() for a creation being undone after a failure, which is the error to report: the
        firewall's own failure (often the same one again) is left for the next sync to correct."""
        with self.store.host_lock():
            self._sync_host_settings()
            if self._firewall_enabled():
                with contextlib.suppress(OSError):
                    firewall.apply(self.firewall_table, firewall.rules_from_store(self.store.read()))

    def _sync_host_settings(self):
        reader = self.store.read()
        published = {row["network_id"] for row in reader.all(
            "SELECT DISTINCT endpoints.network_id FROM ports JOIN endpoints ON endpoints.id = ports.endpoint_id "
            "WHERE endpoints.state != ?", (STATE_DELETING,))}
        networks = self.networks()
        wanted = {}
        for network in networks:
            if network.state != STATE_DELETING:
                wanted.update(network.driver_impl.host_settings(network.record(), network.id in published))
        bridges = {network.options.get("bridge_name") for network in networks}

        def faces_tenants(link):
            return link.name in bridges or any(driver.owns_link(link) for driver in registry.DRIVERS.values())

        def others_on_host():
            ours = {network.id for network in networks}
            with rtnl.connect() as connection:
                found = {driver.network_of_link(link) for link in connection.links()
                         for driver in registry.DRIVERS.values()}
            return bool(found - ours - {None})

        host_changes.sync(self.store, wanted, faces_tenants, others_on_host)

    def host_changes(self):
        """What pynet changed on the host and will put back, as dicts of setting, original and value."""
        return [{key: row[key] for key in ("setting", "original", "value")}
                for row in host_changes.recorded(self.store.read())]

    def firewall_drift(self):
        if not self._firewall_enabled():
            return []
        with _firewall_refusals():
            return firewall.drift(self.firewall_table, firewall.rules_from_store(self.store.read()))

    def refresh_default_routes(self, sandbox_key):
        """Give the sandbox its default routes through the endpoints that own them now."""
        if not netns.is_netns(sandbox_key):
            return
        reader = self.store.read()
        for owner in sorted(set(default_route_owners(reader, sandbox_key).values())):
            row = reader.one("SELECT network_id FROM endpoints WHERE id = ?", (owner,))
            network = self.network_by_id(row["network_id"])
            endpoint = network.endpoint_by_id(owner)
            network.driver_impl.set_default_route(network.record(), network.driver_record(endpoint.record()))

    # --- sandboxes ----------------------------------------------------------------------------

    def new_sandbox(self, key):
        return sandboxes.create(self.store, key)

    def sandbox_by_key(self, key):
        found = sandboxes.lookup(self.store, key)
        if found is None:
            raise errors.UnknownSandboxError(key)
        return found

    def sandboxes(self):
        return sandboxes.all_sandboxes(self.store)


@contextlib.contextmanager
def _firewall_refusals():
    """nftables' refusals (OSError from kernel/nftables.py, nft missing included) as the user's error:
    the firewall is there because the bridge driver's enable_firewall asks for it."""
    try:
        yield
    except OSError as exc:
        raise errors.KernelError(exc.strerror, param="enable_firewall") from None
