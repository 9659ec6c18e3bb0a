# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-endpoint netlink work on raw sockets: a veth pair with its peer born in the sandbox,
addresses, links up, the default route, and the reads that check an endpoint still stands
(bridges take their addresses and go up through the same calls), port isolation, and teardown.

These run once or more per endpoint, thousands of times in a roll-out. Through pyroute2 each
request costs about 0.5 ms of event-loop machinery (and a socket about 1 ms), several times the
kernel's own work; here a request is a prebuilt message on a blocking socket. Work done once
per network (creating bridges, overlap checks) stays in kernel/links.py.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
import time

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 16, 17, 18, 20, 22, 24, 26
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x100, 0x200, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_OPERSTATE, IFLA_IFALIAS = 1, 3, 4, 10, 16, 20
IFLA_LINKINFO, IFLA_GROUP, IFLA_NET_NS_FD = 18, 27, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, IFLA_INFO_SLAVE_KIND, IFLA_INFO_SLAVE_DATA, VETH_INFO_PEER = 1, 2, 4, 5, 1
IFLA_BRPORT_ISOLATED = 33
IFA_ADDRESS, IFA_LOCAL = 1, 2
IFA_F_NODAD = 0x02
RTA_DST, RTA_GATEWAY, RTA_OIF, RTA_TABLE = 1, 5, 4, 15
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1
IF_OPER_UP = 6
LOOPBACK_INDEX = 1  # the loopback is the first link of every network namespace
FAMILY_VERSION = {socket.AF_INET: 4, socket.AF_INET6: 6}

_NLMSGHDR = struct.Struct("=IHHII")
_RTATTR = struct.Struct("=HH")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")


