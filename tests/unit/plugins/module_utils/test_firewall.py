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
