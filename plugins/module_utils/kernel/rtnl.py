# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet's one netlink layer: every request it makes about links, addresses and routes (bridges,
veth pairs with their peer born in the sandbox, addresses, links up, MTUs, aliases, default routes,
port isolation, teardown) and the reads that check what stands, on raw sockets.

Messages as data: the three message headers (struct ifinfomsg, ifaddrmsg, rtmsg) and the attributes
pynet sends or reads are described once below with the kernel's names, which are pyroute2's
(tests/kernel/test_rtnl.py decodes every request with pyroute2's message classes). One encoder
builds requests, nested attributes included; one decoder parses replies; a link is read into one
record shape, Link.

Why not pyroute2: `import pyroute2` costs 170-210 ms of every process (even one of its message
classes imports the whole package), and through its event loop a request costs about 0.5 ms (a
socket about 1 ms), several times the kernel's own work. An endpoint takes about 8 requests,
thousands of times in a roll-out, and a CNI plugin is a process per container. Here a request is
bytes built in microseconds, sent on a blocking socket, its reply read at once. Lookups are by
name, one kernel call each: a dump of every link costs 300 ms at 1000 links.

These helpers know names, addresses and file descriptors, nothing of networks or endpoints; the
kernel's refusals are raised as OSError with its errno.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import socket
import struct
import time
from collections.abc import Iterator

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

NETLINK_ROUTE = 0

# Netlink messages (linux/netlink.h, linux/rtnetlink.h).
NLMSG_ERROR = 2
NLMSG_DONE = 3
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_GETLINK = 18
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_GETROUTE = 26
RTM_NEWNEIGH = 28
RTM_DELNEIGH = 29
RTM_GETNEIGH = 30
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
NLM_F_DUMP = 0x300
NLA_TYPE_MASK = 0x3FFF  # an attribute's type without the flags NLA_F_NESTED and NLA_F_NET_BYTEORDER

# Links (linux/if.h).
IFF_UP = 0x1
IF_OPER_UP = 6
LOOPBACK_INDEX = 1  # the loopback is the first link of every network namespace

# Link attributes, after struct ifinfomsg (linux/if_link.h).
IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_GROUP = 27
IFLA_NET_NS_FD = 28

# Nested in IFLA_LINKINFO; what IFLA_INFO_DATA and IFLA_INFO_SLAVE_DATA hold depends on the kind.
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_INFO_SLAVE_KIND = 4
IFLA_INFO_SLAVE_DATA = 5

# IFLA_INFO_DATA of kind veth (linux/veth.h): the peer, as a link message of its own.
VETH_INFO_PEER = 1

# IFLA_INFO_DATA of kinds macvlan and ipvlan (linux/if_link.h): the mode, one of MODES[kind].
IFLA_MACVLAN_MODE = 1
IFLA_IPVLAN_MODE = 1
MODES = {"macvlan": {"private": 1, "vepa": 2, "bridge": 4, "passthru": 8},
         "ipvlan": {"l2": 0, "l3": 1, "l3s": 2}}
_MODE_ATTRIBUTE = {"macvlan": IFLA_MACVLAN_MODE, "ipvlan": IFLA_IPVLAN_MODE}

# IFLA_INFO_DATA of kind vxlan (linux/if_link.h).
IFLA_VXLAN_ID = 1
IFLA_VXLAN_LINK = 3
IFLA_VXLAN_LOCAL = 4
IFLA_VXLAN_LEARNING = 7
IFLA_VXLAN_PORT = 15
IFLA_VXLAN_LOCAL6 = 17

# IFLA_INFO_DATA of kind bridge.
IFLA_BR_MCAST_SNOOPING = 23

# IFLA_INFO_SLAVE_DATA of slave kind bridge: a bridge port.
IFLA_BRPORT_MODE = 4  # hairpin
IFLA_BRPORT_ISOLATED = 33

# Address attributes, after struct ifaddrmsg (linux/if_addr.h).
IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_F_NODAD = 0x02

# Route attributes, after struct rtmsg, and the values of its fields (linux/rtnetlink.h).
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_PRIORITY = 6
RTA_TABLE = 15
RT_TABLE_MAIN = 254
RTPROT_BOOT = 3
RT_SCOPE_UNIVERSE = 0
RTN_UNICAST = 1

# Neighbour (and bridge forwarding database) entries, after struct ndmsg (linux/neighbour.h).
NDA_DST = 1
NDA_LLADDR = 2
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NTF_SELF = 0x02
AF_BRIDGE = 7
ALL_ZEROS_MAC = "00:00:00:00:00:00"  # a vxlan device's entry for traffic to every remote (flooding)

FAMILY_VERSION = {socket.AF_INET: 4, socket.AF_INET6: 6}
VERSION_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}

