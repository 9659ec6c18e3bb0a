"""Part 7: security, the data plane. What a hostile tenant (root in its sandbox: CAP_NET_ADMIN and
CAP_NET_RAW) or a careless playbook does to the host through pynet, after the review in issue 12:
each test carries out the attack or the misuse against the real kernel, in the test's private
namespace, and shows that it fails and that pynet leaves the host as it found it.

Host settings are read through /proc/sys and iproute2, store rows through sqlite: not through the
library, so that a library bug cannot hide itself."""

import errno
import os
import re
import sqlite3
import subprocess
import sys
import time

import pytest
from dataplane_world import HOST_IP, HOST_IP6, OUTSIDE_IP, UPLINK, World, address, rules_mentioning
from packets import send_router_advertisement, syn_answered
from pynet_testing import COLLECTIONS, REPO, ip_json, run_module
from traffic import tcp_connect_from, udp_roundtrip

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl

PART = "7 security"


@pytest.fixture
def world(host):
    return World(host)


def sysctl(path):
    """A sysctl of the test's namespace (/proc/sys/net follows the reading thread's namespace)."""
    with open(os.path.join("/proc/sys", path)) as knob:
        return knob.read().strip()


def set_sysctl(path, value):
    with open(os.path.join("/proc/sys", path), "w") as knob:
        knob.write(str(value))


def in_sandbox(key, *commands):
    """Run commands in a sandbox as its root would (CAP_NET_ADMIN there)."""
    for command in commands:
        subprocess.run(["nsenter", "--net=" + key] + command.split(), check=True)


def wait_link_local_ready(name, timeout=10):
    """Until the link's IPv6 link-local address has passed duplicate address detection: the host
    resolves neighbours for the IPv6 traffic it forwards only from such an address."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = ip_json("-6", "addr", "show", "dev", name, "scope", "link")
        if found and found[0]["addr_info"] and not any(entry.get("tentative") for entry in found[0]["addr_info"]):
            return
        time.sleep(0.1)
    raise AssertionError("the link-local address of %s stays tentative" % name)


def link(name):
    found = ip_json("-d", "link", "show")
    return next((entry for entry in found if entry["ifname"] == name), None)


def store_networks(state_dir):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(state_dir, "pynet.db"), uri=True)
    try:
        return sorted(row[0] + ":" + row[1] for row in db.execute("SELECT name, state FROM networks"))
    finally:
        db.close()


def block_firewall(table):
    """A table of pynet's name with a plain chain where pynet has a base chain: nftables refuses
    pynet's ruleset (Operation not supported) until it is gone."""
    subprocess.run(["nft", "delete", "table", "inet", table], check=False, capture_output=True)
    subprocess.run(["nft", "add", "table", "inet", table], check=True)
    subprocess.run(["nft", "add", "chain", "inet", table, "forward"], check=True)


# --- finding 1: the host's 127.0.0.1 ------------------------------------------------------------


