# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The controller: the one entry point, owning drivers, networks and sandboxes (libnetwork's New()).

It opens the store, builds the orchestrator (orchestrator.py: the one write path) and gives it to
the Networks it returns; Networks, Endpoints and Sandboxes never hold the controller.
"""

from __future__ import annotations

import collections
import contextlib

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, firewall
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry
from ansible_collections.pynet.libnetwork.plugins.module_utils.endpoint import Endpoint
from ansible_collections.pynet.libnetwork.plugins.module_utils.network import Network
from ansible_collections.pynet.libnetwork.plugins.module_utils.sandbox import Sandbox
from ansible_collections.pynet.libnetwork.plugins.module_utils.orchestrator import Orchestrator
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import DEFAULT_STATE_DIR, Store


class NetworkDriver(collections.namedtuple("NetworkDriver", "state_dir type impl configured")):
    """A configured driver: libnetwork's NetworkDriver, handed to new_network(). `impl` is the driver
    (drivers/), `configured` whether its options were recorded (else they are its defaults)."""

    __slots__ = ()

    @property
    def options(self) -> dict:
        return self.impl.options

    @property
    def gives_interface(self) -> bool:
        """Whether an endpoint of this type is an interface in its sandbox (drivers/base.py's capability)."""
        return self.impl.gives_interface

    def __repr__(self) -> str:
        return "NetworkDriver(%r)" % self.type


class Controller:
    """Drivers, networks and sandboxes of one host, kept in the store under `state_dir`."""

    def __init__(self, state_dir: str = DEFAULT_STATE_DIR, create: bool = True):
        self.store = Store(state_dir, create=create)
        self.state_dir = self.store.state_dir
        # One nftables table per store, so that two state directories on a host never
        # replace each other's rules: `pynet` for the default one.
        self.firewall_table = firewall.table_name(self.state_dir, DEFAULT_STATE_DIR)
        self._orchestrator = Orchestrator(self.store, self.firewall_table)

    def close(self) -> None:
        self.store.close()

    # --- drivers ------------------------------------------------------------------------------

    def new_network_driver(self, network_type: str, driver_options: dict | None = None) -> NetworkDriver:
        """Configure a driver on this host (again: its options are replaced) and return it."""
        name = registry.canonical_type(network_type)
        return NetworkDriver(self.state_dir, name, self._orchestrator.configure_driver(name, driver_options), True)

    def driver(self, network_type: str) -> NetworkDriver:
        """The driver of that type as configured here, or with its defaults when it is not configured."""
        name = registry.canonical_type(network_type)
        configured = self.store.snapshot().driver_options(name) is not None
        return NetworkDriver(self.state_dir, name, self._orchestrator.driver(name), configured)

    def drivers(self) -> list[NetworkDriver]:
        """The drivers configured on this host."""
        return [self.driver(network_type) for network_type in self.store.snapshot().driver_types()]

    def delete_network_driver(self, network_type: str) -> None:
        """Forget a driver's configuration; refused while networks use it."""
        self._orchestrator.forget_driver(registry.canonical_type(network_type))

    # --- networks -----------------------------------------------------------------------------

    def new_network(self, driver: NetworkDriver, name: str, network_options: dict | None = None) -> Network:
        """Create a network managed by `driver` (from new_network_driver) with the given options."""
        self._check_driver(driver)
        return Network(self._orchestrator, self._orchestrator.create_network(driver.type, name, network_options))

    def plan_network(self, driver: NetworkDriver, name: str, network_options: dict | None = None,
                     replacing: Network | None = None) -> dict:
        """The normalised options new_network() would record, or its error; nothing is changed.

        With `replacing` (a Network), the plan is for recreating that network: its name,
        bridge and pools do not count as taken.
        """
        self._check_driver(driver)
        return self._orchestrator.plan_network(driver.type, name, network_options,
                                               replacing.record() if replacing is not None else None)

    def _check_driver(self, driver: object) -> None:
        if driver is None:
            raise errors.NilNetworkDriverError()
        if not isinstance(driver, NetworkDriver):
            raise errors.InvalidNetworkDriverError()
        if driver.state_dir != self.state_dir:
            raise errors.InvalidNetworkDriverError("it belongs to the controller of %s, not of %s"
                                                   % (driver.state_dir, self.state_dir))

    def networks(self) -> list[Network]:
        """This host's networks, and the global networks of the cluster stores of drivers configured here."""
        local = self.store.snapshot().networks()
        remote = self._orchestrator.remote_networks({record.id for record in local})
        return [Network(self._orchestrator, record) for record in local + remote]

    def network_by_name(self, name: str) -> Network:
        record = self.store.snapshot().network(name=name) or self._orchestrator.global_network(name=name)
        if record is None:
            raise errors.UnknownNetworkError(name)
        return Network(self._orchestrator, record)

    def network_by_id(self, network_id: str) -> Network:
        record = self.store.snapshot().network(network_id=network_id)
        if record is None:
            record = self._orchestrator.global_network(network_id=network_id)
        if record is None:
            raise errors.UnknownNetworkError(network_id)
        return Network(self._orchestrator, record)

    # --- endpoints: what converge predicts ------------------------------------------------------

    def free_ports(self, endpoints: list[tuple[Network, dict]]) -> dict:
        """Free host ports for the (Network, options) pairs' mappings with host_port 0 (check mode)."""
        return self._orchestrator.free_ports([(network.record(), opts) for network, opts in endpoints])

    def predicting(self, removed: list[Endpoint], free_ports: dict) -> contextlib.AbstractContextManager:
        """Orchestrator.predicting, for check mode: `removed` are Endpoints, predict() takes NetworkRecords;
        yields (predict, routed)."""
        return self._orchestrator.predicting([endpoint.record() for endpoint in removed], free_ports)

    # --- the host -----------------------------------------------------------------------------

    def host_changes(self) -> list[dict]:
        """What pynet changed on the host and will put back, as dicts of setting, original and value."""
        return [{"setting": change.setting, "original": change.original, "value": change.value}
                for change in self.store.snapshot().host_changes()]

    # --- sandboxes ----------------------------------------------------------------------------

    def new_sandbox(self, key: str) -> Sandbox:
        return sandboxes.create(self.store, key)

    def sandbox_by_key(self, key: str) -> Sandbox:
        found = sandboxes.lookup(self.store, key)
        if found is None:
            raise errors.UnknownSandboxError(key)
        return found

    def sandboxes(self) -> list[Sandbox]:
        return sandboxes.all_sandboxes(self.store)
