"""kernel/rtnl.py, pynet's one netlink layer, against pyroute2's schema and the kernel.

Its constants are pyroute2's; every kind of request it builds, as sent, is decoded with pyroute2's
own message classes (ifinfmsg, ifaddrmsg, rtmsg) and must read field by field and attribute by
attribute as meant; the kernel's view after each change is checked with iproute2 (`ip -j`), and
what rtnl reads back (links, addresses, routes) must match that view. Modules run with pyroute2
unimportable.
"""

import errno
import json
import os
import struct
import subprocess

import pyroute2.netlink
import pyroute2.netlink.rtnl
import pytest
from pynet_testing import ip_json, run_module
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD, ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg, state_by_name
from pyroute2.netlink.rtnl.ifinfmsg.plugins.ipvlan import ipvlan
from pyroute2.netlink.rtnl.ifinfmsg.plugins.vxlan import vxlan
from pyroute2.netlink.rtnl.ndmsg import ndmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl

REQUEST, ACK, DUMP = pyroute2.netlink.NLM_F_REQUEST, pyroute2.netlink.NLM_F_ACK, pyroute2.netlink.NLM_F_DUMP
CREATE, EXCL, REPLACE = pyroute2.netlink.NLM_F_CREATE, pyroute2.netlink.NLM_F_EXCL, pyroute2.netlink.NLM_F_REPLACE
NEWLINK, DELLINK, GETLINK = pyroute2.netlink.rtnl.RTM_NEWLINK, pyroute2.netlink.rtnl.RTM_DELLINK, \
    pyroute2.netlink.rtnl.RTM_GETLINK
NEWADDR, DELADDR, GETADDR = pyroute2.netlink.rtnl.RTM_NEWADDR, pyroute2.netlink.rtnl.RTM_DELADDR, \
    pyroute2.netlink.rtnl.RTM_GETADDR
NEWROUTE, GETROUTE = pyroute2.netlink.rtnl.RTM_NEWROUTE, pyroute2.netlink.rtnl.RTM_GETROUTE
NEWNEIGH, DELNEIGH, GETNEIGH = pyroute2.netlink.rtnl.RTM_NEWNEIGH, pyroute2.netlink.rtnl.RTM_DELNEIGH, \
    pyroute2.netlink.rtnl.RTM_GETNEIGH
APPEND = pyroute2.netlink.NLM_F_APPEND
PYROUTE2_CLASS = {NEWLINK: ifinfmsg, DELLINK: ifinfmsg, GETLINK: ifinfmsg, NEWADDR: ifaddrmsg, DELADDR: ifaddrmsg,
                  GETADDR: ifaddrmsg, NEWROUTE: rtmsg, GETROUTE: rtmsg, NEWNEIGH: ndmsg, DELNEIGH: ndmsg,
                  GETNEIGH: ndmsg}
# The attribute spaces rtnl names, as pyroute2 describes them.
PYROUTE2_SPACES = (ifinfmsg, ifinfmsg.ifinfo, ifinfmsg.ifinfo.veth_data, ifinfmsg.ifinfo.bridge_data,
                   ifinfmsg.ifinfo.bridge_slave_data, ifinfmsg.ifinfo.macvlan_data, ipvlan, vxlan, ifaddrmsg, rtmsg,
                   ndmsg)
ATTRIBUTE_PREFIXES = ("IFLA_", "IFA_", "RTA_", "VETH_INFO_", "NDA_")


# --- the schema -------------------------------------------------------------------------------


def test_constants_are_pyroute2s():
    numbers = {}
    for space in PYROUTE2_SPACES:
        for position, entry in enumerate(space.nla_map):
            number, name = (entry[0], entry[1]) if len(entry) == 3 else (position, entry[0])
            numbers.setdefault(name, number)
    ours = [name for name in dir(rtnl) if name.startswith(ATTRIBUTE_PREFIXES) and not name.startswith("IFA_F_")]
    assert {name: getattr(rtnl, name) for name in ours} == {name: numbers.get(name) for name in ours}
    messages = [name for name in dir(rtnl) if name.startswith(("RTM_", "NLM_F_", "NLMSG_"))]
    assert {name: getattr(rtnl, name) for name in messages} == \
        {name: getattr(pyroute2.netlink.rtnl, name, getattr(pyroute2.netlink, name, None)) for name in messages}
    assert (rtnl.IFF_UP, rtnl.IFA_F_NODAD, rtnl.IF_OPER_UP) == (IFF_UP, IFA_F_NODAD, state_by_name["UP"])
    assert rtnl.NLA_TYPE_MASK == 0xFFFF & ~(pyroute2.netlink.NLA_F_NESTED | pyroute2.netlink.NLA_F_NET_BYTEORDER)
    assert (rtnl.RTPROT_BOOT, rtnl.RTN_UNICAST, rtnl.RT_SCOPE_UNIVERSE) == \
        (pyroute2.netlink.rtnl.rt_proto["boot"], pyroute2.netlink.rtnl.rt_type["unicast"],
         pyroute2.netlink.rtnl.rt_scope["universe"])


