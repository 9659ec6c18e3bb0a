# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Declared state made real: the one place that compares what is asked with what is there.

Each ensure_* function takes plain parameters (as the modules declare them) and check_mode,
and returns a Result: whether anything changes, before/after views for diff mode, and the
object as it stands (or would stand). In check mode nothing is changed; addresses a real run
would allocate are predicted in a transaction that is rolled back. Every parameter is
validated before the first change.
"""

from __future__ import annotations

import contextlib

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, ipam, options, ports
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import registry
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

NETWORK_PARAMS = ("ipam", "bridge_name", "mtu", "internal", "enable_ipv6", "labels", "enable_ip_masquerade",
                  "enable_icc", "host_binding_ipv4")
# What can change without recreating the network; everything else needs a new one.
NETWORK_IN_PLACE = ("labels",)
ENDPOINT_PARAMS = ("ip", "ipv6", "mac", "ifname", "ports", "gw_priority")


class Result:
    def __init__(self, changed, before, after, **returned):
        self.changed = changed
        self.diff = {"before": before or {}, "after": after or {}}
        self.returned = returned
        self.warnings = []

    @classmethod
    def report(cls, **returned):
        """A read-only result: nothing changed, nothing to diff."""
        result = cls(False, None, None, **returned)
        result.diff = None
        return result

    def as_dict(self):
        returned = dict(self.returned, changed=self.changed)
        if self.diff is not None:
            returned["diff"] = self.diff
        return returned


# --- drivers ------------------------------------------------------------------------------------


def driver_view(driver):
    return {"name": driver.type, "options": dict(driver.options)} if driver and driver.configured else None


def ensure_driver(controller, params, check_mode):
    name = registry.canonical_type(params["name"])
    current = controller.driver(name)
    before = driver_view(current)
    if params["state"] == "absent":
        if not current.configured:
            return Result(False, before, None, driver=None)
        users = [net.name for net in controller.networks() if net.type == name]
        if users:
            raise errors.DriverInUseError(name, users)
        if not check_mode:
            controller.delete_network_driver(name)
        return Result(True, before, None, driver=None)
    if params.get("options") is None and current.configured:
        desired = dict(current.options)
    else:
        desired = registry.DRIVERS[name].validate_driver_options(params.get("options"))
    after = {"name": name, "options": desired}
    if before == after:
        return Result(False, before, after, driver=after)
    if not check_mode:
        controller.new_network_driver(name, desired)
    return Result(True, before, after, driver=after)


# --- networks -----------------------------------------------------------------------------------


def network_view(network, options=None, drift=None):
    view = {"name": network.name if network else None, "driver": network.type if network else None,
            "options": options if options is not None else network.options}
    if network is not None:
        view["id"] = network.id
        view["endpoints"] = [ep.name for ep in network.endpoints()]
    if drift:
        view["drift"] = drift
    return view


def _given(params, keys):
    return {key: params[key] for key in keys if params.get(key) is not None}


def _lookup_network(controller, name):
    try:
        return controller.network_by_name(name)
    except errors.UnknownNetworkError:
        return None


def ensure_network(controller, params, check_mode):
    name = params["name"]
    current = _lookup_network(controller, name)
    if params["state"] == "absent":
        return _remove_network(current, params.get("force"), check_mode)
    driver = controller.driver(params.get("driver") or "bridge")
    given = _given(params, NETWORK_PARAMS)
    if current is None:
        planned = controller.plan_network(driver, name, given)
        after = {"name": name, "driver": driver.type, "options": planned}
        if check_mode:
            return Result(True, None, after, network=after)
        network = controller.new_network(driver, name, given)
        return Result(True, None, network_view(network), network=network.info())
    stored = current.options
    wanted = dict(stored, **given)
    derived_bridge = "bridge_name" not in given and stored.get("bridge_name") == \
        driver.impl.complete_network_options({}, current.id).get("bridge_name")
    if derived_bridge:  # named after the id: a recreated network gets a name from its new id
        wanted.pop("bridge_name", None)
    if "ipam" in given:
        # Pools are compared for the IP versions the task lists; others keep what is recorded.
        versions = {ipam.parse_subnet(pool.get("subnet"), "ipam[%d].subnet" % index).version
                    for index, pool in enumerate(given["ipam"]) if isinstance(pool, dict) and pool.get("subnet")}
        wanted["ipam"] = given["ipam"] + [pool for pool in stored["ipam"]
                                          if addresses.version(pool["subnet"]) not in versions]
    planned = controller.plan_network(driver, name, wanted, replacing=current)
    changed_options = sorted(key for key in planned if planned[key] != stored.get(key)
                             and not (key == "bridge_name" and derived_bridge))
    if driver.type != current.type:
        changed_options.insert(0, "driver")
    drift = current.drift()
    before = network_view(current, drift=drift)
    if not changed_options and not drift:
        return Result(False, before, before, network=current.info())
    recreate = [key for key in changed_options if key not in NETWORK_IN_PLACE]
    if derived_bridge and not recreate:  # changed in place: the bridge keeps its name
        planned["bridge_name"] = stored["bridge_name"]
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
    if drift:
        current.repair()
    return Result(True, before, network_view(current), network=current.info())


def _remove_network(current, force, check_mode):
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


# --- sandboxes ----------------------------------------------------------------------------------


def sandbox_view(controller, key):
    sandbox = sandboxes.lookup(controller.store, key)
    if sandbox is None:
        return None
    interfaces = []
    for row in sandbox.endpoints():
        ep = controller.network_by_name(row["network"]).endpoint_by_id(row["id"])
        interfaces.extend(dict(iface, network=row["network"], endpoint=row["name"])
                          for iface in ep.sandbox_info()["interfaces"])
    return {"key": key, "created": sandbox.created, "exists": sandbox.exists(),
            "interfaces": sorted(interfaces, key=lambda iface: iface["dst_name"])}


def ensure_sandbox_params(controller, params, check_mode):
    """pynet_sandbox's parameters: one sandbox (key) or a list (sandboxes) in one run.

    The list is first carried out in check mode, so a bad item fails the task before any change."""
    if params.get("sandboxes") is None:
        return ensure_sandbox(controller, params, check_mode)
    items = [{"key": item.get("key"), "state": item.get("state") or params.get("state") or "present"}
             for item in params["sandboxes"]]
    keys = [item["key"] for item in items]
    for index, key in enumerate(keys):
        if key in keys[:index]:
            raise errors.InvalidParameterError("sandboxes[%d].key" % index, "%s is listed twice (also as "
                                               "sandboxes[%d]); list each sandbox once" % (key, keys.index(key)))
    for mode in (True,) if check_mode else (True, False):
        results = []
        for index, item in enumerate(items):
            with _located("sandboxes[%d]." % index):
                results.append(ensure_sandbox(controller, item, mode))
    return Result(any(result.changed for result in results),
                  {"sandboxes": [result.diff["before"] for result in results if result.diff["before"]]},
                  {"sandboxes": [result.diff["after"] for result in results if result.diff["after"]]},
                  sandboxes=[dict(result.returned["sandbox"] or {"key": item["key"], "exists": False},
                                  changed=result.changed, state=item["state"])
                             for item, result in zip(items, results)])


def ensure_sandbox(controller, params, check_mode):
    key = sandboxes.check_key(params["key"])
    before = sandbox_view(controller, key)
    if params["state"] == "absent":
        if before is None:
            return Result(False, None, None, sandbox=None)
        sandbox = controller.sandbox_by_key(key)
        names = [ep["network"] + "/" + ep["name"] for ep in sandbox.endpoints()]
        if names:
            raise errors.ActiveEndpointsError("sandbox", key, names)
        if not check_mode:
            sandbox.destroy()
        return Result(True, before, None, sandbox=None)
    action = sandboxes.plan(controller.store, key)
    if action == sandboxes.NOTHING:
        return Result(False, before, before, sandbox=before)
    if check_mode:
        # A namespace that is not there is made by pynet (and so removed by pynet later).
        after = {"key": key, "created": action == sandboxes.CREATE, "exists": True,
                 "interfaces": before["interfaces"] if before else []}
        return Result(True, before, after, sandbox=after)
    controller.new_sandbox(key)
    after = sandbox_view(controller, key)
    return Result(True, before, after, sandbox=after)


# --- endpoints ----------------------------------------------------------------------------------


def endpoint_view(endpoint, published=None):
    return {"name": endpoint.name, "network": endpoint.network, "sandbox": endpoint.sandbox_key,
            "id": endpoint.id, "options": endpoint.options, "sandbox_info": endpoint.sandbox_info(),
            "ports": endpoint.ports() if published is None else published}


def _endpoint_differences(endpoint, item, opts):
    differ = []
    if endpoint.sandbox_key != item["sandbox"]:
        differ.append("sandbox")
    stored = endpoint.options
    info = endpoint.sandbox_info()["interfaces"]
    for key in ENDPOINT_PARAMS:
        if item.get(key) is None:
            continue
        if key in ("ip", "ipv6"):
            have = info[0]["address" if key == "ip" else "address_ipv6"] if info else None
            if not have or ipam.parse_address(item[key], key) != ipam.parse_address(have.split("/")[0], key):
                differ.append(key)
        elif stored.get(key) != opts[key]:
            differ.append(key)
    return differ


class _Plan:
    def __init__(self, where, item, network, endpoint, action, opts, differ=None, drift=None):
        self.where = where
        self.item = item
        self.network = network
        self.endpoint = endpoint
        self.action = action  # create | recreate | repair | delete | none
        self.opts = opts
        self.differ = differ or []
        self.drift = drift or []
        self.predicted = None
        self.predicted_ports = None


def ensure_endpoint_params(controller, params, check_mode):
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


def _item(entry, defaults):
    item = {key: entry.get(key) for key in ("name",) + ENDPOINT_PARAMS}
    for key in ("network", "sandbox", "state"):
        item[key] = entry.get(key) if entry.get(key) is not None else defaults.get(key)
    item["state"] = item["state"] or "present"
    return item


def ensure_endpoints(controller, items, check_mode, purge=(), as_list=True, prune_stale=False):
    """Converge a list of endpoint declarations (dicts of network, name, sandbox, options, state).

    With as_list, errors name the item (`endpoints[3].ip`); otherwise the bare parameter.
    purge names networks whose endpoints the list lacks are removed; prune_stale removes,
    from every network, the endpoints not listed whose sandbox namespace is gone (after a reboot,
    or a container removed without pynet), and forgets sandboxes left with no namespace and no endpoint.
    """
    host_addresses = ports.HostAddresses()  # read once for the task, if a port gives host_ip
    plans = [_plan_endpoint(controller, "endpoints[%d]." % index if as_list else "", item, check_mode, host_addresses)
             for index, item in enumerate(items)]
    if purge:
        named = [_lookup_network(controller, name) for name in purge]
        plans.extend(_removal_plans(plans, [net for net in named if net], lambda ep: True))
    if prune_stale:
        plans.extend(_removal_plans(plans, controller.networks(), lambda ep: not netns.is_netns(ep.sandbox_key)))
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
        elif check_mode and plan.action in ("create", "recreate") and not netns.is_netns(plan.item["sandbox"]):
            result.warnings.append("sandbox %s does not exist yet; a real run fails unless a task before it "
                                   "creates the sandbox" % plan.item["sandbox"])
    return result


def _plan_endpoint(controller, where, item, check_mode, host_addresses):
    for key in ("network", "name"):
        if not item.get(key):
            raise errors.InvalidParameterError(where + key, "is required")
    network = _lookup_network(controller, item["network"])
    if network is None:
        # An endpoint of a network that does not exist is absent. In check mode a task before
        # this one may be about to create the network: predict a creation, without addresses.
        if item["state"] == "absent":
            return _Plan(where, item, None, None, "none", None)
        with _located(where):
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
    with _located(where):
        opts = network.check_endpoint(item["name"], item["sandbox"], _given(item, ENDPOINT_PARAMS), host_addresses)
        if not check_mode and not netns.is_netns(item["sandbox"]):
            raise errors.SandboxKeyError(item["sandbox"], "is not a network namespace: create the sandbox first "
                                         "(pynet.libnetwork.pynet_sandbox)", param="sandbox")
    if endpoint is None:
        return _Plan(where, item, network, None, "create", opts)
    differ = _endpoint_differences(endpoint, item, opts)
    if differ:
        return _Plan(where, item, network, endpoint, "recreate", opts, differ=differ)
    return _Plan(where, item, network, endpoint, "check", opts)  # repair or none: see _check_drift


@contextlib.contextmanager
def _located(where):
    """Errors about one item of a list name it: `endpoints[3].ip: ...`."""
    try:
        yield
    except errors.PynetError as exc:
        param = where + (exc.param or "")
        message = str(exc)
        if exc.param and message.startswith(exc.param + ": "):
            message = message[len(exc.param) + 2:]
        raise errors.PynetError("%s: %s" % (param, message), param=param) from None


def _check_drift(plans):
    """Endpoints that stand as declared are checked against the kernel, one pass per network."""
    for network, batch in _by_network(plans, ("check",)):
        for plan, drift in zip(batch, network.endpoints_drift([plan.endpoint for plan in batch])):
            plan.drift = drift
            plan.action = "repair" if drift else "none"


def _removal_plans(plans, networks, chosen):
    """Deletions of the endpoints of `networks` that no plan names and that `chosen` picks."""
    named = {(plan.item["network"], plan.item["name"]) for plan in plans}
    return [_Plan("", {"network": network.name, "name": ep.name, "state": "absent", "sandbox": ep.sandbox_key},
                  network, ep, "delete", None)
            for network in networks for ep in network.endpoints()
            if (network.name, ep.name) not in named and chosen(ep)]


def _stale_sandboxes(known, plans):
    """Of the `known` sandboxes, those whose namespace is gone and that no endpoint will use once the plans are
    carried out. One with a symlink on its path is not looked at through it, so never collected."""
    leaving = {plan.endpoint.id for plan in plans if plan.action == "delete"}
    wanted = {plan.item.get("sandbox") for plan in plans if plan.action != "delete"}
    return [sandbox for sandbox in known
            if sandbox.key not in wanted and sandboxes.examine(sandbox.key)[0] not in (netns.NETNS, netns.SYMLINK)
            and all(ep["id"] in leaving for ep in sandbox.endpoints())]


def _predict(controller, plans):
    """Run every allocation in one rolled-back transaction: a conflict fails before any change,
    and check mode shows the addresses a real run would give."""
    with controller.store.trial() as tx:
        for plan in plans:
            if plan.action in ("delete", "recreate"):
                ipam.release(tx, plan.endpoint.id)
                tx.execute("DELETE FROM endpoints WHERE id = ?", (plan.endpoint.id,))
        for plan in plans:
            if plan.action in ("create", "recreate") and plan.network is not None:
                with _located(plan.where):
                    record = plan.network.prepare_endpoint(tx, plan.item["name"], plan.item["sandbox"], plan.opts)
                plan.predicted = plan.network.endpoint_view(record)
                plan.predicted_ports = ports.published(tx, record["id"])


def _apply(plans, host_addresses):
    """Deletions first (in one request per network), then creations (one batch per network),
    then repairs. An endpoint the kernel refuses is reported after the others are made."""
    for network, batch in _by_network(plans, ("delete", "recreate")):
        network.delete_endpoints([plan.endpoint for plan in batch])
    failed = []
    for network, batch in _by_network(plans, ("create", "recreate")):
        made = network.create_endpoints([(plan.item["name"], plan.item["sandbox"], _given(plan.item, ENDPOINT_PARAMS))
                                         for plan in batch], host_addresses)
        for plan, endpoint in zip(batch, made):
            if isinstance(endpoint, Exception):
                failed.append("%s%s: %s" % (plan.where, plan.item["name"], endpoint))
            else:
                plan.endpoint = endpoint
    for plan in plans:
        if plan.action == "repair":
            plan.endpoint.repair()
    if failed:
        raise errors.PynetError("the kernel refused %d endpoint(s), the others are made: %s"
                                % (len(failed), "; ".join(failed)), param="endpoints")


def _by_network(plans, actions):
    batches = {}
    for plan in plans:
        if plan.action in actions:
            batches.setdefault(plan.network.id, (plan.network, []))[1].append(plan)
    return list(batches.values())


def _result_view(plan, check_mode):
    if plan.action == "delete" or (plan.action == "none" and plan.endpoint is None):
        return None
    if check_mode and plan.action in ("create", "recreate"):
        if plan.predicted is None:  # its network does not exist yet
            return {"name": plan.item["name"], "network": plan.item["network"], "sandbox": plan.item["sandbox"],
                    "options": _given(plan.item, ENDPOINT_PARAMS), "sandbox_info": None}
        view = endpoint_view(plan.predicted, plan.predicted_ports)
        view.pop("id")
        return view
    return endpoint_view(plan.endpoint)


# --- information --------------------------------------------------------------------------------


def gather_info(controller, networks=None, sandboxes_wanted=None):
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
