"""A CNI runtime in miniature, as SPEC.md section 3 describes one: a plugin exec'd with its
CNI_* variables and the request config on stdin, and a network configuration list executed in
order for ADD (each plugin given the previous one's Result as prevResult) and in reverse for DEL.

Every execution's output is checked with spec.py; the tests assert there are no problems.
"""

import json
import os
import subprocess
import sys

import pynet_testing
import spec

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

PLUGIN_MODULE = "ansible_collections.pynet.libnetwork.plugins.module_utils.cni"
ZIPAPP_MODULE = "ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin.zipapp"
REFERENCE_PLUGINS = "/usr/lib/cni"


def module_plugin():
    """The plugin as issue 15's contract runs it: python3 -m ... with the collection on PYTHONPATH."""
    return Plugin([sys.executable, "-m", PLUGIN_MODULE], {"PYTHONPATH": pynet_testing.COLLECTIONS})


def reference_plugin(name):
    return Plugin([os.path.join(REFERENCE_PLUGINS, name)], {})


class Rig:
    """A pynet network made by the library, the plugin, and netns made as a runtime makes them."""

    def __init__(self, paths, network, subnet):
        self.paths = paths
        self.controller = Controller(state_dir=paths.state_dir)
        self.network = self.controller.new_network(self.controller.new_network_driver("bridge", {}), network,
                                                   {"ipam": [{"subnet": subnet}]})
        self.plugin = module_plugin()

    def config(self, version="1.1.0", **extra):
        return dict({"cniVersion": version, "name": self.network.name, "type": "pynet",
                     "state_dir": self.paths.state_dir}, **extra)

    def netns(self, name):
        """A netns as the runtime makes it (not through pynet): pynet must adopt it and never remove it."""
        key = self.paths.sandbox_key(name)
        os.makedirs(os.path.dirname(key), exist_ok=True)
        netns.create(key)
        return key

    def add(self, container, key, version="1.1.0", ifname="eth0", **extra):
        return self.plugin.execute("ADD", self.config(version, **extra), container, key, ifname)

    def delete(self, container, key=None, version="1.1.0", ifname="eth0", **extra):
        return self.plugin.execute("DEL", self.config(version, **extra), container, key, ifname)

    def endpoints(self):
        return {ep.name: ep for ep in self.controller.network_by_name(self.network.name).endpoints()}

    def sandbox_keys(self):
        return [sandbox.key for sandbox in self.controller.sandboxes()]


class Plugin:
    def __init__(self, argv, env):
        self.argv = list(argv)
        self.env = dict(env)

    def execute(self, command, config, container_id=None, netns=None, ifname=None, cni_args=None, stdin=None,
                unset=(), python_flags=()):
        """Run one verb; `stdin` (bytes) replaces the JSON of `config`; `unset` leaves variables out."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command, "CNI_PATH": REFERENCE_PLUGINS}
        env.update(self.env)
        for name, value in (("CNI_CONTAINERID", container_id), ("CNI_NETNS", netns), ("CNI_IFNAME", ifname),
                            ("CNI_ARGS", cni_args)):
            if value is not None:
                env[name] = value
        for name in unset:
            env.pop(name, None)
        argv = self.argv[:1] + list(python_flags) + self.argv[1:]
        data = stdin if stdin is not None else json.dumps(config).encode()
        done = subprocess.run(argv, input=data, env=env, capture_output=True, timeout=120, check=False)
        version = config.get("cniVersion") if isinstance(config, dict) else None
        return Outcome(command, version, done, netns, ifname)


class Outcome:
    """One execution: exit status, output, and what spec.py finds wrong with it."""

    def __init__(self, command, version, done, netns, ifname):
        self.command = command
        self.returncode = done.returncode
        self.stdout = done.stdout.decode()
        self.stderr = done.stderr.decode()
        self.problems, self.output = spec.check_outcome(command, version, done.returncode, self.stdout, netns, ifname)

    @property
    def ok(self):
        return self.returncode == 0

    @property
    def code(self):
        return self.output.get("code") if self.returncode and self.output else None

    @property
    def msg(self):
        return self.output.get("msg", "") if self.returncode and self.output else ""

    def __repr__(self):
        return "Outcome(%s rc=%d stdout=%r stderr=%r problems=%r)" % (
            self.command, self.returncode, self.stdout, self.stderr[-2000:], self.problems)


def request_config(conflist, plugin_config, prev_result=None, runtime_config=None):
    """A plugin's request config derived from its configuration list (SPEC.md, "Deriving request
    configuration"): cniVersion and name inserted, capabilities replaced by runtimeConfig."""
    config = {key: value for key, value in plugin_config.items() if key != "capabilities"}
    config.update(cniVersion=conflist["cniVersion"], name=conflist["name"])
    capabilities = plugin_config.get("capabilities") or {}
    wanted = {key: value for key, value in (runtime_config or {}).items() if capabilities.get(key)}
    if wanted:
        config["runtimeConfig"] = wanted
    if prev_result is not None:
        config["prevResult"] = prev_result
    return config


def add_list(plugins, conflist, container_id, netns, ifname, runtime_config=None):
    """ADD through the list, in order; returns the outcomes (it stops at the first failure)."""
    outcomes, prev = [], None
    for plugin, plugin_config in zip(plugins, conflist["plugins"]):
        outcome = plugin.execute("ADD", request_config(conflist, plugin_config, prev, runtime_config),
                                 container_id, netns, ifname)
        outcomes.append(outcome)
        if not outcome.ok:
            break
        prev = outcome.output
    return outcomes


def del_list(plugins, conflist, container_id, netns, ifname, add_result, runtime_config=None):
    """DEL through the list in reverse, each given the final Result of the ADD."""
    return [plugin.execute("DEL", request_config(conflist, plugin_config, add_result, runtime_config),
                           container_id, netns, ifname)
            for plugin, plugin_config in reversed(list(zip(plugins, conflist["plugins"])))]
