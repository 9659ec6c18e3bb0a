# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names for networks, as plain data, and the files rendered from it; pure functions, no I/O.

A DNS network (`DnsNetwork`) is answered by a dnsmasq of its own, listening at the network's gateway
addresses, port 53 (UDP and TCP): `dnsmasq_conf` is what that process starts with (a change needs a
restart) and `dnsmasq_hosts` the names it reads from its hostsdir, a file per record, as each file
comes or goes. One process per network is how dnsmasq keeps networks apart (one process serves the
names of all its hosts files at every address it listens on), as libvirt runs it; benchmarks/dns.py
has the figures that chose it over aardvark-dns 1.4.0.

A name held by two records of one network (an alias given to two endpoints) answers with the
addresses of both, as Docker's network aliases do; a reverse lookup answers an address's record
name. `resolv_conf` and `hosts` render the files a sandbox's runtime reads.

Everything rendered is checked first: names are DNS names, addresses are addresses, so nothing given
can add a line or an option to a file. A bad value raises InvalidParameterError naming its field.
"""

from __future__ import annotations

import collections
import hashlib
import re

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors

# RFC 1035 labels with RFC 1123's leading digit, and '_' (Docker and Podman names may hold it;
# dnsmasq answers such names).
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
NAME_MAX = 253
_NETWORK_ID = re.compile(r"^[0-9a-f]{1,64}$")
# Paths that dnsmasq's configuration parser reads back as they are: no white space, quotes, '#'
# (a comment), '\\' (an escape) or ',' (a list).
_CONF_PATH = re.compile(r"^/[A-Za-z0-9_./@+:=-]*$")
_ACCOUNT = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_RESOLV_OPTION = re.compile(r"^[a-z0-9_-]+(:[0-9]+)?$")
RESOLV_NAMESERVERS_READ = 3  # glibc's MAXNS: later nameserver lines are ignored by the resolver


class Record(collections.namedtuple("Record", "name aliases ipv4 ipv6", defaults=((), (), ()))):
    """Names (`name`, then `aliases`) and the addresses they resolve to on one network."""

    __slots__ = ()


class DnsNetwork(collections.namedtuple("DnsNetwork", "id name gateways internal upstream domain records",
                                        defaults=(False, (), None, ()))):
    """One network whose names are served at its gateways.

    `upstream`: resolvers that other names are forwarded to; empty means the host's, read by dnsmasq
    from /etc/resolv.conf (and re-read when it changes). `internal`: nothing is forwarded, other names
    are answered NXDOMAIN. `domain`: names are also answered with it appended, and names under it are
    never forwarded. (Named tuples: dataclasses' import costs a process exec'd per call, such as the
    CNI plugin, about 10 ms.)"""

    __slots__ = ()


def check_dns_name(param, value):
    """`value` as a DNS name in lower case (names are case-insensitive), or InvalidParameterError."""
    if isinstance(value, str):
        lowered = value.lower().rstrip(".") if value != "." else ""
        if lowered and len(lowered) <= NAME_MAX and all(_LABEL.match(label) for label in lowered.split(".")):
            return lowered
    raise errors.InvalidParameterError(param, "%r is not a DNS name: dot-separated labels of 1 to 63 letters, "
                                       "digits, '-' and '_', not starting or ending with '-', at most %d "
                                       "characters in all" % (value, NAME_MAX))


def is_dns_name(value):
    try:
        check_dns_name("name", value)
    except errors.InvalidParameterError:
        return False
    return True


def endpoint_record(name, aliases, ipv4, ipv6):
    """The Record of an endpoint (its addresses as CIDRs or None): its name, unless that is no DNS name
    (a CNI attachment's `cni.<container id>.<ifname>` is not), and its aliases; None when it has no
    DNS name at all, or no address."""
    names = [check_dns_name("name", name)] if is_dns_name(name) else []
    names += [alias for alias in aliases if alias not in names]
    found = tuple(cidr.split("/")[0] for cidr in (ipv4, ipv6) if cidr)
    if not names or not found:
        return None
    return Record(names[0], tuple(names[1:]), tuple(a for a in found if ":" not in a), tuple(a for a in found if ":" in a))


def check_address(param, value, version=None):
    """`value` as a normalised IP address string (of `version` when given), or InvalidParameterError."""
    try:
        address = addresses.address(value)
    except ValueError:
        address = None
    if address is None or (version is not None and address.version != version):
        raise errors.InvalidParameterError(param, "%r is not an IPv%s address" % (value, version or "4 or IPv6"))
    return str(address)


def check_conf_path(param, value):
    if not isinstance(value, str) or not _CONF_PATH.match(value):
        raise errors.InvalidParameterError(param, "%r cannot be given to dnsmasq: an absolute path of letters, "
                                           "digits and _ . / @ + : = - only" % (value,))
    return value


def _checked_account(param, name):
    if not isinstance(name, str) or not _ACCOUNT.match(name):
        raise errors.InvalidParameterError(param, "%r is not a user or group name" % (name,))
    return name


def _checked_network(network):
    """(id, gateways, upstream, domain) of `network`, checked."""
    if not isinstance(network.id, str) or not _NETWORK_ID.match(network.id):
        raise errors.InvalidParameterError("id", "%r is not a network id: 1 to 64 lower-case hex digits"
                                           % (network.id,))
    gateways = [check_address("gateways", gateway) for gateway in network.gateways]
    if not gateways:
        raise errors.InvalidParameterError("gateways", "network %s has no gateway address to answer at"
                                           % network.name)
    upstream = [check_address("dns_servers", server) for server in network.upstream]
    domain = None if network.domain is None else check_dns_name("domain", network.domain)
    return network.id, gateways, upstream, domain


def dnsmasq_conf(network, hosts_dir, pid_path, user, group):
    """The configuration file of the network's dnsmasq (read once, at its start, as root); it then runs
    as `user` and `group` (names of the host's)."""
    network_id, gateways, upstream, domain = _checked_network(network)
    lines = ["# pynet: the names of network %s; rendered from pynet's store, do not edit" % network_id,
             "port=53",
             # Sockets on the gateways only (never the wildcard, which would take port 53 from the other
             # networks' processes), made when each address appears: an IPv6 gateway is not there yet
             # while it is tentative (DAD), nor any gateway while its bridge is being rebuilt.
             "bind-dynamic"]
    lines += ["listen-address=%s" % gateway for gateway in gateways]
    lines += ["no-hosts",
              # Names in a directory that dnsmasq watches (inotify): a hosts file replaced there is reread
              # at once, the names it no longer has dropped, with no signal.
              "hostsdir=%s" % check_conf_path("directory", hosts_dir),
              "pid-file=%s" % check_conf_path("directory", pid_path),
              # Not root: dnsmasq binds its sockets (and writes its pid file) as root, then drops to this
              # user, keeping only CAP_NET_BIND_SERVICE for bind-dynamic; the hosts file, reread on each
              # change, is readable by that user.
              "user=%s" % _checked_account("user", user),
              "group=%s" % _checked_account("group", group),
              # Names of this network answer with TTL 0 (dnsmasq's default, said here because it matters):
              # a removed endpoint's name must not outlive it in a client's cache.
              "local-ttl=0",
              # A single-label name that is not one of ours is a typo or another network's name: never
              # sent upstream.
              "domain-needed"]
    if domain:
        lines += ["domain=%s" % domain, "expand-hosts", "local=/%s/" % domain]
    if network.internal:
        lines += ["no-resolv", "local=/#/"]
    elif upstream:
        lines += ["no-resolv"] + ["server=%s" % server for server in upstream]
    return "\n".join(lines) + "\n"


def dnsmasq_hosts(network):
    """The network's names as the files of its server's hostsdir, {file name: text}: one file per record
    (`record_file`), so that an endpoint made or removed is one small file written or removed, which
    dnsmasq reads alone (a file of all names is reread whole at each change, in time that grows faster
    than the names)."""
    _checked_network(network)
    return dict(record_file(record) for record in network.records)


def record_file(record):
    """(file name, text) of one record in a hostsdir: a line per address, the address, the record's name,
    then its aliases (dnsmasq answers a reverse lookup with the first name of the address's line); named
    by a digest of the text, so a record's file is found again from the record alone (addresses are
    unique in a network, so no two records have one text)."""
    text = "\n".join(_host_lines([record])) + "\n"
    return hashlib.sha256(text.encode()).hexdigest()[:32], text


def resolv_conf(nameservers, search=(), options=()):
    """A sandbox's resolv.conf: a nameserver line per address (the gateway of each DNS network the
    sandbox is on; glibc reads the first three), the search domains, the resolver options (such as
    `ndots:0`, `edns0`)."""
    lines = ["# pynet: rendered from pynet's store, do not edit"]
    lines += ["nameserver %s" % check_address("nameservers", server) for server in nameservers]
    if search:
        lines.append("search " + " ".join(check_dns_name("search", domain) for domain in search))
    for option in options:
        if not isinstance(option, str) or not _RESOLV_OPTION.match(option):
            raise errors.InvalidParameterError("options", "%r is not a resolver option such as ndots:0 or edns0"
                                               % (option,))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def hosts(records):
    """A sandbox's hosts file: loopback names as Docker writes them, then the sandbox's own names
    (its records on every network it is on), one line per address."""
    lines = ["# pynet: rendered from pynet's store, do not edit",
             "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback",
             "fe00::0\tip6-localnet",
             "ff00::0\tip6-mcastprefix",
             "ff02::1\tip6-allnodes",
             "ff02::2\tip6-allrouters"] + _host_lines(records)
    return "\n".join(lines) + "\n"


def _host_lines(records):
    """Hosts-file lines of records: per address, the address, the record's name, then its aliases."""
    lines = []
    for record in records:
        names = [check_dns_name("name", record.name)] + [check_dns_name("aliases", alias) for alias in record.aliases]
        addresses = [*(check_address("address", address, 4) for address in record.ipv4),
                     *(check_address("address_ipv6", address, 6) for address in record.ipv6)]
        lines += ["%s\t%s" % (address, " ".join(names)) for address in addresses]
    return lines
