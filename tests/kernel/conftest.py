"""Kernel tests: each runs in a private network namespace of its own, with its own state dir.

The test thread is moved into a fresh namespace for the test's duration (it vanishes with
everything in it afterwards); sandboxes are bind-mounted under the test's tmp_path and
unmounted by name at the end. Nothing on the host is touched.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import pynet_testing  # noqa: E402  (makes the collection importable)


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="kernel tests need root")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def host(tmp_path):
    """The test's private 'host' namespace (lo up) and paths for its state and sandboxes."""
    with pynet_testing.private_host(tmp_path) as paths:
        yield paths
