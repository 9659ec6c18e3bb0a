"""A declared state as a play would give it: (kind, params) tasks carried out through the same
converge functions the modules call, and its removal. Kind "cni" is a container runtime's CNI call
(ADD or DEL), carried out by the plugin's own code in this process."""

from ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin import protocol, verbs
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import drivers, endpoints, networks, sandboxes
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller


class _Done:
    changed = True


def cni(unused_controller, params, unused_check_mode):
    """params: command (ADD or DEL), network, container_id, netns, ifname, port_mappings, state_dir.
    Raises protocol.CniError as the plugin reports it."""
    environ = {"CNI_COMMAND": params["command"], "CNI_CONTAINERID": params["container_id"],
               "CNI_NETNS": params["netns"], "CNI_IFNAME": params.get("ifname", "eth0")}
    config = protocol.parse_config({"cniVersion": "1.1.0", "name": params["network"], "type": "pynet",
                                    "state_dir": params["state_dir"],
                                    "runtimeConfig": {"portMappings": params.get("port_mappings") or []}})
    verbs.run(protocol.Call(protocol.check_environment(params["command"], environ, "1.1.0"), environ, config))
    return _Done()


ENSURE = {
    "driver": drivers.ensure_driver,
    "network": networks.ensure_network,
    "sandbox": sandboxes.ensure_sandbox,
    "endpoints": endpoints.ensure_endpoint_params,
    "cni": cni,
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