# --- requests as pyroute2 reads them ----------------------------------------------------------


class RecordingSocket:
    """A netlink socket that keeps a copy of every request sent on it."""

    def __init__(self, sock, sent):
        self._sock = sock
        self._sent = sent

    def send(self, data):
        self._sent.append(bytes(data))
        return self._sock.send(data)

    def recv(self, size):
        return self._sock.recv(size)

    def close(self):
        self._sock.close()


@pytest.fixture
def sent(monkeypatch):
    """Every request rtnl sends during the test, as bytes, oldest first."""
    requests = []
    plain_socket = rtnl._socket  # pylint: disable=protected-access
    monkeypatch.setattr(rtnl, "_socket", lambda: RecordingSocket(plain_socket(), requests))
    return requests


def as_pyroute2_reads(request):
    """(message type, flags, header fields that are not 0, attributes) of a request as pyroute2's
    message class for its type decodes it; a nested attribute is its list of attributes."""
    msg_type = struct.unpack_from("=H", request, 4)[0]
    msg = PYROUTE2_CLASS[msg_type](request)
    msg.decode()
    return msg_type, msg["header"]["flags"], _fields(msg), _attributes(msg)


def _fields(msg):
    return {name: msg[name] for name, unused_format in msg.fields if not name.startswith("_") and msg[name]}


def _attributes(msg):
    found = []
    for name, value in msg["attrs"]:
        if isinstance(value, pyroute2.netlink.nlmsg_base):
            assert _fields(value) == {}, (name, value)
            value = _attributes(value)
        found.append((name, value))
    return found


