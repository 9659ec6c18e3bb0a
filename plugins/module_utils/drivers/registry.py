# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network types pynet knows, by name."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.bridge import BridgeDriver
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.null import NullDriver

DRIVERS = {driver.network_type: driver for driver in (BridgeDriver, NullDriver)}
ALIASES = {"simplebridge": "bridge"}


def canonical_type(network_type):
    """The driver name for a type or alias; NetworkTypeError for anything else."""
    name = ALIASES.get(network_type, network_type) if isinstance(network_type, str) else None
    if name not in DRIVERS:
        raise errors.NetworkTypeError(network_type, list(DRIVERS) + list(ALIASES))
    return name
