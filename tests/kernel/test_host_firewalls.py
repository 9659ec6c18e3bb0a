"""pynet beside other firewalls of the host, with their real rules, in the test's private 'host':
Docker's (dockerd 20.10 sets iptables' FORWARD policy to DROP; its rules applied exactly, through
iptables-nft) and firewalld's."""

import subprocess

import pytest
from dataplane_world import HOST_IP, OUTSIDE_IP, World, address
from traffic import tcp_connect_from, tcp_reachable

BRIDGE_NETFILTER = "/proc/sys/net/bridge/bridge-nf-call-iptables"  # per namespace

# What dockerd 20.10 installs at start with its default bridge docker0 (172.17.0.0/16), as iptables-save
# prints it.
DOCKER_RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
"""


@pytest.fixture
def world(host):
    return World(host)


def iptables(*args):
    """iptables-nft's view, as Docker reads it (it fails on a table it cannot read)."""
    return subprocess.run(["iptables"] + list(args), check=True, capture_output=True, text=True).stdout


def rules_setting(world):
    return [change for change in world.controller.host_changes() if change["setting"].startswith("rules:")]


@pytest.mark.parametrize("br_netfilter", ["0", "1"])
def test_dockers_forward_drop_policy_and_chains(world, br_netfilter):
    with open(BRIDGE_NETFILTER, "w") as knob:
        knob.write(br_netfilter)
    subprocess.run(["iptables-restore"], input=DOCKER_RULES, text=True, check=True)
    web = world.network("web", "10.89.80.0/24")
    other = world.network("other", "10.89.81.0/24")
    ep, sandbox = world.endpoint(web, {"ports": [{"host_port": 8080, "container_port": 80}]})
    peer, peer_sandbox = world.endpoint(web)
    far, far_sandbox = world.endpoint(other)
    # Outbound, published, within a network (bridged through netfilter when br_netfilter is on), hairpin.
    assert tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 9000, 9000) == HOST_IP
    assert tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8080, 80) == OUTSIDE_IP
    assert tcp_reachable(sandbox, address(ep), peer_sandbox, timeout=3)
    assert tcp_connect_from(far_sandbox, sandbox, "0.0.0.0", HOST_IP, 8080, 80) is not None
    # pynet's table still isolates its networks.
    assert not tcp_reachable(far_sandbox, address(far), sandbox, timeout=1)
    assert not tcp_reachable(sandbox, address(ep), far_sandbox, timeout=1)
    # Docker still reads its table, and finds pynet's accepts first in DOCKER-USER.
    user = iptables("-S", "DOCKER-USER").splitlines()
    table = world.controller.firewall_table
    assert user[0] == "-N DOCKER-USER" and user[-1] == "-A DOCKER-USER -j RETURN"
    assert sorted(user[1:-1]) == sorted("-A DOCKER-USER %s %s -m comment --comment %s -j ACCEPT" % (flag, bridge, table)
                                        for bridge in (web.options["bridge_name"], other.options["bridge_name"])
                                        for flag in ("-i", "-o"))
    assert rules_setting(world) == [{"setting": "rules:ip filter DOCKER-USER", "original": "", "value": table}]
    assert web.drift() == []
    for endpoint in (ep, peer, far):
        endpoint.delete()
    other.delete()
    assert len(iptables("-S", "DOCKER-USER").splitlines()) == 4
    web.delete()
    # The last network takes pynet's accepts with it; Docker's rules are as Docker made them.
    assert subprocess.run(["iptables-save"], check=True, capture_output=True, text=True).stdout.count("pynet") == 0
    assert iptables("-S", "DOCKER-USER").splitlines() == ["-N DOCKER-USER", "-A DOCKER-USER -j RETURN"]
    assert rules_setting(world) == []


def test_forward_drop_policy_alone(world):
    """iptables -P FORWARD DROP without Docker's chains: pynet's accepts go first in FORWARD."""
    subprocess.run(["iptables", "-P", "FORWARD", "DROP"], check=True)
    web = world.network("web", "10.89.82.0/24")
    _ep, sandbox = world.endpoint(web, {"ports": [{"host_port": 8081, "container_port": 80}]})
    assert tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 9001, 9001) == HOST_IP
    assert tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8081, 80) == OUTSIDE_IP
    assert [change["setting"] for change in rules_setting(world)] == ["rules:ip filter FORWARD"]
    # Rules removed by hand are drift, repaired by the next run.
    subprocess.run(["iptables", "-F", "FORWARD"], check=True)
    assert web.drift() == ["ip filter FORWARD holds 0 of pynet's rules, not 2"]
    assert tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 9001, 9001, timeout=1) is None
    web.repair()
    assert web.drift() == []
    assert tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 9001, 9001) == HOST_IP
    _ep.delete()
    web.delete()
    assert iptables("-S", "FORWARD").splitlines() == ["-P FORWARD DROP"]
    assert rules_setting(world) == []