_NLMSGHDR = struct.Struct("=IHHII")
_NLATTR = struct.Struct("=HH")
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_PADDING = (b"", b"\0\0\0", b"\0\0", b"\0")  # by length % 4


class Route(collections.namedtuple("Route", "destination gateway oif metric")):
    """A route of the main table: `destination` a CIDR (0.0.0.0/0 or ::/0 for a default route), `gateway`
    an address or None, `oif` the index of its interface, `metric` its priority (RTA_PRIORITY)."""

    __slots__ = ()


class Link(collections.namedtuple("Link", "index name kind up oper_up mtu mac master alias group isolated hairpin")):
    """A link as the kernel reports it: `kind` from IFLA_INFO_KIND (None for the loopback), `up`
    administratively, `oper_up` with carrier (IF_OPER_UP), `mac` as aa:bb:..., `master` the index of
    its bridge, `isolated` and `hairpin` its bridge port's flags (None when it is no bridge port)."""

    __slots__ = ()


# --- the schema: how each attribute's value is written and read ---------------------------------


class _Codec(collections.namedtuple("_Codec", "encode decode")):
    """Writes a Python value as an attribute's bytes and reads it back (pyroute2's types of the same names)."""

    __slots__ = ()


class _ByKind:
    """Nested attributes whose meaning the sibling attribute `kind_attribute` names (the space of
    IFLA_INFO_DATA is the one of its IFLA_INFO_KIND), as pyroute2 chooses them."""

    def __init__(self, kind_attribute: int, spaces: dict):
        self.kind_attribute = kind_attribute
        self.codecs = {kind: _nested(space) for kind, space in spaces.items()}

    def pick(self, siblings: dict) -> _Codec | None:
        return self.codecs.get(siblings.get(self.kind_attribute))


def _nested(space: dict) -> _Codec:
    return _Codec(lambda attrs: _encode(space, attrs), lambda raw: _decode(space, raw))


def _family(address: str) -> int:
    return VERSION_FAMILY[addresses.version(address)]


UINT8 = _Codec(lambda value: bytes((value,)), lambda raw: raw[0])
UINT16 = _Codec(_U16.pack, lambda raw: _U16.unpack(raw)[0])
UINT32 = _Codec(_U32.pack, lambda raw: _U32.unpack(raw)[0])
BE16 = _Codec(struct.Struct(">H").pack, lambda raw: struct.unpack(">H", raw)[0])
ASCIIZ = _Codec(lambda text: text.encode() + b"\0", lambda raw: raw.rstrip(b"\0").decode())
L2ADDR = _Codec(lambda mac: bytes.fromhex(mac.replace(":", "")), lambda raw: ":".join("%02x" % byte for byte in raw))
IPADDR = _Codec(lambda address: socket.inet_pton(_family(address), address),
                lambda raw: socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw))
# A veth's peer: a link message of its own inside the veth's IFLA_INFO_DATA (IFINFOMSG is defined below).
PEER = _Codec(lambda attrs: IFINFOMSG.encode(attrs),  # pylint: disable=unnecessary-lambda
              lambda raw: IFINFOMSG.attrs(raw))  # pylint: disable=unnecessary-lambda