def test_tenants_do_not_reach_the_hosts_loopback(world, figures):
    quiet = world.network("quiet", "10.89.70.0/24")
    net = world.network("web", "10.89.71.0/24")
    bridge = net.options["bridge_name"]
    localnet = "net/ipv4/conf/%s/route_localnet" % bridge
    quiet_localnet = sysctl("net/ipv4/conf/%s/route_localnet" % quiet.options["bridge_name"])
    before_ports = sysctl(localnet)
    ep, sandbox = world.endpoint(net, {"ports": [{"host_ip": "127.0.0.1", "host_port": 8080, "container_port": 80}]})
    with_ports = sysctl(localnet)
    # A port published on 127.0.0.1 still answers there, from the host.
    published = tcp_connect_from(None, sandbox, "0.0.0.0", "127.0.0.1", 8080, 80) is not None
    # A tenant with CAP_NET_RAW probes the host's loopback ports with a SYN built by hand, sent to the
    # gateway's MAC address; the same SYN to the gateway's own address is answered (the probe works).
    bridge_mac = link(bridge)["address"]
    probe = syn_answered(sandbox, "eth0", bridge_mac, address(ep), "10.89.71.1", 5901, timeout=2)
    raw = syn_answered(sandbox, "eth0", bridge_mac, address(ep), "127.0.0.1", 5900)
    # One with CAP_NET_ADMIN gives up its own 127.0.0.1, routes it through its gateway (taking the
    # answers from it) and connects.
    in_sandbox(sandbox, "ip addr del 127.0.0.1/8 dev lo", "ip route add 127.0.0.1/32 via 10.89.71.1 dev eth0",
               "sysctl -qw net.ipv4.conf.eth0.route_localnet=1")
    connected = tcp_connect_from(sandbox, None, "127.0.0.1", "127.0.0.1", 5902, 5902, timeout=1) is not None
    ep.delete()
    after_ports = sysctl(localnet)
    reached = int(raw) + int(connected)
    figures.record(PART, "1 localhost: sandbox reaches the host's 127.0.0.1 (TCP connect, raw SYN); "
                   "route_localnet without ports", "%d; %s" % (reached, quiet_localnet), "0; 0",
                   reached == 0 and quiet_localnet == "0")
    assert probe, "the hand-built SYN gets no answer even from the gateway: the probe is broken"
    assert published
    assert not raw
    assert not connected
    assert (quiet_localnet, before_ports, with_ports, after_ports) == ("0", "0", "1", "0")


# --- finding 2: host_ip and host_binding_ipv4 ----------------------------------------------------


def test_published_ports_take_only_the_hosts_own_addresses(world, figures):
    net = world.network("web", "10.89.72.0/24")
    sandbox = world.controller.new_sandbox(world.host.sandbox_key("victim")).key
    refused = []
    with pytest.raises(errors.InvalidParameterError, match=r"^ports\[0\]\.host_ip: 198\.51\.100\.53 is not an "
                       r"address of this host.*allowed: an address assigned to one of the host's interfaces "
                       r"\(here: .*198\.18\.0\.1.*\), or none") as caught:
        net.create_endpoint("dns", sandbox, {"ports": [{"host_ip": "198.51.100.53", "host_port": 53,
                                                        "container_port": 53, "protocol": "udp"}]})
    refused.append(caught.value.param)
    with pytest.raises(errors.InvalidParameterError, match=r"^host_binding_ipv4: 169\.254\.169\.254 is not an "
                       r"address of this host") as caught:
        world.network("metadata", "10.89.73.0/24", host_binding_ipv4="169.254.169.254")
    refused.append(caught.value.param)
    assert net.endpoints() == [] and [n.name for n in world.controller.networks()] == ["web"]
    assert rules_mentioning("198.51.100.53") == [] and rules_mentioning("169.254.169.254") == []
    # Defence in depth: an address of the host's, published on, that then moves to another machine
    # takes nothing - neither the host's own connections to it nor a sandbox's.
    moving = "198.18.0.7"
    with rtnl.connect() as host_side:
        host_side.add_address(host_side.link(UPLINK).index, moving + "/24")
    ep, container = world.endpoint(net, {"ports": [{"host_ip": moving, "host_port": 8053, "container_port": 80}]})
    published = tcp_connect_from(world.outside, container, "0.0.0.0", moving, 8053, 80) == OUTSIDE_IP
    subprocess.run(["ip", "addr", "del", moving + "/24", "dev", UPLINK], check=True)
    in_sandbox(world.outside, "ip addr add %s/24 dev eth0" % moving)
    other = world.network("other", "10.89.74.0/24")
    _unused, other_sandbox = world.endpoint(other)
    from_host = tcp_connect_from(None, world.outside, "0.0.0.0", moving, 8053, 8053)
    from_sandbox = tcp_connect_from(other_sandbox, world.outside, "0.0.0.0", moving, 8053, 8053)
    hijacked = int(from_host != HOST_IP) + int(from_sandbox != HOST_IP)
    figures.record(PART, "2 host_ip: foreign addresses refused (host_ip, host_binding_ipv4); connections "
                   "hijacked once an address left", "%d; %d" % (len(refused), hijacked), "2; 0",
                   len(refused) == 2 and hijacked == 0)
    assert refused == ["ports[0].host_ip", "host_binding_ipv4"]
    assert published
    assert (from_host, from_sandbox) == (HOST_IP, HOST_IP)
    assert ep


