"""The fleet suite: the etcd client, cluster IPAM and the simulated fleet (README.md here),
against Debian's etcd and sshd in namespaces of the test's own.

Every test gets an underlay of its own under its tmp_path; at the end, the fixtures stop what
they started by pid and fail the test if any namespace, mount or process of the rig is left.
"""

import os
import sys
import warnings

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import rig  # noqa: E402  (also makes the collection importable)
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import etcd  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="the fleet suite needs root")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def underlay(tmp_path):
    """The fabric namespace and its bridge; torn down, and checked to be gone, after the test."""
    fabric = rig.Underlay(tmp_path)
    yield fabric
    strays = fabric.close()
    if strays:
        warnings.warn("the rig's stops missed processes, killed at the end: %s" % "; ".join(strays))
    assert fabric.leftovers() == []


@pytest.fixture
def etcd_cluster(underlay, tmp_path):
    """One etcd member on the underlay (10.250.0.1), plain HTTP."""
    cluster = rig.EtcdCluster(underlay, tmp_path)
    try:
        yield cluster.start()
    finally:
        cluster.close()


@pytest.fixture
def client(etcd_cluster, underlay):
    """The test thread in the fabric (the control node) and an EtcdClient of etcd_cluster."""
    with underlay.entered():
        with etcd.EtcdClient(etcd_cluster.cluster_store) as connected:
            yield connected


@pytest.fixture
def fleet(underlay, etcd_cluster, tmp_path):
    """Five hosts on the underlay, reached by ssh, with etcd on the same underlay."""
    hosts = rig.Fleet(underlay, tmp_path, 5)
    try:
        yield hosts.start()
    finally:
        hosts.close()
