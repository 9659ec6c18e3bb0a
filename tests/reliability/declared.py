"""A declared state as a play would give it: (kind, params) tasks carried out through the same
converge functions the modules call, and its removal."""

from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import drivers, endpoints, networks, sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller

ENSURE = {
    "driver": drivers.ensure_driver,
    "network": networks.ensure_network,
    "sandbox": sandboxes.ensure_sandbox,
    "endpoints": endpoints.ensure_endpoint_params,
}


def apply(state_dir, tasks, check_mode=False):
    """Carry out the tasks in order; returns the names of the kinds that changed."""
    controller = Controller(state_dir=state_dir)
    try:
        return [kind for kind, params in tasks
                if ENSURE[kind](controller, dict(params, state=params.get("state", "present")), check_mode).changed]
    finally:
        controller.close()


def removal(tasks):
    """The tasks that remove what `tasks` declare, in reverse order."""
    undo = []
    for kind, params in reversed(tasks):
        if kind == "endpoints":
            undo.append((kind, dict(params, endpoints=[dict(item, state="absent") for item in params["endpoints"]])))
        else:
            undo.append((kind, dict(params, state="absent", force=True)))
    return undo
