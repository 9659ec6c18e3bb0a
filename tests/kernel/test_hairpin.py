"""Published ports reached from sandboxes through the host's own address (hairpin): a sandbox's own
published port, a peer's on the same network, and an endpoint's on another network (as netavark 2.1
allows). Isolation between networks still stops everything else.

Each test runs twice in the test's 'host': with br_netfilter's call-iptables and call-ip6tables off
(bridged frames skip the IP hooks, so a reply that goes straight from peer to peer is never un-NATed),
and on, as on hosts with Docker or Kubernetes (a DNAT back into the bridge is then bridged at once, out
of the port it came in on for a sandbox's own port: the port's hairpin mode lets it)."""

import os
import subprocess

import pytest
from dataplane_world import HOST_IP, HOST_IP6, World, address
from traffic import tcp_connect_from

BRIDGE_NETFILTER = ("/proc/sys/net/bridge/bridge-nf-call-iptables",  # per namespace
                    "/proc/sys/net/bridge/bridge-nf-call-ip6tables")


@pytest.fixture(params=["br_netfilter off", "br_netfilter on"])
def world(host, request):
    on = request.param.endswith("on")
    if os.path.exists(BRIDGE_NETFILTER[0]):
        for knob in BRIDGE_NETFILTER:
            with open(knob, "w") as setting:
                setting.write("1" if on else "0")
    elif on:
        pytest.skip("br_netfilter is not loaded")
    return World(host)


def gateway(network, version=4):
    return next(pool["gateway"] for pool in network.options["ipam"] if (":" in pool["subnet"]) == (version == 6))


def test_own_published_port_through_the_hosts_address(world):
    net = world.network("web", "10.89.70.0/24")
    _ep, sandbox = world.endpoint(net, {"ports": [{"host_port": 8080, "container_port": 80}]})
    # Masqueraded to the gateway: a packet from its own address would be a martian to the sandbox.
    assert tcp_connect_from(sandbox, sandbox, "0.0.0.0", HOST_IP, 8080, 80) == gateway(net)


def test_peers_published_port_on_the_same_network(world):
    net = world.network("web", "10.89.71.0/24")
    _ep, server = world.endpoint(net, {"ports": [{"host_port": 8081, "container_port": 80}]})
    _peer, client = world.endpoint(net)
    # Masqueraded to the gateway, so the reply goes back through the host and is un-NATed there.
    assert tcp_connect_from(client, server, "0.0.0.0", HOST_IP, 8081, 80) == gateway(net)
    # Through the gateway's address too: it is the host's.
    assert tcp_connect_from(client, server, "0.0.0.0", gateway(net), 8081, 80) == gateway(net)


def test_published_port_of_another_network(world):
    served = world.network("served", "10.89.72.0/24")
    other = world.network("other", "10.89.73.0/24")
    ep, server = world.endpoint(served, {"ports": [{"host_port": 8082, "container_port": 80}]})
    _client_ep, client = world.endpoint(other)
    assert tcp_connect_from(client, server, "0.0.0.0", HOST_IP, 8082, 80) is not None
    # Isolation holds for all but the published port: the container's own address, on that very
    # port, and the host port on the container's address are out of reach.
    assert tcp_connect_from(client, server, "0.0.0.0", address(ep), 80, 80, timeout=1) is None
    assert tcp_connect_from(client, server, "0.0.0.0", address(ep), 8082, 8082, timeout=1) is None
    # And nothing of the client's network is reachable from the served one.
    assert tcp_connect_from(server, client, "0.0.0.0", address(_client_ep), 81, 81, timeout=1) is None


def test_internal_network_does_not_reach_published_ports(world):
    served = world.network("served", "10.89.74.0/24")
    inside = world.network("inside", "10.89.75.0/24", internal=True)
    _ep, server = world.endpoint(served, {"ports": [{"host_port": 8083, "container_port": 80}]})
    _inside_ep, client = world.endpoint(inside)
    subprocess.run(["nsenter", "--net=" + client, "ip", "route", "add", "default", "via", gateway(inside)], check=True)
    assert tcp_connect_from(client, server, "0.0.0.0", HOST_IP, 8083, 80, timeout=1) is None
    assert tcp_connect_from(client, server, "0.0.0.0", gateway(served), 8083, 80, timeout=1) is None


def test_hairpin_over_ipv6(world):
    net = world.network("dual", "10.89.76.0/24,fd00:89:76::/64")
    other = world.network("other6", "10.89.77.0/24,fd00:89:77::/64")
    _ep, server = world.endpoint(net, {"ports": [{"host_port": 8084, "container_port": 80}]})
    _peer, peer = world.endpoint(net)
    _far, far = world.endpoint(other)
    assert tcp_connect_from(server, server, "::", HOST_IP6, 8084, 80) == gateway(net, 6)
    assert tcp_connect_from(peer, server, "::", HOST_IP6, 8084, 80) == gateway(net, 6)
    assert tcp_connect_from(far, server, "::", HOST_IP6, 8084, 80) is not None
