# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The overlay driver: networks that span hosts over VXLAN, their global state in etcd.

The README's section Overlay networks gives the design and the reasons for it. In short, per network and host:
- a bridge `pn-<12 hex of the network id>` (alias `pynet:<id>`, a MAC address of this host's, from
  the id and the host's name) with the gateway of each address block the host holds (block.1, with
  the network's prefix length), and a veth per endpoint, as the bridge driver makes them;
- a vxlan device `pnx<12 hex>` on that bridge: the network's VNI (allocated in etcd), this host's
  advertise_address as its source, MAC learning on, and one all-zeros forwarding entry per other
  host of the cluster, so broadcasts (ARP) reach every host and the replies teach each side where a
  MAC is. An endpoint made anywhere is reachable at once, with nothing run on any other host;
- endpoints have the network's prefix length (one layer-2 segment across the hosts) and their
  default route through their block's gateway on their own host, whose firewall masquerades what
  leaves for elsewhere unless the network is internal.

Global state (the network's record, its VNI, the blocks, the endpoints by host, the members) is in
etcd (cluster/); this host's share (its blocks as pools, its endpoints) in its own store. A host
joins the cluster (members.join) when its driver is configured and each time it sets up a network,
and leaves it when its driver is forgotten; its peer entries are brought to the cluster's member list
by a set-up, a repair, or a run that finds them different (drift).
"""

from __future__ import annotations

import hashlib
import socket

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, ipam, options
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import allocation, etcd, layout, members
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import networks as global_networks
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import bridge as bridges
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl, sysctl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import (
    STATE_READY, EndpointRecord, NetworkRecord, Pool, pools_of)

VXLAN_PREFIX = "pnx"
# What the underlay's MTU loses: outer Ethernet 14, IPv4 20 (IPv6 40), UDP 8, VXLAN 8.
VXLAN_OVERHEAD = {4: 50, 6: 70}
DEFAULT_VXLAN_PORT = 4789  # IANA's


def check_cluster_store(param: str, value: object) -> str:
    """One or several etcd URLs, as one string separated by commas."""
    endpoints = etcd.parse_cluster_store(value)
    return ",".join(endpoint.url for endpoint in endpoints)


def check_address(param: str, value: object) -> str:
    if not addresses.is_address(value):
        raise errors.InvalidParameterError(param, "%r is not an IP address (this host's address on the underlay, "
                                           "such as 10.250.1.1)" % (value,))
    return str(addresses.address(value))


def check_host_name(param: str, value: object) -> str:
    return layout.component(value, param)


def _mac(*parts: str) -> str:
    """A locally administered unicast MAC address from `parts` (the same on every run)."""
    return ipam.mac_from_id(hashlib.sha256("\0".join(parts).encode()).hexdigest())


def block_gateway(network: NetworkRecord, address: str) -> str:
    """The gateway of the block that holds `address` (a CIDR): the block's first address but one."""
    return str(addresses.network(_block_of(network, address)).network_address + 1)


def _block_of(network: NetworkRecord, address: str) -> str:
    """The block (a CIDR) that holds `address` (a CIDR)."""
    ip = addresses.interface(address).ip
    return str(addresses.interface("%s/%d" % (ip, allocation.block_prefixlen(_subnet(network, ip.version)))).network)


def _subnet(network: NetworkRecord, version: int = 4) -> str | None:
    """The network's subnet of that IP version (None: it has none)."""
    return next((str(pool.subnet) for pool in network.pools if pool.version == version), None)


def _block_space(subnet: str) -> str:
    """Where the subnet's blocks are taken: the whole subnet, but the first 2**63 addresses of a larger
    one (an IPv6 /64), as far as a host's store counts addresses (ipam.MAX_OFFSET)."""
    network = addresses.network(subnet)
    bits = addresses.ADDRESS_BITS[network.version]
    return str(next(network.subnets(new_prefix=bits - 63))) if network.num_addresses > ipam.MAX_OFFSET + 1 else subnet


def _versions(network: NetworkRecord) -> list[int]:
    return sorted({pool.version for pool in network.pools})


class OverlayDriver(bridges.BridgeDriver):
    network_type = "overlay"
    is_global = True
    FIREWALL_SWITCH = None
    DRIVER_OPTIONS = {
        "cluster_store": options.Option(check_cluster_store, None, "etcd://host:port, or etcds://host:port for TLS; "
                                        "several members as a list or separated by commas"),
        "ca_file": options.Option(options.check_str, None, "the CA of etcd's certificate (etcds://)"),
        "cert_file": options.Option(options.check_str, None, "a client certificate for etcd (etcds://)"),
        "key_file": options.Option(options.check_str, None, "the key of cert_file"),
        "username": options.Option(options.check_str, None, "etcd's user (its token authentication)"),
        "password": options.Option(options.check_str, None, "the password of username"),
        "advertise_address": options.Option(check_address, None, "this host's underlay address: its VXLAN tunnel "
                                            "end point"),
        "vxlan_port": options.Option(options.int_between(1, 65535), DEFAULT_VXLAN_PORT, "the VXLAN UDP port"),
        "host_name": options.Option(check_host_name, None, "this host's name in the cluster; default its hostname"),
        "liveness_ttl": options.Option(options.int_between(1, 10 ** 8), members.DEFAULT_LIVENESS_TTL,
                                       "seconds a run keeps this host alive for the cluster's prune"),
    }
    NETWORK_OPTIONS = dict(Driver.NETWORK_OPTIONS, **{
        "mtu": options.Option(options.int_between(68, 65535), None, "default the underlay's MTU minus 50 (70 over IPv6)",
                              spec=dict(type="int")),
        "enable_ip_masquerade": bridges.BridgeDriver.NETWORK_OPTIONS["enable_ip_masquerade"],
        "enable_icc": bridges.BridgeDriver.NETWORK_OPTIONS["enable_icc"],
    })
    ENDPOINT_OPTIONS = {name: bridges.BridgeDriver.ENDPOINT_OPTIONS[name] for name in ("mac", "ifname", "gw_priority")}

    def __init__(self, driver_options: dict):
        super().__init__(driver_options)
        self._connection = None

    @classmethod
    def validate_driver_options(cls, given: object) -> dict:
        """Checked before anything changes: both of cluster_store and advertise_address or neither
        (the driver is then not configured here), the address one of this host's, the TLS files and
        credentials as the etcd client takes them (nothing is sent to etcd)."""
        opts = options.validate(given, cls.DRIVER_OPTIONS, "options.")
        if opts["cluster_store"] is None and opts["advertise_address"] is None:
            if any(opts[name] for name in ("ca_file", "cert_file", "key_file", "username", "password", "host_name")):
                raise errors.InvalidParameterError("options.cluster_store", "is required with the other options of "
                                                   "the overlay driver")
            return opts
        for name in ("cluster_store", "advertise_address"):
            if opts[name] is None:
                raise errors.InvalidParameterError("options." + name, "is required: the overlay driver needs "
                                                   "cluster_store (etcd) and advertise_address (this host's underlay "
                                                   "address)")
        _client_of(opts).close()
        with rtnl.connect() as host:
            if opts["advertise_address"] not in host.local_addresses():
                raise errors.InvalidParameterError("options.advertise_address", "%s is not an address of this host: "
                                                   "give the address this host has on the underlay"
                                                   % opts["advertise_address"])
        return opts

    @property
    def configured(self) -> bool:
        return self.options.get("cluster_store") is not None

    @property
    def host(self) -> str:
        """This host's name in the cluster."""
        return self.options.get("host_name") or layout.component(socket.gethostname(), "host_name")

    def client(self) -> etcd.EtcdClient:
        """The etcd client of this driver (one per process: a run)."""
        if self._connection is None:
            self._connection = _client_of(self.options)
        return self._connection

    # --- global networks ----------------------------------------------------------------------

    def join(self) -> None:
        """This host becomes a member of the cluster (members.join) as its driver is configured, so that
        every network set up afterwards on any host floods to it."""
        if self.configured:
            self._join(self.client())

    def _join(self, client: etcd.EtcdClient) -> None:
        members.join(client, self.host, self.options["advertise_address"], self.options["liveness_ttl"])

    def _require_configured(self) -> None:
        if not self.configured:
            raise errors.InvalidParameterError(
                "cluster_store", "the overlay driver is not configured on this host: set its cluster_store and "
                "advertise_address with pynet_driver (or new_network_driver)")

    def leave(self) -> None:
        """The host leaves the cluster as its driver is forgotten (no network of its store uses it): its
        membership, liveness, blocks and endpoint records go (members.leave)."""
        if self.configured:
            members.leave(self.client(), self.host)

    def prune(self, fleet: list[str], check_mode: bool = False) -> members.GCResult:
        """The cluster's GC (cluster/members.py gives the rule) with `fleet`, the names of every host of
        the fleet. Refused unless it names this host: a list of other names (inventory names where the
        hosts use their hostnames) would forget the whole fleet once its hosts fall silent."""
        self._require_configured()
        if self.host not in {layout.component(host, "fleet") for host in fleet}:
            raise errors.InvalidParameterError("fleet", "must name every host of the fleet by its name in the "
                                               "cluster, this one's (%s) included" % self.host)
        return members.gc(self.client(), fleet, check_mode)

    def check_pools(self, name: str, pools: list[ipam.PoolSpec]) -> None:
        if not any(pool.version == 4 for pool in pools):
            raise errors.InvalidParameterError("ipam", "an overlay network needs an IPv4 subnet (such as "
                                               "{subnet: 10.251.0.0/16}): its hosts take address blocks of it")
        for index, pool in enumerate(pools):
            where = "ipam[%d]" % index
            if any(other.version == pool.version for other in pools[:index]):
                raise errors.InvalidParameterError(where + ".subnet", "%s: an overlay network has one subnet per "
                                                   "IP version (an IPv4 one, and an IPv6 one if it has IPv6)"
                                                   % pool.subnet)
            if pool.ip_range is not None or pool.aux_addresses:
                raise errors.InvalidParameterError(where, "ip_range and aux_addresses are not for overlay networks: "
                                                   "each host takes blocks of the subnet")
            if pool.gateway != pool.subnet.network_address + 1:
                raise errors.InvalidParameterError(where + ".gateway", "overlay networks have a gateway per address "
                                                   "block (its first address but one), on the block's host: leave "
                                                   "gateway out")
        if self.configured:
            # Blocks are claimed as endpoints come, so the hosts' stores cannot tell: the cluster's networks do.
            for other in self.global_networks():
                for pool in other.pools:
                    for index, mine in enumerate(pools):
                        if other.name != name and addresses.network(pool.subnet).overlaps(mine.subnet):
                            raise errors.PoolOverlapError(str(mine.subnet), "subnet %s of overlay network %s"
                                                          % (pool.subnet, other.name), param="ipam[%d].subnet" % index)

    def global_network(self, name: str | None = None, network_id: str | None = None) -> NetworkRecord | None:
        if not self.configured:
            return None
        client = self.client()
        found = (global_networks.by_name(client, name) if name is not None
                 else global_networks.by_id(client, network_id))
        return _record(found) if found is not None and found.type == self.network_type else None

    def global_networks(self) -> list[NetworkRecord]:
        if not self.configured:
            return []
        return [_record(found) for found in global_networks.all_networks(self.client())
                if found.type == self.network_type]

    def publish_network(self, network: NetworkRecord) -> NetworkRecord:
        """Record the network in etcd with a VNI of its own; returns the record that stands under its
        name (another host's, if it recorded one of that name first)."""
        client = self.client()
        vni = allocation.allocate_vni(client, network.id)
        stood = global_networks.publish(client, network.id, network.name, self.network_type,
                                        dict(network.options, vni=vni))
        if stood.id != network.id:
            allocation.release_vni(client, network.id)
        return _record(stood)

    def unpublish_network(self, network: NetworkRecord) -> None:
        global_networks.delete(self.client(), global_networks.GlobalNetwork(network.id, network.name,
                                                                            network.type, network.options))

    def claim_pools(self, network: NetworkRecord, held: list[str], version: int) -> list[ipam.PoolSpec]:
        """Pools of the IP version for this host's store: the blocks etcd says this host holds that `held`
        (the local pools' ranges) lacks (a claim whose run was cut off), or else one block claimed now."""
        client, host, subnet = self.client(), self.host, _subnet(network, version)
        space = _block_space(subnet)
        blocks = [block for block in allocation.host_blocks(client, network.id, host)
                  if block not in held and addresses.network(block).subnet_of(addresses.network(space))]
        if not blocks:
            self._join(client)
            blocks = [allocation.claim_block(client, network.id, space, host, held=held,
                                             required=[layout.network_key(network.id)]).block]
        return [_block_pool(subnet, block) for block in blocks]

    def planned_pools(self, network: NetworkRecord, held: list[str], version: int) -> list[ipam.PoolSpec]:
        subnet = _subnet(network, version)
        space = _block_space(subnet)
        prefixlen = allocation.block_prefixlen(space)
        count = 1 << (prefixlen - addresses.network(space).prefixlen)
        index = allocation.first_free(count, allocation.hashed(network.id, self.host, "0"),
                                      allocation.indexes_of(space, prefixlen, held))
        if index is None:
            raise errors.NoFreeBlockError(network.id, space, prefixlen)
        return [_block_pool(subnet, allocation.block_at(space, prefixlen, index))]

    # --- networks: options --------------------------------------------------------------------

    def check_network(self, network_options: dict) -> None:
        self._require_configured()
        if network_options["mtu"] is None:
            with rtnl.connect() as host:
                overhead = VXLAN_OVERHEAD[addresses.version(self.options["advertise_address"])]
                network_options["mtu"] = self._underlay(host).mtu - overhead

    def derived_options(self, network_id: str) -> dict:
        return {"bridge_name": bridges.BRIDGE_PREFIX + network_id[:12]}

    def check_conflicts(self, network_options: dict, others: list[NetworkRecord]) -> None:
        """Bridge names come from ids; nothing else of an overlay network can clash on a host."""

    # --- networks: the kernel -----------------------------------------------------------------

    def create_network(self, network: NetworkRecord) -> None:
        client, host = self.client(), self.host
        self._join(client)
        peers = self._peers(client)
        blocks = allocation.host_blocks(client, network.id, host)
        with rtnl.connect() as connection, sysctl.Sysctls() as sysctls:
            bridge = self._ensure_bridge(connection, sysctls, network)
            for block in blocks:
                self._add_gateway(connection, bridge, network, block)
            vxlan = connection.link(_vxlan_name(network))
            present = connection.fdb_floods(vxlan.index)
            for peer in sorted(peers - present):
                connection.add_fdb_flood(vxlan.index, peer)
            for peer in sorted(present - peers):
                connection.delete_fdb_flood(vxlan.index, peer)

    def _peers(self, client: etcd.EtcdClient) -> set[str]:
        """The underlay addresses of the cluster's other members."""
        return {member.address for member in members.members(client).values() if member.host != self.host}

    def _ensure_bridge(self, host: rtnl.Connection, sysctls: sysctl.Sysctls, network: NetworkRecord) -> rtnl.Link:
        """The bridge and its vxlan device, up, without peers (create_network adds them)."""
        opts = network.options
        name, mtu = opts["bridge_name"], opts["mtu"]
        bridge = host.link(name)
        if bridge is None:
            try:
                host.add_bridge(name, _mac(network.id, self.host))
            except OSError as exc:
                if host.link(name) is None:
                    raise errors.KernelError.refused("cannot create bridge %s" % name, exc, "name") from None
            bridge = host.link(name)
        if bridge.alias != bridges.bridge_alias(network.id):
            if bridge.kind != "bridge" or bridge.mac != _mac(network.id, self.host):
                raise errors.InvalidParameterError("name", "%s is a device pynet did not make for this network; "
                                                   "remove it or rename it" % name)
            host.set_alias(name, bridges.bridge_alias(network.id), mtu=mtu)
        if bridge.mtu != mtu:
            host.set_mtu(bridge.index, mtu)
        if 6 in _versions(network):
            # Router advertisements come from tenants here: the host takes none of them.
            sysctls.write("net/ipv6/conf/%s/accept_ra" % name, 0)
        else:
            sysctls.write("net/ipv6/conf/%s/disable_ipv6" % name, 1)
        self._ensure_vxlan(host, sysctls, network, bridge)
        if not bridge.up:
            host.set_up(bridge.index)
        return host.link(name)

    def _ensure_vxlan(self, host: rtnl.Connection, sysctls: sysctl.Sysctls, network: NetworkRecord,
                      bridge: rtnl.Link) -> None:
        opts, name = network.options, _vxlan_name(network)
        wanted = {"vni": opts["vni"], "port": self.options["vxlan_port"], "local": self.options["advertise_address"]}
        if host.vxlan_info(name) != wanted:
            host.delete_link(name)
            try:
                host.add_vxlan(name, opts["vni"], self.options["advertise_address"], self.options["vxlan_port"],
                               _mac(network.id, self.host, "vxlan"), opts["mtu"], bridge.index,
                               self._underlay(host).index)
            except OSError as exc:
                raise errors.KernelError.refused("cannot create vxlan device %s (VNI %d, UDP port %d)" % (
                    name, opts["vni"], self.options["vxlan_port"]), exc, "vxlan_port") from None
        vxlan = host.link(name)
        if vxlan.master != bridge.index:
            host.set_master(vxlan.index, bridge.index)
        if vxlan.mtu != opts["mtu"]:
            host.set_mtu(vxlan.index, opts["mtu"])
        sysctls.write("net/ipv6/conf/%s/disable_ipv6" % name, 1)
        if not opts["enable_icc"]:
            # Isolated ports reach no other isolated port: this host's endpoints none of the others'.
            host.set_bridge_port(name, isolated=True, hairpin=False)
        if not vxlan.up:
            host.set_up(vxlan.index)

    def _underlay(self, host: rtnl.Connection) -> rtnl.Link:
        """The link that holds advertise_address."""
        address = self.options["advertise_address"]
        for index, cidrs in host.addresses().items():
            if any(cidr.split("/")[0] == address for cidr in cidrs):
                return next(link for link in host.links() if link.index == index)
        raise errors.InvalidParameterError("advertise_address", "%s is no longer an address of this host" % address)

    @staticmethod
    def _add_gateway(host: rtnl.Connection, bridge: rtnl.Link, network: NetworkRecord, block: str) -> None:
        """The block's gateway on the bridge, with the network's prefix length (one segment across hosts)."""
        cidr = addresses.network(block)
        subnet = addresses.network(_subnet(network, cidr.version))
        host.add_address(bridge.index, "%s/%d" % (cidr.network_address + 1, subnet.prefixlen), flags=rtnl.IFA_F_NODAD)

    def delete_network(self, network: NetworkRecord) -> None:
        with rtnl.connect() as host:
            host.delete_link(_vxlan_name(network))
            bridge = host.link(network.options["bridge_name"])
            if bridge is not None and bridge.alias == bridges.bridge_alias(network.id):
                host.delete_link(bridge.name)

    def network_drift(self, network: NetworkRecord) -> list[str]:
        opts = network.options
        name, vxlan_name = opts["bridge_name"], _vxlan_name(network)
        peers = self._peers(self.client())
        with rtnl.connect() as host:
            bridge, vxlan = host.link(name), host.link(vxlan_name)
            if bridge is None or vxlan is None:
                return ["network %s is not set up on this host (bridge %s, vxlan %s)" % (network.name, name,
                                                                                         vxlan_name)]
            drift = ["%s is down" % link.name for link in (bridge, vxlan) if not link.up]
            drift.extend("%s has MTU %s, not %s" % (link.name, link.mtu, opts["mtu"])
                         for link in (bridge, vxlan) if link.mtu != opts["mtu"])
            if vxlan.master != bridge.index:
                drift.append("%s is not on bridge %s" % (vxlan_name, name))
            present = host.fdb_floods(vxlan.index)
        drift.extend("%s lacks the peer %s" % (vxlan_name, peer) for peer in sorted(peers - present))
        drift.extend("%s floods to %s, which is no member of the cluster" % (vxlan_name, peer)
                     for peer in sorted(present - peers))
        return drift

    # --- endpoints ----------------------------------------------------------------------------

    def create_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[Exception | None]:
        global_networks.attach(self.client(), network.id, self.host,
                               {endpoint.id: endpoint.name for endpoint in endpoints})
        with rtnl.connect() as host:
            bridge = host.link(network.options["bridge_name"])
            vxlan = host.link(_vxlan_name(network))
        if bridge is None or vxlan is None or not bridge.up:
            self.create_network(network)
        blocks = {_block_of(network, address) for endpoint in endpoints
                  for address in (endpoint.ipv4, endpoint.ipv6) if address}
        with rtnl.connect() as host:
            bridge = host.link(network.options["bridge_name"])
            for block in sorted(blocks):
                self._add_gateway(host, bridge, network, block)
        outcome = super().create_endpoints(network, endpoints)
        global_networks.detach(self.client(), network.id, self.host,
                               [endpoint.id for endpoint, failure in zip(endpoints, outcome) if failure is not None])
        return outcome

    @staticmethod
    def routed_pools(network: NetworkRecord, endpoint: EndpointRecord) -> list[Pool]:
        """The default routes go through the gateway of the endpoint's block, on its own host."""
        return [Pool(version, _subnet(network, version), block_gateway(network, endpoint.address(version)))
                for version in _versions(network)
                if version in endpoint.default_routes and endpoint.address(version)]

    def delete_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> None:
        super().delete_endpoints(network, endpoints)
        global_networks.detach(self.client(), network.id, self.host, [endpoint.id for endpoint in endpoints])


def _vxlan_name(network: NetworkRecord) -> str:
    return VXLAN_PREFIX + network.id[:12]


def _block_pool(subnet: str, block: str) -> ipam.PoolSpec:
    """A pool of this host's store for one block: the network's subnet (endpoints have its prefix
    length), the block as its range, the block's gateway."""
    cidr = addresses.network(block)
    return ipam.PoolSpec(addresses.network(subnet), cidr.network_address + 1, cidr, {})


def _record(found: global_networks.GlobalNetwork) -> NetworkRecord:
    return NetworkRecord(found.id, found.name, found.type, found.options, STATE_READY,
                         pools_of(found.options.get("ipam")))


def _client_of(driver_options: dict) -> etcd.EtcdClient:
    return etcd.EtcdClient(driver_options["cluster_store"], ca_file=driver_options.get("ca_file"),
                           cert_file=driver_options.get("cert_file"), key_file=driver_options.get("key_file"),
                           username=driver_options.get("username"), password=driver_options.get("password"))