VETH_DATA = {
    VETH_INFO_PEER: PEER,
}
MACVLAN_DATA = {
    IFLA_MACVLAN_MODE: UINT32,
}
IPVLAN_DATA = {
    IFLA_IPVLAN_MODE: UINT16,
}
VXLAN_DATA = {
    IFLA_VXLAN_ID: UINT32,
    IFLA_VXLAN_LINK: UINT32,
    IFLA_VXLAN_LOCAL: IPADDR,
    IFLA_VXLAN_LEARNING: UINT8,
    IFLA_VXLAN_PORT: BE16,
    IFLA_VXLAN_LOCAL6: IPADDR,
}
BRIDGE_DATA = {
    IFLA_BR_MCAST_SNOOPING: UINT8,
}
BRIDGE_PORT_DATA = {
    IFLA_BRPORT_MODE: UINT8,
    IFLA_BRPORT_ISOLATED: UINT8,
}
LINKINFO = {
    IFLA_INFO_KIND: ASCIIZ,
    IFLA_INFO_DATA: _ByKind(IFLA_INFO_KIND, {"veth": VETH_DATA, "bridge": BRIDGE_DATA, "macvlan": MACVLAN_DATA,
                                             "ipvlan": IPVLAN_DATA, "vxlan": VXLAN_DATA}),
    IFLA_INFO_SLAVE_KIND: ASCIIZ,
    IFLA_INFO_SLAVE_DATA: _ByKind(IFLA_INFO_SLAVE_KIND, {"bridge": BRIDGE_PORT_DATA}),
}
LINK_ATTRIBUTES = {
    IFLA_ADDRESS: L2ADDR,
    IFLA_IFNAME: ASCIIZ,
    IFLA_MTU: UINT32,
    IFLA_LINK: UINT32,
    IFLA_MASTER: UINT32,
    IFLA_OPERSTATE: UINT8,
    IFLA_LINKINFO: _nested(LINKINFO),
    IFLA_IFALIAS: ASCIIZ,
    IFLA_GROUP: UINT32,
    IFLA_NET_NS_FD: UINT32,
}
ADDRESS_ATTRIBUTES = {
    IFA_ADDRESS: IPADDR,
    IFA_LOCAL: IPADDR,
}
NEIGHBOUR_ATTRIBUTES = {
    NDA_DST: IPADDR,
    NDA_LLADDR: L2ADDR,
}
ROUTE_ATTRIBUTES = {
    RTA_DST: IPADDR,
    RTA_OIF: UINT32,
    RTA_GATEWAY: IPADDR,
    RTA_PRIORITY: UINT32,
    RTA_TABLE: UINT32,
}


def _encode(space: dict, attrs: list | tuple) -> bytes:
    """Attributes as bytes, from (attribute, value) pairs in order; a pair whose value is None is left
    out. The value of a nested attribute is its own list of pairs."""
    parts = []
    for kind, value in attrs:
        if value is None:
            continue
        codec = space[kind]
        if isinstance(codec, _ByKind):
            codec = codec.pick(dict(attrs))
        raw = codec.encode(value)
        parts.append(_NLATTR.pack(_NLATTR.size + len(raw), kind) + raw + _PADDING[len(raw) % 4])
    return b"".join(parts)


def _decode(space: dict, data: bytes, offset: int = 0) -> dict:
    """The attributes of `space` in data[offset:] as {attribute: value}; the others are skipped."""
    found = {}
    end = len(data) - _NLATTR.size
    while offset <= end:
        length, kind = _NLATTR.unpack_from(data, offset)
        if length < _NLATTR.size:
            break
        codec = space.get(kind & NLA_TYPE_MASK)
        if codec is not None:
            if isinstance(codec, _ByKind):
                codec = codec.pick(found)
            if codec is not None:
                found[kind & NLA_TYPE_MASK] = codec.decode(data[offset + _NLATTR.size:offset + length])
        offset += (length + 3) & ~3
    return found


