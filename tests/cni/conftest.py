"""The CNI plugin against the real kernel (and podman). The whole session runs in a private mount
namespace and a private network namespace of its own, made here before any test: the podman rig
mounts tmpfs over /run/netns and /var/lib/cni and makes bridges and nftables tables, and none of it
reaches the host. Conformance tests also get the private 'host' namespace of tests/kernel per test.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import podman_rig  # noqa: E402
import pynet_testing  # noqa: E402  (makes the collection importable)

ISOLATED = os.geteuid() == 0
if ISOLATED:
    podman_rig.isolate_process()


def pytest_collection_modifyitems(config, items):
    if not ISOLATED:
        skip = pytest.mark.skip(reason="the CNI tests need root")
        for item in items:
            if "test_spec.py" not in item.nodeid:
                item.add_marker(skip)


@pytest.fixture
def host(tmp_path):
    """The test's private 'host' namespace (lo up) and paths for its state and sandboxes."""
    with pynet_testing.private_host(tmp_path) as paths:
        yield paths
