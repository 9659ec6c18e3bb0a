# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet_info: what pynet has recorded, read without a change."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.diff import Result, driver_view, sandbox_view


def gather_info(controller: Controller, networks: list[str] | None = None,
                sandboxes_wanted: list[str] | None = None) -> Result:
    """Drivers, networks (with endpoints) and sandboxes, optionally filtered by names and keys, and what
    pynet changed on the host."""
    all_networks = controller.networks()
    chosen = [net for net in all_networks if not networks or net.name in networks]
    keys = [sb.key for sb in controller.sandboxes()]
    return Result.report(
        drivers=[driver_view(driver) for driver in controller.drivers()],
        networks=[net.info() for net in chosen],
        sandboxes=[sandbox_view(controller, key) for key in keys if not sandboxes_wanted or key in sandboxes_wanted],
        exists=bool(networks) and len(chosen) == len(set(networks)),
        host_changes=controller.host_changes(),
    )
