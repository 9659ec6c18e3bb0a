"""Kernel tests: each runs in a private network namespace of its own, with its own state dir.

The test thread is moved into a fresh namespace for the test's duration (it vanishes with
everything in it afterwards); sandboxes are bind-mounted under the test's tmp_path and
unmounted by name at the end. Nothing on the host is touched.
"""

import os
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _collection_path():
    """A directory that holds ansible_collections/pynet/libnetwork -> this checkout."""
    root = tempfile.mkdtemp(prefix="pynet-collections-")
    os.makedirs(os.path.join(root, "ansible_collections", "pynet"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "pynet", "libnetwork"))
    return root


COLLECTIONS = os.environ.get("PYNET_COLLECTIONS_PATH") or _collection_path()
os.environ["PYNET_COLLECTIONS_PATH"] = COLLECTIONS
sys.path.insert(0, COLLECTIONS)

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import links, netns  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="kernel tests need root")
        for item in items:
            item.add_marker(skip)


def _mounts_under(path):
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [point for point in points if point.startswith(path + "/")]


@pytest.fixture
def host(tmp_path):
    """The test's private 'host' namespace (lo up) and paths for its state and sandboxes."""
    with netns.private():
        with links.route_socket() as ipr:
            links.set_up(ipr, links.link(ipr, "lo")["index"])
        yield Paths(tmp_path)
        for point in _mounts_under(str(tmp_path)):
            netns.destroy(point)


class Paths:
    def __init__(self, tmp_path):
        self.root = tmp_path
        self.state_dir = str(tmp_path / "state")
        self.netns_dir = str(tmp_path / "netns")

    def sandbox_key(self, name):
        return os.path.join(self.netns_dir, name)
