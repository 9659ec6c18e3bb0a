# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall as a function of the store: pynet's own nftables tables, rendered whole.

`inet pynet` holds masquerading, published ports (DNAT), isolation between networks, the
forward drop of enable_icc: false (traffic routed back to its bridge through the gateway; the
bridge's port isolation stops the rest), and what protects the host from its tenants: nothing
addressed to 127.0.0.0/8 comes in through a bridge, and internal networks reach none of the
host's addresses; published ports reached from sandboxes through the host's addresses (hairpin,
masqueraded when they go back out of the bridge they came in on, and let through isolation). Each
render replaces the table's rules in one transaction; the one other place pynet writes is
iptables-nft's filter tables, whose forward chains get accept rules for pynet's bridges (in the same
transaction) so that a DROP policy there (Docker's) does not drop pynet's traffic. With no network,
the table and those rules are gone. A range of published ports is one rule.

What it renders are typed inputs that the drivers give for their networks (as netavark's
SetupNetwork): an Interface per network that has one on the host, a Dnat per published host port.
Nothing here knows a network type or an option name.
"""

from __future__ import annotations

import collections

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, host_changes
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import nftables
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import state_directory

TABLE = "pynet"
# family, chain name, type, hook, priority
CHAINS = (
    # At raw priority: it sees a packet's destination before any NAT does.
    ("inet", "prerouting_raw", "filter", "prerouting", -300),
    ("inet", "input", "filter", "input", 0),
    ("inet", "forward", "filter", "forward", 0),
    ("inet", "prerouting", "nat", "prerouting", -100),
    ("inet", "output", "nat", "output", -100),
    ("inet", "postrouting", "nat", "postrouting", 100),
)
FAMILIES = ("inet",)
LOOPBACK_NET = "127.0.0.0/8"
_PROTOCOL = {4: "ip", 6: "ip6"}  # nftables' payload protocol of an IP version
_CT_DNAT = {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}  # DNATed by conntrack


class Interface(collections.namedtuple("Interface", "name subnets internal masquerade icc snat dns",
                                       defaults=((), ()))):
    """A network's interface on the host (a bridge) with its subnets (CIDRs): whether the network is
    internal, masquerades what leaves for elsewhere, and lets its endpoints reach each other; `snat` the
    host addresses that leaving traffic takes instead of the outgoing interface's (none: masquerade);
    `dns` the addresses (its gateways) where the host answers its names on port 53, to it alone."""

    __slots__ = ()


class Dnat(collections.namedtuple("Dnat", "interface protocol host_ip host_port address container_port")):
    """A published port: host_ip '' for every address, `address` the container's (no prefix)."""

    __slots__ = ()


# Other firewalls' chains whose policy or rules may drop what pynet forwards: iptables-nft's filter tables
# (Docker sets FORWARD's policy to DROP, ufw too by default). pynet accepts its bridges' traffic in
# DOCKER-USER, which Docker runs first and never flushes, or else in FORWARD, with rules iptables-nft can
# read (only interface matches: it cannot read nft's native conntrack matches, and would refuse the whole
# table); its own table decides the rest (isolation, internal networks).
FOREIGN_TABLES = (("ip", "filter"), ("ip6", "filter"))
FOREIGN_CHAINS = ("DOCKER-USER", "FORWARD")


class Anchor(collections.namedtuple("Anchor", "family table chain ours")):
    """An iptables-nft filter table: the chain where pynet accepts its traffic (None: it has neither), and
    the (chain, handle) of each rule of pynet's there now."""

    __slots__ = ()

    @property
    def setting(self) -> str:
        """Its name among the host's changes (host_changes.py)."""
        return host_changes.setting(host_changes.RULES, "%s %s %s" % (self.family, self.table, self.chain))


def table_name(state_dir: str, default_state_dir: str) -> str:
    """`pynet` for the default state directory, `pynet_<8 hex of its path>` for another: the path as
    the store resolves it (which refuses a symlink in it), so that one directory has one table."""
    path = state_directory(state_dir)
    if path == state_directory(default_state_dir):
        return TABLE
    import hashlib  # pylint: disable=import-outside-toplevel  # only a state directory of its own needs it
    return "%s_%s" % (TABLE, hashlib.sha256(path.encode()).hexdigest()[:8])


def _match(left: object, right: object, op: str = "==") -> dict:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> dict:
    return {"meta": {"key": key}}


def _prefix(cidr: str) -> dict:
    address, length = cidr.split("/")
    return {"prefix": {"addr": address, "len": int(length)}}


def _saddr(cidr: str) -> dict:
    return {"payload": {"protocol": _PROTOCOL[addresses.version(cidr)], "field": "saddr"}}


def _daddr(cidr: str) -> dict:
    return {"payload": {"protocol": _PROTOCOL[addresses.version(cidr)], "field": "daddr"}}


def _one_or_set(names: list[str]) -> str | dict:
    return names[0] if len(names) == 1 else {"set": names}


def render_rules(interfaces: list[Interface], dnats: list[Dnat]) -> list[tuple[str, str, list]]:
    """The rules, as (family, chain, [expressions]), for these Interfaces and Dnats."""
    rules = []
    bridges = [net.name for net in interfaces]
    if bridges:
        # The host's loopback services are not the tenants' (CVE-2020-8558): route_localnet, which
        # published ports on 127.0.0.1 need, would otherwise let such packets in.
        rules.append(("inet", "prerouting_raw", [_match(_meta("iifname"), _one_or_set(bridges)),
                                                 _match(_daddr(LOOPBACK_NET), _prefix(LOOPBACK_NET)),
                                                 {"drop": None}]))
    rules.extend(_dns_rules(interfaces))
    rules.extend(_input_rules([net.name for net in interfaces if net.internal]))
    for net in interfaces:
        if net.internal:
            rules.append(("inet", "forward", [_match(_meta("iifname"), net.name),
                                              _match(_meta("oifname"), net.name, "!="), {"drop": None}]))
            rules.append(("inet", "forward", [_match(_meta("oifname"), net.name),
                                              _match(_meta("iifname"), net.name, "!="), {"drop": None}]))
    if dnats:
        # A published port is reached through the host's addresses from every network that is not
        # internal, as from elsewhere (netavark 2.1 too): what was DNATed passes the drops below.
        rules.append(("inet", "forward", [_CT_DNAT, {"accept": None}]))
    for net in interfaces:
        bridge = net.name
        if not net.icc:
            # Port isolation stops traffic between the bridge's ports; this stops it routed through the gateway.
            rules.append(("inet", "forward", [_match(_meta("iifname"), bridge), _match(_meta("oifname"), bridge),
                                              {"drop": None}]))
        others = [other for other in bridges if other != bridge]
        if others:
            rules.append(("inet", "forward", [_match(_meta("iifname"), bridge),
                                              _match(_meta("oifname"), {"set": others}), {"drop": None}]))
        if net.masquerade and not net.internal:
            for subnet in net.subnets:
                rules.append(("inet", "postrouting", [_match(_saddr(subnet), _prefix(subnet)),
                                                      _match(_meta("oifname"), bridge, "!="),
                                                      _source_nat(subnet, net.snat)]))
    published_bridges = sorted({dnat.interface for dnat in dnats})
    for bridge in published_bridges:
        # Connections to a published port on 127.0.0.1 leave through the bridge from 127.0.0.1.
        rules.append(("inet", "postrouting", [_match(_meta("oifname"), bridge),
                                              _match(_saddr(LOOPBACK_NET), _prefix(LOOPBACK_NET)),
                                              {"masquerade": None}]))
        # Hairpin: a sandbox that reaches its own or a peer's published port through the host's address
        # is masqueraded to the gateway, so the reply comes back through the host to be un-NATed (a peer
        # would answer it directly, bridged past netfilter; the sandbox itself would take its own address
        # as a martian source).
        for subnet in next(net.subnets for net in interfaces if net.name == bridge):
            rules.append(("inet", "postrouting", [_match(_meta("oifname"), bridge),
                                                  _match(_saddr(subnet), _prefix(subnet)),
                                                  _CT_DNAT, {"masquerade": None}]))
    for run in _runs(dnats):
        for chain in ("prerouting", "output"):
            rules.append(("inet", chain, _dnat(run)))
    return rules


def _runs(dnats: list[Dnat]) -> list[list[Dnat]]:
    """The Dnats in runs of consecutive host ports (a published range) that go to one container address
    on consecutive ports of the same protocol, host address and bridge: one rule for each run."""
    runs, open_runs = [], {}  # open_runs: the run a Dnat would continue, by that Dnat
    for dnat in sorted(dnats, key=lambda dnat: (dnat.protocol, dnat.host_ip, dnat.address, dnat.host_port)):
        run = open_runs.pop(dnat, None)
        if run is None:
            run = []
            runs.append(run)
        run.append(dnat)
        open_runs[dnat._replace(host_port=dnat.host_port + 1, container_port=dnat.container_port + 1)] = run
    return runs


def _source_nat(subnet: str, snat: tuple) -> dict:
    """SNAT to the host address of the subnet's IP version among `snat`, or masquerade without one."""
    version = addresses.version(subnet)
    for address in snat:
        if addresses.version(address) == version:
            return {"snat": {"family": _PROTOCOL[version], "addr": address}}
    return {"masquerade": None}


def _dns_rules(interfaces: list[Interface]) -> list[tuple[str, str, list]]:
    """A network's DNS server (dnsmasq at its gateways, port 53, UDP and TCP) answers that network's
    bridge, internal networks' included, and nothing else: not other networks' sandboxes (which reach
    the host's addresses through their own gateway), not other hosts."""
    rules = []
    served = {4: [], 6: []}
    for net in interfaces:
        for version in (4, 6):
            gateways = [address for address in net.dns if addresses.version(address) == version]
            if gateways:
                served[version] += gateways
                rules.append(("inet", "input", [_match(_meta("iifname"), net.name),
                                                _match(_daddr(gateways[0]), _one_or_set(gateways)),
                                                _match(_meta("l4proto"), {"set": ["tcp", "udp"]}),
                                                _match({"payload": {"protocol": "th", "field": "dport"}}, 53),
                                                {"accept": None}]))
    for version in (4, 6):
        if served[version]:
            rules.append(("inet", "input", [_match(_daddr(served[version][0]), _one_or_set(served[version])),
                                            _match(_meta("l4proto"), {"set": ["tcp", "udp"]}),
                                            _match({"payload": {"protocol": "th", "field": "dport"}}, 53),
                                            {"drop": None}]))
    return rules


def _input_rules(internal_bridges: list[str]) -> list[tuple[str, str, list]]:
    """Internal networks reach none of the host's addresses, their gateways included, but for the
    replies to connections the host opened and the neighbour discovery those need."""
    if not internal_bridges:
        return []
    bridges = _one_or_set(internal_bridges)
    rules = [("inet", "input", [_match(_meta("iifname"), bridges),
                                _match({"ct": {"key": "state"}}, ["established", "related"], "in"), {"accept": None}]),
             ("inet", "input", [_match(_meta("iifname"), bridges),
                                _match({"payload": {"protocol": "icmpv6", "field": "type"}},
                                       {"set": ["nd-neighbor-solicit", "nd-neighbor-advert"]}), {"accept": None}])]
    # What pynet itself serves on an internal network's gateway (DNS) is accepted before: _dns_rules.
    rules.append(("inet", "input", [_match(_meta("iifname"), bridges), {"drop": None}]))
    return rules


def _dnat(run: list[Dnat]) -> list[dict]:
    """The rule of a run of Dnats: its host ports as a range, and the container's port from a map
    (none for a range published on the same ports: the DNAT keeps the port)."""
    dnat, last = run[0], run[-1]
    family = _PROTOCOL[addresses.version(dnat.address)]
    if dnat.host_ip:
        expr = [_match({"payload": {"protocol": family, "field": "daddr"}}, dnat.host_ip)]
    else:
        expr = [_match({"meta": {"key": "nfproto"}}, "ipv6" if family == "ip6" else "ipv4")]
    # Only the host's own addresses: a host_ip that has left the host never takes traffic to
    # whichever machine holds it now.
    expr.append(_match({"fib": {"result": "type", "flags": ["daddr"]}}, "local"))
    dport = {"payload": {"protocol": dnat.protocol, "field": "dport"}}
    if len(run) == 1:
        expr.append(_match(dport, dnat.host_port))
        expr.append({"dnat": {"family": family, "addr": dnat.address, "port": dnat.container_port}})
        return expr
    expr.append(_match(dport, {"range": [dnat.host_port, last.host_port]}))
    if dnat.host_port == dnat.container_port:
        expr.append({"dnat": {"family": family, "addr": dnat.address}})
    else:
        ports = [[each.host_port, each.container_port] for each in run]
        expr.append({"dnat": {"family": family, "addr": dnat.address,
                              "port": {"map": {"key": dport, "data": {"set": ports}}}}})
    return expr


def render_accepts(interfaces: list[Interface]) -> list[list]:
    """What another firewall's forward chain must accept for pynet (as expressions): all that enters or
    leaves a network's bridge (pynet's table does the dropping), and within an internal network's bridge
    (bridged traffic passes there when br_netfilter is on)."""
    accepts = []
    for net in interfaces:
        if net.internal:
            accepts.append([_match(_meta("iifname"), net.name), _match(_meta("oifname"), net.name), {"accept": None}])
        else:
            accepts.append([_match(_meta("iifname"), net.name), {"accept": None}])
            accepts.append([_match(_meta("oifname"), net.name), {"accept": None}])
    return accepts


def anchor_commands(table: str, anchors: list[Anchor], accepts: list[list]) -> list[dict]:
    """nft JSON commands that replace pynet's rules in the anchors' chains with `accepts` (marked with the
    comment `table`, so that each state directory knows its own), first in the chain."""
    commands = []
    for anchor in anchors:
        for chain, handle in anchor.ours:
            commands.append({"delete": {"rule": {"family": anchor.family, "table": anchor.table, "chain": chain,
                                                 "handle": handle}}})
        if anchor.chain is None:
            continue
        for expr in reversed(accepts):  # each insert goes first
            commands.append({"insert": {"rule": {"family": anchor.family, "table": anchor.table,
                                                 "chain": anchor.chain, "comment": table, "expr": expr}}})
    return commands


def find_anchors(table: str) -> list[Anchor]:
    """The iptables-nft filter tables on the host, each with its chain for pynet's accepts and the
    rules pynet (the store whose table is `table`) has there."""
    anchors = []
    for family, name in FOREIGN_TABLES:
        listed = nftables.list_table(family, name)
        if listed is None:
            continue
        chains = {item["chain"]["name"] for item in listed if "chain" in item}
        ours = [(item["rule"]["chain"], item["rule"]["handle"]) for item in listed
                if "rule" in item and item["rule"].get("comment") == table]
        anchors.append(Anchor(family, name, next((chain for chain in FOREIGN_CHAINS if chain in chains), None), ours))
    return anchors


def ruleset_commands(table: str, rules: list[tuple[str, str, list]]) -> list[dict]:
    """nft JSON commands that make the table hold exactly `rules` (or remove it if there are none)."""
    commands = []
    if not rules:
        for family in FAMILIES:  # add first: deleting a table that is not there is an error
            commands.append({"add": {"table": {"family": family, "name": table}}})
            commands.append({"delete": {"table": {"family": family, "name": table}}})
        return commands
    for family in FAMILIES:
        commands.append({"add": {"table": {"family": family, "name": table}}})
        commands.append({"flush": {"table": {"family": family, "name": table}}})
    for family, name, kind, hook, priority in CHAINS:
        commands.append({"add": {"chain": {"family": family, "table": table, "name": name, "type": kind,
                                           "hook": hook, "prio": priority, "policy": "accept"}}})
    for family, chain, expr in rules:
        commands.append({"add": {"rule": {"family": family, "table": table, "chain": chain, "expr": expr}}})
    return commands


def apply(table: str, rules: list[tuple[str, str, list]], anchors: list[Anchor] = (),
          accepts: list[list] = ()) -> None:
    """The table, and pynet's accepts in the anchors' chains (none when `rules` are none), in one transaction."""
    nftables.apply(ruleset_commands(table, rules) + anchor_commands(table, anchors, list(accepts) if rules else []))


def drift(table: str, rules: list[tuple[str, str, list]], accepts: list[list] = ()) -> list[str]:
    """How the kernel's tables differ from `rules`, and the anchors' chains from `accepts`, as sentences
    (empty: they match): a chain missing, or holding another number of rules."""
    found = []
    for anchor in find_anchors(table):
        wanted = len(accepts) if rules and anchor.chain else 0
        have = sum(1 for chain, _handle in anchor.ours if chain == anchor.chain)
        if have != wanted or len(anchor.ours) != have:
            found.append("%s %s %s holds %d of pynet's rules, not %d" % (
                anchor.family, anchor.table, anchor.chain or "(with neither %s)" % " nor ".join(FOREIGN_CHAINS),
                len(anchor.ours), wanted))
    for family in FAMILIES:
        listed = nftables.list_table(family, table)
        if not rules:
            if listed is not None:
                found.append("nftables table %s %s is left over" % (family, table))
            continue
        if listed is None:
            found.append("nftables table %s %s is missing" % (family, table))
            continue
        chains = {item["chain"]["name"] for item in listed if "chain" in item}
        for chain_family, chain, _kind, _hook, _priority in CHAINS:
            if chain_family != family:
                continue
            if chain not in chains:
                found.append("nftables table %s %s has no chain %s" % (family, table, chain))
                continue
            wanted = sum(1 for rule_family, rule_chain, _expr in rules if (rule_family, rule_chain) == (family, chain))
            have = sum(1 for item in listed if "rule" in item and item["rule"]["chain"] == chain)
            if have != wanted:
                found.append("nftables table %s %s has %d rules in chain %s, not %d"
                             % (family, table, have, chain, wanted))
    return found
