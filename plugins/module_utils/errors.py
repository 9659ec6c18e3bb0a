# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every error type of pynet, after libnetwork's.

Every error a caller can act on is a PynetError; `param` names the option at fault
where there is one, so that the Ansible modules can report it.
"""

from __future__ import annotations

import errno


class PynetError(Exception):
    """Base class of every error pynet raises on purpose."""

    def __init__(self, message, param=None):
        super().__init__(message)
        self.param = param


class InvalidParameterError(PynetError):
    """An option has a value that is not allowed; nothing was changed."""

    def __init__(self, param, message):
        super().__init__("%s: %s" % (param, message), param=param)


class NilNetworkDriverError(PynetError):
    """libnetwork's ErrNilNetworkDriver: new_network() was given no driver."""

    def __init__(self):
        super().__init__("nil NetworkDriver instance: pass the driver returned by new_network_driver()",
                         param="driver")


class InvalidNetworkDriverError(PynetError):
    """libnetwork's ErrInvalidNetworkDriver: the driver was not made by this controller."""

    def __init__(self, detail="not a NetworkDriver returned by new_network_driver()"):
        super().__init__("invalid driver bound to network: %s" % detail, param="driver")


class NetworkTypeError(PynetError):
    """The network type (driver name) is not known."""

    def __init__(self, network_type, known):
        super().__init__("driver: unknown network type %r; known types: %s"
                         % (network_type, ", ".join(sorted(known))), param="driver")
        self.network_type = network_type


class DriverInUseError(PynetError):
    """A driver cannot be removed while networks use it."""

    def __init__(self, network_type, network_names):
        super().__init__("driver %r is used by network(s): %s; delete them first"
                         % (network_type, ", ".join(sorted(network_names))), param="name")
        self.network_names = sorted(network_names)


class NetworkNameError(PynetError):
    """A network with that name already exists."""

    def __init__(self, name):
        super().__init__("network with name %s already exists" % name, param="name")
        self.name = name


class UnknownNetworkError(PynetError):
    """No network of that name or id is in the store."""

    def __init__(self, name_or_id):
        super().__init__("unknown network %s" % name_or_id, param="network")
        self.name = name_or_id


class EndpointNameError(PynetError):
    """An endpoint with that name already exists in the network."""

    def __init__(self, name, network):
        super().__init__("endpoint with name %s already exists in network %s" % (name, network), param="name")


class AttachmentExistsError(PynetError):
    """A runtime's container already has an endpoint on that interface in the network."""

    def __init__(self, container_id, ifname, network):
        super().__init__("container %s already has an endpoint on %s in network %s" % (container_id, ifname, network),
                         param="container_id")


class UnknownEndpointError(PynetError):
    """No endpoint of that name or id is in the network."""

    def __init__(self, name_or_id, network):
        super().__init__("unknown endpoint %s in network %s" % (name_or_id, network), param="name")


class ActiveEndpointsError(PynetError):
    """A network (or sandbox) that still has endpoints cannot be deleted."""

    def __init__(self, kind, name, endpoint_names, remedy="delete them first", param="state"):
        names = sorted(endpoint_names)
        super().__init__("%s %s has active endpoints: %s; %s" % (kind, name, ", ".join(names), remedy), param=param)
        self.endpoint_names = names


class SandboxKeyError(PynetError):
    """The sandbox key is not a usable network namespace path."""

    def __init__(self, key, reason, param="key"):
        super().__init__("sandbox key %r %s" % (key, reason), param=param)


class UnknownSandboxError(PynetError):
    """No sandbox of that key is known."""

    def __init__(self, key):
        super().__init__("unknown sandbox %s" % key, param="key")


class IPAlreadyAllocatedError(PynetError):
    """The requested address is in use (or reserved) in the network."""

    def __init__(self, address, network, param="ip"):
        super().__init__("%s: address %s is already allocated in network %s; leave %s out for a free one"
                         % (param, address, network, param), param=param)


class NoAvailableIPsError(PynetError):
    """Every address of the network's pools is allocated."""

    def __init__(self, network, family, param="ip"):
        super().__init__("%s: no available IPv%d addresses in network %s: the pool is exhausted"
                         % (param, family, network), param=param)


class IPOutOfRangeError(PynetError):
    """The requested address is in none of the network's subnets."""

    def __init__(self, address, network, subnets, param="ip"):
        super().__init__("%s: address %s is outside the subnets of network %s (allowed: %s)"
                         % (param, address, network, ", ".join(subnets) or "none"), param=param)


class PoolOverlapError(PynetError):
    """A subnet overlaps another pool of pynet or an address on the host."""

    def __init__(self, subnet, other, param="ipam"):
        super().__init__("%s: %s overlaps %s" % (param, subnet, other), param=param)


class KernelError(PynetError):
    """The kernel refused an operation (or lacks a feature pynet needs)."""

    @classmethod
    def refused(cls, what, exc, param):
        """The kernel's refusal (an OSError) of `what` pynet was doing, its errno named as C names it (EEXIST)."""
        code = getattr(exc, "errno", None)
        return cls("%s: %s%s" % (what, getattr(exc, "strerror", None) or exc,
                                 " (%s)" % errno.errorcode[code] if code in errno.errorcode else ""), param=param)


class StateError(PynetError):
    """The state database cannot be used as it is; nothing was changed."""

    REMEDY = ("restore it from a backup, or move it aside to start over with an empty state (pynet then no "
              "longer knows what it made on this host: remove that by hand)")

    def __init__(self, path, reason, remedy=REMEDY):
        super().__init__("state_dir: %s %s%s" % (path, reason, "; " + remedy if remedy else ""), param="state_dir")


# --- the cluster store (etcd) and cluster allocation ------------------------------------------


class ClusterStoreError(PynetError):
    """etcd could not be used: unreachable, no answer in time, TLS, authentication, permissions,
    or an answer that is not etcd's. The message names the endpoint and what to check."""

    def __init__(self, message):
        super().__init__("cluster_store: " + message, param="cluster_store")


class NotAMemberError(PynetError):
    """A host that is not (or no longer) a member of the cluster tried to claim a block: it never
    joined, or the cluster's GC forgot it (its blocks may then belong to other hosts by now)."""

    def __init__(self, host):
        super().__init__("cluster_store: host %s is not a member of the cluster (never joined, or forgotten by "
                         "the cluster GC); join it again before it allocates" % host, param="cluster_store")
        self.host = host


class NoFreeBlockError(PynetError):
    """Every address block of a global network's subnet is claimed by some host."""

    def __init__(self, network, subnet, prefixlen):
        super().__init__("ipam: no free /%d address block left in %s of network %s: every block is claimed by a "
                         "host; a larger subnet, or the cluster GC of hosts that are gone, frees some"
                         % (prefixlen, subnet, network), param="ipam")


class NoFreeVNIError(PynetError):
    """Every VXLAN network identifier of pynet's range is taken."""

    def __init__(self, first, last):
        super().__init__("vni: every VXLAN id from %d to %d is taken by a global network" % (first, last),
                         param="vni")
