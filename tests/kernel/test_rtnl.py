"""kernel/rtnl.py against the kernel, checked with iproute2's view of the same objects."""

import errno
import os
import subprocess

import pytest
from pynet_testing import ip_json

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl


def test_veth_addresses_route_as_iproute2_sees_them(host):
    os.makedirs(host.netns_dir)
    key = host.sandbox_key("s")
    netns.create(key)
    fd = netns.open_fd(key)
    try:
        with rtnl.connect() as here:
            here.add_veth("pnt-a", "eth7", fd, peer_mac="02:00:00:00:00:07", mtu=1400, group=77)
            with pytest.raises(OSError) as exists:
                here.add_veth("pnt-a", "eth8", fd)
            assert exists.value.errno == errno.EEXIST
            assert here.link("pnt-missing") is None
            assert here.wait_oper_up("pnt-a", timeout=0.1) is False  # its peer is down: no carrier
    finally:
        os.close(fd)
    with rtnl.connect(key) as inside:
        index = inside.link("eth7")["index"]
        inside.add_address(index, "10.89.99.2/24")
        inside.add_address(index, "10.89.99.2/24")  # already there: fine
        inside.add_address(index, "fd00:89:99::2/64", flags=rtnl.IFA_F_NODAD)
        inside.set_up(index)
        inside.set_default_route("10.89.99.1", index)
        inside.set_default_route("fd00:89:99::1", index)
        assert inside.addresses()[index] >= {"10.89.99.2/24", "fd00:89:99::2/64"}
        assert inside.default_gateways() == {4: "10.89.99.1", 6: "fd00:89:99::1"}
        # Addresses and the routes with a destination (the kernel's prefix routes), not the default routes.
        assert inside.networks_in_use() >= {"10.89.99.2/24", "fd00:89:99::2/64", "10.89.99.0/24", "fd00:89:99::/64"}
        assert not [cidr for cidr in inside.networks_in_use() if cidr.endswith("/0")]
        assert inside.link("eth7")["up"] and inside.link("eth7")["mtu"] == 1400
    seen = ip_json("-d", "link", "show", "eth7", key=key)[0]
    assert (seen["address"], seen["mtu"]) == ("02:00:00:00:00:07", 1400)
    host_end = ip_json("-d", "link", "show", "pnt-a")[0]
    assert host_end["group"] == "77" and host_end["mtu"] == 1400
    routes = ip_json("route", "show", "default", key=key)
    assert [(route["gateway"], route["dev"]) for route in routes] == [("10.89.99.1", "eth7")]


def test_port_isolation_groups_and_deletion_as_iproute2_sees_them(host):
    os.makedirs(host.netns_dir)
    keys = [host.sandbox_key(name) for name in ("s1", "s2", "s3")]
    subprocess.run(["ip", "link", "add", "pnt-br", "type", "bridge"], check=True)
    with rtnl.connect() as here:
        bridge = here.link("pnt-br")["index"]
        for number, key in enumerate(keys, 1):
            netns.create(key)
            fd = netns.open_fd(key)
            try:
                here.add_veth("pnt-v%d" % number, "eth0", fd, master=bridge)
            finally:
                os.close(fd)
        here.set_port_isolated("pnt-v1")
        assert [here.link("pnt-v%d" % number)["isolated"] for number in (1, 2, 3)] == [True, False, False]
        assert here.link("pnt-br")["isolated"] is None  # not a bridge port
        seen = ip_json("-d", "link", "show", "pnt-v1")[0]
        assert seen["linkinfo"]["info_slave_data"]["isolated"] is True
        assert here.set_group("pnt-v1", 4242) and here.set_group("pnt-v2", 4242)
        assert here.set_group("pnt-missing", 4242) is False
        here.delete_group(4242)
        assert here.delete_link("pnt-v3") is True
        assert here.delete_link("pnt-v3") is False
    assert [link["ifname"] for link in ip_json("link", "show")] == ["lo", "pnt-br"]
