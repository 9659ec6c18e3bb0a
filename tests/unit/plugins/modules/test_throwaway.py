from __future__ import annotations

import netaddr
import pyroute2


def test_imports():
    assert netaddr.IPNetwork("192.0.2.0/24").size == 256
    assert pyroute2.__version__