def test_veth_addresses_route_as_pyroute2_and_iproute2_see_them(host, sent):
    os.makedirs(host.netns_dir)
    key = host.sandbox_key("s")
    netns.create(key)
    fd = netns.open_fd(key)
    try:
        with rtnl.connect() as here:
            here.add_veth("pnt-a", "eth7", fd, peer_mac="02:00:00:00:00:07", mtu=1400, group=77)
            up = {"flags": IFF_UP, "change": IFF_UP}
            assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK | CREATE | EXCL, up, [
                ("IFLA_IFNAME", "pnt-a"), ("IFLA_MTU", 1400), ("IFLA_GROUP", 77),
                ("IFLA_LINKINFO", [("IFLA_INFO_KIND", "veth"), ("IFLA_INFO_DATA", [("VETH_INFO_PEER", [
                    ("IFLA_IFNAME", "eth7"), ("IFLA_NET_NS_FD", fd), ("IFLA_ADDRESS", "02:00:00:00:00:07"),
                    ("IFLA_MTU", 1400)])])])])
            with pytest.raises(OSError) as exists:
                here.add_veth("pnt-a", "eth8", fd)
            assert exists.value.errno == errno.EEXIST
            assert here.link("pnt-missing") is None
            assert as_pyroute2_reads(sent[-1]) == (GETLINK, REQUEST, {}, [("IFLA_IFNAME", "pnt-missing")])
            assert here.wait_oper_up("pnt-a", timeout=0.1) is False  # its peer is down: no carrier
            host_end = here.link("pnt-a")
    finally:
        os.close(fd)
    assert host_end == iproute2_link("pnt-a")
    assert (host_end.kind, host_end.mtu, host_end.group, host_end.up, host_end.oper_up) == \
        ("veth", 1400, 77, True, False)
    with rtnl.connect(key) as inside:
        index = inside.link("eth7").index
        inside.add_address(index, "10.89.99.2/24")
        assert as_pyroute2_reads(sent[-1]) == (NEWADDR, REQUEST | ACK | CREATE | EXCL, {
            "family": 2, "prefixlen": 24, "index": index}, [("IFA_LOCAL", "10.89.99.2"), ("IFA_ADDRESS", "10.89.99.2")])
        inside.add_address(index, "10.89.99.2/24")  # already there: fine
        inside.add_address(index, "fd00:89:99::2/64", flags=rtnl.IFA_F_NODAD)
        assert as_pyroute2_reads(sent[-1]) == (NEWADDR, REQUEST | ACK | CREATE | EXCL, {
            "family": 10, "prefixlen": 64, "flags": IFA_F_NODAD, "index": index},
            [("IFA_LOCAL", "fd00:89:99::2"), ("IFA_ADDRESS", "fd00:89:99::2")])
        inside.set_up(index)
        assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK, {"index": index, "flags": IFF_UP,
                                                                        "change": IFF_UP}, [])
        inside.set_default_route("10.89.99.1", index)
        route = {"table": 254, "proto": pyroute2.netlink.rtnl.rt_proto["boot"],
                 "type": pyroute2.netlink.rtnl.rt_type["unicast"]}
        assert as_pyroute2_reads(sent[-1]) == (NEWROUTE, REQUEST | ACK | CREATE | REPLACE, dict(route, family=2),
                                               [("RTA_GATEWAY", "10.89.99.1"), ("RTA_OIF", index)])
        inside.set_default_route("fd00:89:99::1", index)
        assert as_pyroute2_reads(sent[-1]) == (NEWROUTE, REQUEST | ACK | CREATE | REPLACE, dict(route, family=10),
                                               [("RTA_GATEWAY", "fd00:89:99::1"), ("RTA_OIF", index)])
        assert inside.addresses()[index] >= {"10.89.99.2/24", "fd00:89:99::2/64"}
        assert as_pyroute2_reads(sent[-1]) == (GETADDR, REQUEST | DUMP, {}, [])
        assert without_link_local(inside.addresses()) == without_link_local(iproute2_addresses(key))
        assert inside.default_gateways() == {4: "10.89.99.1", 6: "fd00:89:99::1"}
        assert as_pyroute2_reads(sent[-1]) == (GETROUTE, REQUEST | DUMP, {}, [])
        # Addresses and the routes with a destination (the kernel's prefix routes), not the default routes.
        assert inside.networks_in_use() >= {"10.89.99.2/24", "fd00:89:99::2/64", "10.89.99.0/24", "fd00:89:99::/64"}
        assert not [cidr for cidr in inside.networks_in_use() if cidr.endswith("/0")]
        assert inside.wait_oper_up("eth7")  # the kernel applies the carrier at its own time
        peer = inside.link("eth7")
        loopback = inside.link("lo")
    assert peer == iproute2_link("eth7", key=key)
    assert (peer.up, peer.mtu, peer.mac) == (True, 1400, "02:00:00:00:00:07")
    assert loopback == iproute2_link("lo", key=key) == rtnl.Link(
        rtnl.LOOPBACK_INDEX, "lo", None, False, False, 65536, "00:00:00:00:00:00", None, None, 0, None, None)
    host_end = ip_json("-d", "link", "show", "pnt-a")[0]
    assert host_end["group"] == "77" and host_end["mtu"] == 1400
    routes = ip_json("route", "show", "default", key=key)
    assert [(route["gateway"], route["dev"]) for route in routes] == [("10.89.99.1", "eth7")]
    routes = ip_json("-6", "route", "show", "default", key=key)
    assert [(route["gateway"], route["dev"]) for route in routes] == [("fd00:89:99::1", "eth7")]


