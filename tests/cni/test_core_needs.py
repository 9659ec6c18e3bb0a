"""What issue 15 asks of the core, through the library's public API and the modules: one store for
playbooks and runtimes. An endpoint records who made it (owner) and, for a runtime's, its attachment
(container id, ifname); playbooks' purge and prune_stale leave a runtime's endpoints (and their
sandboxes) to the runtime, and GC leaves the playbooks'; a runtime's netns is forgotten with its last
endpoint; a failed creation leaves no record; STATUS asks has_free_address(); sandbox_info() says
which endpoint holds each default route; pynet_info shows the container ids."""

import os
import sqlite3
import subprocess

import pynet_testing
import pytest
import runtime

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import OWNER_CNI

NETWORK = "pnown"


@pytest.fixture
def world(host):
    made = runtime.Rig(host, NETWORK, "10.89.44.0/24")
    yield made
    made.controller.close()


def cni(world, command, container=None, key=None, ifname="eth0", **extra):
    """A verb that must succeed, its output as the spec has it."""
    outcome = world.plugin.execute(command, world.config(**extra), container, key, ifname)
    assert outcome.ok and outcome.problems == [], outcome
    return outcome


def module(world, name, args, check=False):
    result = pynet_testing.run_module(name, dict(args, state_dir=world.paths.state_dir), check=check)
    assert not result.get("failed"), result
    return result


def endpoint_names(world):
    return sorted(world.endpoints())


def sandbox_keys(world):
    return sorted(world.sandbox_keys())


# --- owner and attachment ----------------------------------------------------------------------------------


def test_an_attachment_is_recorded_with_its_owner_and_found_by_container_and_ifname(world):
    key = world.netns("c1")
    cni(world, "ADD", "c1", key)
    mine = world.controller.new_sandbox(world.paths.sandbox_key("mine"))
    world.network.create_endpoint("mine", mine.key)
    attachment = world.network.endpoint_by_attachment("c1", "eth0")
    assert (attachment.owner, attachment.container_id, attachment.ifname) == (OWNER_CNI, "c1", "eth0")
    assert [ep.name for ep in world.network.endpoints_owned(OWNER_CNI)] == [attachment.name]
    assert [(ep.name, ep.owner, ep.container_id) for ep in world.network.endpoints_owned(None)] == [
        ("mine", None, None)]
    with pytest.raises(errors.UnknownEndpointError):
        world.network.endpoint_by_attachment("c1", "eth1")


def test_the_name_does_not_identify_an_attachment(world):
    """Container 'a.b' on 'c' and container 'a' on 'b.c' would share the name cni.a.b.c."""
    key = world.netns("c1")
    cni(world, "ADD", "a.b", key, ifname="c")
    cni(world, "ADD", "a", key, ifname="b.c")
    assert len(world.network.endpoints_owned(OWNER_CNI)) == 2
    cni(world, "DEL", "a", key, ifname="b.c")
    assert world.network.endpoint_by_attachment("a.b", "c").ifname == "c"
    assert [ep.container_id for ep in world.network.endpoints_owned(OWNER_CNI)] == ["a.b"]


def test_a_container_id_needs_an_owner_and_is_checked_before_any_change_and_an_attachment_is_made_once(world):
    key = world.netns("c1")
    with pytest.raises(errors.InvalidParameterError) as caught:
        world.network.create_endpoint("x", key, {}, container_id="c1")
    assert caught.value.param == "container_id"
    with pytest.raises(errors.InvalidParameterError) as caught:
        world.network.create_endpoint("x", key, {}, owner=OWNER_CNI, container_id="-c1/")
    assert caught.value.param == "container_id"
    with pytest.raises(errors.InvalidParameterError) as caught:
        world.network.create_endpoint("x", key, {}, owner="no owner")
    assert caught.value.param == "owner"
    assert endpoint_names(world) == [] and sandbox_keys(world) == []
    world.network.create_endpoint("a1", key, {}, owner=OWNER_CNI, container_id="c1")
    with pytest.raises(errors.AttachmentExistsError) as caught:  # the attachment, whatever the name
        world.network.create_endpoint("a2", key, {"ifname": "eth0"}, owner=OWNER_CNI, container_id="c1")
    assert caught.value.param == "container_id" and endpoint_names(world) == ["a1"]


