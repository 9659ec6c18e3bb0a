"""Chaining: reference plugins from Debian's containernetworking-plugins (1.1.1, /usr/lib/cni) after
pynet in a network configuration list, run as SPEC.md section 3 runs a list. They take pynet's
Result as their prevResult and do their work: tuning sets the container interface's MTU, MAC and a
sysctl; portmap finds the container's address through the Result's interface index and sandbox and
publishes a port with iptables, reached by a real connection from another namespace.
The reference bridge plugin's own Result passes the checker too (a real plugin's, not a sample)."""

import os
import subprocess

import pynet_testing
import pytest
import runtime
import spec
import traffic

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/lib/cni/portmap"),
                                reason="apt-get install containernetworking-plugins")

VERSION = "1.0.0"  # the newest the reference plugins 1.1.1 speak
OUTSIDE_HOST, OUTSIDE = "192.0.2.1", "192.0.2.2"


def conflist(state_dir):
    return {"cniVersion": VERSION, "name": "pnchain", "plugins": [
        {"type": "pynet", "state_dir": state_dir},
        {"type": "tuning", "mtu": 1400, "capabilities": {"mac": True},
         # eth0, not IFNAME: tuning 1.1.1's CHECK does not substitute IFNAME in sysctl names.
         "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1"}},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
    ]}


def outside(host):
    """A namespace beside the host's, on a veth: where connections from other machines come from."""
    key = host.sandbox_key("outside")
    netns.create(key)
    subprocess.run(["ip", "link", "add", "pnout0", "type", "veth", "peer", "name", "eth0", "netns", key], check=True)
    subprocess.run(["ip", "addr", "add", OUTSIDE_HOST + "/24", "dev", "pnout0"], check=True)
    subprocess.run(["ip", "link", "set", "pnout0", "up"], check=True)
    for command in (["ip", "addr", "add", OUTSIDE + "/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"],
                    ["ip", "link", "set", "lo", "up"]):
        subprocess.run(["nsenter", "--net=" + key] + command, check=True)
    return key


def iptables_nat(chain):
    done = subprocess.run(["iptables", "-t", "nat", "-S", chain], capture_output=True, text=True, check=False)
    return done.stdout if done.returncode == 0 else ""


def test_tuning_and_portmap_after_pynet_take_its_result_and_work(host):
    controller = Controller(state_dir=host.state_dir)
    controller.new_network(controller.new_network_driver("bridge", {}), "pnchain",
                           {"ipam": [{"subnet": "10.89.42.0/24"}]})
    plugins = [runtime.module_plugin(), runtime.reference_plugin("tuning"), runtime.reference_plugin("portmap")]
    config = conflist(host.state_dir)
    key = host.sandbox_key("c1")
    os.makedirs(os.path.dirname(key))
    netns.create(key)
    runtime_config = {"mac": "02:42:ac:11:00:42",
                      "portMappings": [{"hostPort": 8081, "containerPort": 80, "protocol": "tcp"}]}
    outcomes = runtime.add_list(plugins, config, "c1", key, "eth0", runtime_config)
    assert [outcome.problems for outcome in outcomes] == [[], [], []], outcomes
    assert all(outcome.ok for outcome in outcomes), outcomes
    final = outcomes[-1].output
    address = next(ip["address"] for ip in final["ips"] if ip["interface"] == 2).split("/")[0]
    # tuning: the Result tells of the new MAC, the kernel has it, the MTU and the sysctl.
    assert final["interfaces"][2]["mac"] == "02:42:ac:11:00:42"
    link = pynet_testing.ip_json("link", "show", "eth0", key=key)[0]
    assert (link["address"], link["mtu"]) == ("02:42:ac:11:00:42", 1400)
    sysctl = subprocess.run(["nsenter", "--net=" + key, "cat", "/proc/sys/net/ipv4/conf/eth0/arp_ignore"],
                            capture_output=True, text=True, check=True)
    assert sysctl.stdout.strip() == "1"
    # portmap: a DNAT to the address it read from pynet's Result, and a connection through it.
    assert "--dports 8081" in iptables_nat("CNI-HOSTPORT-DNAT")
    assert "%s:80" % address in "".join(iptables_nat(chain) for chain in iptables_chains("CNI-DN-"))
    peer = traffic.tcp_connect_from(outside(host), key, address, OUTSIDE_HOST, 8081, 80)
    assert peer is not None
    # CHECK of pynet and tuning (pynet allows the MAC that tuning changed; portmap 1.1.1's CHECK looks
    # for IPv6 rules of an IPv4-only container, containernetworking/plugins#819), then DEL in reverse.
    checks = [plugin.execute("CHECK", runtime.request_config(config, plugin_config, final, runtime_config),
                             "c1", key, "eth0") for plugin, plugin_config in zip(plugins[:2], config["plugins"])]
    assert [(check.ok, check.problems) for check in checks] == [(True, [])] * 2, checks
    deleted = runtime.del_list(plugins, config, "c1", key, "eth0", final, runtime_config)
    assert [(outcome.ok, outcome.problems) for outcome in deleted] == [(True, [])] * 3, deleted
    assert iptables_chains("CNI-DN-") == []
    assert controller.network_by_name("pnchain").endpoints() == []
    controller.close()


def iptables_chains(prefix):
    done = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=False)
    return [line.split()[1] for line in done.stdout.splitlines() if line.startswith("-N " + prefix)]


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0"])
def test_the_reference_bridge_plugins_result_passes_the_checker(host, version):
    key = host.sandbox_key("c1")
    os.makedirs(os.path.dirname(key))
    netns.create(key)
    config = {"cniVersion": version, "name": "pnref", "type": "bridge", "bridge": "pnref0", "isGateway": True,
              "ipam": {"type": "host-local", "subnet": "10.89.43.0/24", "dataDir": os.path.join(host.root, "ipam"),
                       "routes": [{"dst": "0.0.0.0/0"}]}}
    bridge = runtime.reference_plugin("bridge")
    added = bridge.execute("ADD", config, "c1", key, "eth0")
    assert added.ok and added.problems == [], added
    assert spec.check_result(added.output, version, key, "eth0") == []
    assert bridge.execute("DEL", config, "c1", key, "eth0").ok