# --- finding 3: names that reach nft, and a failed nft apply ------------------------------------

PATTERN_NAMES = ["pnt*", "@pnt", "pn\\x", 'pn"x', "pn'x", "pn\x00x", "pnt{a}", "pn$x"]


def test_names_that_reach_firewall_rules_are_literal(world, figures):
    before = (ip_json("link", "show"), rules_mentioning("pn"), store_networks(world.host.state_dir))
    refused = []
    for name in PATTERN_NAMES:
        with pytest.raises(errors.InvalidParameterError, match=r"^bridge_name: .* (is not allowed|is not a valid "
                           r"interface name).*(only ASCII letters, digits, '-', '_' and '\.'|NUL)") as caught:
            world.network("tricky", "10.89.75.0/24", bridge_name=name)
        refused.append(caught.value.param)
    assert (ip_json("link", "show"), rules_mentioning("pn"), store_networks(world.host.state_dir)) == before
    # Through the modules too: a NUL in an interface name is a clear error, not a traceback.
    state = {"state_dir": world.host.state_dir}
    network = run_module("pynet_network", dict(state, name="tricky", bridge_name="pn\x00x",
                                               ipam=[{"subnet": "10.89.75.0/24"}]))
    world.network("plain", "10.89.76.0/24")
    sandbox = world.controller.new_sandbox(world.host.sandbox_key("nul")).key
    endpoint = run_module("pynet_endpoint", dict(state, network="plain", name="nul", sandbox=sandbox,
                                                 ifname="eth\x00x"))
    clean = [result for result in (network, endpoint)
             if result.get("failed") and "Traceback" not in result["stderr"] + result.get("module_stderr", "")]
    figures.record(PART, "3 names: bridge_name patterns (* @ \\ quotes NUL ...) refused; NUL in module runs "
                   "without traceback", "%d/%d; %d/2" % (len(refused), len(PATTERN_NAMES), len(clean)),
                   "%d/%d; 2/2" % (len(PATTERN_NAMES), len(PATTERN_NAMES)),
                   len(refused) == len(PATTERN_NAMES) and len(clean) == 2)
    assert refused == ["bridge_name"] * len(PATTERN_NAMES)
    assert network["failed"] and network["msg"].startswith("bridge_name: "), network
    assert endpoint["failed"] and endpoint["msg"].startswith("ifname: "), endpoint
    assert len(clean) == 2


def test_a_failed_firewall_apply_leaves_nothing_that_poisons_later_syncs(world, figures):
    first = world.network("first", "10.89.77.0/24", internal=True)
    web = world.network("web", "10.89.80.0/24")
    sandbox = world.controller.new_sandbox(world.host.sandbox_key("web")).key
    table = world.controller.firewall_table
    block_firewall(table)
    failed = []
    with pytest.raises(errors.KernelError, match="nftables refused pynet's ruleset") as caught:
        world.network("second", "10.89.78.0/24", bridge_name="pnt-second")
    failed.append(caught.value)
    with pytest.raises(errors.KernelError, match="nftables refused pynet's ruleset") as caught:
        web.create_endpoint("published", sandbox, {"ports": [{"host_port": 8081, "container_port": 80}]})
    failed.append(caught.value)
    left = store_networks(world.host.state_dir) + ["endpoint " + ep.name for ep in web.endpoints()]
    left += [name for name in ("pnt-second", "pnv") if any(entry["ifname"].startswith(name)
                                                           for entry in ip_json("link", "show"))]
    subprocess.run(["nft", "delete", "table", "inet", table], check=True)
    # Later operations work, and the firewall holds what stands.
    ep = web.create_endpoint("published", sandbox, {"ports": [{"host_port": 8081, "container_port": 80}]})
    works = tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8081, 80) == OUTSIDE_IP
    drift = web.drift() + first.drift()
    ep.delete()
    first.delete()
    poisoned = len(left) - 2 + int(not works) + int(bool(drift))
    figures.record(PART, "3 failed nft apply (network, endpoint with a port): records, links or drift left; "
                   "later operations failing", poisoned, 0, poisoned == 0)
    assert len(failed) == 2
    assert left == ["first:ready", "web:ready"]
    assert rules_mentioning("pnt-second") == []
    assert works and drift == []
    assert store_networks(world.host.state_dir) == ["web:ready"]


