# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet_endpoint: endpoints declared present or absent, one or a list, with purge and prune_stale.

A task is planned whole first (each endpoint: create, recreate, repair, delete or none), every
allocation predicted in one rolled-back transaction, and only then carried out: deletions, then
creations (a batch per network), then repairs.
"""

from __future__ import annotations

from collections.abc import Callable

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, options, ports
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import diff
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.diff import Result, endpoint_view, located
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.networks import lookup_network
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry
from ansible_collections.pynet.libnetwork.plugins.module_utils.endpoint import Endpoint
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
from ansible_collections.pynet.libnetwork.plugins.module_utils.network import Network
from ansible_collections.pynet.libnetwork.plugins.module_utils.sandbox import Sandbox

# The endpoint options of every driver: the module's parameters that are options.
ENDPOINT_PARAMS = tuple(registry.endpoint_options())


class _Plan:
    def __init__(self, where: str, item: dict, network: Network | None, endpoint: Endpoint | None, action: str,
                 opts: dict | None, differ: list[str] | None = None, drift: list[str] | None = None):
        self.where = where
        self.item = item
        self.network = network
        self.endpoint = endpoint
        self.action = action  # create | recreate | repair | delete | none
        self.opts = opts
        self.differ = differ or []
        self.drift = drift or []
        self.predicted = None


def ensure_endpoint_params(controller: Controller, params: dict, check_mode: bool) -> Result:
    """pynet_endpoint's parameters: one endpoint (name) or a list (endpoints) with top-level defaults."""
    prune_stale = params.get("prune_stale")
    if params.get("endpoints") is None:
        result = ensure_endpoints(controller, [_item(params, params)], check_mode, as_list=False,
                                  prune_stale=prune_stale)
        result.returned["endpoint"] = result.returned["endpoints"][0]
        return result
    items = [_item(entry, params) for entry in params["endpoints"]]
    # Purged: every network the list names, and the task's network even when the list is empty.
    purged = set()
    if params.get("purge"):
        purged = {item["network"] for item in items} | ({params["network"]} if params.get("network") else set())
    return ensure_endpoints(controller, items, check_mode, purge=sorted(purged), prune_stale=prune_stale)


def _item(entry: dict, defaults: dict) -> dict:
    item = {key: entry.get(key) for key in ("name",) + ENDPOINT_PARAMS}
    for key in ("network", "sandbox", "state"):
        item[key] = entry.get(key) if entry.get(key) is not None else defaults.get(key)
    item["state"] = item["state"] or "present"
    return item


