"""The firewall renderer: a pure function of networks and published ports."""

from __future__ import annotations

import json

from ansible_collections.pynet.libnetwork.plugins.module_utils import firewall


def network(bridge, subnet, internal=False, icc=True):
    return firewall.Interface(bridge, [subnet], internal, True, icc)


def chain(rules, name):
    return [json.dumps(expr, sort_keys=True) for _family, rule_chain, expr in rules if rule_chain == name]


def test_loopback_destinations_from_every_bridge_are_dropped_before_nat():
    rules = firewall.render_rules([network("pn-a", "10.89.1.0/24"), network("pn-b", "10.89.2.0/24", internal=True)],
                                  [])
    assert chain(rules, "prerouting_raw") == [json.dumps([
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": {"set": ["pn-a", "pn-b"]}}},
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                   "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}},
        {"drop": None}], sort_keys=True)]
    assert ("inet", "prerouting_raw", "filter", "prerouting", -300) in firewall.CHAINS


def test_enable_icc_false_drops_traffic_routed_back_to_its_bridge():
    rules = firewall.render_rules([network("pn-a", "10.89.1.0/24", icc=False), network("pn-b", "10.89.2.0/24")], [])
    same_bridge = [rule for rule in chain(rules, "forward") if rule.count('"pn-a"') == 2]
    assert same_bridge == [json.dumps([
        {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "pn-a"}},
        {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "pn-a"}},
        {"drop": None}], sort_keys=True)]
    assert not any(rule.count('"pn-b"') == 2 for rule in chain(rules, "forward"))


def test_internal_bridges_reach_no_host_address_but_replies_come_back():
    rules = firewall.render_rules([network("pn-a", "10.89.1.0/24"), network("pn-i", "10.89.2.0/24", internal=True)],
                                  [])
    verdicts = [(json.loads(rule)[0]["match"]["right"], list(json.loads(rule)[-1])[0])
                for rule in chain(rules, "input")]
    assert verdicts == [("pn-i", "accept"), ("pn-i", "accept"), ("pn-i", "drop")]
    assert chain(firewall.render_rules([network("pn-a", "10.89.1.0/24")], []), "input") == []


def test_every_dnat_matches_only_local_destinations():
    ports = [firewall.Dnat("pn-a", "tcp", host_ip, 8080, "10.89.1.2", 80) for host_ip in ("", "192.0.2.10")]
    rules = firewall.render_rules([network("pn-a", "10.89.1.0/24")], ports)
    dnats = [rule for rule in chain(rules, "prerouting") + chain(rules, "output") if "dnat" in rule]
    local = json.dumps({"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}},
                                  "right": "local"}}, sort_keys=True)
    assert len(dnats) == 4
    assert all(local in rule for rule in dnats)


def test_no_network_no_table():
    assert firewall.render_rules([], []) == []


CT_DNAT = {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}


def test_dnated_traffic_passes_isolation_but_not_internal_networks():
    published = [firewall.Dnat("pn-b", "tcp", "", 8080, "10.89.2.2", 80)]
    interfaces = [network("pn-a", "10.89.1.0/24", icc=False), network("pn-b", "10.89.2.0/24"),
                  network("pn-i", "10.89.3.0/24", internal=True)]
    forward = [expr for _family, name, expr in firewall.render_rules(interfaces, published) if name == "forward"]
    accept = forward.index([CT_DNAT, {"accept": None}])
    # The internal network's drops are those with a "!=" match: all but its own bridge.
    internal = [index for index, expr in enumerate(forward)
                if any(part.get("match", {}).get("op") == "!=" for part in expr)]
    isolation = [index for index, expr in enumerate(forward)
                 if index not in internal and expr[-1] == {"drop": None}]
    assert internal and isolation
    assert max(internal) < accept < min(isolation)
    # No published port, no accept.
    assert [CT_DNAT, {"accept": None}] not in [expr for _f, _c, expr in firewall.render_rules(interfaces, [])]


def test_hairpin_masquerade_per_subnet_of_a_publishing_bridge():
    dual = firewall.Interface("pn-a", ["10.89.1.0/24", "fd00:89:1::/64"], False, True, True)
    published = [firewall.Dnat("pn-a", "tcp", "", 8080, "10.89.1.2", 80)]
    rules = firewall.render_rules([dual, network("pn-b", "10.89.2.0/24")], published)
    hairpins = [expr for _f, name, expr in rules if name == "postrouting" and CT_DNAT in expr]
    assert hairpins == [[{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "pn-a"}},
                         {"match": {"op": "==", "left": {"payload": {"protocol": protocol, "field": "saddr"}},
                                    "right": {"prefix": {"addr": addr, "len": length}}}},
                         CT_DNAT, {"masquerade": None}]
                        for protocol, addr, length in (("ip", "10.89.1.0", 24), ("ip6", "fd00:89:1::", 64))]


