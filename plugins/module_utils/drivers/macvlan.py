# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The macvlan driver: each endpoint a macvlan of the network's parent, a host interface, so that
sandboxes sit on the parent's L2 with MAC addresses of their own (Docker's and netavark's macvlan).

A macvlan is made with its final name directly inside its sandbox (nothing of it is on the host), with
the endpoint's MAC address, and goes with its sandbox or when the endpoint is deleted. Addresses come
from the network's pools, which are subnets of the parent's network, so they may overlap the host's own
addresses there; the gateway is a router on that L2, never put on the host. There is no NAT and no
firewall of pynet's: traffic leaves through the parent as it is.

As with every macvlan: the host cannot reach its own macvlan children through the parent (the parent's
traffic never loops back to them); sandboxes on the same parent reach each other in mode bridge only.

The ipvlan driver is its sibling, for kernels that have ipvlan; on one that lacks it (this kind of
machine) it is refused naming the missing kernel feature, before any change.
"""

from __future__ import annotations

import errno
import os

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, options
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers import interface
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.bridge import BridgeDriver
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl, sysctl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import EndpointRecord, NetworkRecord

KERNEL_FEATURES = {"macvlan": "CONFIG_MACVLAN", "ipvlan": "CONFIG_IPVLAN"}


def _mode_of(kind: str):
    def check(param: str, value: object) -> str:
        if value not in rtnl.MODES[kind]:
            raise errors.InvalidParameterError(param, "%r is not a %s mode; allowed: %s"
                                               % (value, kind, ", ".join(sorted(rtnl.MODES[kind]))))
        return value
    return check


class MacvlanDriver(Driver):
    network_type = "macvlan"
    uses_ipam = True
    gives_interface = True
    # Its pools are subnets of the parent's network, which the host's own addresses there overlap.
    avoids_host_networks = False
    NETWORK_OPTIONS = dict(Driver.NETWORK_OPTIONS, **{
        "parent": options.Option(options.check_ifname, None, "an existing host interface", spec=dict(type="str")),
        "mode": options.Option(_mode_of("macvlan"), "bridge", spec=dict(type="str")),
    })
    # As the bridge's, but for ports: nothing of pynet's on the host forwards to a macvlan.
    ENDPOINT_OPTIONS = {name: option for name, option in BridgeDriver.ENDPOINT_OPTIONS.items() if name != "ports"}

    # --- networks -----------------------------------------------------------------------------

    def check_network(self, network_options: dict) -> None:
        self.check_kernel()
        if not network_options["parent"]:
            raise errors.InvalidParameterError("parent", "is required for a %s network: an existing host interface "
                                               "on the L2 network its sandboxes join (such as eth0)"
                                               % self.network_type)
        if network_options["internal"]:
            raise errors.InvalidParameterError("internal", "a %s network is the parent's L2 network, which pynet "
                                               "does not fence off; leave internal out" % self.network_type)
        self._parent(network_options["parent"])

    def check_kernel(self) -> None:
        """Refuse the driver, before any change, on a kernel that lacks its link kind."""
        with rtnl.connect() as host:
            if not host.has_link_kind(self.network_type):
                raise errors.InvalidParameterError(
                    "driver", "this kernel has no %s support (%s, module %s): it cannot make %s links, so the %s "
                    "driver cannot be used on this host" % (self.network_type, KERNEL_FEATURES[self.network_type],
                                                            self.network_type, self.network_type, self.network_type))

    @staticmethod
    def _parent(name: str) -> rtnl.Link:
        """The parent link: an existing host interface, not one of pynet's own (its bridges, its veths)."""
        with rtnl.connect() as host:
            found = host.link(name)
        if found is None:
            raise errors.InvalidParameterError("parent", "there is no interface %s on this host; give an existing "
                                               "host interface (such as eth0)" % name)
        if found.index == rtnl.LOOPBACK_INDEX:
            raise errors.InvalidParameterError("parent", "%s is the loopback; give an interface on an L2 network "
                                               "(such as eth0)" % name)
        if BridgeDriver.owns_link(found):
            raise errors.InvalidParameterError("parent", "%s is pynet's own (the bridge of a pynet network, or an "
                                               "endpoint's veth); give a host interface on the outside network, "
                                               "or use the bridge driver" % name)
        return found

    def check_conflicts(self, network_options: dict, others: list[NetworkRecord]) -> None:
        # As Docker's: one network per parent (a passthru macvlan would take the parent whole anyway).
        for other in others:
            if other.options.get("parent") == network_options["parent"]:
                raise errors.InvalidParameterError("parent", "%s is already the parent of %s network %s"
                                                   % (network_options["parent"], self.network_type, other.name))

    def create_network(self, network: NetworkRecord) -> None:
        self._parent(network.options["parent"])  # nothing of the network's own: the parent must be there

    def network_drift(self, network: NetworkRecord) -> list[str]:
        with rtnl.connect() as host:
            found = host.link(network.options["parent"])
        if found is None:
            return ["parent %s is missing" % network.options["parent"]]
        return [] if found.up else ["parent %s is down" % network.options["parent"]]

    # --- endpoints ----------------------------------------------------------------------------

    def create_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[Exception | None]:
        outcome = [None] * len(endpoints)
        parent = self._parent(network.options["parent"])
        with rtnl.connect() as host, sysctl.Sysctls() as sysctls:
            for index, endpoint in enumerate(endpoints):
                try:
                    self._make_endpoint(host, sysctls, parent, network, endpoint)
                except Exception as exc:  # pylint: disable=broad-exception-caught  # reported, the batch goes on
                    self._delete_endpoint(network, endpoint)
                    outcome[index] = exc
        return outcome

    def _make_endpoint(self, host: rtnl.Connection, sysctls: sysctl.Sysctls, parent: rtnl.Link, network: NetworkRecord,
                       endpoint: EndpointRecord) -> None:
        sandbox_fd = netns.open_fd(endpoint.sandbox_key)
        try:
            with rtnl.connect(sandbox_fd) as sandbox:
                self._add_link(host, sandbox, parent, network, endpoint, sandbox_fd)
                interface.configure(sandbox, sandbox_fd, sysctls, network, endpoint)
        finally:
            os.close(sandbox_fd)

    def _add_link(self, host: rtnl.Connection, sandbox: rtnl.Connection, parent: rtnl.Link, network: NetworkRecord,
                  endpoint: EndpointRecord, sandbox_fd: int) -> None:
        """The endpoint's link in its sandbox; one that a run cut off left there (its own) is replaced."""
        for attempt in (1, 2):
            try:
                self._new_link(host, parent, network, endpoint, sandbox_fd)
                return
            except OSError as exc:
                if exc.errno == errno.EEXIST and attempt == 1 and self._is_own(sandbox.link(endpoint.ifname),
                                                                               network, endpoint):
                    sandbox.delete_link(endpoint.ifname)
                    continue
                raise errors.KernelError.refused("cannot create %s %s in sandbox %s on parent %s"
                                                 % (self.network_type, endpoint.ifname, endpoint.sandbox_key,
                                                    parent.name), exc, "ifname") from None

    def _new_link(self, host: rtnl.Connection, parent: rtnl.Link, network: NetworkRecord, endpoint: EndpointRecord,
                  sandbox_fd: int) -> None:
        host.add_child_link(self.network_type, endpoint.ifname, parent.index, sandbox_fd, network.options["mode"],
                            self._mac(network, endpoint))

    @staticmethod
    def takes_parents_mac(network: NetworkRecord) -> bool:
        """Whether the network's links have their parent's MAC address, whatever they are given."""
        return network.options["mode"] == "passthru"

    def _mac(self, network: NetworkRecord, endpoint: EndpointRecord) -> str | None:
        """The MAC address the link is given (None: the kernel's choice, the parent's)."""
        return None if self.takes_parents_mac(network) else endpoint.mac

    def endpoint_mac(self, network: NetworkRecord, endpoint_id: str, requested: str | None) -> str:
        """As recorded and reported: the parent's MAC address for a link that takes it (as the kernel
        gives it when the link is made), which a requested one cannot change."""
        if not self.takes_parents_mac(network):
            return super().endpoint_mac(network, endpoint_id, requested)
        if requested:
            raise errors.InvalidParameterError("mac", "a %s link in mode %s has its parent's MAC address; leave mac "
                                               "out" % (self.network_type, network.options["mode"]))
        return self._parent(network.options["parent"]).mac

    def _is_own(self, link: rtnl.Link | None, network: NetworkRecord, endpoint: EndpointRecord) -> bool:
        """Whether the link at the endpoint's name in its sandbox is the endpoint's (left by a run cut off):
        of the driver's kind, with the endpoint's MAC address where it was given one."""
        mac = self._mac(network, endpoint)
        return link is not None and link.kind == self.network_type and (mac is None or link.mac == mac)

    def set_default_route(self, network: NetworkRecord, endpoint: EndpointRecord) -> None:
        interface.set_default_route(network, endpoint)

    def delete_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> None:
        for endpoint in endpoints:
            self._delete_endpoint(network, endpoint)

    def _delete_endpoint(self, network: NetworkRecord, endpoint: EndpointRecord) -> None:
        """Remove the endpoint's link from its sandbox, if it is the endpoint's; one (or a sandbox) already
        gone is fine, and an interface of that name that is not the endpoint's stays."""
        if netns.is_netns(endpoint.sandbox_key):
            with rtnl.connect(endpoint.sandbox_key) as sandbox:
                if self._is_own(sandbox.link(endpoint.ifname), network, endpoint):
                    sandbox.delete_link(endpoint.ifname)

    def endpoints_drift(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[list[str]]:
        return [interface.drift(network, endpoint, kind=self.network_type) for endpoint in endpoints]


class IpvlanDriver(MacvlanDriver):
    """ipvlan: as macvlan, but every link shares the parent's MAC address (modes l2, l3, l3s)."""

    network_type = "ipvlan"
    NETWORK_OPTIONS = dict(MacvlanDriver.NETWORK_OPTIONS, **{
        "mode": options.Option(_mode_of("ipvlan"), "l2", spec=dict(type="str")),
    })
    ENDPOINT_OPTIONS = {name: option for name, option in MacvlanDriver.ENDPOINT_OPTIONS.items() if name != "mac"}

    @staticmethod
    def takes_parents_mac(network: NetworkRecord) -> bool:
        return True
