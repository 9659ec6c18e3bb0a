# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet_driver: a driver's host-wide options declared present or absent."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.diff import Result, driver_view, options_view
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry


def ensure_driver(controller: Controller, params: dict, check_mode: bool) -> Result:
    name = registry.canonical_type(params["name"])
    current = controller.driver(name)
    before = driver_view(current)
    if params["state"] == "absent":
        if not current.configured:
            return Result(False, before, None, driver=None)
        # This host's networks: global ones of the cluster that are not set up here need no driver here.
        users = [net.name for net in controller.store.snapshot().networks(name)]
        if users:
            raise errors.DriverInUseError(name, users)
        if not check_mode:
            controller.delete_network_driver(name)
        return Result(True, before, None, driver=None)
    if params.get("options") is None and current.configured:
        desired = dict(current.options)
    else:
        desired = registry.DRIVERS[name].validate_driver_options(params.get("options"))
    registry.DRIVERS[name](desired).check_kernel()  # as the real run's, in check mode too
    after = options_view(name, desired)
    if current.configured and dict(current.options) == desired:
        return Result(False, before, after, driver=after)
    if not check_mode:
        controller.new_network_driver(name, desired)
    return Result(True, before, after, driver=after)
