"""The CNI plugin against the real kernel (and podman). The whole session runs in a private mount
namespace and a private network namespace of its own, made here before any test: the podman rig
mounts tmpfs over /run/netns and /var/lib/cni and makes bridges and nftables tables, and none of it
reaches the host. Conformance tests also get the private 'host' namespace of tests/kernel per test.
"""

import ctypes
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import pynet_testing  # noqa: E402  (makes the collection importable)

CLONE_NEWNS, CLONE_NEWNET, MS_REC, MS_PRIVATE = 0x00020000, 0x40000000, 0x4000, 0x40000


def _isolate():
    """This process (still single-threaded: unshare(CLONE_NEWNS) requires it) and its children in new
    mount and network namespaces, / made private so that no mount propagates back to the host."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS | CLONE_NEWNET)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount --make-rprivate /")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


ISOLATED = os.geteuid() == 0
if ISOLATED:
    _isolate()


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
