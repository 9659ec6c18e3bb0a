# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet_cluster_prune: the overlay cluster's GC of hosts that left the fleet."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.diff import Result


def prune(controller: Controller, params: dict, check_mode: bool) -> Result:
    result = controller.driver("overlay").impl.prune(params["fleet"], check_mode)
    before = sorted(set(result.members) | set(result.forgotten))
    return Result(bool(result.forgotten or result.freed), {"members": before}, {"members": result.members},
                  forgotten=result.forgotten, spared=result.spared, members=result.members,
                  freed=[{"network_id": network, "block": block} for network, block in result.freed])
