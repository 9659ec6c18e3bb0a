# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Address pools and allocation over the store; nothing here touches the kernel.

An address is stored as its offset from the start of its subnet, so a pool costs nothing
until addresses are handed out (a /8 is never enumerated). Allocation is round-robin: the
search starts after the last address given out, so a released address is not reused at once.
"""

from __future__ import annotations

import collections
import ipaddress

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, options
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import Snapshot, Writer

# sqlite integers are signed 64-bit: pools bigger than this are used only up to it.
MAX_OFFSET = (1 << 63) - 1
POOL_KEYS = ("subnet", "gateway", "ip_range", "aux_addresses")
DEFAULT_POOL_KEYS = ("base", "size")
OWNER_RESERVED = "reserved"
# RFC 4193 unique local addresses: fd00::/8, a 40-bit global id (a site's /48), 16 bits of subnet id.
ULA_SITE_PREFIX = 48
ULA_SUBNET_PREFIX = 64


def mac_from_id(object_id: str) -> str:
    """A locally administered unicast MAC address made from an id (64 hex digits): the same for
    the same object each time it is made, as after a repair or a reboot."""
    return "02:" + ":".join(object_id[i:i + 2] for i in range(0, 10, 2))


class PoolSpec(collections.namedtuple("PoolSpec", "subnet gateway ip_range aux_addresses")):
    """One validated `ipam` entry: ipaddress objects (ip_range None for the whole subnet)."""

    __slots__ = ()

    @property
    def version(self) -> int:
        return self.subnet.version

    def as_option(self) -> dict:
        option = {"subnet": str(self.subnet), "gateway": str(self.gateway)}
        if self.ip_range is not None:
            option["ip_range"] = str(self.ip_range)
        if self.aux_addresses:
            option["aux_addresses"] = {name: str(ip) for name, ip in sorted(self.aux_addresses.items())}
        return option


def parse_pools(ipam: list | None) -> list[PoolSpec]:
    """Validate the `ipam` option (a list of dicts) and return PoolSpecs; raise before any change."""
    if ipam is None:
        return []
    pools = []
    for where, entry in options.list_of_dicts("ipam", ipam, POOL_KEYS):
        if not entry.get("subnet"):
            raise errors.InvalidParameterError(where + ".subnet", "is required (a CIDR such as 10.89.0.0/24)")
        pools.append(_parse_pool(where, entry))
    for index, pool in enumerate(pools):
        for other in pools[:index]:
            if _overlaps(pool.subnet, other.subnet):
                raise errors.PoolOverlapError(str(pool.subnet), "subnet %s of the same network" % other.subnet,
                                              param="ipam[%d].subnet" % index)
    return pools


def check_default_pools(param: str, value: object) -> list[dict]:
    """The `default_address_pools` driver option: a list of {base, size} (a CIDR and the prefix length of
    the subnets cut from it), IPv4 and IPv6, in the order they are used; none overlapping another."""
    pools = []
    for where, entry in options.list_of_dicts(param, value, DEFAULT_POOL_KEYS):
        if not entry.get("base") or entry.get("size") is None:
            raise errors.InvalidParameterError(where, "needs base (a CIDR such as 10.90.0.0/16 or fd00:90::/56) "
                                               "and size (the prefix length of the subnets cut from it)")
        base = parse_subnet(entry["base"], where + ".base")
        size = options.int_between(base.prefixlen, 30 if base.version == 4 else 126)(where + ".size", entry["size"])
        for other in pools:
            if _overlaps(base, addresses.network(other["base"])):
                raise errors.InvalidParameterError(where + ".base", "%s overlaps %s, an earlier entry" % (base, other["base"]))
        pools.append({"base": str(base), "size": size})
    return pools


def _parse_pool(where: str, entry: dict) -> PoolSpec:
    subnet = parse_subnet(entry["subnet"], where + ".subnet")
    if subnet.prefixlen > (30 if subnet.version == 4 else 126):
        raise errors.InvalidParameterError(where + ".subnet", "%s is too small: it needs room for a gateway and "
                                           "at least one endpoint (IPv4 /30 or IPv6 /126 or larger)" % subnet)
    ip_range = None
    if entry.get("ip_range"):
        ip_range = parse_subnet(entry["ip_range"], where + ".ip_range")
        if ip_range.version != subnet.version or not ip_range.subnet_of(subnet):
            raise errors.InvalidParameterError(where + ".ip_range", "%s is not inside subnet %s"
                                               % (ip_range, subnet))
    if entry.get("gateway"):
        gateway = parse_address(entry["gateway"], where + ".gateway")
        _check_host_address(gateway, subnet, where + ".gateway")
    else:
        gateway = subnet.network_address + 1
    aux = entry.get("aux_addresses") or {}
    if not isinstance(aux, dict):
        raise errors.InvalidParameterError(where + ".aux_addresses", "must be a dict of name: address")
    aux_addresses = {}
    for name, value in aux.items():
        address = parse_address(value, "%s.aux_addresses.%s" % (where, name))
        _check_host_address(address, subnet, "%s.aux_addresses.%s" % (where, name))
        aux_addresses[str(name)] = address
    return PoolSpec(subnet, gateway, ip_range, aux_addresses)


def parse_subnet(value: object, param: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A CIDR subnet without host bits, such as 10.89.0.0/24."""
    try:
        found = addresses.interface(str(value))
    except ValueError:
        raise errors.InvalidParameterError(param, "%r is not a CIDR subnet (such as 10.89.0.0/24 or fd00:89::/64)"
                                           % (value,)) from None
    if "/" not in str(value):
        raise errors.InvalidParameterError(param, "%r has no prefix length (such as /24)" % (value,))
    if found.ip != found.network.network_address:
        raise errors.InvalidParameterError(param, "%s has host bits set; use %s" % (value, found.network))
    return found.network