def ensure_endpoints(controller: Controller, items: list[dict], check_mode: bool, purge: list[str] | tuple = (),
                     as_list: bool = True, prune_stale: bool = False) -> Result:
    """Converge a list of endpoint declarations (dicts of network, name, sandbox, options, state).

    With as_list, errors name the item (`endpoints[3].ip`); otherwise the bare parameter.
    purge names networks whose endpoints the list lacks are removed; prune_stale removes,
    from every network, the endpoints not listed whose sandbox namespace is gone (after a reboot,
    or a container removed without pynet), and forgets sandboxes left with no namespace and no endpoint.
    Neither touches the endpoints a container runtime made (an owner's: the runtime removes them, by
    CNI DEL or GC), nor so their sandboxes; a task removes one only by naming it (state absent).
    """
    host_addresses = ports.HostAddresses()  # read once for the task, if a port gives host_ip
    plans = [_plan_endpoint(controller, "endpoints[%d]." % index if as_list else "", item, check_mode, host_addresses)
             for index, item in enumerate(items)]
    if purge:
        named = [lookup_network(controller, name) for name in purge]
        plans.extend(_removal_plans(plans, [net for net in named if net], lambda ep: True))
    if prune_stale:
        plans.extend(_removal_plans(plans, controller.networks(), lambda ep: not sandboxes.is_there(ep.sandbox_key)))
    known_sandboxes = controller.sandboxes() if prune_stale else []
    stale_sandboxes = _stale_sandboxes(known_sandboxes, plans)
    _check_drift(plans)
    _predict(controller, plans)
    olds = [endpoint_view(plan.endpoint) if plan.endpoint else None for plan in plans]
    changed = any(plan.action != "none" for plan in plans) or bool(stale_sandboxes)
    if changed and not check_mode:
        _apply(plans, host_addresses)
        for sandbox in stale_sandboxes:
            sandbox.destroy()
    results, before, after = [], [], []
    for plan, old in zip(plans, olds):
        new = _result_view(plan, check_mode)
        before.append(dict(old, drift=plan.drift) if old and plan.drift else old)
        after.append(new)
        results.append(dict(new or {"name": plan.item["name"], "network": plan.item["network"]},
                            action=plan.action, changed=plan.action != "none", state=plan.item["state"]))
    result = Result(changed, {"endpoints": [view for view in before if view]},
                    {"endpoints": [view for view in after if view]}, endpoints=results)
    if prune_stale:
        result.diff["before"]["sandboxes"] = [sandbox.key for sandbox in known_sandboxes]
        result.diff["after"]["sandboxes"] = [sandbox.key for sandbox in known_sandboxes
                                             if sandbox not in stale_sandboxes]
        result.returned["pruned_sandboxes"] = [sandbox.key for sandbox in stale_sandboxes]
        result.warnings += ["sandbox %s is not collected: a symlink is on its path, and pynet never acts through one"
                            % sandbox.key for sandbox in known_sandboxes
                            if sandboxes.examine(sandbox.key)[0] == netns.SYMLINK]
    for plan in plans:
        if check_mode and plan.network is None and plan.action == "create":
            result.warnings.append("network %s does not exist yet; a real run fails unless a task before it "
                                   "creates the network" % plan.item["network"])
        elif check_mode and plan.action in ("create", "recreate") and not sandboxes.is_there(plan.item["sandbox"]):
            result.warnings.append("sandbox %s does not exist yet; a real run fails unless a task before it "
                                   "creates the sandbox" % plan.item["sandbox"])
    return result


def _plan_endpoint(controller: Controller, where: str, item: dict, check_mode: bool,
                   host_addresses: ports.HostAddresses) -> _Plan:
    for key in ("network", "name"):
        if not item.get(key):
            raise errors.InvalidParameterError(where + key, "is required")
    network = lookup_network(controller, item["network"])
    if network is None:
        # An endpoint of a network that does not exist is absent. In check mode a task before
        # this one may be about to create the network: predict a creation, without addresses.
        if item["state"] == "absent":
            return _Plan(where, item, None, None, "none", None)
        with located(where):
            if not check_mode:
                raise errors.UnknownNetworkError(item["network"])
            options.check_name("name", item["name"])
            sandboxes.check_key(item.get("sandbox"), "sandbox")
        return _Plan(where, item, None, None, "create", None)
    try:
        endpoint = network.endpoint_by_name(item["name"])
    except errors.UnknownEndpointError:
        endpoint = None
    if item["state"] == "absent":
        return _Plan(where, item, network, endpoint, "delete" if endpoint else "none", None)
    if not item.get("sandbox"):
        raise errors.InvalidParameterError(where + "sandbox", "is required with state=present")
    with located(where):
        opts = network.check_endpoint(item["name"], item["sandbox"], diff.given(item, ENDPOINT_PARAMS), host_addresses)
        if not check_mode and not sandboxes.is_there(item["sandbox"]):
            raise errors.SandboxKeyError(item["sandbox"], "is not a network namespace: create the sandbox first "
                                         "(pynet.libnetwork.pynet_sandbox)", param="sandbox")
    if endpoint is None:
        return _Plan(where, item, network, None, "create", opts)
    differ = diff.endpoint_differences(endpoint, item, opts, ENDPOINT_PARAMS)
    if differ:
        return _Plan(where, item, network, endpoint, "recreate", opts, differ=differ)
    return _Plan(where, item, network, endpoint, "check", opts)  # repair or none: see _check_drift


def _check_drift(plans: list[_Plan]) -> None:
    """Endpoints that stand as declared are checked against the kernel, one pass per network."""
    for network, batch in _by_network(plans, ("check",)):
        for plan, drift in zip(batch, network.endpoints_drift([plan.endpoint for plan in batch])):
            plan.drift = drift
            plan.action = "repair" if drift else "none"


