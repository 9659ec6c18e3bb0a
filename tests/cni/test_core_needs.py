"""What issue 15 asks of the core that it does not do yet, as tests that fail today (strict xfail: the
day the core does it, they pass and xfail turns them red, to be unmarked). See plugins/module_utils/cni_plugin/
seam.py for the stand-ins the plugin uses meanwhile."""

import os

import pynet_testing
import pytest
import runtime

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns


@pytest.mark.xfail(strict=True, reason="the core has no endpoint owner: purge removes a runtime's endpoints")
def test_a_playbooks_purge_leaves_the_endpoints_a_runtime_made(host):
    """'A playbook never removes an endpoint that a runtime made, unless it is told to': purge is told
    to remove the endpoints a task does not list, not the ones no playbook ever declared."""
    controller = Controller(state_dir=host.state_dir)
    controller.new_network(controller.new_network_driver("bridge", {}), "pnown", {"ipam": [{"subnet": "10.89.44.0/24"}]})
    key = host.sandbox_key("c1")
    os.makedirs(os.path.dirname(key))
    netns.create(key)
    config = {"cniVersion": "1.1.0", "name": "pnown", "type": "pynet", "state_dir": host.state_dir}
    assert runtime.module_plugin().execute("ADD", config, "c1", key, "eth0").ok
    purged = pynet_testing.run_module("pynet_endpoint", {"state_dir": host.state_dir, "network": "pnown",
                                                         "endpoints": [], "purge": True})
    assert not purged.get("failed"), purged
    assert [ep.name for ep in controller.network_by_name("pnown").endpoints()] == ["cni.c1.eth0"]
    controller.close()
