# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bridges and MTUs through pyroute2, in the calling thread's namespace: work done about once per
network. What runs for every endpoint (veths, addresses, links up, routes, port isolation,
teardown) and the reads that check what stands are in kernel/rtnl.py; sysctls in kernel/sysctl.py.

These helpers know names, addresses and file descriptors, nothing of networks or endpoints.
Every lookup is by name (one kernel call); nothing here dumps all links.
"""

from __future__ import annotations

import contextlib
import errno
import os

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

IFF_UP = 0x1


@contextlib.contextmanager
def route_socket(netns_path_or_fd=None):
    """A netlink socket with no multicast subscriptions, bound to the calling thread's namespace
    or to the given one (it stays bound there after the thread returns)."""
    # Imported on first use: pyroute2 takes 0.1 s to import, a third of a module run that changes
    # nothing, and such runs only read, through kernel/rtnl.py.
    from pyroute2 import IPRoute  # pylint: disable=import-outside-toplevel
    from pyroute2.netlink.exceptions import NetlinkError  # pylint: disable=import-outside-toplevel
    if netns_path_or_fd is None:
        ipr = IPRoute(groups=0)
    else:
        with netns.entered(netns_path_or_fd):
            ipr = IPRoute(groups=0)
    try:
        yield _ErrnoSocket(ipr, NetlinkError)
    finally:
        ipr.close()


class _ErrnoSocket:
    """pyroute2's IPRoute whose refusals are raised as OSError with the errno, as the kernel's others are."""

    def __init__(self, ipr, netlink_error):
        self._ipr = ipr
        self._netlink_error = netlink_error

    def __getattr__(self, name):
        method = getattr(self._ipr, name)

        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except self._netlink_error as exc:
                raise OSError(exc.code, "netlink: %s" % os.strerror(exc.code)) from None
        return call


def link(ipr, name):
    """The link called `name` as a dict (index, kind, master, up, mtu, address, alias, group), or None."""
    try:
        msg = ipr.link("get", ifname=name)[0]
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            return None
        raise
    return _link_view(msg)


def _link_view(msg):
    linkinfo = msg.get_attr("IFLA_LINKINFO")
    return {
        "index": msg["index"],
        "name": msg.get_attr("IFLA_IFNAME"),
        "kind": linkinfo.get_attr("IFLA_INFO_KIND") if linkinfo else None,
        "master": msg.get_attr("IFLA_MASTER"),
        "up": bool(msg["flags"] & IFF_UP),
        "mtu": msg.get_attr("IFLA_MTU"),
        "mac": msg.get_attr("IFLA_ADDRESS"),
        "alias": msg.get_attr("IFLA_IFALIAS"),
        "group": msg.get_attr("IFLA_GROUP"),
    }


def add_bridge(ipr, name, mac, mtu=None, alias=None):
    """A bridge with a fixed MAC address and IGMP/MLD snooping off.

    Without a MAC of its own a bridge takes its ports' lowest, changing as ports come and go, and
    looks through every port for it each time one joins. Snooping constrains forwarding only while
    a multicast querier is seen on the bridge (the kernel's own is off); without one it only costs
    timers on every port, reset each time a port joins.
    """
    ipr.link("add", ifname=name, kind="bridge", address=mac, br_mcast_snooping=0)
    created = link(ipr, name)
    # Both only on an existing link: the kernel takes IFLA_IFALIAS no other way, and an MTU given
    # when the bridge is made follows its ports (back to 1500 once the last one leaves).
    changes = {}
    if alias:
        changes["ifalias"] = alias
    if mtu and mtu != created["mtu"]:
        changes["mtu"] = mtu
    if changes:
        ipr.link("set", index=created["index"], **changes)
        created.update(alias=alias or created["alias"], mtu=mtu or created["mtu"])
    return created


def set_mtu(ipr, index, mtu):
    ipr.link("set", index=index, mtu=mtu)


def del_address(ipr, index, cidr):
    address, prefixlen = cidr.split("/")
    try:
        ipr.addr("del", index=index, address=address, prefixlen=int(prefixlen))
    except OSError as exc:
        if exc.errno not in (errno.EADDRNOTAVAIL, errno.ENODEV):
            raise
