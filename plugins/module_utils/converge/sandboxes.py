# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet_sandbox: sandboxes (network namespaces at their keys) declared present or absent, one or a list."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils import sandbox as sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge.diff import Result, located, sandbox_view


def ensure_sandbox_params(controller: Controller, params: dict, check_mode: bool) -> Result:
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
            with located("sandboxes[%d]." % index):
                results.append(ensure_sandbox(controller, item, mode))
    return Result(any(result.changed for result in results),
                  {"sandboxes": [result.diff["before"] for result in results if result.diff["before"]]},
                  {"sandboxes": [result.diff["after"] for result in results if result.diff["after"]]},
                  sandboxes=[dict(result.returned["sandbox"] or {"key": item["key"], "exists": False},
                                  changed=result.changed, state=item["state"])
                             for item, result in zip(items, results)])


def ensure_sandbox(controller: Controller, params: dict, check_mode: bool) -> Result:
    key = sandboxes.check_key(params["key"])
    before = sandbox_view(controller, key)
    if params["state"] == "absent":
        if before is None:
            return Result(False, None, None, sandbox=None)
        sandbox = controller.sandbox_by_key(key)
        names = ["%s/%s" % (found.network, found.endpoint.name) for found in sandbox.endpoints()]
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