def test_port_flags_groups_and_deletion_as_pyroute2_and_iproute2_see_them(host, sent):
    os.makedirs(host.netns_dir)
    keys = [host.sandbox_key(name) for name in ("s1", "s2", "s3")]
    subprocess.run(["ip", "link", "add", "pnt-br", "type", "bridge"], check=True)
    with rtnl.connect() as here:
        bridge = here.link("pnt-br").index
        for number, key in enumerate(keys, 1):
            netns.create(key)
            fd = netns.open_fd(key)
            try:
                here.add_veth("pnt-v%d" % number, "eth0", fd, master=bridge)
            finally:
                os.close(fd)
        assert ("IFLA_MASTER", bridge) in as_pyroute2_reads(sent[-1])[3]
        here.set_bridge_port("pnt-v1", isolated=True, hairpin=False)
        assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK, {}, [
            ("IFLA_IFNAME", "pnt-v1"), ("IFLA_LINKINFO", [("IFLA_INFO_SLAVE_KIND", "bridge"), (
                "IFLA_INFO_SLAVE_DATA", [("IFLA_BRPORT_MODE", 0), ("IFLA_BRPORT_ISOLATED", 1)])])])
        here.set_bridge_port("pnt-v2", isolated=False, hairpin=True)
        assert [here.link("pnt-v%d" % number).isolated for number in (1, 2, 3)] == [True, False, False]
        assert [here.link("pnt-v%d" % number).hairpin for number in (1, 2, 3)] == [False, True, False]
        assert here.link("pnt-br").isolated is None and here.link("pnt-br").hairpin is None  # not a bridge port
        assert [here.link(name) for name in ("pnt-v1", "pnt-v2", "pnt-br")] == \
            [iproute2_link(name) for name in ("pnt-v1", "pnt-v2", "pnt-br")]
        seen = ip_json("-d", "link", "show", "pnt-v1")[0]
        assert seen["linkinfo"]["info_slave_data"]["isolated"] is True
        assert ip_json("-d", "link", "show", "pnt-v2")[0]["linkinfo"]["info_slave_data"]["hairpin"] is True
        assert here.set_group("pnt-v1", 4242) and here.set_group("pnt-v2", 4242)
        assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK, {},
                                               [("IFLA_IFNAME", "pnt-v2"), ("IFLA_GROUP", 4242)])
        assert here.set_group("pnt-missing", 4242) is False
        assert [link["ifname"] for link in ip_json("link", "show") if link["group"] == "4242"] == ["pnt-v1", "pnt-v2"]
        here.delete_group(4242)
        assert as_pyroute2_reads(sent[-1]) == (DELLINK, REQUEST | ACK, {}, [("IFLA_GROUP", 4242)])
        assert here.delete_link("pnt-v3") is True
        assert as_pyroute2_reads(sent[-1]) == (DELLINK, REQUEST | ACK, {}, [("IFLA_IFNAME", "pnt-v3")])
        assert here.delete_link("pnt-v3") is False
    assert [link["ifname"] for link in ip_json("link", "show")] == ["lo", "pnt-br"]


def test_bridge_mtu_alias_and_address_removal_as_pyroute2_and_iproute2_see_them(host, sent):
    with rtnl.connect() as here:
        here.add_bridge("pnt-bridge", "02:70:6e:00:00:01")
        here.set_alias("pnt-bridge", "pynet:test", mtu=1450)
        bridge = here.link("pnt-bridge")
        created, aliased = sent[-3:-1]
        assert as_pyroute2_reads(created) == (NEWLINK, REQUEST | ACK | CREATE | EXCL, {}, [
            ("IFLA_IFNAME", "pnt-bridge"), ("IFLA_ADDRESS", "02:70:6e:00:00:01"),
            ("IFLA_LINKINFO", [("IFLA_INFO_KIND", "bridge"), ("IFLA_INFO_DATA", [("IFLA_BR_MCAST_SNOOPING", 0)])])])
        # The MTU once the bridge exists: one given at creation follows the ports (1500 once the last goes).
        assert as_pyroute2_reads(aliased) == (NEWLINK, REQUEST | ACK, {}, [
            ("IFLA_IFNAME", "pnt-bridge"), ("IFLA_IFALIAS", "pynet:test"), ("IFLA_MTU", 1450)])
        assert bridge == iproute2_link("pnt-bridge") == here.link("pnt-bridge")
        assert (bridge.kind, bridge.mac, bridge.mtu, bridge.alias, bridge.up) == \
            ("bridge", "02:70:6e:00:00:01", 1450, "pynet:test", False)
        assert ip_json("-d", "link", "show", "pnt-bridge")[0]["linkinfo"]["info_data"]["mcast_snooping"] == 0
        with pytest.raises(OSError) as exists:
            here.add_bridge("pnt-bridge", "02:70:6e:00:00:02")
        assert exists.value.errno == errno.EEXIST
        here.set_mtu(bridge.index, 1400)
        assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK, {"index": bridge.index}, [("IFLA_MTU", 1400)])
        assert ip_json("link", "show", "pnt-bridge")[0]["mtu"] == 1400
        here.add_address(bridge.index, "10.89.98.1/24")
        here.add_address(bridge.index, "fd00:89:98::1/64", flags=rtnl.IFA_F_NODAD)
        here.delete_address(bridge.index, "10.89.98.1/24")
        assert as_pyroute2_reads(sent[-1]) == (DELADDR, REQUEST | ACK, {"family": 2, "prefixlen": 24,
                                                                        "index": bridge.index},
                                               [("IFA_LOCAL", "10.89.98.1"), ("IFA_ADDRESS", "10.89.98.1")])
        here.delete_address(bridge.index, "10.89.98.1/24")  # already gone: fine
        assert iproute2_addresses() == here.addresses()
        assert here.addresses()[bridge.index] == {"fd00:89:98::1/64"}
        here.delete_address(bridge.index, "fd00:89:98::1/64")
        assert bridge.index not in iproute2_addresses()
        assert here.delete_link("pnt-bridge") is True
        here.delete_address(bridge.index, "10.89.98.1/24")  # the link is gone too: fine
    assert [link["ifname"] for link in ip_json("link", "show")] == ["lo"]


