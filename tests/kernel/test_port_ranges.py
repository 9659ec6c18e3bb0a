"""Published port ranges as one nftables rule each (per chain and IP version), with real traffic to
their first, middle and last ports."""

import pytest
from dataplane_world import HOST_IP, HOST_IP6, OUTSIDE_IP, OUTSIDE_IP6, World, rules_mentioning
from traffic import tcp_connect_from


@pytest.fixture
def world(host):
    return World(host)


def test_ranges_shifted_and_on_the_same_ports(world):
    net = world.network("web", "10.89.84.0/24,fd00:89:84::/64")
    ranges = [{"host_port": "20000-20999", "container_port": "30000-30999"},
              {"host_port": "40000-40999", "container_port": "40000-40999"}]
    _ep, sandbox = world.endpoint(net, {"ports": ranges})
    for host_port, container_port in ((20000, 30000), (20567, 30567), (20999, 30999), (40000, 40000),
                                      (40999, 40999)):
        assert tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, host_port, container_port) == OUTSIDE_IP
    assert tcp_connect_from(world.outside, sandbox, "::", HOST_IP6, 20999, 30999) == OUTSIDE_IP6
    # Two ranges, two IP versions, prerouting and output: 8 DNAT rules for 2,000 ports.
    assert len([item for item in rules_mentioning('"dnat"') if item["rule"]["chain"] in ("prerouting", "output")]) == 8
