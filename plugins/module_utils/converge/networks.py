# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet_network: a network declared present (created, changed in place or recreated, repaired) or absent."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, ipam
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import diff
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.diff import Result, network_view
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import IP_VERSION_OPTIONS
from ansible_collections.pynet.libnetwork.plugins.module_utils.network import Network

# The network options of every driver: the module's parameters that are options.
NETWORK_PARAMS = tuple(registry.network_options())
# What can change without recreating the network; everything else needs a new one.
NETWORK_IN_PLACE = ("labels", "dns_enabled", "dns_servers")


def lookup_network(controller: Controller, name: str) -> Network | None:
    try:
        return controller.network_by_name(name)
    except errors.UnknownNetworkError:
        return None


def ensure_network(controller: Controller, params: dict, check_mode: bool) -> Result:
    name = params["name"]
    current = lookup_network(controller, name)
    if params["state"] == "absent":
        return _remove_network(current, params.get("force"), check_mode)
    driver = controller.driver(params.get("driver") or "bridge")
    given = diff.given(params, NETWORK_PARAMS)
    if current is None:
        try:
            planned = controller.plan_network(driver, name, given)
            after = {"name": name, "driver": driver.type, "options": planned}
            if check_mode:
                return Result(True, None, after, network=after)
            network = controller.new_network(driver, name, given)
        except errors.NetworkNameError:
            if not driver.impl.is_global:
                raise
            # Another host recorded a global network of that name meanwhile: this host sets up that one.
            return ensure_network(controller, params, check_mode)
        return Result(True, None, network_view(network), network=network.info())
    # Options added to pynet since the network was made are recorded as their defaults.
    stored = dict({name: option.default for name, option in registry.DRIVERS[current.type].NETWORK_OPTIONS.items()},
                  **current.options)
    # What a driver records beside the options (an overlay network's VNI) is not asked for again; an
    # option given that the driver does not have is refused by plan_network, as for a new network.
    wanted = dict({key: value for key, value in stored.items()
                   if key in driver.impl.NETWORK_OPTIONS or key in driver.impl.derived_options(current.id)}, **given)
    # Options named after the id (a bridge name) that the task leaves out: a recreated network gets
    # them from its new id.
    derived = [option for option, value in driver.impl.derived_options(current.id).items()
               if option not in given and stored.get(option) == value]
    for option in derived:
        wanted.pop(option, None)
    if "ipam" in given:
        # Pools are compared for the IP versions the task lists; others keep what is recorded.
        versions = {ipam.parse_subnet(pool.get("subnet"), "ipam[%d].subnet" % index).version
                    for index, pool in enumerate(given["ipam"]) if isinstance(pool, dict) and pool.get("subnet")}
        wanted["ipam"] = given["ipam"] + [pool for pool in stored["ipam"]
                                          if addresses.version(pool["subnet"]) not in versions]
    for version, flag in IP_VERSION_OPTIONS:
        if given.get(flag) is False and "ipam" not in given:  # an IP version turned off takes its pools along
            wanted["ipam"] = [pool for pool in wanted["ipam"] if addresses.version(pool["subnet"]) != version]
    planned = controller.plan_network(driver, name, wanted, replacing=current)
    changed_options = diff.changed_options(stored, planned, derived)
    if driver.type != current.type:
        changed_options.insert(0, "driver")
    drift = current.drift()
    before = network_view(current, drift=drift)
    if not changed_options and not drift:
        return Result(False, before, before, network=current.info())
    recreate = [key for key in changed_options if key not in NETWORK_IN_PLACE]
    if not recreate:  # changed in place: the options named after the id stay as they are
        planned.update((option, stored[option]) for option in derived)
    after = dict(network_view(current, options=planned), driver=driver.type)
    endpoints = current.endpoints()
    if recreate and endpoints and not params.get("force"):
        raise errors.PynetError(
            "network %s must be recreated to change %s, but it has endpoints %s; set force: true to remove "
            "them and recreate it" % (name, ", ".join(recreate), ", ".join(ep.name for ep in endpoints)),
            param="force")
    if recreate:
        after["endpoints"] = []
        after.pop("id", None)
    if check_mode:
        return Result(True, before, after, network=after)
    if recreate:
        for ep in endpoints:
            ep.delete()
        current.delete()
        network = controller.new_network(driver, name, wanted)
        return Result(True, before, network_view(network), network=network.info())
    if "labels" in changed_options:
        current.set_labels(planned["labels"])
    if {"dns_enabled", "dns_servers"} & set(changed_options):
        current.set_dns(planned["dns_enabled"], planned["dns_servers"])
    if drift:
        current.repair()
    return Result(True, before, network_view(current), network=current.info())


def _remove_network(current: Network | None, force: bool, check_mode: bool) -> Result:
    if current is None:
        return Result(False, None, None, network=None)
    endpoints = current.endpoints()
    if endpoints and not force:
        raise errors.ActiveEndpointsError("network", current.name, [ep.name for ep in endpoints],
                                          "delete them first, or set force: true to remove them with the network",
                                          param="force")
    before = network_view(current)
    if not check_mode:
        for ep in endpoints:
            ep.delete()
        current.delete()
    return Result(True, before, None, network=None)
