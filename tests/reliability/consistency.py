"""Does the store agree with the kernel? Read from both sides independently (sqlite and ip -j),
not through the library, so a library bug cannot hide itself."""

import json
import os
import sqlite3

import pynet_testing
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

VETH_PREFIX = "pnv"
BRIDGE_ALIAS = "pynet:"


TABLES = ("networks", "endpoints", "sandboxes", "allocations", "ports", "host_changes")


def store_rows(state_dir):
    path = os.path.join(state_dir, "pynet.db")
    if not os.path.exists(path):
        return {table: [] for table in TABLES}
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    db.row_factory = sqlite3.Row
    try:
        return {table: [dict(row) for row in db.execute("SELECT * FROM " + table)] for table in TABLES}
    finally:
        db.close()


def problems(paths):
    """Every disagreement between the store and the kernel, as sentences (empty: they agree)."""
    rows = store_rows(paths.state_dir)
    found = []
    networks = {net["id"]: net for net in rows["networks"]}
    found += ["%s %s is left '%s'" % (kind, row["name"], row["state"])
              for kind in ("networks", "endpoints") for row in rows[kind] if row["state"] != "ready"]
    host_links = {link["ifname"]: link for link in pynet_testing.ip_json("-d", "link", "show")}
    made = {link.get("ifalias", "")[len(BRIDGE_ALIAS):]: name for name, link in host_links.items()
            if link.get("ifalias", "").startswith(BRIDGE_ALIAS)}
    found += ["bridge %s has no network in the store" % name for net_id, name in made.items()
              if net_id not in networks]
    # A network's bridge is the one pynet made for it, or the one of that name it adopted.
    bridges = {net_id: json.loads(net["options"])["bridge_name"] for net_id, net in networks.items()
               if net["type"] == "bridge"}
    found += ["network %s has no bridge" % networks[net_id]["name"] for net_id, name in bridges.items()
              if host_links.get(name, {}).get("linkinfo", {}).get("info_kind") != "bridge"]
    endpoints = {ep["host_ifname"]: ep for ep in rows["endpoints"] if ep["host_ifname"]}
    found += ["veth %s has no endpoint in the store" % name for name in host_links
              if name.startswith(VETH_PREFIX) and name not in endpoints]
    for host_ifname, ep in endpoints.items():
        found += _endpoint_problems(ep, host_links.get(host_ifname), bridges.get(ep["network_id"]))
    # Endpoints with no host end (a macvlan): their interface in the sandbox only.
    for ep in rows["endpoints"]:
        if not ep["host_ifname"] and ep["ifname"]:
            found += _sandbox_problems(ep)
    # The network, broadcast and gateway addresses are held by 'reserved'.
    owners = {"reserved"} | {ep["id"] for ep in rows["endpoints"]}
    found += ["address offset %s of pool %s is held by %s, which is gone" % (a["offset"], a["pool_id"], a["owner"])
              for a in rows["allocations"] if a["owner"] not in owners]
    addresses = [ep["address"] for ep in rows["endpoints"] if ep["address"]]
    found += ["address %s is given twice" % addr for addr in sorted(set(addresses)) if addresses.count(addr) > 1]
    sandboxes = {sb["key"] for sb in rows["sandboxes"]}
    found += ["netns %s is mounted but not in the store" % point for point in pynet_testing.mounts_under(paths.root)
              if point not in sandboxes]
    found += ["sandbox %s is in the store but not a netns" % key for key in sandboxes
              if not netns.is_netns(key) and any(ep["sandbox_key"] == key for ep in rows["endpoints"])]
    ruleset = pynet_testing.netns_view()["nft"]["nftables"]
    tables = [entry["table"]["name"] for entry in ruleset if "table" in entry]
    if not networks and tables:
        found.append("nftables tables %s remain with no network" % tables)
    published = {(port["protocol"], port["host_port"]) for port in rows["ports"]}
    dnat = {match for entry in ruleset if "rule" in entry for match in _dnat_ports(entry["rule"])}
    found += ["port %s/%s is published but has no DNAT rule" % (port, proto) for proto, port in published - dnat]
    found += ["a DNAT rule for %s/%s remains with no published port" % (port, proto) for proto, port in dnat - published]
    named = {json.loads(net["options"]).get("bridge_name") for net in networks.values()}
    found += ["a rule names interface %s of no network" % name
              for entry in ruleset if "rule" in entry for name in _interfaces(entry["rule"]) if name not in named]
    return found


def _matches(rule):
    return [expr["match"] for expr in rule["expr"] if "match" in expr]


def _dnat_ports(rule):
    if not any("dnat" in expr for expr in rule["expr"]):
        return []
    return [(match["left"]["payload"]["protocol"], port) for match in _matches(rule)
            if match["left"].get("payload", {}).get("field") == "dport" for port in _ports(match["right"])]


def _ports(right):
    """The ports a dport match takes: one, or a range (one rule per range)."""
    if isinstance(right, dict):
        first, last = right["range"]
        return list(range(first, last + 1))
    return [right]


def _interfaces(rule):
    names = []
    for match in _matches(rule):
        if match["left"].get("meta", {}).get("key") in ("iifname", "oifname"):
            right = match["right"]
            names += right["set"] if isinstance(right, dict) else [right]
    return names


def _endpoint_problems(ep, host_link, bridge):
    if host_link is None:
        return ["endpoint %s has no veth %s" % (ep["name"], ep["host_ifname"])]
    found = []
    if host_link.get("master") != bridge:
        found.append("veth %s is on %s, not on %s" % (ep["host_ifname"], host_link.get("master"), bridge))
    return found + _sandbox_problems(ep)


def _sandbox_problems(ep):
    """What the endpoint's sandbox lacks of it: its interface, its addresses."""
    if not netns.is_netns(ep["sandbox_key"]):
        return ["endpoint %s: sandbox %s is not a netns" % (ep["name"], ep["sandbox_key"])]
    inside = {link["ifname"]: link for link in pynet_testing.ip_json("addr", "show", key=ep["sandbox_key"])}
    link = inside.get(ep["ifname"])
    if link is None:
        return ["endpoint %s: no %s in its sandbox" % (ep["name"], ep["ifname"])]
    have = {"%s/%s" % (a["local"], a["prefixlen"]) for a in link["addr_info"] if a.get("scope") == "global"}
    want = {addr for addr in (ep["address"], ep["address_ipv6"]) if addr}
    if have != want:
        return ["endpoint %s has addresses %s, the store says %s" % (ep["name"], sorted(have), sorted(want))]
    return []


def kernel_leftovers(paths):
    """pynet objects in the test host namespace once nothing is declared: must be none."""
    left = ["link " + link["ifname"] for link in pynet_testing.ip_json("-d", "link", "show")
            if link["ifname"].startswith(("pn-", VETH_PREFIX)) or link.get("ifalias", "").startswith(BRIDGE_ALIAS)]
    left += ["mount " + point for point in pynet_testing.mounts_under(paths.root)]
    left += ["nft table " + entry["table"]["name"] for entry in pynet_testing.netns_view()["nft"]["nftables"]
             if "table" in entry]
    return left
