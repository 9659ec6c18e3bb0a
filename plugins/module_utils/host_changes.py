# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What pynet changes on the host beyond its own objects, recorded so that it can be put back.

Drivers say what the host needs for each network (Driver.host_settings): IP forwarding, IPv6
forwarding, route_localnet on a bridge with published ports, the MTU and link state of a bridge
pynet adopted. sync() makes the host match: before it changes a setting it records the original
value in the store (its host changes), and once no network needs the setting it writes the
original back, unless someone changed it since (it no longer holds what pynet wrote): then pynet
only forgets it. A setting that already holds the value needed is left alone and not recorded:
that was not pynet's change. Each step is idempotent, so a run cut off is finished by the next.

Turning IPv6 forwarding on makes the kernel drop the default routes learned from router
advertisements on every interface with accept_ra=1 (and ignore later ones). So before pynet turns
it on, such interfaces get accept_ra=2 (recorded with the forwarding as their parent, put back with
it), never a link that faces tenants (pynet's bridges and veths): a tenant could then advertise
routes to the host.

Settings are named `kind:name`: `sysctl:<path under /proc/sys>`, `mtu:<link>`, `up:<link>`
(values "1" up, "0" down). Two kinds are recorded by others, and sync() leaves them alone:
`rules:<family> <table> <chain>`, pynet's accept rules in another firewall's chain, made and removed
with pynet's table (firewall.py); `firewalld:<bridge>` and `firewalld:zone`, firewalld's zone for
pynet's bridges (firewalld.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl, sysctl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import HostChange
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import Store

SYSCTL, MTU, UP = "sysctl", "mtu", "up"
RULES, FIREWALLD = "rules", "firewalld"
IP_FORWARD = "sysctl:net/ipv4/ip_forward"
IPV6_FORWARDING = "sysctl:net/ipv6/conf/all/forwarding"
# Settings of the whole host, not of one link: another state directory's networks may need them too.
HOST_WIDE = (IP_FORWARD, IPV6_FORWARDING)
RA_EVEN_WHEN_FORWARDING = "2"
RA_UNLESS_FORWARDING = "1"


def setting(kind: str, name: str) -> str:
    return "%s:%s" % (kind, name)


def sysctl_setting(path: str) -> str:
    return setting(SYSCTL, path)


def sync(store: Store, wanted: dict[str, str], faces_tenants: Callable[[rtnl.Link], bool],
         others_on_host: Callable[[], bool]) -> None:
    """Make the host hold `wanted` ({setting: value}) and put back what pynet changed that nothing wants.

    faces_tenants(link) tells the links (rtnl.Link records) that must not get accept_ra=2;
    others_on_host() whether networks of another state directory are on this host (then the
    host-wide settings they may rely on are left as they are).
    """
    changes = {change.setting: change for change in store.snapshot().host_changes()
               if change.setting.partition(":")[0] in (SYSCTL, MTU, UP)}
    if not wanted and not changes:
        return
    # What goes with a wanted setting stays as long as it does.
    needed = dict(wanted)
    needed.update((name, change.value) for name, change in changes.items() if change.parent in wanted)
    with _Host() as host:
        # Parents first: IPv6 forwarding goes off before the interfaces stop accepting router advertisements.
        for name in sorted(set(changes) - set(needed), key=lambda name: changes[name].parent != ""):
            _put_back(store, host, changes[name], others_on_host)
        # Children first: the interfaces accept router advertisements before IPv6 forwarding goes on.
        for name in sorted(needed, key=lambda name: name not in changes or changes[name].parent == ""):
            _ensure(store, host, changes.get(name), name, needed[name], faces_tenants)


def _ensure(store: Store, host: _Host, change: HostChange | None, name: str, value: str,
            faces_tenants: Callable[[rtnl.Link], bool]) -> None:
    current = host.read(name)
    if current is None:  # its link is gone: nothing to set, nothing to put back
        if change is not None:
            _forget(store, name)
        return
    if change is None and current == value:
        return
    if change is None or change.value != value:
        keepers = _ra_keepers(host, faces_tenants) if name == IPV6_FORWARDING and change is None else {}
        with store.write() as tx:
            if change is None:
                tx.record_host_change(name, current, value)
            else:
                tx.set_host_change(name, value)
            for keeper, original in keepers.items():
                tx.record_host_change(keeper, original, RA_EVEN_WHEN_FORWARDING, parent=name)
        for keeper in sorted(keepers):
            host.write(keeper, RA_EVEN_WHEN_FORWARDING)
    if current != value:
        host.write(name, value)


def _ra_keepers(host: _Host, faces_tenants: Callable[[rtnl.Link], bool]) -> dict[str, str]:
    """The host's interfaces that accept router advertisements only while not forwarding, and that
    do not face tenants, as {setting of their accept_ra: its value}."""
    found = {}
    for link in host.links():
        if link.index == rtnl.LOOPBACK_INDEX or faces_tenants(link):
            continue
        name = sysctl_setting("net/ipv6/conf/%s/accept_ra" % link.name)
        if host.read(name) == RA_UNLESS_FORWARDING:
            found[name] = RA_UNLESS_FORWARDING
    return found


def _put_back(store: Store, host: _Host, change: HostChange, others_on_host: Callable[[], bool]) -> None:
    name = change.setting
    current = host.read(name)
    shared = (name in HOST_WIDE or change.parent in HOST_WIDE) and others_on_host()
    if current == change.value and current != change.original and not shared:
        host.write(name, change.original)
    _forget(store, name)


def _forget(store: Store, name: str) -> None:
    with store.write() as tx:
        tx.forget_host_change(name)


class _Host:
    """Reads and writes settings by name in the calling thread's namespace."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._sysctls = None
        self._rtnl = None

    def __enter__(self) -> _Host:
        self._sysctls = self._stack.enter_context(sysctl.Sysctls())
        self._rtnl = self._stack.enter_context(rtnl.connect())
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.close()

    def links(self) -> list[rtnl.Link]:
        return self._rtnl.links()

    def read(self, name: str) -> str | None:
        kind, _sep, target = name.partition(":")
        if kind == SYSCTL:
            return self._sysctls.read(target)
        link = self._rtnl.link(target)
        if link is None:
            return None
        return str(link.mtu) if kind == MTU else str(int(link.up))

    def write(self, name: str, value: str) -> None:
        kind, _sep, target = name.partition(":")
        if kind == SYSCTL:
            self._sysctls.write(target, value)
            return
        index = self._rtnl.link(target).index
        if kind == MTU:
            self._rtnl.set_mtu(index, int(value))
        elif value == "1":
            self._rtnl.set_up(index)
        else:
            self._rtnl.set_down(index)