class _Message:
    """A message: its header (a C struct; fields named as pyroute2 names them, each 0 unless given)
    and the attributes after it."""

    def __init__(self, fields: tuple[str, ...], layout: str, space: dict):
        self.fields = fields
        self._header = struct.Struct(layout)
        self._zeros = bytes(self._header.size)
        self._space = space

    def encode(self, attrs: list | tuple = (), **header: int) -> bytes:
        packed = self._zeros
        if header:
            packed = self._header.pack(*[header.pop(field, 0) for field in self.fields])
            if header:
                raise TypeError("no header fields %s in %s" % (sorted(header), self.fields))
        return packed + _encode(self._space, attrs) if attrs else packed

    def header(self, body: bytes) -> dict:
        return dict(zip(self.fields, self._header.unpack_from(body)))

    def attrs(self, body: bytes) -> dict:
        return _decode(self._space, body, self._header.size)


IFINFOMSG = _Message(("family", "ifi_type", "index", "flags", "change"), "=BxHiII", LINK_ATTRIBUTES)
IFADDRMSG = _Message(("family", "prefixlen", "flags", "scope", "index"), "=BBBBI", ADDRESS_ATTRIBUTES)
NDMSG = _Message(("family", "ifindex", "state", "flags", "ndm_type"), "=BxxxiHBB", NEIGHBOUR_ATTRIBUTES)
RTMSG = _Message(("family", "dst_len", "src_len", "tos", "table", "proto", "scope", "type", "flags"), "=BBBBBBBBI",
                 ROUTE_ATTRIBUTES)


# --- requests ---------------------------------------------------------------------------------