def test_a_schema_3_store_is_brought_to_4_and_its_endpoints_are_the_playbooks(world):
    key = world.controller.new_sandbox(world.paths.sandbox_key("old")).key
    world.network.create_endpoint("old", key)
    world.controller.close()
    database = sqlite3.connect(os.path.join(world.paths.state_dir, "pynet.db"))
    for statement in ("DROP INDEX endpoints_attachment", "ALTER TABLE endpoints DROP COLUMN owner",
                      "ALTER TABLE endpoints DROP COLUMN container_id", "ALTER TABLE sandboxes DROP COLUMN owner",
                      "UPDATE meta SET value = '3' WHERE key = 'schema'"):
        database.execute(statement)
    database.commit()
    database.close()
    world.controller = Controller(state_dir=world.paths.state_dir)
    network = world.controller.network_by_name(NETWORK)
    assert [(ep.name, ep.owner, ep.container_id) for ep in network.endpoints_owned(None)] == [("old", None, None)]
    runtime_key = world.netns("c1")
    cni(world, "ADD", "c1", runtime_key)
    assert network.endpoint_by_attachment("c1", "eth0").owner == OWNER_CNI


# --- playbooks and runtimes share the store -----------------------------------------------------------------


def test_a_playbooks_purge_leaves_the_endpoints_a_runtime_made(world):
    """'A playbook never removes an endpoint that a runtime made, unless it is told to': purge is told
    to remove the endpoints a task does not list, not the ones no playbook ever declared."""
    key = world.netns("c1")
    cni(world, "ADD", "c1", key)
    purged = module(world, "pynet_endpoint", {"network": NETWORK, "endpoints": [], "purge": True})
    assert not purged["changed"]
    assert endpoint_names(world) == ["cni.c1.eth0"]
    # Told to: the endpoint named, state absent.
    removed = module(world, "pynet_endpoint", {"network": NETWORK, "name": "cni.c1.eth0", "state": "absent"})
    assert removed["changed"] and endpoint_names(world) == [] and sandbox_keys(world) == []


def test_prune_stale_and_gc_agree_each_removes_only_its_own(world):
    """A runtime's attachment whose netns is gone is the runtime's to remove (GC); a playbook's endpoint
    whose sandbox is gone is prune_stale's. Neither takes the other's, and a second run changes nothing."""
    gone, kept = world.netns("c1"), world.netns("c2")
    cni(world, "ADD", "c1", gone)
    cni(world, "ADD", "c2", kept)
    playbook_key = world.paths.sandbox_key("pb")
    module(world, "pynet_sandbox", {"key": playbook_key})
    module(world, "pynet_endpoint", {"network": NETWORK, "name": "pb", "sandbox": playbook_key})
    netns.destroy(gone)
    netns.destroy(playbook_key)
    predicted = module(world, "pynet_endpoint", {"endpoints": [], "prune_stale": True}, check=True)
    pruned = module(world, "pynet_endpoint", {"endpoints": [], "prune_stale": True})
    assert [ep["name"] for ep in pruned["endpoints"]] == ["pb"] == [ep["name"] for ep in predicted["endpoints"]]
    assert pruned["pruned_sandboxes"] == [playbook_key] == predicted["pruned_sandboxes"]
    assert endpoint_names(world) == ["cni.c1.eth0", "cni.c2.eth0"] and sandbox_keys(world) == [gone, kept]
    assert not module(world, "pynet_endpoint", {"endpoints": [], "prune_stale": True})["changed"]
    # The runtime's GC: c2 is valid, c1 is not; a playbook's endpoint on the network stays.
    mine = world.controller.new_sandbox(world.paths.sandbox_key("mine"))
    world.network.create_endpoint("mine", mine.key)
    cni(world, "GC", **{"cni.dev/valid-attachments": [{"containerID": "c2", "ifname": "eth0"}]})
    assert endpoint_names(world) == ["cni.c2.eth0", "mine"]
    assert sandbox_keys(world) == [kept, mine.key]


# --- sandbox records ---------------------------------------------------------------------------------------