def _removal_plans(plans: list[_Plan], networks: list[Network], chosen: Callable[[Endpoint], bool]) -> list[_Plan]:
    """Deletions of the endpoints of `networks` that no plan names and that `chosen` picks."""
    named = {(plan.item["network"], plan.item["name"]) for plan in plans}
    return [_Plan("", {"network": network.name, "name": ep.name, "state": "absent", "sandbox": ep.sandbox_key},
                  network, ep, "delete", None)
            for network in networks for ep in network.endpoints_owned(None)
            if (network.name, ep.name) not in named and chosen(ep)]


def _stale_sandboxes(known: list[Sandbox], plans: list[_Plan]) -> list[Sandbox]:
    """Of the `known` sandboxes, those whose namespace is gone and that no endpoint will use once the plans are
    carried out. One with a symlink on its path is not looked at through it, so never collected."""
    leaving = {plan.endpoint.id for plan in plans if plan.action == "delete"}
    wanted = {plan.item.get("sandbox") for plan in plans if plan.action != "delete"}
    gone = [sandbox for sandbox in known
            if sandbox.key not in wanted and sandboxes.examine(sandbox.key)[0] not in (netns.NETNS, netns.SYMLINK)]
    return [sandbox for sandbox in gone if all(found.endpoint.id in leaving for found in sandbox.endpoints())]


def _predict(controller: Controller, plans: list[_Plan]) -> None:
    """Run every allocation in one rolled-back transaction: a conflict fails before any change,
    and check mode shows the addresses a real run would give."""
    creating = [plan for plan in plans if plan.action in ("create", "recreate") and plan.network is not None]
    free_ports = controller.free_ports([(plan.network, plan.opts) for plan in creating])
    removed = [plan.endpoint for plan in plans if plan.action in ("delete", "recreate")]
    with controller.predicting(removed, free_ports) as (predict, routed):
        predicted = []
        for plan in creating:
            with located(plan.where):
                predicted.append(predict(plan.network.record(), plan.item["name"], plan.item["sandbox"], plan.opts))
        # Once all are predicted: a later endpoint may take a sandbox's default route from an earlier one.
        for plan, (endpoint, published) in zip(creating, predicted):
            plan.predicted = diff.predicted_endpoint_view(plan.network, routed(endpoint), published)


def _apply(plans: list[_Plan], host_addresses: ports.HostAddresses) -> None:
    """Deletions first (in one request per network), then creations (one batch per network),
    then repairs. An endpoint the kernel refuses is reported after the others are made."""
    for network, batch in _by_network(plans, ("delete", "recreate")):
        network.delete_endpoints([plan.endpoint for plan in batch])
    failed = []
    for network, batch in _by_network(plans, ("create", "recreate")):
        made = network.create_endpoints([(plan.item["name"], plan.item["sandbox"],
                                          diff.given(plan.item, ENDPOINT_PARAMS)) for plan in batch], host_addresses)
        for plan, endpoint in zip(batch, made):
            if isinstance(endpoint, Exception):
                failed.append("%s%s: %s" % (plan.where, plan.item["name"], endpoint))
            else:
                plan.endpoint = endpoint
    for plan in plans:
        if plan.action == "repair":
            plan.network.repair_endpoints([plan.endpoint])
    if failed:
        raise errors.PynetError("the kernel refused %d endpoint(s), the others are made: %s"
                                % (len(failed), "; ".join(failed)), param="endpoints")


def _by_network(plans: list[_Plan], actions: tuple[str, ...]) -> list[tuple[Network, list[_Plan]]]:
    batches = {}
    for plan in plans:
        if plan.action in actions:
            batches.setdefault(plan.network.id, (plan.network, []))[1].append(plan)
    return list(batches.values())


def _result_view(plan: _Plan, check_mode: bool) -> dict | None:
    if plan.action == "delete" or (plan.action == "none" and plan.endpoint is None):
        return None
    if check_mode and plan.action in ("create", "recreate"):
        if plan.predicted is None:  # its network does not exist yet
            return {"name": plan.item["name"], "network": plan.item["network"], "sandbox": plan.item["sandbox"],
                    "options": diff.given(plan.item, ENDPOINT_PARAMS), "sandbox_info": None}
        return plan.predicted
    return endpoint_view(plan.endpoint)
