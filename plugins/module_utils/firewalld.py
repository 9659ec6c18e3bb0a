# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pynet's bridges in a firewalld zone of their own, as Docker puts its bridges in zone `docker`.

firewalld (its nftables backend) rejects what is forwarded from, and sent to the host by, an
interface that no zone accepts, and a reject in its table is final whatever pynet's accepts. So
while firewalld runs, every network bridge is bound to zone `pynet` (target ACCEPT: pynet's own
table decides what passes), at runtime and in firewalld's permanent configuration, which
`firewall-cmd --reload` and restarts keep (a runtime binding alone is gone after a reload). The
zone is made when firewalld lacks it, and firewalld is then reloaded once to know it, as Docker
does. Each binding is recorded as a host change (`firewalld:<bridge>`) before it is made, and undone
and forgotten once the bridge is no network's; the zone (`firewalld:zone`) goes from the permanent
configuration with the last binding. A bridge an administrator bound to another zone is left there.
Without firewalld (no system bus, or no firewalld on it, or a firewalld of another network namespace:
the bus is the host's whatever the namespace) nothing is done and records are kept.
"""

from __future__ import annotations

import os

from ansible_collections.pynet.libnetwork.plugins.module_utils import host_changes
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import dbus, netns
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import Store

ZONE = "pynet"
ZONE_SETTINGS = {"short": ("s", "pynet"), "target": ("s", "ACCEPT"),
                 "description": ("s", "The bridges of pynet's networks: pynet's nftables table decides what passes")}
SERVICE = "org.fedoraproject.FirewallD1"
RUNTIME = "/org/fedoraproject/FirewallD1"
PERMANENT = RUNTIME + "/config"
ZONE_SETTING = host_changes.setting(host_changes.FIREWALLD, "zone")


class _Firewalld:
    """firewalld's runtime and permanent zones, as pynet uses them."""

    def __init__(self, connection: dbus.Connection):
        self._bus = connection

    def __enter__(self) -> _Firewalld:
        return self

    def __exit__(self, *exc_info) -> None:
        self._bus.close()

    def _runtime(self, member: str, signature: str = "", *args: object) -> list:
        return self._bus.call(SERVICE, RUNTIME, SERVICE + ".zone", member, signature, *args)

    def _permanent(self, member: str, signature: str = "", *args: object) -> list:
        return self._bus.call(SERVICE, PERMANENT, SERVICE + ".config", member, signature, *args)

    def _zone(self, member: str, signature: str = "", *args: object) -> list:
        path = self._permanent("getZoneByName", "s", ZONE)[0]
        return self._bus.call(SERVICE, path, SERVICE + ".config.zone", member, signature, *args)

    def has_zone(self) -> tuple[bool, bool]:
        """Whether zone pynet is in the runtime configuration, and in the permanent one."""
        return ZONE in self._runtime("getZones")[0], ZONE in self._permanent("getZoneNames")[0]

    def add_zone(self) -> None:
        self._permanent("addZone2", "sa{sv}", ZONE, ZONE_SETTINGS)

    def remove_zone_if_empty(self) -> None:
        if ZONE in self._permanent("getZoneNames")[0] and not self._zone("getSettings2")[0].get("interfaces"):
            self._zone("remove")

    def reload(self) -> None:
        self._bus.call(SERVICE, RUNTIME, SERVICE, "reload")

    def zones_of(self, bridge: str) -> tuple[str, str]:
        """The zone the bridge is bound to at runtime and in the permanent configuration ('' for none)."""
        return self._runtime("getZoneOfInterface", "s", bridge)[0], self._permanent("getZoneOfInterface", "s", bridge)[0]

    def bind(self, bridge: str, runtime: bool, permanent: bool) -> None:
        if permanent:
            self._zone("addInterface", "s", bridge)
        if runtime:
            self._runtime("addInterface", "ss", ZONE, bridge)

    def unbind(self, bridge: str) -> None:
        runtime, permanent = self.zones_of(bridge)
        if permanent == ZONE:
            self._zone("removeInterface", "s", bridge)
        if runtime == ZONE:
            self._runtime("removeInterface", "ss", ZONE, bridge)


def _connect() -> _Firewalld | None:
    """firewalld on the system bus, or None when there is no bus or no firewalld on it."""
    try:
        connection = dbus.Connection()
    except (FileNotFoundError, ConnectionRefusedError):
        return None
    try:
        running = connection.call(dbus.BUS_NAME, "/org/freedesktop/DBus", dbus.BUS_NAME, "NameHasOwner", "s",
                                  SERVICE)[0]
    except BaseException:
        connection.close()
        raise
    if not running or not _in_this_namespace(connection):
        connection.close()
        return None
    return _Firewalld(connection)


def _in_this_namespace(connection: dbus.Connection) -> bool:
    """Whether firewalld runs in the calling thread's network namespace: the system bus is the host's
    whatever the namespace, and a firewalld of another namespace filters none of this one's traffic."""
    pid = connection.call(dbus.BUS_NAME, "/org/freedesktop/DBus", dbus.BUS_NAME, "GetConnectionUnixProcessID", "s",
                          SERVICE)[0]
    try:
        return os.stat("/proc/%d/ns/net" % pid).st_ino == os.stat(netns.THREAD_NETNS).st_ino
    except OSError:  # not in this PID namespace, or gone
        return False


def _recorded(store: Store) -> set[str]:
    prefix = host_changes.FIREWALLD + ":"
    return {change.setting for change in store.snapshot().host_changes() if change.setting.startswith(prefix)}


def sync(store: Store, bridges: list[str]) -> None:
    """Bind these bridges (every network's) to zone pynet and unbind those pynet bound that are not among them."""
    recorded = _recorded(store)
    wanted = {host_changes.setting(host_changes.FIREWALLD, bridge): bridge for bridge in bridges}
    if not wanted and not recorded:
        return
    firewalld = _connect()
    if firewalld is None:
        return
    with firewalld:
        binding = {}
        for setting, bridge in wanted.items():
            runtime, permanent = firewalld.zones_of(bridge)
            if runtime in ("", ZONE) and permanent in ("", ZONE) and (runtime, permanent) != (ZONE, ZONE):
                binding[setting] = (bridge, runtime == "", permanent == "")
        in_runtime, in_permanent = firewalld.has_zone() if binding else (True, True)
        new = sorted(set(binding) - recorded) + ([ZONE_SETTING] if not in_permanent else [])
        if new:
            with store.write() as tx:
                for setting in new:
                    tx.record_host_change(setting, "", "ACCEPT" if setting == ZONE_SETTING else ZONE)
        if not in_permanent:
            firewalld.add_zone()
        for bridge, runtime, permanent in binding.values():
            firewalld.bind(bridge, runtime and in_runtime, permanent)
        if not in_runtime:
            firewalld.reload()  # the new zone, with its bindings, becomes firewalld's runtime
        gone = sorted(setting for setting in recorded - set(wanted) if setting != ZONE_SETTING)
        for setting in gone:
            firewalld.unbind(setting.partition(":")[2])
        if ZONE_SETTING in recorded and not wanted:
            firewalld.remove_zone_if_empty()
            gone.append(ZONE_SETTING)
        if gone:
            with store.write() as tx:
                for setting in gone:
                    tx.forget_host_change(setting)


def drift(bridges: list[str]) -> list[str]:
    """The bridges that firewalld, while it runs, has in no zone at runtime or in its permanent configuration."""
    if not bridges:
        return []
    firewalld = _connect()
    if firewalld is None:
        return []
    with firewalld:
        found = []
        for bridge in bridges:
            runtime, permanent = firewalld.zones_of(bridge)
            found.extend("bridge %s is in no firewalld zone%s" % (bridge, where)
                         for zone, where in ((runtime, ""), (permanent, " of its permanent configuration"))
                         if zone == "")
        return found