def test_a_runtimes_netns_is_forgotten_with_its_last_endpoint_by_the_library(world):
    key = world.netns("c1")
    first = world.network.create_endpoint("a1", key, {}, owner=OWNER_CNI, container_id="c1")
    second = world.network.create_endpoint("a2", key, {"ifname": "eth1"}, owner=OWNER_CNI, container_id="c1")
    assert sandbox_keys(world) == [key]
    first.delete()
    assert sandbox_keys(world) == [key]
    second.delete()
    assert sandbox_keys(world) == [] and netns.is_netns(key)  # forgotten, and left to the runtime


def test_a_netns_a_playbook_adopted_stays_after_a_runtimes_endpoint_in_it_goes(world):
    key = world.netns("c1")
    world.controller.new_sandbox(key)  # adopted by the library, as pynet_sandbox does
    world.network.create_endpoint("a1", key, {}, owner=OWNER_CNI, container_id="c1").delete()
    assert sandbox_keys(world) == [key]


@pytest.mark.parametrize("owner", [None, OWNER_CNI])
def test_a_failed_creation_leaves_no_record(world, owner):
    key = world.netns("c1")
    with pytest.raises(errors.IPOutOfRangeError):  # refused while recording
        world.network.create_endpoint("x", key, {"ip": "10.99.0.5"}, owner=owner)
    assert sandbox_keys(world) == [] and endpoint_names(world) == []
    subprocess.run(["nsenter", "--net=" + key, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "pnx"],
                   check=True)
    with pytest.raises(errors.PynetError) as caught:  # refused by the kernel: eth0 is taken
        world.network.create_endpoint("x", key, {}, owner=owner)
    assert "exists" in str(caught.value)
    assert sandbox_keys(world) == [] and endpoint_names(world) == []


# --- what STATUS and the Result ask ---------------------------------------------------------------------------


def test_has_free_address_per_ip_version(host):
    controller = Controller(state_dir=host.state_dir)
    network = controller.new_network(controller.new_network_driver("bridge", {}), "pntiny",
                                     {"ipam": [{"subnet": "10.89.45.0/30"}, {"subnet": "fd00:89:45::/126"}]})
    assert network.has_free_address(4) and network.has_free_address(6)
    sandbox = controller.new_sandbox(host.sandbox_key("s1"))
    network.create_endpoint("e1", sandbox.key)
    assert not network.has_free_address(4) and network.has_free_address(6)
    network.endpoint_by_name("e1").delete()
    assert network.has_free_address(4)
    internal = controller.new_network(controller.new_network_driver("bridge", {}), "pnnone4",
                                      {"ipam": [{"subnet": "10.89.46.0/24"}]})
    assert not internal.has_free_address(6)  # no IPv6 pool
    controller.close()


def test_sandbox_info_says_which_endpoint_holds_the_default_route(world):
    other = world.controller.new_network(world.controller.new_network_driver("bridge", {}), "pnother",
                                         {"ipam": [{"subnet": "10.89.47.0/24"}]})
    key = world.controller.new_sandbox(world.paths.sandbox_key("s1")).key
    first = world.network.create_endpoint("first", key)
    second = other.create_endpoint("second", key, {"ifname": "eth1"})
    assert first.sandbox_info()["default_route"] and not second.sandbox_info()["default_route"]
    assert not first.sandbox_info()["default_route_ipv6"]
    first.delete()
    assert second.sandbox_info()["default_route"]
    preferred = world.network.create_endpoint("preferred", key, {"ifname": "eth2", "gw_priority": 10})
    assert preferred.sandbox_info()["default_route"] and not second.sandbox_info()["default_route"]
    routes = pynet_testing.ip_json("route", "show", "default", key=key)
    assert [(route["gateway"], route["dev"]) for route in routes] == [("10.89.44.1", "eth2")]


def test_pynet_info_shows_a_containers_endpoint_with_its_container_id(world):
    key = world.netns("c1")
    cni(world, "ADD", "0123abcd", key)
    info = module(world, "pynet_info", {"networks": [NETWORK]})
    endpoint = info["networks"][0]["endpoints"][0]
    assert (endpoint["owner"], endpoint["container_id"], endpoint["sandbox"]) == (OWNER_CNI, "0123abcd", key)
    assert endpoint["sandbox_info"]["default_route"] is True