# --- finding 7: IPv6 forwarding and the host's router-advertised default route -------------------


def ra_default_route(uplink):
    routes = ip_json("-6", "route", "show", "default")
    return [route for route in routes if route.get("dev") == uplink and route.get("protocol") == "ra"]


def test_ipv6_forwarding_keeps_the_hosts_router_advertised_default_route(world, figures):
    set_sysctl("net/ipv4/ip_forward", 0)
    router = world.host.sandbox_key("router")
    netns.create(router)
    set_sysctl("net/ipv6/conf/default/accept_dad", 0)
    with rtnl.connect() as host_side:
        host_side.add_veth("pnt-ra", "eth0", netns.open_fd(router))
        host_side.set_up(host_side.link("pnt-ra").index)
    with netns.entered(router):
        set_sysctl("net/ipv6/conf/eth0/accept_dad", 0)
    in_sandbox(router, "ip link set eth0 up")
    with netns.entered(router):  # the advertisement's source: sent before it exists, sendto fails
        wait_link_local_ready("eth0")
    deadline = time.monotonic() + 10
    while not ra_default_route("pnt-ra") and time.monotonic() < deadline:
        try:
            send_router_advertisement(router, "eth0")
        except OSError as exc:  # no link-local source address until the kernel's link watch brings eth0 up
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
        time.sleep(0.2)
    assert ra_default_route("pnt-ra"), "the host did not take the router advertisement"
    assert (sysctl("net/ipv6/conf/pnt-ra/accept_ra"), sysctl("net/ipv6/conf/all/forwarding")) == ("1", "0")
    original = {path: sysctl(path) for path in ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding",
                                                "net/ipv6/conf/pnt-ra/accept_ra", "net/ipv6/conf/%s/accept_ra" % UPLINK,
                                                "net/ipv6/conf/default/accept_ra")}
    net = world.network("dual", "10.89.81.0/24,fd00:89:81::/64")
    ep, _sandbox = world.endpoint(net)
    kept = bool(ra_default_route("pnt-ra"))
    bridge_ra = sysctl("net/ipv6/conf/%s/accept_ra" % net.options["bridge_name"])
    veth_ra = sysctl("net/ipv6/conf/%s/accept_ra" % ep.sandbox_info()["interfaces"][0]["src_name"])
    during = {path: sysctl(path) for path in original}
    info = run_module("pynet_info", {"state_dir": world.host.state_dir})
    # Someone else turns accept_ra off on the uplink meanwhile: pynet does not undo that.
    set_sysctl("net/ipv6/conf/%s/accept_ra" % UPLINK, 0)
    ep.delete()
    net.delete()
    after = {path: sysctl(path) for path in original}
    info_after = run_module("pynet_info", {"state_dir": world.host.state_dir})
    figures.record(PART, "7 IPv6 forwarding: RA-learned default route kept; host sysctls put back",
                   "%s; %s" % ("kept" if kept else "lost", "yes" if after == dict(
                       original, **{"net/ipv6/conf/%s/accept_ra" % UPLINK: "0"}) else "no"),
                   "kept; yes", kept and after == dict(original, **{"net/ipv6/conf/%s/accept_ra" % UPLINK: "0"}))
    assert kept
    assert during == dict(original, **{"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1",
                                       "net/ipv6/conf/pnt-ra/accept_ra": "2",
                                       "net/ipv6/conf/%s/accept_ra" % UPLINK: "2"})
    assert (bridge_ra, veth_ra) == ("0", "1")  # pynet's bridge takes no RAs; its veth has IPv6 off (and never 2)
    assert info["host_changes"] == [
        {"setting": "sysctl:net/ipv4/ip_forward", "original": "0", "value": "1"},
        {"setting": "sysctl:net/ipv6/conf/all/forwarding", "original": "0", "value": "1"},
        {"setting": "sysctl:net/ipv6/conf/pnt-ra/accept_ra", "original": "1", "value": "2"},
        {"setting": "sysctl:net/ipv6/conf/%s/accept_ra" % UPLINK, "original": "1", "value": "2"}], info
    assert after == dict(original, **{"net/ipv6/conf/%s/accept_ra" % UPLINK: "0"})
    assert info_after["host_changes"] == []


