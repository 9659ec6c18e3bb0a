"""A small world for data-plane tests, inside the test's private 'host' namespace: an 'outside'
namespace joined to the host by a veth (pnt-up; 198.18.0.0/24, fd00:198::/64), and networks and
sandboxes made through the library."""

import json
import os
import subprocess

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl

UPLINK = "pnt-up"
HOST_IP, OUTSIDE_IP = "198.18.0.1", "198.18.0.2"
HOST_IP6, OUTSIDE_IP6 = "fd00:198::1", "fd00:198::2"


class World:
    def __init__(self, host):
        self.host = host
        self.controller = Controller(state_dir=host.state_dir)
        self.controller.new_network_driver("bridge", {})
        os.makedirs(host.netns_dir, exist_ok=True)
        self.outside = host.sandbox_key("outside")
        netns.create(self.outside)
        with rtnl.connect() as host_side:
            host_side.add_veth(UPLINK, "eth0", netns.open_fd(self.outside))
            index = host_side.link(UPLINK).index
            host_side.add_address(index, HOST_IP + "/24")
            host_side.add_address(index, HOST_IP6 + "/64", flags=rtnl.IFA_F_NODAD)
        with rtnl.connect(self.outside) as outside:
            index = outside.link("eth0").index
            outside.add_address(index, OUTSIDE_IP + "/24")
            outside.add_address(index, OUTSIDE_IP6 + "/64", flags=rtnl.IFA_F_NODAD)
            outside.set_up(index)
            outside.set_up(rtnl.LOOPBACK_INDEX)
        self.count = 0

    def network(self, name, subnet, **options):
        pools = [{"subnet": cidr} for cidr in subnet.split(",")]
        return self.controller.new_network(self.controller.driver("bridge"), name, dict(options, ipam=pools))

    def endpoint(self, network, options=None, sandbox=None):
        self.count += 1
        sandbox = sandbox or self.controller.new_sandbox(self.host.sandbox_key("c%d" % self.count)).key
        ep = network.create_endpoint("ep%d" % self.count, sandbox, options or {})
        return ep, sandbox

    def route_outside_to(self, subnet):
        """Let the outside send to a pynet subnet through the host (as a router upstream would)."""
        subprocess.run(["nsenter", "--net=" + self.outside, "ip", "route", "add", subnet, "via", HOST_IP], check=True)


def address(ep, family=4):
    iface = ep.sandbox_info()["interfaces"][0]
    return (iface["address"] if family == 4 else iface["address_ipv6"]).split("/")[0]


def ruleset():
    out = subprocess.run(["nft", "-j", "list", "ruleset"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)["nftables"]


def pynet_tables():
    return sorted((item["table"]["family"], item["table"]["name"]) for item in ruleset()
                  if "table" in item and item["table"]["name"].startswith("pynet"))


def rules_mentioning(text):
    return [item for item in ruleset() if "rule" in item and text in json.dumps(item)]
