# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where pynet keeps its cluster state in etcd: every key is made here, and only here.

    /pynet/v1/hosts/<host>                           {"address": <underlay address>}: membership (no lease)
    /pynet/v1/alive/<host>                           "" on a lease of the host's liveness TTL, renewed by
                                                     each run on the host
    /pynet/v1/blocks/<network>/<block>               {"host": <host>}: a claimed address block
    /pynet/v1/host-blocks/<host>/<network>/<block>   "": the same claim by host (written in the same txn)
    /pynet/v1/vnis/<vni>                             <network>: a VXLAN id taken by a global network
    /pynet/v1/network-vni/<network>                  <vni>: the same by network (written in the same txn)
    /pynet/v1/networks/<network>                     {"name", "type", "options"}: a global network
    /pynet/v1/network-names/<name>                   <network>: the same by name (written in the same txn)
    /pynet/v1/endpoints/<network>/<host>/<endpoint>  <endpoint name>: an endpoint of a global network on a
                                                     host (written per batch of endpoints, in one txn)

<host> is a host's name in the cluster, <network> a network id, <block> a CIDR with "-" for "/"
(10.251.0.64-26, fd00::40-122). Each fact is written once, by one compare-and-swap transaction,
together with its index; nothing else in etcd is pynet's. "v1" changes if the layout ever does, so
an old and a new layout can be told apart. An etcd user that pynet uses needs readwrite permission
on the prefix /pynet/ (etcdctl role grant-permission ROLE --prefix=true readwrite /pynet/).
"""

from __future__ import annotations

import re

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors

PREFIX = "/pynet/v1/"
HOSTS = PREFIX + "hosts/"
ALIVE = PREFIX + "alive/"
BLOCKS = PREFIX + "blocks/"
HOST_BLOCKS = PREFIX + "host-blocks/"
VNIS = PREFIX + "vnis/"
NETWORK_VNI = PREFIX + "network-vni/"
NETWORKS = PREFIX + "networks/"
NETWORK_NAMES = PREFIX + "network-names/"
ENDPOINTS = PREFIX + "endpoints/"

_COMPONENT = re.compile(r"[A-Za-z0-9_.:-]{1,253}")


def component(value, param):
    """`value` as one path component of a key; InvalidParameterError if it cannot be one."""
    if not isinstance(value, str) or not _COMPONENT.fullmatch(value) or value in (".", ".."):
        raise errors.InvalidParameterError(param, "%r cannot name a %s in the cluster store: use 1 to 253 of "
                                           "A-Z a-z 0-9 _ . : -" % (value, param))
    return value


def host_key(host):
    return HOSTS + component(host, "host")


def alive_key(host):
    return ALIVE + component(host, "host")


def block_key(network, block):
    return "%s%s/%s" % (BLOCKS, component(network, "network"), block.replace("/", "-"))


def blocks_prefix(network):
    return "%s%s/" % (BLOCKS, component(network, "network"))


def host_block_key(host, network, block):
    return "%s%s/%s/%s" % (HOST_BLOCKS, component(host, "host"), component(network, "network"),
                           block.replace("/", "-"))


def host_blocks_prefix(host, network=None):
    prefix = HOST_BLOCKS + component(host, "host") + "/"
    return prefix if network is None else prefix + component(network, "network") + "/"


def vni_key(vni):
    return "%s%d" % (VNIS, vni)


def network_vni_key(network):
    return NETWORK_VNI + component(network, "network")


def network_key(network):
    return NETWORKS + component(network, "network")


def network_name_key(name):
    return NETWORK_NAMES + component(name, "name")


def endpoints_prefix(network, host=None):
    prefix = ENDPOINTS + component(network, "network") + "/"
    return prefix if host is None else prefix + component(host, "host") + "/"


def endpoint_key(network, host, endpoint):
    return endpoints_prefix(network, host) + component(endpoint, "endpoint")


def last_component(key):
    return key.rsplit("/", 1)[1]


def block_of(key):
    """The CIDR of a block key or host-block key."""
    return last_component(key).replace("-", "/")


def network_of_block(key):
    """The network id of a block key (BLOCKS) or host-block key (HOST_BLOCKS)."""
    return key.rsplit("/", 2)[1]