# --- finding 8: an adopted bridge ----------------------------------------------------------------


def bridge_state(name):
    found = link(name)
    addresses = sorted("%s/%s" % (entry["local"], entry["prefixlen"])
                       for entry in ip_json("addr", "show", "dev", name)[0]["addr_info"])
    return {"mtu": found["mtu"], "up": "UP" in found["flags"], "addresses": addresses,
            "disable_ipv6": sysctl("net/ipv6/conf/%s/disable_ipv6" % name),
            "accept_ra": sysctl("net/ipv6/conf/%s/accept_ra" % name),
            "route_localnet": sysctl("net/ipv4/conf/%s/route_localnet" % name)}


def test_an_adopted_bridge_is_used_as_it_is_and_given_back(world, figures):
    subprocess.run(["ip", "link", "add", "pnt-adopt", "mtu", "9000", "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", "2001:db8::10/64", "dev", "pnt-adopt", "nodad"], check=True)
    subprocess.run(["ip", "link", "set", "pnt-adopt", "up"], check=True)
    original = bridge_state("pnt-adopt")
    net = world.network("adopted", "10.89.82.0/24", bridge_name="pnt-adopt")
    ep, sandbox = world.endpoint(net, {"ports": [{"host_port": 8082, "container_port": 80}]})
    with_port = bridge_state("pnt-adopt")
    works = tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8082, 80) == OUTSIDE_IP
    ep.delete()
    in_use = bridge_state("pnt-adopt")
    net.delete()
    given_back = bridge_state("pnt-adopt")
    # An MTU the task asks for is set, recorded and put back; a bridge left down is brought up, and down again.
    subprocess.run(["ip", "link", "set", "pnt-adopt", "down"], check=True)
    sized = world.network("sized", "10.89.82.0/24", bridge_name="pnt-adopt", mtu=1400)
    sized_state = bridge_state("pnt-adopt")
    changes = run_module("pynet_info", {"state_dir": world.host.state_dir}).get("host_changes")
    sized.delete()
    resized_back = bridge_state("pnt-adopt")
    kept = original == given_back and (resized_back["mtu"], resized_back["up"]) == (9000, False)
    figures.record(PART, "8 adopted bridge: MTU 9000, IPv6 (2001:db8::10), route_localnet, link state as found "
                   "after the network goes", "yes" if kept else "no", "yes", kept)
    assert net.options["mtu"] == 9000
    assert (with_port["mtu"], with_port["up"], with_port["disable_ipv6"], with_port["route_localnet"]) == \
        (9000, True, "0", "1"), with_port
    assert {"2001:db8::10/64", "10.89.82.1/24"} <= set(with_port["addresses"]), with_port
    assert in_use["route_localnet"] == "0" and in_use["mtu"] == 9000
    assert works
    assert given_back == original
    assert (sized_state["mtu"], sized_state["up"]) == (1400, True)
    assert (resized_back["mtu"], resized_back["up"]) == (9000, False)
    # The bridge's own changes (forwarding is recorded too where the test's namespace had it off).
    assert [change for change in changes if change["setting"].endswith(":pnt-adopt")] == [
        {"setting": "mtu:pnt-adopt", "original": "9000", "value": "1400"},
        {"setting": "up:pnt-adopt", "original": "0", "value": "1"}]
    assert link("pnt-adopt") is not None