class Connection:
    """One netlink socket bound to one namespace; requests are synchronous."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._seq = 0

    def _request(self, msg_type: int, flags: int, payload: bytes) -> list[bytes]:
        """Send one message and return the bodies of its replies (all of them for a dump)."""
        self._seq += 1
        header = _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), msg_type, NLM_F_REQUEST | flags, self._seq, 0)
        self._sock.send(header + payload)
        messages = []
        while True:
            data = self._sock.recv(1 << 16)
            offset = 0
            while offset < len(data):
                length, kind, unused_flags, seq, unused_pid = _NLMSGHDR.unpack_from(data, offset)
                body_at = offset + _NLMSGHDR.size
                offset += (length + 3) & ~3
                if seq != self._seq:
                    continue
                if kind == NLMSG_DONE:
                    return messages
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, body_at)[0]
                    if code:
                        raise OSError(code, "netlink: %s" % os.strerror(code))
                    return messages
                messages.append(data[body_at:body_at + length - _NLMSGHDR.size])
                if not flags & NLM_F_DUMP:
                    return messages

    def _change(self, msg_type: int, flags: int, payload: bytes) -> None:
        self._request(msg_type, NLM_F_ACK | flags, payload)

    def _change_unless(self, refusals: tuple[int, ...], msg_type: int, flags: int, payload: bytes) -> None:
        """A change, where the kernel's refusal with one of these errnos means it is already as asked."""
        try:
            self._change(msg_type, flags, payload)
        except OSError as exc:
            if exc.errno not in refusals:
                raise

    def _unless_gone(self, msg_type: int, payload: bytes) -> bool:
        """A change of a link named in the request; False when there is no such link."""
        try:
            self._change(msg_type, 0, payload)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True

    # --- links --------------------------------------------------------------------------------

    def add_bridge(self, name: str, mac: str) -> None:
        """A bridge with a fixed MAC address and IGMP/MLD snooping off, down.

        Without a MAC of its own a bridge takes its ports' lowest, changing as ports come and go, and
        looks through every port for it each time one joins. Snooping constrains forwarding only while
        a multicast querier is seen on the bridge (the kernel's own is off); without one it only costs
        timers on every port, reset each time a port joins. Its alias and MTU come after (set_alias).
        """
        self._change(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, IFINFOMSG.encode([
            (IFLA_IFNAME, name), (IFLA_ADDRESS, mac),
            (IFLA_LINKINFO, [(IFLA_INFO_KIND, "bridge"), (IFLA_INFO_DATA, [(IFLA_BR_MCAST_SNOOPING, 0)])])]))

    def set_alias(self, name: str, alias: str, mtu: int | None = None) -> None:
        """Give an existing link its alias (and MTU), in one request: the kernel takes IFLA_IFALIAS only
        on an existing link, and a bridge's MTU given when it is made follows its ports (back to 1500
        once the last one leaves)."""
        self._change(RTM_NEWLINK, 0, IFINFOMSG.encode([(IFLA_IFNAME, name), (IFLA_IFALIAS, alias), (IFLA_MTU, mtu)]))

    def add_veth(self, name: str, peer_name: str, peer_netns_fd: int, master: int | None = None,
                 peer_mac: str | None = None, mtu: int | None = None, group: int | None = None) -> None:
        """A veth pair, this end up (on `master`, if given); the peer is born inside the namespace of
        peer_netns_fd with its final name (a move between namespaces costs ~20 ms)."""
        peer = [(IFLA_IFNAME, peer_name), (IFLA_NET_NS_FD, peer_netns_fd), (IFLA_ADDRESS, peer_mac), (IFLA_MTU, mtu)]
        self._change(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, IFINFOMSG.encode([
            (IFLA_IFNAME, name), (IFLA_MTU, mtu), (IFLA_MASTER, master), (IFLA_GROUP, group),
            (IFLA_LINKINFO, [(IFLA_INFO_KIND, "veth"), (IFLA_INFO_DATA, [(VETH_INFO_PEER, peer)])])],
            flags=IFF_UP, change=IFF_UP))

    def add_child_link(self, kind: str, name: str, parent_index: int, netns_fd: int, mode: str,
                       mac: str | None = None) -> None:
        """A link of `kind` (macvlan, ipvlan) on the link `parent_index` of this namespace, born inside the
        namespace of netns_fd with its final name, in a mode of MODES[kind]; down."""
        self._change(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, IFINFOMSG.encode([
            (IFLA_IFNAME, name), (IFLA_LINK, parent_index), (IFLA_NET_NS_FD, netns_fd), (IFLA_ADDRESS, mac),
            (IFLA_LINKINFO, [(IFLA_INFO_KIND, kind), (IFLA_INFO_DATA, [(_MODE_ATTRIBUTE[kind],
                                                                        MODES[kind][mode])])])]))

    def has_link_kind(self, kind: str) -> bool:
        """Whether the kernel makes links of `kind`, one that needs a lower link (macvlan, ipvlan): asked for
        one without it, the kernel says EOPNOTSUPP for a kind it lacks (its module loaded first if it has
        one), EINVAL for one it has; nothing is made either way."""
        try:
            self._change(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, IFINFOMSG.encode([
                (IFLA_LINKINFO, [(IFLA_INFO_KIND, kind)])]))
        except OSError as exc:
            if exc.errno == errno.EOPNOTSUPP:
                return False
            if exc.errno == errno.EINVAL:
                return True
            raise
        raise OSError(errno.EINVAL, "netlink: a %s link was made without a lower link" % kind)

    def add_vxlan(self, name: str, vni: int, local: str, port: int, mac: str, mtu: int, master: int,
                  underlay: int | None = None) -> None:
        """A vxlan device on `master` (a bridge), down: VXLAN id `vni`, sending from the underlay address
        `local` (over the link of index `underlay`, if given) to UDP `port`, learning the MAC addresses
        behind each remote from what arrives (its forwarding database: add_fdb_flood for where to flood)."""
        local_attribute = IFLA_VXLAN_LOCAL if addresses.version(local) == 4 else IFLA_VXLAN_LOCAL6
        self._change(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, IFINFOMSG.encode([
            (IFLA_IFNAME, name), (IFLA_ADDRESS, mac), (IFLA_MTU, mtu), (IFLA_MASTER, master),
            (IFLA_LINKINFO, [(IFLA_INFO_KIND, "vxlan"), (IFLA_INFO_DATA, [
                (IFLA_VXLAN_ID, vni), (local_attribute, local), (IFLA_VXLAN_LINK, underlay),
                (IFLA_VXLAN_PORT, port), (IFLA_VXLAN_LEARNING, 1)])])]))

    def vxlan_info(self, name: str) -> dict | None:
        """{"vni", "local", "port"} of the vxlan device `name`, or None when there is none."""
        message = self._link_message(name)
        info = IFINFOMSG.attrs(message).get(IFLA_LINKINFO, {}) if message else {}
        if info.get(IFLA_INFO_KIND) != "vxlan":
            return None
        data = info.get(IFLA_INFO_DATA, {})
        return {"vni": data.get(IFLA_VXLAN_ID), "port": data.get(IFLA_VXLAN_PORT),
                "local": data.get(IFLA_VXLAN_LOCAL, data.get(IFLA_VXLAN_LOCAL6))}

    def set_master(self, index: int, master: int) -> None:
        """Make the link a port of the bridge of index `master`."""
        self._change(RTM_NEWLINK, 0, IFINFOMSG.encode([(IFLA_MASTER, master)], index=index))

    def add_fdb_flood(self, index: int, remote: str) -> None:
        """Flood what the vxlan device of `index` sends to unknown MACs (broadcast, ARP) to `remote`
        too (bridge fdb append 00:00:00:00:00:00 dev DEV dst REMOTE); one that is there is fine."""
        self._change(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, _flood_message(index, remote))

    def delete_fdb_flood(self, index: int, remote: str) -> None:
        """Stop flooding to `remote`; one already gone is fine."""
        self._change_unless((errno.ENOENT, errno.ENODEV), RTM_DELNEIGH, 0, _flood_message(index, remote))

    def fdb_floods(self, index: int) -> set[str]:
        """The remotes that the vxlan device of `index` floods to (a dump of the bridge family's
        forwarding databases: once per network set-up, never per endpoint)."""
        found = set()
        for message in self._request(RTM_GETNEIGH, NLM_F_DUMP, NDMSG.encode(family=AF_BRIDGE)):
            header, attrs = NDMSG.header(message), NDMSG.attrs(message)
            if all((header["ifindex"] == index, header["state"] & NUD_PERMANENT,
                    attrs.get(NDA_LLADDR) == ALL_ZEROS_MAC, NDA_DST in attrs)):
                found.add(attrs[NDA_DST])
        return found

    def set_up(self, index: int) -> None:
        self._change(RTM_NEWLINK, 0, IFINFOMSG.encode(index=index, flags=IFF_UP, change=IFF_UP))

    def set_mtu(self, index: int, mtu: int) -> None:
        self._change(RTM_NEWLINK, 0, IFINFOMSG.encode([(IFLA_MTU, mtu)], index=index))

    def set_down(self, index: int) -> None:
        self._change(RTM_NEWLINK, 0, IFINFOMSG.encode(index=index, flags=0, change=IFF_UP))

    def set_bridge_port(self, name: str, isolated: bool, hairpin: bool) -> None:
        """A bridge port's flags: an isolated port reaches only the ports that are not isolated (and the
        bridge itself); a port in hairpin mode may be sent back the frames that came in through it."""
        flags = [(IFLA_BRPORT_MODE, int(hairpin)), (IFLA_BRPORT_ISOLATED, int(isolated))]
        self._change(RTM_NEWLINK, 0, IFINFOMSG.encode([
            (IFLA_IFNAME, name), (IFLA_LINKINFO, [(IFLA_INFO_SLAVE_KIND, "bridge"), (IFLA_INFO_SLAVE_DATA, flags)])]))

    def set_group(self, name: str, group: int) -> bool:
        """Put a link in an interface group; False when there is no such link."""
        return self._unless_gone(RTM_NEWLINK, IFINFOMSG.encode([(IFLA_IFNAME, name), (IFLA_GROUP, group)]))

    def delete_link(self, name: str) -> bool:
        """Delete a link by name; one already gone is fine. Returns True when it existed."""
        return self._unless_gone(RTM_DELLINK, IFINFOMSG.encode([(IFLA_IFNAME, name)]))

    def delete_group(self, group: int) -> None:
        """Delete every link of an interface group in one request: the kernel waits for one RCU grace
        period for all of them, where a request per link waits for one each (about 20 ms)."""
        self._change(RTM_DELLINK, 0, IFINFOMSG.encode([(IFLA_GROUP, group)]))

    def wait_oper_up(self, name: str, timeout: float = 3.0) -> bool:
        """Wait until the kernel reports the link operationally up (its carrier change processed).

        Until then its queue may drop packets and a bridge does not forward to it: the kernel
        applies carrier changes asynchronously (linkwatch), usually at once, at worst a second later.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.link(name)
            if found is None or found.oper_up or time.monotonic() > deadline:
                return found is not None and found.oper_up
            time.sleep(0.002)

    def link(self, name: str) -> Link | None:
        """The link called `name` (a Link), or None."""
        message = self._link_message(name)
        return _link(message) if message else None

    def _link_message(self, name: str) -> bytes | None:
        """The kernel's message about the link called `name`, or None."""
        try:
            messages = self._request(RTM_GETLINK, 0, IFINFOMSG.encode([(IFLA_IFNAME, name)]))
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return messages[0] if messages else None

    # --- addresses and routes -----------------------------------------------------------------

    def add_address(self, index: int, cidr: str, flags: int = 0) -> None:
        """Add an address; one that is already there is fine."""
        self._change_unless((errno.EEXIST,), RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, _address_message(index, cidr, flags))

    def delete_address(self, index: int, cidr: str) -> None:
        """Remove an address; one (or a link) already gone is fine."""
        self._change_unless((errno.EADDRNOTAVAIL, errno.ENODEV), RTM_DELADDR, 0, _address_message(index, cidr))

    def set_default_route(self, gateway: str, index: int) -> None:
        self._change(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, RTMSG.encode(
            [(RTA_GATEWAY, gateway), (RTA_OIF, index)], family=_family(gateway), table=RT_TABLE_MAIN,
            proto=RTPROT_BOOT, scope=RT_SCOPE_UNIVERSE, type=RTN_UNICAST))

    def add_route(self, destination: str, gateway: str, index: int, metric: int) -> None:
        """A route to `destination` (a CIDR) via `gateway` on the link `index`, with that metric; one to the
        same destination and metric is replaced."""
        address, prefixlen = destination.split("/")
        self._change(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, RTMSG.encode(
            [(RTA_DST, address), (RTA_GATEWAY, gateway), (RTA_OIF, index), (RTA_PRIORITY, metric)],
            family=_family(gateway), dst_len=int(prefixlen), table=RT_TABLE_MAIN, proto=RTPROT_BOOT,
            scope=RT_SCOPE_UNIVERSE, type=RTN_UNICAST))

    def routes(self) -> list[Route]:
        """The IPv4 and IPv6 routes of the main table (a dump of the namespace's routes)."""
        return [Route("%s/%d" % (attrs.get(RTA_DST) or ("0.0.0.0" if family == socket.AF_INET else "::"), dst_len),
                      attrs.get(RTA_GATEWAY), attrs.get(RTA_OIF), attrs.get(RTA_PRIORITY, 0))
                for family, dst_len, attrs in self._main_routes()]

    def links(self) -> list[Link]:
        """Every link of the namespace (a dump: its cost grows with the links; never per endpoint)."""
        return [_link(message) for message in self._request(RTM_GETLINK, NLM_F_DUMP, IFINFOMSG.encode())]

    def local_addresses(self) -> set[str]:
        """The addresses assigned to the namespace's interfaces, without prefix length (IFA_LOCAL: on a
        point-to-point link IFA_ADDRESS is the peer's)."""
        found = set()
        for message in self._request(RTM_GETADDR, NLM_F_DUMP, IFADDRMSG.encode()):
            attrs = IFADDRMSG.attrs(message)
            address = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
            if address is not None:
                found.add(address)
        return found

    def addresses(self) -> dict[int, set[str]]:
        """Every address of the namespace as {link index: {"address/prefixlen", ...}}."""
        found = {}
        for message in self._request(RTM_GETADDR, NLM_F_DUMP, IFADDRMSG.encode()):
            header = IFADDRMSG.header(message)
            address = IFADDRMSG.attrs(message).get(IFA_ADDRESS)
            if address is not None:
                found.setdefault(header["index"], set()).add("%s/%d" % (address, header["prefixlen"]))
        return found

    def default_gateways(self) -> dict[int, str]:
        """The main table's default routes as {IP version: gateway}."""
        found = {}
        for family, dst_len, attrs in self._main_routes():
            if dst_len == 0 and RTA_GATEWAY in attrs:
                found.setdefault(FAMILY_VERSION[family], attrs[RTA_GATEWAY])
        return found

    def networks_in_use(self) -> set[str]:
        """Every address of the namespace and every route of its main table that has a destination,
        as CIDR strings: what a new network's subnet must not overlap."""
        found = {cidr for cidrs in self.addresses().values() for cidr in cidrs}
        found.update("%s/%d" % (attrs[RTA_DST], dst_len)
                     for unused_family, dst_len, attrs in self._main_routes() if dst_len and RTA_DST in attrs)
        return found

    def _main_routes(self) -> Iterator[tuple[int, int, dict]]:
        """The IPv4 and IPv6 routes of the main table as (family, destination length, attributes)."""
        for message in self._request(RTM_GETROUTE, NLM_F_DUMP, RTMSG.encode()):
            header = RTMSG.header(message)
            if header["family"] not in FAMILY_VERSION:
                continue
            attrs = RTMSG.attrs(message)
            if attrs.get(RTA_TABLE, header["table"]) == RT_TABLE_MAIN:
                yield header["family"], header["dst_len"], attrs


