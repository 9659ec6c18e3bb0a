"""What the benchmarks share: the collection importable from this checkout."""

from __future__ import annotations

import os
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def collection_path():
    """A directory holding ansible_collections/pynet/libnetwork -> this checkout, for sys.path."""
    root = tempfile.mkdtemp(prefix="pynet-bench-")
    os.makedirs(os.path.join(root, "ansible_collections", "pynet"))
    os.symlink(REPO, os.path.join(root, "ansible_collections", "pynet", "libnetwork"))
    return root