class Connection:
    """One netlink socket bound to one namespace; requests are synchronous."""

    def __init__(self, sock):
        self._sock = sock
        self._seq = 0

    def _request(self, msg_type, flags, body, attrs=b""):
        self._seq += 1
        payload = body + attrs
        self._sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(payload), msg_type, NLM_F_REQUEST | flags, self._seq, 0)
                        + payload)
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
                        raise OSError(code, "netlink: %s" % errno.errorcode.get(code, code))
                    return messages
                messages.append(data[body_at:body_at + length - _NLMSGHDR.size])
                if not flags & NLM_F_DUMP:
                    return messages

    def _change(self, msg_type, flags, body, attrs):
        self._request(msg_type, NLM_F_ACK | flags, body, attrs)

    # --- changes ------------------------------------------------------------------------------

    def add_veth(self, name, peer_name, peer_netns_fd, master=None, peer_mac=None, mtu=None, group=None):
        """A veth pair, this end up (on `master`, if given); the peer is born inside the namespace of
        peer_netns_fd with its final name (a move between namespaces costs ~20 ms)."""
        peer = (_IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + _attr(IFLA_IFNAME, _name(peer_name))
                + _attr(IFLA_NET_NS_FD, _u32(peer_netns_fd)))
        if peer_mac:
            peer += _attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
        attrs = _attr(IFLA_IFNAME, _name(name))
        if mtu:
            peer += _attr(IFLA_MTU, _u32(mtu))
            attrs += _attr(IFLA_MTU, _u32(mtu))
        if master:
            attrs += _attr(IFLA_MASTER, _u32(master))
        if group is not None:
            attrs += _attr(IFLA_GROUP, _u32(group))
        linkinfo = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer))
        self._change(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP),
                     attrs + _attr(IFLA_LINKINFO, linkinfo))

    def set_port_isolated(self, name):
        """An isolated bridge port reaches only the ports that are not isolated (and the bridge itself)."""
        port = _attr(IFLA_INFO_SLAVE_KIND, b"bridge\0") + _attr(IFLA_INFO_SLAVE_DATA, _attr(IFLA_BRPORT_ISOLATED, b"\1"))
        self._change(RTM_NEWLINK, 0, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0),
                     _attr(IFLA_IFNAME, _name(name)) + _attr(IFLA_LINKINFO, port))

    def delete_link(self, name):
        """Delete a link by name; one already gone is fine. Returns True when it existed."""
        return self._unless_gone(RTM_DELLINK, _attr(IFLA_IFNAME, _name(name)))

    def set_group(self, name, group):
        """Put a link in an interface group; False when there is no such link."""
        return self._unless_gone(RTM_NEWLINK, _attr(IFLA_IFNAME, _name(name)) + _attr(IFLA_GROUP, _u32(group)))

    def delete_group(self, group):
        """Delete every link of an interface group in one request: the kernel waits for one RCU grace
        period for all of them, where a request per link waits for one each (about 20 ms)."""
        self._change(RTM_DELLINK, 0, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), _attr(IFLA_GROUP, _u32(group)))

    def _unless_gone(self, msg_type, attrs):
        try:
            self._change(msg_type, 0, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0), attrs)
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return False
            raise
        return True

    def set_up(self, index):
        self._change(RTM_NEWLINK, 0, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP), b"")

    def set_down(self, index):
        self._change(RTM_NEWLINK, 0, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, 0, IFF_UP), b"")

    def add_address(self, index, cidr, flags=0):
        """Add an address; one that is already there is fine."""
        address, prefixlen = cidr.split("/")
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        raw = socket.inet_pton(family, address)
        try:
            self._change(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
                         _IFADDRMSG.pack(family, int(prefixlen), flags, RT_SCOPE_UNIVERSE, index),
                         _attr(IFA_LOCAL, raw) + _attr(IFA_ADDRESS, raw))
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise

    def set_default_route(self, gateway, index):
        family = socket.AF_INET6 if ":" in gateway else socket.AF_INET
        self._change(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE,
                     _RTMSG.pack(family, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST, 0),
                     _attr(RTA_GATEWAY, socket.inet_pton(family, gateway)) + _attr(RTA_OIF, _u32(index)))

    def wait_oper_up(self, name, timeout=3.0):
        """Wait until the kernel reports the link operationally up (its carrier change processed).

        Until then its queue may drop packets and a bridge does not forward to it: the kernel
        applies carrier changes asynchronously (linkwatch), usually at once, at worst a second later.
        """
        deadline = time.monotonic() + timeout
        while True:
            found = self.link(name)
            if found is None or found["oper_up"] or time.monotonic() > deadline:
                return found is not None and found["oper_up"]
            time.sleep(0.002)

    # --- reads --------------------------------------------------------------------------------

    def link(self, name):
        """One link by name, or None."""
        try:
            messages = self._request(RTM_GETLINK, 0, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0),
                                     _attr(IFLA_IFNAME, _name(name)))
        except OSError as exc:
            if exc.errno == errno.ENODEV:
                return None
            raise
        return _link(messages[0]) if messages else None

    def links(self):
        """Every link of the namespace (a dump: its cost grows with the links; never per endpoint)."""
        return [_link(message) for message in
                self._request(RTM_GETLINK, NLM_F_DUMP, _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))]

    def local_addresses(self):
        """The addresses assigned to the namespace's interfaces, without prefix length (IFA_LOCAL: on a
        point-to-point link IFA_ADDRESS is the peer's)."""
        found = set()
        for message in self._request(RTM_GETADDR, NLM_F_DUMP, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            family = _IFADDRMSG.unpack_from(message)[0]
            attrs = _attrs(message, _IFADDRMSG.size)
            raw = attrs.get(IFA_LOCAL, attrs.get(IFA_ADDRESS))
            if raw is not None:
                found.add(socket.inet_ntop(family, raw))
        return found

    def addresses(self):
        """Every address of the namespace as {link index: {"address/prefixlen", ...}}."""
        found = {}
        for message in self._request(RTM_GETADDR, NLM_F_DUMP, _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            family, prefixlen, unused_flags, unused_scope, index = _IFADDRMSG.unpack_from(message)
            raw = _attrs(message, _IFADDRMSG.size).get(IFA_ADDRESS)
            if raw is not None:
                found.setdefault(index, set()).add("%s/%d" % (socket.inet_ntop(family, raw), prefixlen))
        return found

    def default_gateways(self):
        """The main table's default routes as {IP version: gateway}."""
        found = {}
        for family, dst_len, attrs in self._main_routes():
            if dst_len == 0 and RTA_GATEWAY in attrs:
                found.setdefault(FAMILY_VERSION[family], socket.inet_ntop(family, attrs[RTA_GATEWAY]))
        return found

    def networks_in_use(self):
        """Every address of the namespace and every route of its main table that has a destination,
        as CIDR strings: what a new network's subnet must not overlap."""
        found = {cidr for cidrs in self.addresses().values() for cidr in cidrs}
        found.update("%s/%d" % (socket.inet_ntop(family, attrs[RTA_DST]), dst_len)
                     for family, dst_len, attrs in self._main_routes() if dst_len and RTA_DST in attrs)
        return found

    def _main_routes(self):
        """The IPv4 and IPv6 routes of the main table as (family, destination length, attributes)."""
        for message in self._request(RTM_GETROUTE, NLM_F_DUMP, _RTMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0, 0)):
            family, dst_len, unused_src, unused_tos, table = _RTMSG.unpack_from(message)[:5]
            attrs = _attrs(message, _RTMSG.size)
            if RTA_TABLE in attrs:
                table = struct.unpack("=I", attrs[RTA_TABLE])[0]
            if table == RT_TABLE_MAIN and family in FAMILY_VERSION:
                yield family, dst_len, attrs


@contextlib.contextmanager
def connect(netns_path_or_fd=None):
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


def _socket():
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.bind((0, 0))
    return sock


def _attr(kind, value):
    length = _RTATTR.size + len(value)
    return _RTATTR.pack(length, kind) + value + b"\0" * (-length % 4)


def _u32(value):
    return struct.pack("=I", value)


def _name(name):
    return name.encode() + b"\0"


def _attrs(message, offset):
    found = {}
    while offset + _RTATTR.size <= len(message):
        length, kind = _RTATTR.unpack_from(message, offset)
        if length < _RTATTR.size:
            break
        found[kind & 0x3FFF] = message[offset + _RTATTR.size:offset + length]
        offset += (length + 3) & ~3
    return found


def _link(message):
    unused_family, unused_type, index, flags, unused_change = _IFINFOMSG.unpack_from(message)
    attrs = _attrs(message, _IFINFOMSG.size)
    master = attrs.get(IFLA_MASTER)
    group = attrs.get(IFLA_GROUP)
    operstate = attrs.get(IFLA_OPERSTATE)
    linkinfo = _attrs(attrs.get(IFLA_LINKINFO, b""), 0)
    on_bridge = linkinfo.get(IFLA_INFO_SLAVE_KIND, b"").rstrip(b"\0") == b"bridge"
    isolated = _attrs(linkinfo.get(IFLA_INFO_SLAVE_DATA, b""), 0).get(IFLA_BRPORT_ISOLATED) if on_bridge else None
    return {"index": index, "name": attrs[IFLA_IFNAME].rstrip(b"\0").decode(), "up": bool(flags & IFF_UP),
            "oper_up": bool(operstate) and operstate[0] == IF_OPER_UP,
            "master": struct.unpack("=I", master)[0] if master else None,
            "mtu": struct.unpack("=I", attrs[IFLA_MTU])[0] if IFLA_MTU in attrs else None,
            "isolated": bool(isolated[0]) if isolated else None,
            "alias": attrs[IFLA_IFALIAS].rstrip(b"\0").decode(errors="replace") if IFLA_IFALIAS in attrs else None,
            "group": struct.unpack("=I", group)[0] if group else 0}