# --- finding 9: enable_icc: false through the gateway -------------------------------------------


def test_enable_icc_false_holds_through_the_gateway(world, figures):
    net = world.network("noicc", "10.89.83.0/24,fd00:89:83::/64", enable_icc=False)
    ep1, sandbox1 = world.endpoint(net)
    ep2, sandbox2 = world.endpoint(net)
    # Each tenant routes the other through the gateway, and ignores the host's redirects.
    for mine, peer in ((sandbox1, ep2), (sandbox2, ep1)):
        in_sandbox(mine, "sysctl -qw net.ipv4.conf.all.accept_redirects=0 net.ipv6.conf.all.accept_redirects=0",
                   "ip route add %s/32 via 10.89.83.1" % address(peer),
                   "ip -6 route add %s/128 via fd00:89:83::1" % address(peer, 6))
    wait_link_local_ready(net.options["bridge_name"])
    crossed = {
        "udp4": udp_roundtrip(sandbox1, sandbox2, "0.0.0.0", address(ep2), 5301, 5301, timeout=1),
        "udp6": udp_roundtrip(sandbox1, sandbox2, "::", address(ep2, 6), 5302, 5302, timeout=1),
        "tcp4": tcp_connect_from(sandbox1, sandbox2, "0.0.0.0", address(ep2), 5303, 5303, timeout=1) is not None,
        "tcp6": tcp_connect_from(sandbox1, sandbox2, "::", address(ep2, 6), 5304, 5304, timeout=1) is not None,
    }
    outside = tcp_connect_from(sandbox1, world.outside, "0.0.0.0", OUTSIDE_IP, 5305, 5305) == HOST_IP
    through = sorted(kind for kind, reached in crossed.items() if reached)
    figures.record(PART, "9 enable_icc false: endpoints reached through the gateway (UDP, TCP; v4, v6)",
                   len(through), 0, not through)
    assert through == []
    assert outside


# --- finding 12: internal networks and the host's addresses -------------------------------------


def test_internal_networks_reach_none_of_the_hosts_addresses(world, figures):
    net = world.network("private", "10.89.84.0/24,fd00:89:84::/64", internal=True)
    world.network("web", "10.89.85.0/24")
    ep, sandbox = world.endpoint(net)
    in_sandbox(sandbox, "ip route add default via 10.89.84.1", "ip -6 route add default via fd00:89:84::1")
    targets = {"gateway": "10.89.84.1", "gateway6": "fd00:89:84::1", "uplink": HOST_IP, "uplink6": HOST_IP6,
               "other gateway": "10.89.85.1"}
    reached = []
    for port, (name, target) in enumerate(sorted(targets.items()), start=5401):
        listen = "::" if ":" in target else "0.0.0.0"
        if tcp_connect_from(sandbox, None, listen, target, port, port, timeout=1) is not None:
            reached.append(name + " tcp")
        if udp_roundtrip(sandbox, None, listen, target, port, port, timeout=1):
            reached.append(name + " udp")
    # The host itself still reaches its internal sandboxes (the replies come back).
    host_reaches = [tcp_connect_from(None, sandbox, listen, target, 5410 + n, 5410 + n) is not None
                    for n, (listen, target) in enumerate((("0.0.0.0", address(ep)), ("::", address(ep, 6))))]
    figures.record(PART, "12 internal: host addresses a sandbox reaches (gateways, uplink; TCP, UDP; v4, v6)",
                   len(reached), 0, not reached)
    assert reached == []
    assert host_reaches == [True, True]


# --- finding 13: a failed creation, host firewalls, teardown groups -----------------------------


