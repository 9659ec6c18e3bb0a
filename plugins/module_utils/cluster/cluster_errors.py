# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The error types of the cluster store (etcd) and of cluster allocation.

They belong in errors.py; they live here until the cluster code is wired into the controller.
"""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors


class ClusterStoreError(errors.PynetError):
    """etcd could not be used: unreachable, no answer in time, TLS, authentication, permissions,
    or an answer that is not etcd's. The message names the endpoint and what to check."""

    def __init__(self, message):
        super().__init__("cluster_store: " + message, param="cluster_store")


class NotAMemberError(errors.PynetError):
    """A host that is not (or no longer) a member of the cluster tried to claim a block: it never
    joined, or the cluster's GC forgot it (its blocks may then belong to other hosts by now)."""

    def __init__(self, host):
        super().__init__("cluster_store: host %s is not a member of the cluster (never joined, or forgotten by "
                         "the cluster GC); join it again before it allocates" % host, param="cluster_store")
        self.host = host


class NoFreeBlockError(errors.PynetError):
    """Every address block of a global network's subnet is claimed by some host."""

    def __init__(self, network, subnet, prefixlen):
        super().__init__("ipam: no free /%d address block left in %s of network %s: every block is claimed by a "
                         "host; a larger subnet, or the cluster GC of hosts that are gone, frees some"
                         % (prefixlen, subnet, network), param="ipam")


class NoFreeVNIError(errors.PynetError):
    """Every VXLAN network identifier of pynet's range is taken."""

    def __init__(self, first, last):
        super().__init__("vni: every VXLAN id from %d to %d is taken by a global network" % (first, last),
                         param="vni")
