# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed records: what the store reads and writes, and what drivers are given.

Named tuples: cheap to import (dataclasses pulls in inspect, about 10 ms of a process exec'd per
call) and to make (thousands in a batch); a change is `record._replace(field=...)`. Options are the
dicts the option tables (drivers/base.py and the drivers) validated.
"""

from __future__ import annotations

import collections
import os

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses

# Life of a network or endpoint record: intent is recorded before the kernel is changed, so a
# record that is not 'ready' is one whose creation or deletion was cut off.
STATE_CREATING = "creating"
STATE_READY = "ready"
STATE_DELETING = "deleting"

# Who made an endpoint: None for playbooks and the library; a container runtime's attachments (CNI)
# are OWNER_CNI's, and no playbook removes them unless it names them.
OWNER_CNI = "cni"


class RecordView:
    """An object of libnetwork's API over its typed record, which it reads and never writes."""

    def __init__(self, record):
        self._record = record

    def record(self):
        """Its record, as the store holds it."""
        return self._record


def record_field(name: str, doc: str = "") -> property:
    """A read-only attribute of a RecordView: the field `name` of its record (a dict field as a copy)."""
    def read(view):
        value = getattr(view._record, name)  # pylint: disable=protected-access  # the view's own record
        return dict(value) if isinstance(value, dict) else value
    return property(read, doc=doc or None)


def new_id() -> str:
    """A new object id, 64 hex digits."""
    return os.urandom(32).hex()


class Pool(collections.namedtuple("Pool", "version subnet gateway")):
    """An address pool of a network: its IP version, subnet (CIDR) and gateway (an address, no prefix)."""

    __slots__ = ()

    @property
    def gateway_cidr(self) -> str:
        """The gateway with the subnet's prefix length, as it is put on a bridge."""
        return "%s/%s" % (self.gateway, self.subnet.split("/")[1])

    def holds(self, cidr: str) -> bool:
        """Whether the address of `cidr` ('10.89.0.5/24') is in this pool's subnet."""
        found = addresses.interface(cidr).ip
        return found.version == self.version and found in addresses.network(self.subnet)


def pools_of(ipam: list) -> tuple:
    """The Pools of a network's normalised `ipam` option."""
    return tuple(Pool(addresses.version(pool["subnet"]), pool["subnet"], pool.get("gateway")) for pool in ipam or ())


class NetworkRecord(collections.namedtuple("NetworkRecord", "id name type options state pools")):
    """A network as recorded: `options` the normalised options, `pools` its Pools (from options['ipam'])."""

    __slots__ = ()

    @property
    def internal(self) -> bool:
        return bool(self.options.get("internal"))

    def gateways(self) -> dict:
        """{IP version: gateway} of the first pool of each version."""
        return {pool.version: pool.gateway for pool in reversed(self.pools)}


class EndpointRecord(collections.namedtuple(
        "EndpointRecord", "id network_id name sandbox_key ifname host_ifname mac ipv4 ipv6 options state "
                          "default_routes owner container_id", defaults=((), None, None))):
    """An endpoint as recorded: `ipv4` and `ipv6` its addresses as CIDRs (or None), `default_routes` the IP
    versions whose default route in its sandbox goes through it (filled in where it is asked for), `owner`
    who made it (None: a playbook or the library; OWNER_CNI: a runtime) and `container_id` the runtime's
    container of the attachment (container_id, ifname)."""

    __slots__ = ()

    def address(self, version: int) -> str | None:
        return self.ipv4 if version == 4 else self.ipv6


class SandboxRecord(collections.namedtuple("SandboxRecord", "key created ns_dev ns_ino boot_id owner",
                                           defaults=(None,))):
    """A sandbox as recorded: whether pynet made its namespace and, if so, that namespace's (st_dev,
    st_ino) and the boot it was made in (None in records of before store schema 3); `owner` the owner
    of the endpoint whose creation adopted the namespace (a runtime's netns: forgotten with its last
    endpoint), None for the others."""

    __slots__ = ()


class EndpointSpec(collections.namedtuple("EndpointSpec", "name sandbox_key options owner container_id",
                                          defaults=(None, None, None))):
    """An endpoint to create: a (name, sandbox_key, options) tuple is one made by a playbook or the
    library; a runtime's attachment adds its owner and container id."""

    __slots__ = ()


class InSandbox(collections.namedtuple("InSandbox", "endpoint network internal no_default_route")):
    """An endpoint in a sandbox, with its network's name, whether that network is internal and whether it
    never gives the default route (its option no_default_route)."""

    __slots__ = ()


class PublishedPort(collections.namedtuple("PublishedPort", "protocol host_ip host_port container_port")):
    """A host port an endpoint holds: `host_ip` '' for every address."""

    __slots__ = ()


class FirewallPort(collections.namedtuple("FirewallPort", "network_id port ipv4 ipv6")):
    """A published port of an endpoint, with the endpoint's addresses: what the firewall DNATs."""

    __slots__ = ()


class HostChange(collections.namedtuple("HostChange", "setting original value parent")):
    """A host setting pynet changed (host_changes.py): its value before, the one pynet wrote, and the
    setting it goes with ('' for none)."""

    __slots__ = ()