def _address_message(index: int, cidr: str, flags: int = 0) -> bytes:
    address, prefixlen = cidr.split("/")
    return IFADDRMSG.encode([(IFA_LOCAL, address), (IFA_ADDRESS, address)], family=_family(address),
                            prefixlen=int(prefixlen), flags=flags, scope=RT_SCOPE_UNIVERSE, index=index)


def _flood_message(index: int, remote: str) -> bytes:
    return NDMSG.encode([(NDA_LLADDR, ALL_ZEROS_MAC), (NDA_DST, remote)], family=AF_BRIDGE, ifindex=index,
                        state=NUD_NOARP | NUD_PERMANENT, flags=NTF_SELF)


def _link(message: bytes) -> Link:
    header = IFINFOMSG.header(message)
    attrs = IFINFOMSG.attrs(message)
    info = attrs.get(IFLA_LINKINFO, {})
    port = info.get(IFLA_INFO_SLAVE_DATA, {})
    isolated, hairpin = (None if flag is None else bool(flag)
                         for flag in (port.get(IFLA_BRPORT_ISOLATED), port.get(IFLA_BRPORT_MODE)))
    return Link(index=header["index"], name=attrs[IFLA_IFNAME], kind=info.get(IFLA_INFO_KIND),
                up=bool(header["flags"] & IFF_UP), oper_up=attrs.get(IFLA_OPERSTATE) == IF_OPER_UP,
                mtu=attrs.get(IFLA_MTU), mac=attrs.get(IFLA_ADDRESS), master=attrs.get(IFLA_MASTER),
                alias=attrs.get(IFLA_IFALIAS), group=attrs.get(IFLA_GROUP),
                isolated=isolated, hairpin=hairpin)


@contextlib.contextmanager
def connect(netns_path_or_fd: str | int | None = None) -> Iterator[Connection]:
    """A Connection to the calling thread's namespace or to the given one (the socket stays bound
    there whatever the thread does next)."""
    if netns_path_or_fd is None:
        sock = _socket()
    else:
        with netns.entered(netns_path_or_fd):
            sock = _socket()
    try:
        yield Connection(sock)
    finally:
        sock.close()


def _socket() -> socket.socket:
    """A netlink socket with no multicast subscriptions: only the replies to its own requests arrive."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.bind((0, 0))
    return sock