def test_accepts_for_other_firewalls_match_only_interfaces():
    """iptables-nft reads interface matches (and refuses a whole table with nft's conntrack matches in it)."""
    accepts = firewall.render_accepts([network("pn-a", "10.89.1.0/24"), network("pn-i", "10.89.2.0/24", internal=True)])
    iif, oif = ({"meta": {"key": key}} for key in ("iifname", "oifname"))
    assert accepts == [[{"match": {"op": "==", "left": iif, "right": "pn-a"}}, {"accept": None}],
                       [{"match": {"op": "==", "left": oif, "right": "pn-a"}}, {"accept": None}],
                       [{"match": {"op": "==", "left": iif, "right": "pn-i"}},
                        {"match": {"op": "==", "left": oif, "right": "pn-i"}}, {"accept": None}]]


def test_anchor_commands_replace_pynets_rules_and_insert_first():
    anchors = [firewall.Anchor("ip", "filter", "DOCKER-USER", [("FORWARD", 7), ("DOCKER-USER", 9)]),
               firewall.Anchor("ip6", "filter", None, [("FORWARD", 3)])]
    accepts = [["first"], ["second"]]
    commands = firewall.anchor_commands("pynet", anchors, accepts)
    assert commands == [
        {"delete": {"rule": {"family": "ip", "table": "filter", "chain": "FORWARD", "handle": 7}}},
        {"delete": {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "handle": 9}}},
        {"insert": {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "comment": "pynet",
                             "expr": ["second"]}}},
        {"insert": {"rule": {"family": "ip", "table": "filter", "chain": "DOCKER-USER", "comment": "pynet",
                             "expr": ["first"]}}},
        {"delete": {"rule": {"family": "ip6", "table": "filter", "chain": "FORWARD", "handle": 3}}}]
    assert anchors[0].setting == "rules:ip filter DOCKER-USER"


def test_a_published_range_is_one_rule_per_chain():
    def dnats(host_ports, container_ports, address="10.89.1.2"):
        return [firewall.Dnat("pn-a", "tcp", "", host, address, container)
                for host, container in zip(host_ports, container_ports)]

    same = dnats(range(8000, 18000), range(8000, 18000))
    shifted = dnats(range(20000, 20003), range(80, 83))
    alone = dnats([30000], [90]) + dnats([30001], [91], address="10.89.1.3")  # another container: not a run
    rules = firewall.render_rules([network("pn-a", "10.89.1.0/24")], same + shifted + alone)
    prerouting = chain(rules, "prerouting")
    assert len(prerouting) == 4 and len(chain(rules, "output")) == 4
    dport = {"payload": {"protocol": "tcp", "field": "dport"}}
    first, second = (json.loads(rule)[-2:] for rule in prerouting[:2])
    assert first == [{"match": {"op": "==", "left": dport, "right": {"range": [8000, 17999]}}},
                     {"dnat": {"family": "ip", "addr": "10.89.1.2"}}]
    assert second == [{"match": {"op": "==", "left": dport, "right": {"range": [20000, 20002]}}},
                      {"dnat": {"family": "ip", "addr": "10.89.1.2", "port": {"map": {
                          "key": dport, "data": {"set": [[20000, 80], [20001, 81], [20002, 82]]}}}}}]
    assert [json.loads(rule)[-1]["dnat"]["port"] for rule in prerouting[2:]] == [90, 91]


def test_a_dual_stack_range_is_one_rule_per_ip_version():
    published = [firewall.Dnat("pn-a", "tcp", "", port, address, port)
                 for port in range(8000, 8100) for address in ("10.89.1.2", "fd00:89:1::2")]
    rules = firewall.render_rules([network("pn-a", "10.89.1.0/24")], published)
    assert len(chain(rules, "prerouting")) == 2


def test_outbound_addresses_snat_their_ip_version_and_the_other_masquerades():
    dual = firewall.Interface("pn-a", ["10.89.1.0/24", "fd00:89:1::/64", "10.89.9.0/24"], False, True, True,
                              ("192.0.2.10",))
    nat = [json.loads(rule)[-1] for rule in chain(firewall.render_rules([dual], []), "postrouting")]
    assert nat == [{"snat": {"family": "ip", "addr": "192.0.2.10"}}, {"masquerade": None},
                   {"snat": {"family": "ip", "addr": "192.0.2.10"}}]
    both = dual._replace(snat=("192.0.2.10", "2001:db8::10"))
    nat = [json.loads(rule)[-1] for rule in chain(firewall.render_rules([both], []), "postrouting")]
    assert nat[1] == {"snat": {"family": "ip6", "addr": "2001:db8::10"}}
    assert chain(firewall.render_rules([dual._replace(masquerade=False)], []), "postrouting") == []
