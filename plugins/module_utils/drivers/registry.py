# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network types pynet knows, by name, and the option tables of them all."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.options import Option
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.bridge import BridgeDriver
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.host import HostDriver
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.macvlan import IpvlanDriver, MacvlanDriver
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.null import NullDriver
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.overlay import OverlayDriver

DRIVERS = {driver.network_type: driver
           for driver in (BridgeDriver, NullDriver, HostDriver, MacvlanDriver, IpvlanDriver, OverlayDriver)}
ALIASES = {"simplebridge": "bridge"}


def canonical_type(network_type: object) -> str:
    """The driver name for a type or alias; NetworkTypeError for anything else."""
    name = ALIASES.get(network_type, network_type) if isinstance(network_type, str) else None
    if name not in DRIVERS:
        raise errors.NetworkTypeError(network_type, list(DRIVERS) + list(ALIASES))
    return name


def type_names() -> list[str]:
    """Every network type with its aliases after it, as the modules list their choices."""
    return [name for network_type in DRIVERS
            for name in [network_type] + sorted(alias for alias, target in ALIASES.items() if target == network_type)]


def network_options() -> dict[str, Option]:
    """The network options of every driver, by name: the one table the modules' specs come from."""
    table = {}
    for driver in DRIVERS.values():
        table.update(driver.NETWORK_OPTIONS)
    return table


def endpoint_options() -> dict[str, Option]:
    """The endpoint options of every driver, by name."""
    table = {}
    for driver in DRIVERS.values():
        table.update(driver.ENDPOINT_OPTIONS)
    return table
