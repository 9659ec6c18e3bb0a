# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that compares what a task asks with what stands, and shapes what it returns: the
Result of a task (changed, diff, returned values), the before/after views of drivers, networks,
sandboxes and endpoints, and the differences that decide a change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, ipam
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller, NetworkDriver
from ansible_collections.pynet.libnetwork.plugins.module_utils.endpoint import Endpoint, sandbox_info
from ansible_collections.pynet.libnetwork.plugins.module_utils.network import Network
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import EndpointRecord, PublishedPort


class Result:
    def __init__(self, changed: bool, before: dict | None, after: dict | None, **returned: object):
        self.changed = changed
        self.diff = {"before": before or {}, "after": after or {}}
        self.returned = returned
        self.warnings = []

    @classmethod
    def report(cls, **returned: object) -> Result:
        """A read-only result: nothing changed, nothing to diff."""
        result = cls(False, None, None, **returned)
        result.diff = None
        return result

    def as_dict(self) -> dict:
        returned = dict(self.returned, changed=self.changed)
        if self.diff is not None:
            returned["diff"] = self.diff
        return returned


def given(params: dict, keys: tuple[str, ...]) -> dict:
    """The parameters of `keys` that the task gives (not None)."""
    return {key: params[key] for key in keys if params.get(key) is not None}


@contextlib.contextmanager
def located(where: str) -> Iterator[None]:
    """Errors about one item of a list name it: `endpoints[3].ip: ...`."""
    try:
        yield
    except errors.PynetError as exc:
        param = where + (exc.param or "")
        message = str(exc)
        if exc.param and message.startswith(exc.param + ": "):
            message = message[len(exc.param) + 2:]
        raise errors.PynetError("%s: %s" % (param, message), param=param) from None


# --- views: what a diff shows and a task returns -------------------------------------------------


# Driver options whose values never go into a result (the overlay driver's etcd password).
SECRET_OPTIONS = ("password",)
HIDDEN = "********"


def driver_view(driver: NetworkDriver | None) -> dict | None:
    return options_view(driver.type, driver.options) if driver and driver.configured else None


def options_view(name: str, driver_options: dict) -> dict:
    """A driver as a result shows it: its options, secrets hidden."""
    return {"name": name, "options": {key: HIDDEN if key in SECRET_OPTIONS and value else value
                                      for key, value in driver_options.items()}}


def network_view(network: Network | None, options: dict | None = None, drift: list[str] | None = None) -> dict:
    view = {"name": network.name if network else None, "driver": network.type if network else None,
            "options": options if options is not None else network.options}
    if network is not None:
        view["id"] = network.id
        view["endpoints"] = [ep.name for ep in network.endpoints()]
    if drift:
        view["drift"] = drift
    return view


def sandbox_view(controller: Controller, key: str) -> dict | None:
    sandbox = sandboxes.lookup(controller.store, key)
    if sandbox is None:
        return None
    interfaces = []
    for found in sandbox.endpoints():
        network = controller.network_by_name(found.network)
        interfaces.extend(dict(iface, network=found.network, endpoint=found.endpoint.name)
                          for iface in sandbox_info(network.record(), found.endpoint)["interfaces"])
    return {"key": key, "created": sandbox.created, "exists": sandbox.exists(),
            "interfaces": sorted(interfaces, key=lambda iface: iface["dst_name"])}


def endpoint_view(endpoint: Endpoint) -> dict:
    """An Endpoint as a task returns it."""
    return {"name": endpoint.name, "network": endpoint.network_name, "sandbox": endpoint.sandbox_key,
            "id": endpoint.id, "options": endpoint.options, "sandbox_info": endpoint.sandbox_info(),
            "ports": endpoint.ports()}


def predicted_endpoint_view(network: Network, endpoint: EndpointRecord, ports: list[PublishedPort]) -> dict:
    """An endpoint that check mode predicts (an EndpointRecord of `network`, a Network, with the
    PublishedPorts it would hold), as a task returns it; it has no id yet."""
    return {"name": endpoint.name, "network": network.name, "sandbox": endpoint.sandbox_key,
            "options": dict(endpoint.options),
            "sandbox_info": sandbox_info(network.record(), endpoint, network.sandbox_files(endpoint.sandbox_key)),
            "ports": [port._asdict() for port in ports]}


# --- differences -----------------------------------------------------------------------------------


def changed_options(stored: dict, planned: dict, unchanged: list[str] | tuple = ()) -> list[str]:
    """The options whose planned value is not the stored one, but those in `unchanged`, sorted."""
    return sorted(key for key in planned if planned[key] != stored.get(key) and key not in unchanged)


def endpoint_differences(endpoint: Endpoint, item: dict, opts: dict, params: tuple[str, ...]) -> list[str]:
    """The parameters (of `params`) in which a declared endpoint (`item`, its options checked: `opts`)
    differs from the Endpoint that stands; addresses are compared as addresses."""
    differ = []
    if endpoint.sandbox_key != item["sandbox"]:
        differ.append("sandbox")
    stored = endpoint.options
    record = endpoint.record()
    for key in params:
        if item.get(key) is None:
            continue
        if key in ("ip", "ipv6"):
            have = record.address(4 if key == "ip" else 6) if record.ifname else None
            if not have or ipam.parse_address(item[key], key) != ipam.parse_address(have.split("/")[0], key):
                differ.append(key)
        elif stored.get(key) != opts[key]:
            differ.append(key)
    return differ