def parse_address(value: object, param: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return addresses.address(str(value))
    except ValueError:
        raise errors.InvalidParameterError(param, "%r is not an IP address" % (value,)) from None


def _check_host_address(address, subnet, param: str) -> None:
    if address.version != subnet.version or address not in subnet:
        raise errors.InvalidParameterError(param, "%s is not inside subnet %s" % (address, subnet))
    if subnet.version == 4 and address in (subnet.network_address, subnet.broadcast_address):
        raise errors.InvalidParameterError(param, "%s is the network or broadcast address of %s" % (address, subnet))


def _overlaps(a, b) -> bool:
    return a.version == b.version and a.overlaps(b)


def add_pools(tx: Writer, network_id: str, pools: list[PoolSpec]) -> None:
    """Record a network's pools and reserve their special addresses (network, broadcast, gateway, aux)."""
    for pool in pools:
        subnet = pool.subnet
        span = pool.ip_range or subnet
        start = int(subnet.network_address)
        first = int(span.network_address) - start
        last = min(int(span.broadcast_address) - start, MAX_OFFSET)
        cursor = tx.execute(
            "INSERT INTO pools(network_id, version, subnet, gateway, range_first, range_last, cursor) "
            "VALUES (?, ?, ?, ?, ?, ?, NULL)",
            (network_id, subnet.version, str(subnet), str(pool.gateway), first, last))
        pool_id = cursor.lastrowid
        reserved = {0, int(pool.gateway) - start}
        if subnet.version == 4:
            reserved.add(subnet.num_addresses - 1)
        reserved.update(int(ip) - start for ip in pool.aux_addresses.values())
        for offset in sorted(reserved):
            tx.execute("INSERT OR IGNORE INTO allocations(pool_id, offset, owner) VALUES (?, ?, ?)",
                       (pool_id, offset, OWNER_RESERVED))


def network_pools(tx: Snapshot, network_id: str) -> list[dict]:
    return tx.query_all("SELECT * FROM pools WHERE network_id = ? ORDER BY id", (network_id,))


def free_count(tx: Snapshot, network_id: str, version: int) -> int:
    """How many addresses of the IP version the network's pools can still hand out."""
    free = 0
    for pool in network_pools(tx, network_id):
        if pool["version"] == version:
            taken = tx.query_one("SELECT COUNT(*) AS taken FROM allocations WHERE pool_id = ? AND offset >= ? AND "
                                 "offset <= ?", (pool["id"], pool["range_first"], pool["range_last"]))["taken"]
            free += pool["range_last"] - pool["range_first"] + 1 - taken
    return free


def pool_ranges(tx: Snapshot, network_id: str) -> list[str]:
    """The CIDRs the network's pools hand addresses out of (their ip_range, or their subnet)."""
    ranges = []
    for pool in network_pools(tx, network_id):
        subnet = addresses.network(pool["subnet"])
        first = subnet.network_address + pool["range_first"]
        ranges.extend(str(cidr) for cidr in ipaddress.summarize_address_range(
            first, subnet.network_address + pool["range_last"]))
    return ranges


def allocate(tx: Writer, network_name: str, network_id: str, version: int, owner: str, requested: str | None = None,
             param: str = "ip") -> str | None:
    """Give `owner` one address of the given IP version; return it as 'address/prefixlen'.

    With `requested`, that address or an error; otherwise the next free one after the last
    given out, wrapping round. Returns None when the network has no pool of that version.
    """
    pools = [pool for pool in network_pools(tx, network_id) if pool["version"] == version]
    if requested is not None:
        address = parse_address(requested, param)
        for pool in pools:
            subnet = addresses.network(pool["subnet"])
            if address.version == version and address in subnet:
                offset = int(address) - int(subnet.network_address)
                taken = tx.query_one("SELECT owner FROM allocations WHERE pool_id = ? AND offset = ?",
                                     (pool["id"], offset))
                if taken is not None or offset > MAX_OFFSET:
                    raise errors.IPAlreadyAllocatedError(address, network_name, param=param)
                _record(tx, pool, offset, owner)
                return "%s/%d" % (address, subnet.prefixlen)
        raise errors.IPOutOfRangeError(address, network_name, [pool["subnet"] for pool in pools], param=param)
    if not pools:
        return None
    for pool in pools:
        offset = _next_free(tx, pool)
        if offset is not None:
            _record(tx, pool, offset, owner)
            subnet = addresses.network(pool["subnet"])
            return "%s/%d" % (subnet.network_address + offset, subnet.prefixlen)
    raise errors.NoAvailableIPsError(network_name, version, param=param)


def _record(tx: Writer, pool: dict, offset: int, owner: str) -> None:
    tx.execute("INSERT INTO allocations(pool_id, offset, owner) VALUES (?, ?, ?)", (pool["id"], offset, owner))
    tx.execute("UPDATE pools SET cursor = ? WHERE id = ?", (offset, pool["id"]))


def _next_free(tx: Writer, pool: dict) -> int | None:
    first, last, cursor = pool["range_first"], pool["range_last"], pool["cursor"]
    start = first if cursor is None or cursor >= last or cursor < first else cursor + 1
    found = _first_free(tx, pool["id"], start, last)
    if found is None and start > first:
        found = _first_free(tx, pool["id"], first, start - 1)
    return found


def _first_free(tx: Writer, pool_id: int, low: int, high: int) -> int | None:
    """The lowest offset in [low, high] with no allocation: walks only the run of taken ones at `low`."""
    candidate = low
    rows = tx.execute("SELECT offset FROM allocations WHERE pool_id = ? AND offset >= ? AND offset <= ? "
                      "ORDER BY offset", (pool_id, low, high))
    for (offset,) in rows:
        if offset != candidate:
            break
        candidate += 1
    return candidate if candidate <= high else None


def has_free_address(snapshot: Snapshot, network_id: str, version: int) -> bool:
    """Whether a pool of that IP version of the network has an address left to give (read only)."""
    for pool in network_pools(snapshot, network_id):
        if pool["version"] == version:
            held = snapshot.query_one("SELECT COUNT(*) AS held FROM allocations WHERE pool_id = ? AND offset BETWEEN ? "
                                      "AND ?", (pool["id"], pool["range_first"], pool["range_last"]))["held"]
            if held < pool["range_last"] - pool["range_first"] + 1:
                return True
    return False


def release(tx: Writer, owner: str) -> None:
    """Free every address held by `owner` (an endpoint id)."""
    tx.execute("DELETE FROM allocations WHERE owner = ?", (owner,))


def choose_default_subnet(tx: Snapshot, bases: list[tuple], taken: list, where: str):
    """The first subnet of the (base network, prefix length) pairs in `bases`, in order, that overlaps no
    pynet pool and no `taken` network; an error saying `where` the bases come from when none is free."""
    pools = [addresses.network(row["subnet"]) for row in tx.query_all("SELECT subnet FROM pools")] + list(taken)
    for base, prefixlen in bases:
        used = [net for net in pools if _overlaps(net, base)]
        for candidate in base.subnets(new_prefix=prefixlen):
            if not any(_overlaps(candidate, other) for other in used):
                return candidate
    listed = ", ".join("/%d of %s" % (prefixlen, base) for base, prefixlen in bases)
    raise errors.InvalidParameterError(
        "ipam", "no free subnet is left in %s (%s); give the network a subnet, or configure larger default pools "
        "with pynet_driver" % (where, listed))


def ula_subnet(tx: Snapshot, network_id: str, taken: list) -> ipaddress.IPv6Network:
    """A /64 of the unique local /48 of a network (RFC 4193: fd00::/8 and a 40-bit global id, random
    because it comes from the network's random id, so two networks, or two hosts, do not collide); its
    first /64 that overlaps no pynet pool and no `taken` network. Recorded in the network's ipam, it
    stays the network's through repeated runs, repairs and recreations."""
    global_id = int(network_id[:10], 16)
    site = ipaddress.IPv6Network(((0xFD << 120) | (global_id << 80), ULA_SITE_PREFIX))
    return choose_default_subnet(tx, [(site, ULA_SUBNET_PREFIX)], taken, "the network's unique local prefix")


def check_pools_free(tx: Snapshot, pools: list[PoolSpec], taken: list) -> None:
    """Refuse a subnet that overlaps another pynet network's pool or a network on the host."""
    existing = tx.query_all("SELECT pools.subnet, networks.name FROM pools JOIN networks ON networks.id = pools.network_id")
    for index, pool in enumerate(pools):
        param = "ipam[%d].subnet" % index
        for row in existing:
            if _overlaps(pool.subnet, addresses.network(row["subnet"])):
                raise errors.PoolOverlapError(str(pool.subnet), "subnet %s of network %s" % (row["subnet"], row["name"]),
                                              param=param)
        for net in taken:
            if _overlaps(pool.subnet, net):
                raise errors.PoolOverlapError(str(pool.subnet), "%s, already on this host" % net, param=param)