def test_macvlan_ipvlan_probe_and_routes_as_pyroute2_and_iproute2_see_them(host, sent):
    os.makedirs(host.netns_dir)
    key = host.sandbox_key("s")
    netns.create(key)
    assert {name: ifinfmsg.ifinfo.macvlan_data.mode.value_map[value] for name, value in rtnl.MODES["macvlan"].items()} \
        == {name: name for name in rtnl.MODES["macvlan"]}
    fd = netns.open_fd(key)
    try:
        with rtnl.connect() as here:
            subprocess.run(["ip", "link", "add", "pnt-par", "type", "veth", "peer", "name", "pnt-par2"], check=True)
            parent = here.link("pnt-par")
            here.add_child_link("macvlan", "eth3", parent.index, fd, "vepa", mac="02:00:00:00:00:03")
            assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK | CREATE | EXCL, {}, [
                ("IFLA_IFNAME", "eth3"), ("IFLA_LINK", parent.index), ("IFLA_NET_NS_FD", fd),
                ("IFLA_ADDRESS", "02:00:00:00:00:03"),
                ("IFLA_LINKINFO", [("IFLA_INFO_KIND", "macvlan"), ("IFLA_INFO_DATA", [("IFLA_MACVLAN_MODE", "vepa")])])])
            # This kernel has no ipvlan: the request is refused, as the probe says; as sent, it reads as meant.
            with pytest.raises(OSError) as missing:
                here.add_child_link("ipvlan", "eth4", parent.index, fd, "l3")
            assert missing.value.errno == errno.EOPNOTSUPP
            assert as_pyroute2_reads(sent[-1])[3][-1] == (
                "IFLA_LINKINFO", [("IFLA_INFO_KIND", "ipvlan"), ("IFLA_INFO_DATA", [("IFLA_IPVLAN_MODE", 1)])])
            assert (here.has_link_kind("macvlan"), here.has_link_kind("ipvlan")) == (True, False)
            assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK | CREATE | EXCL, {}, [
                ("IFLA_LINKINFO", [("IFLA_INFO_KIND", "ipvlan")])])
            assert [link["ifname"] for link in ip_json("link", "show")] == ["lo", "pnt-par2", "pnt-par"]
    finally:
        os.close(fd)
    seen = ip_json("-d", "link", "show", "eth3", key=key)[0]
    assert (seen["linkinfo"]["info_kind"], seen["linkinfo"]["info_data"]["mode"], seen["address"]) == \
        ("macvlan", "vepa", "02:00:00:00:00:03")
    with rtnl.connect(key) as inside:
        index = inside.link("eth3").index
        assert inside.link("eth3") == iproute2_link("eth3", key=key)
        inside.add_address(index, "10.89.96.2/24")
        inside.add_address(index, "fd00:89:96::2/64", flags=rtnl.IFA_F_NODAD)
        inside.set_up(index)
        inside.add_route("10.96.0.0/16", "10.89.96.254", index, 70)
        assert as_pyroute2_reads(sent[-1]) == (NEWROUTE, REQUEST | ACK | CREATE | REPLACE, {
            "family": 2, "dst_len": 16, "table": 254, "proto": pyroute2.netlink.rtnl.rt_proto["boot"],
            "type": pyroute2.netlink.rtnl.rt_type["unicast"]}, [
            ("RTA_DST", "10.96.0.0"), ("RTA_GATEWAY", "10.89.96.254"), ("RTA_OIF", index), ("RTA_PRIORITY", 70)])
        inside.add_route("fd00:96::/48", "fd00:89:96::fe", index, 5)
        inside.add_route("10.96.0.0/16", "10.89.96.254", index, 70)  # the same again: replaced, not doubled
        found = [route for route in inside.routes() if route.gateway]
    assert sorted(found) == [rtnl.Route("10.96.0.0/16", "10.89.96.254", index, 70),
                             rtnl.Route("fd00:96::/48", "fd00:89:96::fe", index, 5)]
    assert [(r["dst"], r["gateway"], r["metric"]) for r in ip_json("route", "show", key=key) if "gateway" in r] == \
        [("10.96.0.0/16", "10.89.96.254", 70)]