def test_a_failed_creation_leaves_no_host_setting_changed(world, figures):
    set_sysctl("net/ipv4/ip_forward", 0)
    watched = ("net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv6/conf/%s/accept_ra" % UPLINK)
    original = {path: sysctl(path) for path in watched}
    block_firewall(world.controller.firewall_table)
    with pytest.raises(errors.KernelError, match="nftables refused pynet's ruleset"):
        world.network("web", "10.89.86.0/24,fd00:89:86::/64", bridge_name="pnt-failed")
    after = {path: sysctl(path) for path in watched}
    left = store_networks(world.host.state_dir) + (["bridge pnt-failed"] if link("pnt-failed") else [])
    figures.record(PART, "13 failed creation: host sysctls left changed, records or bridges left",
                   "%d; %d" % (sum(after[path] != original[path] for path in watched), len(left)), "0; 0",
                   after == original and not left)
    assert after == original
    assert left == []


def test_published_ports_pass_the_hosts_input_rules_as_documented(world, figures):
    """A host firewall's input rule for a port (as ufw or firewalld write it) does not filter a port
    published on it: the DNAT makes it forwarded traffic. The README says so, as Docker's does."""
    net = world.network("web", "10.89.87.0/24")
    _ep, sandbox = world.endpoint(net, {"ports": [{"host_port": 8090, "container_port": 80}]})
    subprocess.run(["nft", "-f", "-"], input="table inet pnt_hostfw {\n chain input {\n  type filter hook input "
                   "priority 0; policy accept;\n  tcp dport 8090 drop\n }\n}\n", text=True, check=True)
    passes = tcp_connect_from(world.outside, sandbox, "0.0.0.0", HOST_IP, 8090, 80) == OUTSIDE_IP
    with open(os.path.join(REPO, "README.md")) as handle:
        readme = handle.read()
    section = re.search(r"^### Published ports and host firewalls\n(.*?)^#", readme, re.M | re.S)
    documented = bool(section) and "## Security" in readme and "input" in section.group(1) \
        and "DNAT" in section.group(1)
    figures.record(PART, "13 published ports pass the host's input firewall: documented in README",
                   "yes" if passes and documented else "no", "yes", passes and documented)
    assert passes
    assert documented


TEARDOWN_CHILD = """
import json, sys
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl
import os
state_dir, network, endpoint, pause = sys.argv[1:]
if pause == "pause":
    delete_group = rtnl.Connection.delete_group
    def paused(self, group):
        print("moved", flush=True)
        sys.stdin.readline()
        return delete_group(self, group)
    rtnl.Connection.delete_group = paused
print(os.getpid(), flush=True)
Controller(state_dir=state_dir).network_by_name(network).endpoint_by_name(endpoint).delete()
"""


def test_teardown_groups_do_not_collide_across_pid_namespaces(world, figures):
    net = world.network("web", "10.89.88.0/24")
    ep_a, _sandbox_a = world.endpoint(net)
    ep_b, _sandbox_b = world.endpoint(net)
    veth_b = ep_b.sandbox_info()["interfaces"][0]["src_name"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([COLLECTIONS] + sys.path))

    def child(endpoint, pause):
        # PID 1 of a PID namespace of its own, as in a container: every such process has the same PID.
        return subprocess.Popen(["unshare", "--pid", "--fork", sys.executable, "-c", TEARDOWN_CHILD,
                                 world.host.state_dir, "web", endpoint, pause],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)

    second = child(ep_b.name, "pause")
    pids = [second.stdout.readline().strip()]
    assert second.stdout.readline().strip() == "moved"  # its veth is in its teardown group
    first = child(ep_a.name, "no")
    pids.append(first.stdout.readline().strip())
    first.wait(timeout=60)
    survived = link(veth_b) is not None
    second.stdin.write("\n")
    second.stdin.flush()
    second.wait(timeout=60)
    figures.record(PART, "13 teardown groups: another PID namespace's veths deleted by a process of the same PID",
                   0 if survived else 1, 0, survived)
    assert pids == ["1", "1"]
    assert survived
    assert (first.returncode, second.returncode) == (0, 0)
    assert link(veth_b) is None and link(ep_a.sandbox_info()["interfaces"][0]["src_name"]) is None
    assert world.controller.network_by_name("web").endpoints() == []
