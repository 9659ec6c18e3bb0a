"""pynet beside other firewalls of the host, with their real rules, in the test's private 'host':
Docker's (dockerd 20.10 sets iptables' FORWARD policy to DROP; its rules applied exactly, through
iptables-nft) and firewalld's."""

import os
import shutil
import subprocess
import time

import pytest
from dataplane_world import HOST_IP, OUTSIDE_IP, World, address
from traffic import tcp_connect_from, tcp_reachable

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

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


FIREWALLD_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=%s</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*"/><allow receive_sender="*"/><allow own="*"/></policy></busconfig>
"""


def wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "%s did not start" % what
        time.sleep(0.1)


class Firewalld:
    """Debian's firewalld (nftables backend) in the test's 'host', on a D-Bus system bus of the test's
    own, with a copy of its configuration: the host's bus, firewalld and /etc are not touched."""

    def __init__(self, root):
        self.root = root
        self.config = os.path.join(root, "firewalld")
        shutil.copytree("/etc/firewalld", self.config)
        bus_config = os.path.join(root, "bus.conf")
        with open(bus_config, "w") as out:
            out.write(FIREWALLD_BUS_CONFIG % os.path.join(root, "bus"))
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=" + os.path.join(root, "bus"))
        self.bus = subprocess.Popen(["dbus-daemon", "--config-file", bus_config, "--nofork", "--nopidfile"],
                                    stderr=subprocess.DEVNULL)
        self.daemon = None
        wait_for(lambda: os.path.exists(os.path.join(root, "bus")), "the test's D-Bus system bus")
        self.start()

    def start(self):
        self.daemon = subprocess.Popen(["firewalld", "--nofork", "--nopid", "--system-config", self.config,
                                        "--log-target", "console"], env=self.env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
        wait_for(lambda: self.cmd("--state", check=False) == "running", "firewalld")

    def stop(self):
        self.daemon.terminate()
        self.daemon.wait()

    def cmd(self, *args, check=True):
        done = subprocess.run(["firewall-cmd"] + list(args), env=self.env, capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0 or not check, done.stderr
        return done.stdout.strip()

    def close(self):
        self.stop()
        self.bus.terminate()
        self.bus.wait()


@pytest.fixture
def firewalld(host, monkeypatch):
    running = Firewalld(host.root)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", running.env["DBUS_SYSTEM_BUS_ADDRESS"])
    yield running
    running.close()


def test_firewalld_zone_survives_reload_and_restart(firewalld, world):
    web = world.network("web", "10.89.83.0/24")
    ep, sandbox = world.endpoint(web, {"ports": [{"host_port": 8082, "container_port": 80}]})
    peer, peer_sandbox = world.endpoint(web)
    bridge, gateway = web.options["bridge_name"], web.options["ipam"][0]["gateway"]

    def flows():
        """Outbound, published, to the gateway (as DNS would), within the network (bridged through
        netfilter: br_netfilter is on in a new namespace)."""
        return (tcp_connect_from(sandbox, world.outside, "0.0.0.0", OUTSIDE_IP, 9002, 9002, timeout=1) == HOST_IP,
                tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8082, 80, timeout=1) == OUTSIDE_IP,
                tcp_connect_from(peer_sandbox, None, "0.0.0.0", gateway, 5353, 5353, timeout=1) is not None,
                tcp_reachable(sandbox, address(ep), peer_sandbox, timeout=1))

    assert flows() == (True,) * 4
    assert firewalld.cmd("--get-zone-of-interface=" + bridge) == "pynet"
    assert firewalld.cmd("--permanent", "--get-zone-of-interface=" + bridge) == "pynet"
    assert sorted(change["setting"] for change in world.controller.host_changes()
                  if change["setting"].startswith("firewalld:")) == ["firewalld:" + bridge, "firewalld:zone"]
    firewalld.cmd("--reload")
    assert flows() == (True,) * 4
    firewalld.stop()
    firewalld.start()
    assert flows() == (True,) * 4
    # A binding undone by hand is drift, and repaired.
    firewalld.cmd("--zone=pynet", "--remove-interface=" + bridge)
    assert web.drift() == ["bridge %s is in no firewalld zone" % bridge]
    assert flows()[0] is False
    web.repair()
    assert web.drift() == [] and flows() == (True,) * 4
    # pynet in another network namespace leaves this one's firewalld alone (the bus is the same).
    with netns.private():
        elsewhere = Controller(state_dir=os.path.join(world.host.root, "elsewhere"))
        there = elsewhere.new_network(elsewhere.driver("bridge"), "there", {"ipam": [{"subnet": "10.89.85.0/24"}]})
        assert firewalld.cmd("--get-zone-of-interface=" + there.options["bridge_name"], check=False) == ""
        assert not [change for change in elsewhere.host_changes() if change["setting"].startswith("firewalld:")]
        assert there.drift() == []
        there.delete()
    # The last network takes the bindings and the zone with it.
    for endpoint in (ep, peer):
        endpoint.delete()
    web.delete()
    assert firewalld.cmd("--get-zone-of-interface=" + bridge, check=False) == ""  # "no zone", on stderr
    assert "pynet" not in firewalld.cmd("--permanent", "--get-zones").split()
    assert not os.path.exists(os.path.join(firewalld.config, "zones", "pynet.xml"))
    assert world.controller.host_changes() == []