def test_vxlan_ports_and_flood_entries_as_pyroute2_iproute2_and_bridge_see_them(host, sent):
    with rtnl.connect() as here:
        here.add_bridge("pnt-ovbr", "02:70:6e:00:00:11")
        bridge = here.link("pnt-ovbr").index
        subprocess.run(["ip", "link", "add", "pnt-under", "type", "veth", "peer", "name", "pnt-under1"], check=True)
        underlay = here.link("pnt-under").index
        here.add_address(underlay, "10.250.7.1/24")
        here.add_vxlan("pnt-vx", 4242, "10.250.7.1", 4789, "02:70:6e:00:00:12", 1450, bridge, underlay)
        assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK | CREATE | EXCL, {}, [
            ("IFLA_IFNAME", "pnt-vx"), ("IFLA_ADDRESS", "02:70:6e:00:00:12"), ("IFLA_MTU", 1450),
            ("IFLA_MASTER", bridge), ("IFLA_LINKINFO", [("IFLA_INFO_KIND", "vxlan"), ("IFLA_INFO_DATA", [
                ("IFLA_VXLAN_ID", 4242), ("IFLA_VXLAN_LOCAL", "10.250.7.1"), ("IFLA_VXLAN_LINK", underlay),
                ("IFLA_VXLAN_PORT", 4789), ("IFLA_VXLAN_LEARNING", 1)])])])
        seen = ip_json("-d", "link", "show", "pnt-vx")[0]
        assert (seen["linkinfo"]["info_data"]["id"], seen["linkinfo"]["info_data"]["local"],
                seen["linkinfo"]["info_data"]["port"], seen["linkinfo"]["info_data"]["learning"],
                seen["master"], seen["mtu"], seen["address"]) == \
            (4242, "10.250.7.1", 4789, True, "pnt-ovbr", 1450, "02:70:6e:00:00:12")
        assert here.vxlan_info("pnt-vx") == {"vni": 4242, "port": 4789, "local": "10.250.7.1"}
        assert here.vxlan_info("pnt-ovbr") is None and here.vxlan_info("pnt-missing") is None
        vx = here.link("pnt-vx")
        for remote in ("10.250.7.2", "10.250.7.3", "10.250.7.3"):  # the same one twice: fine
            here.add_fdb_flood(vx.index, remote)
        assert as_pyroute2_reads(sent[-1]) == (NEWNEIGH, REQUEST | ACK | CREATE | APPEND, {
            "family": rtnl.AF_BRIDGE, "ifindex": vx.index, "state": rtnl.NUD_NOARP | rtnl.NUD_PERMANENT,
            "flags": rtnl.NTF_SELF}, [("NDA_LLADDR", "00:00:00:00:00:00"), ("NDA_DST", "10.250.7.3")])
        assert here.fdb_floods(vx.index) == {"10.250.7.2", "10.250.7.3"} == bridge_floods("pnt-vx")
        here.delete_fdb_flood(vx.index, "10.250.7.2")
        here.delete_fdb_flood(vx.index, "10.250.7.2")  # already gone: fine
        assert as_pyroute2_reads(sent[-1])[:2] == (DELNEIGH, REQUEST | ACK)
        assert here.fdb_floods(vx.index) == {"10.250.7.3"} == bridge_floods("pnt-vx")
        here.delete_link("pnt-vx")
        here.add_vxlan("pnt-vx", 4243, "10.250.7.1", 4789, "02:70:6e:00:00:12", 1450, bridge)
        here.set_master(here.link("pnt-vx").index, bridge)
        assert as_pyroute2_reads(sent[-1]) == (NEWLINK, REQUEST | ACK, {"index": here.link("pnt-vx").index},
                                               [("IFLA_MASTER", bridge)])
        for name in ("pnt-vx", "pnt-under", "pnt-ovbr"):
            here.delete_link(name)
    assert [link["ifname"] for link in ip_json("link", "show")] == ["lo"]


