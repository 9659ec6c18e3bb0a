# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet_cluster_prune: the overlay cluster's GC of hosts that left the fleet."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import members
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.diff import Result


def prune(controller: Controller, params: dict, check_mode: bool) -> Result:
    driver = controller.driver("overlay").impl
    result = driver.prune(params["fleet"], check_mode)
    current = set(members.members(driver.client()))  # with check_mode, still holding the forgotten
    before, after = sorted(current | set(result.forgotten)), sorted(current - set(result.forgotten))
    return Result(bool(result.forgotten or result.freed), {"members": before}, {"members": after},
                  forgotten=result.forgotten, spared=result.spared, members=after,
                  freed=[{"network_id": network, "block": block} for network, block in result.freed])