def bridge_floods(name):
    """The remotes of a vxlan device's all-zeros entries, as `bridge fdb` shows them."""
    listing = subprocess.run(["bridge", "-j", "fdb", "show", "dev", name], capture_output=True, text=True,
                             check=True).stdout
    return {entry["dst"] for entry in json.loads(listing) if entry["mac"] == "00:00:00:00:00:00"}


# --- what iproute2 sees, in rtnl's shapes ----------------------------------------------------


def iproute2_link(name, key=None):
    """The link as `ip -j -d link show` reports it, as an rtnl.Link."""
    seen = ip_json("-d", "link", "show", name, key=key)[0]
    info = seen.get("linkinfo", {})
    master = ip_json("link", "show", seen["master"], key=key)[0]["ifindex"] if "master" in seen else None
    return rtnl.Link(index=seen["ifindex"], name=seen["ifname"], kind=info.get("info_kind"), up="UP" in seen["flags"],
                     oper_up=seen["operstate"] == "UP", mtu=seen["mtu"], mac=seen.get("address"), master=master,
                     alias=seen.get("ifalias"), group=0 if seen["group"] == "default" else int(seen["group"]),
                     **{flag: info["info_slave_data"][flag] if info.get("info_slave_kind") == "bridge" else None
                        for flag in ("isolated", "hairpin")})


def without_link_local(addresses):
    """Addresses but IPv6 link-local ones: the kernel adds those when a link's carrier comes, at its own time."""
    return {index: {cidr for cidr in cidrs if not cidr.startswith("fe80:")} for index, cidrs in addresses.items()}


def iproute2_addresses(key=None):
    """Every address as `ip -j addr show` reports it, as {link index: {"address/prefixlen", ...}}."""
    found = {}
    for link in ip_json("addr", "show", key=key):
        for address in link["addr_info"]:
            found.setdefault(link["ifindex"], set()).add("%s/%d" % (address["local"], address["prefixlen"]))
    return found


# --- no pyroute2 on targets -------------------------------------------------------------------


def test_modules_run_without_pyroute2(host, tmp_path):
    """A target without pyroute2: a package of that name that fails to import comes first on the path."""
    stub = tmp_path / "no-pyroute2" / "pyroute2"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('pyroute2 is not installed on this target')\n")
    key = host.sandbox_key("c1")
    tasks = [("pynet_network", {"name": "web", "ipam": [{"subnet": "10.89.97.0/24"}], "mtu": 1400}),
             ("pynet_sandbox", {"key": key}),
             ("pynet_endpoint", {"network": "web", "name": "c1", "sandbox": key}),
             ("pynet_endpoint", {"network": "web", "name": "c1", "sandbox": key, "state": "absent"}),
             ("pynet_sandbox", {"key": key, "state": "absent"}),
             ("pynet_network", {"name": "web", "state": "absent"})]
    results = []
    for name, args in tasks:
        results.append(run_module(name, dict(args, state_dir=host.state_dir), python_path=[str(stub.parent)]))
        assert results[-1]["rc"] == 0 and results[-1]["changed"], (name, args, results[-1])
        if len(results) == 3:  # the endpoint's veth is on the network's bridge
            ports = ip_json("link", "show", "master", results[0]["network"]["options"]["bridge_name"])
            assert [(port["ifname"][:3], port["mtu"]) for port in ports] == [("pnv", 1400)]
    assert [link["ifname"] for link in ip_json("link", "show")] == ["lo"]
