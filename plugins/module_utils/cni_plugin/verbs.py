# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ADD, DEL, CHECK, GC and STATUS through pynet's library: an attachment (CNI_CONTAINERID, CNI_IFNAME)
is an endpoint of the pynet network the config names, owned by records.OWNER_CNI and recorded with its
container id and ifname, in the netns the runtime made (CNI_NETNS), which the library adopts and
forgets with its last endpoint. Its name, `cni.<container id>.<ifname>` (a digest of the two where
they make no name), is only for people: the library finds an attachment by (container id, ifname).

Errors name the CNI field or variable at fault (runtimeConfig.portMappings[0].hostPort, CNI_NETNS),
not the library's parameter.
"""

from __future__ import annotations

import fcntl
import re
import socket
import sqlite3
import struct

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin import protocol
from ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin.protocol import CniError
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import OWNER_CNI
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import DEFAULT_STATE_DIR

SIOCGIFHWADDR = 0x8927
DEFAULT_ROUTES = {4: "0.0.0.0/0", 6: "::/0"}
# runtimeConfig.portMappings' keys (CONVENTIONS.md) and pynet's `ports` keys.
PORT_KEYS = (("hostPort", "host_port"), ("containerPort", "container_port"), ("protocol", "protocol"),
             ("hostIP", "host_ip"))
DNS_LISTS = ("nameservers", "search", "options")
ATTACHMENT_PREFIX = "cni."
# pynet's endpoint names (options.check_name): 1 to 128 of these characters.
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
HASHED_LENGTH = 56  # hex digits of sha256 for a (container id, ifname) that makes no readable name


def run(call):
    """The verb's Result (for ADD) or None; a CniError for what the runtime must hear."""
    try:
        return VERBS[call.command](call)
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise CniError(protocol.TRY_AGAIN_LATER, "state_dir: pynet's store stayed busy: %s" % exc) from None
        raise


# --- the verbs --------------------------------------------------------------------------------------


def add(call):
    controller = _controller(call)
    network = _network(controller, call)
    if not controller.driver(network.type).gives_interface:
        raise CniError(protocol.INVALID_CONFIG, "name: network %s is a %s network, which gives containers no "
                       "interface; attach them to a bridge network" % (network.name, network.type))
    options, fields = _endpoint_options(call, network)
    dns = _dns(call.config.get("dns") or {})
    try:
        endpoint = network.create_endpoint(attachment_name(call.container_id, call.ifname), call.netns, options,
                                           owner=OWNER_CNI, container_id=call.container_id)
    except errors.PynetError as exc:
        raise _refusal(exc, call, network, fields) from None
    return _merged(call.config.get("prevResult"), _result(call, network, endpoint, dns))


def delete(call):
    """Idempotent: an unknown network or attachment, or no CNI_NETNS, is success."""
    endpoint = _attachment(_controller(call), call)
    if endpoint is not None:
        endpoint.delete()


def check(call):
    prev = call.config.get("prevResult")
    if not prev:
        raise CniError(protocol.INVALID_CONFIG, "prevResult: required for CHECK (the Result of the ADD)")
    controller = _controller(call)
    _network(controller, call)
    endpoint = _attachment(controller, call)
    if endpoint is None:
        raise CniError(protocol.UNKNOWN_CONTAINER, "CNI_CONTAINERID, CNI_IFNAME: network %s has no attachment of "
                       "container %s on %s" % (call.network_name, call.container_id, call.ifname))
    drift = list(endpoint.drift())
    if endpoint.sandbox_key != call.netns:
        drift.append("the attachment is in netns %s, not CNI_NETNS %s" % (endpoint.sandbox_key, call.netns))
    interface = endpoint.sandbox_info()["interfaces"][0]
    held = {address for address in (interface["address"], interface["address_ipv6"]) if address}
    listed = _listed_addresses(prev, call)
    if listed != held:
        drift.append("prevResult lists %s for %s, the attachment holds %s"
                     % (", ".join(sorted(listed)) or "no address", call.ifname, ", ".join(sorted(held))))
    if drift:
        raise CniError(protocol.DRIFT, "attachment of container %s on %s: %s" % (call.container_id, call.ifname,
                                                                                 "; ".join(drift)))


def gc(call):
    """Remove this network's attachments that are not in cni.dev/valid-attachments; go on past a
    failure and report them all."""
    valid = protocol.gc_attachments(call.config)
    controller = _controller(call)
    try:
        network = controller.network_by_name(call.network_name)
    except errors.UnknownNetworkError:
        return
    failures = []
    for endpoint in network.endpoints_owned(OWNER_CNI):
        if (endpoint.container_id, endpoint.ifname) not in valid:
            try:
                endpoint.delete()
            except (errors.PynetError, OSError) as exc:
                failures.append("%s: %s" % (endpoint.name, exc))
    if failures:
        raise CniError(protocol.REFUSED, "GC: %d stale attachment(s) of network %s were not removed"
                       % (len(failures), network.name), "; ".join(failures))


def status(call):
    """Code 50 when an ADD cannot succeed: the store unusable, the network missing or a pool exhausted."""
    try:
        controller = Controller(_state_dir(call), create=False)
        network = controller.network_by_name(call.network_name)
        exhausted = [version for version in sorted({pool.version for pool in network.pools()})
                     if not network.has_free_address(version)]
    except errors.UnknownNetworkError:
        raise CniError(protocol.NOT_AVAILABLE, "name: no pynet network %s in %s"
                       % (call.network_name, _state_dir(call))) from None
    except (errors.PynetError, sqlite3.Error, OSError) as exc:
        raise CniError(protocol.NOT_AVAILABLE, "state_dir: pynet's store in %s is unusable: %s"
                       % (_state_dir(call), exc)) from None
    if exhausted:
        raise CniError(protocol.NOT_AVAILABLE, "name: network %s has no free %s address: its pool is exhausted"
                       % (network.name, " or ".join("IPv%d" % version for version in exhausted)))


VERBS = {"ADD": add, "DEL": delete, "CHECK": check, "GC": gc, "STATUS": status}


# --- the library ---------------------------------------------------------------------------------


def _state_dir(call):
    return call.state_dir or DEFAULT_STATE_DIR


def _controller(call):
    try:
        return Controller(_state_dir(call), create=False)
    except errors.PynetError as exc:
        raise CniError(protocol.INVALID_CONFIG, str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise CniError(protocol.REFUSED, "state_dir: pynet's store in %s is unusable: %s"
                       % (_state_dir(call), exc)) from None


def _network(controller, call):
    try:
        return controller.network_by_name(call.network_name)
    except errors.UnknownNetworkError:
        raise CniError(protocol.INVALID_CONFIG, "name: no pynet network %s in %s; create it first (the "
                       "pynet_network module, or the library's new_network)"
                       % (call.network_name, controller.state_dir)) from None


def _attachment(controller, call):
    """The attachment's endpoint, or None when its network or the endpoint is not there."""
    try:
        return controller.network_by_name(call.network_name).endpoint_by_attachment(call.container_id, call.ifname)
    except (errors.UnknownNetworkError, errors.UnknownEndpointError):
        return None


def attachment_name(container_id, ifname):
    """The endpoint name of an attachment, one per (container id, ifname): readable where it fits a name
    and the container id has no '.' (which would make two pairs one name), else a digest of the pair."""
    name = "%s%s.%s" % (ATTACHMENT_PREFIX, container_id, ifname)
    if ENDPOINT_NAME.match(name) and "." not in container_id:
        return name
    import hashlib  # pylint: disable=import-outside-toplevel  # only ids longer than ~110 characters need it
    return ATTACHMENT_PREFIX + hashlib.sha256(("%s/%s" % (container_id, ifname)).encode()).hexdigest()[:HASHED_LENGTH]


def _endpoint_options(call, network):
    """pynet endpoint options from the call, and which CNI field each came from (for errors)."""
    options, fields = {"ifname": call.ifname}, {"ifname": "CNI_IFNAME", "sandbox": "CNI_NETNS"}
    field, requested = "runtimeConfig.ips", call.runtime_config.get("ips")
    if requested is None and call.args.get("IP"):
        field, requested = "CNI_ARGS IP", call.args["IP"].split(",")
    for address in _addresses(field, requested, network):
        param = "ip" if address.version == 4 else "ipv6"
        if param in options:
            raise CniError(_code_of(field), "%s: two IPv%d addresses; pynet gives an attachment one address "
                           "per IP version" % (field, address.version))
        options[param], fields[param] = str(address.ip), field
    field, mac = "runtimeConfig.mac", call.runtime_config.get("mac")
    if mac is None and call.args.get("MAC"):
        field, mac = "CNI_ARGS MAC", call.args["MAC"]
    if mac is not None:
        options["mac"], fields["mac"] = mac, field
    mappings = call.runtime_config.get("portMappings")
    if mappings:
        options["ports"] = _ports(mappings)
    return options, fields


def _addresses(field, requested, network):
    """Requested addresses ("<ip>[/<prefix>]"); a prefix must be that of the pool holding the address."""
    if requested is None:
        return []
    import ipaddress  # pylint: disable=import-outside-toplevel  # 3 ms, for the few calls that ask for addresses
    if not isinstance(requested, list) or not all(isinstance(item, str) for item in requested):
        raise CniError(protocol.INVALID_CONFIG, "%s: must be a list of addresses such as 10.89.0.5/24" % field)
    addresses = []
    for text in requested:
        try:
            address = ipaddress.ip_interface(text.strip())
        except ValueError:
            raise CniError(_code_of(field), "%s: %r is not an IP address" % (field, text)) from None
        if "/" in text:
            for pool in network.pools():
                subnet = ipaddress.ip_network(pool.subnet)
                if address.ip in subnet and address.network.prefixlen != subnet.prefixlen:
                    raise CniError(_code_of(field), "%s: %s has prefix /%d, but its subnet in network %s is %s"
                                   % (field, text, address.network.prefixlen, network.name, subnet))
        addresses.append(address)
    return addresses


def _ports(mappings):
    """runtimeConfig.portMappings as pynet's `ports` (checked further by the library)."""
    if not isinstance(mappings, list):
        raise CniError(protocol.INVALID_CONFIG, "runtimeConfig.portMappings: must be a list of {hostPort, "
                       "containerPort, protocol, hostIP}")
    ports = []
    for index, mapping in enumerate(mappings):
        if not isinstance(mapping, dict):
            raise CniError(protocol.INVALID_CONFIG, "runtimeConfig.portMappings[%d]: must be an object, not %r"
                           % (index, mapping))
        for key in ("hostPort", "containerPort"):
            value = mapping.get(key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise CniError(protocol.INVALID_CONFIG, "runtimeConfig.portMappings[%d].%s: %r is not a port number"
                               % (index, key, value))
        ports.append({ours: mapping[theirs] for theirs, ours in PORT_KEYS if mapping.get(theirs) not in (None, "")})
    return ports


def _refusal(exc, call, network, fields):
    """The library's error as the spec's, naming the CNI field instead of the library's parameter."""
    param = exc.param or ""
    base, _dot, rest = param.partition(".")
    message = str(exc)
    if param and message.startswith(param + ": "):
        message = message[len(param) + 2:]
    if isinstance(exc, (errors.EndpointNameError, errors.AttachmentExistsError)):
        return CniError(protocol.REFUSED, "CNI_CONTAINERID, CNI_IFNAME: container %s already has an attachment on %s "
                        "in network %s; DEL it first" % (call.container_id, call.ifname, network.name))
    if isinstance(exc, errors.NoAvailableIPsError):
        return CniError(protocol.TRY_AGAIN_LATER, "name: network %s: %s" % (network.name, message))
    if base.startswith("ports["):
        index = base[len("ports"):]
        key = dict((ours, theirs) for theirs, ours in PORT_KEYS).get(rest, rest)
        return CniError(protocol.INVALID_CONFIG, "runtimeConfig.portMappings%s%s: %s"
                        % (index, "." + key if key else "", message))
    if param == "sandbox":
        return CniError(protocol.INVALID_ENVIRONMENT, "CNI_NETNS: %s is not a network namespace" % call.netns,
                        message)
    if param in fields:
        return CniError(_code_of(fields[param]), "%s: %s" % (fields[param], message))
    return CniError(protocol.REFUSED, message)


def _code_of(field):
    """An environment variable at fault is code 4, a field of the config code 7."""
    return protocol.INVALID_ENVIRONMENT if field.startswith("CNI_") else protocol.INVALID_CONFIG


# --- the Result ------------------------------------------------------------------------------------


def _result(call, network, endpoint, dns):
    """As the reference bridge plugin's: the bridge, the host end of the veth, the container's interface."""
    info = endpoint.sandbox_info()
    interface = info["interfaces"][0]
    mtu = network.options.get("mtu")
    # A macvlan endpoint has neither a bridge nor a host end: its Result lists the container's interface only.
    interfaces = [_host_interface(name, mtu) for name in (network.options.get("bridge_name"), interface["src_name"])
                  if name]
    container = {"name": interface["dst_name"], "mac": interface["mac"], "mtu": mtu, "sandbox": call.netns}
    interfaces.append({key: value for key, value in container.items() if value is not None})
    ips, routes = [], []
    for version, address, gateway, routed in ((4, interface["address"], info["gateway"], info["default_route"]),
                                              (6, interface["address_ipv6"], info["gateway_ipv6"],
                                               info["default_route_ipv6"])):
        if address:
            ip = {"version": str(version), "address": address, "interface": len(interfaces) - 1}
            if gateway:
                ip["gateway"] = gateway
                if routed:
                    routes.append({"dst": DEFAULT_ROUTES[version], "gw": gateway})
            ips.append(ip)
    result = {"interfaces": interfaces, "ips": ips, "routes": routes}
    dns = _with_network_names(dns, network, info)
    if dns:
        result["dns"] = dns
    return result


def _with_network_names(dns, network, info):
    """The config's dns with the network's own DNS server (its gateways, where pynet serves the names of
    a network with dns_enabled) first among the nameservers, as podman's networks give theirs."""
    if not network.options.get("dns_enabled"):
        return dns
    served = [gateway for gateway in (info["gateway"], info["gateway_ipv6"]) if gateway]
    if not served:
        return dns
    given = [server for server in dns.get("nameservers", []) if server not in served]
    return dict(dns, nameservers=served + given)


def _host_interface(name, mtu):
    interface = {"name": name, "mtu": mtu}
    mac = _hardware_address(name)
    if mac:
        interface["mac"] = mac
    return interface


def _hardware_address(name):
    """The MAC of a link in the calling thread's namespace (SIOCGIFHWADDR: no netlink dump, no sysfs,
    which shows the namespace sysfs was mounted in), or None when it is gone."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            ifreq = fcntl.ioctl(sock.fileno(), SIOCGIFHWADDR, struct.pack("256s", name.encode()))
        except OSError:
            return None
    return ":".join("%02x" % byte for byte in ifreq[18:24])  # ifr_name[16], then sa_family, then sa_data


def _dns(dns):
    """The config's dns, passed on into the Result ("dns (dictionary, optional)" of the network config)."""
    checked = {}
    for key, value in dns.items():
        if key in DNS_LISTS and isinstance(value, list) and all(isinstance(item, str) for item in value):
            checked[key] = value
        elif key == "domain" and isinstance(value, str):
            checked[key] = value
        else:
            raise CniError(protocol.INVALID_CONFIG, "dns.%s: %r is not allowed: nameservers, search and options are "
                           "lists of strings, domain a string" % (key, value))
    for index, server in enumerate(checked.get("nameservers", [])):
        if not _is_ip_address(server):
            raise CniError(protocol.INVALID_CONFIG, "dns.nameservers[%d]: %r is not an IP address" % (index, server))
    return checked


def _is_ip_address(text):
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
            return True
        except OSError:
            continue
    return False


def _merged(prev, ours):
    """A Result after a prevResult (pynet chained after another plugin): ours appended to it."""
    if not prev:
        return ours
    offset = len(prev.get("interfaces", []))
    merged = dict(prev)
    merged["interfaces"] = list(prev.get("interfaces", [])) + ours["interfaces"]
    merged["ips"] = list(prev.get("ips", [])) + [dict(ip, interface=ip["interface"] + offset) for ip in ours["ips"]]
    merged["routes"] = list(prev.get("routes", [])) + ours["routes"]
    if "dns" in ours:
        merged["dns"] = ours["dns"]
    return merged


def _listed_addresses(prev, call):
    """The addresses prevResult gives the container's interface of this attachment."""
    interfaces = prev.get("interfaces", [])
    ours = {index for index, interface in enumerate(interfaces)
            if (interface.get("name"), interface.get("sandbox")) == (call.ifname, call.netns)}
    return {ip.get("address") for ip in prev.get("ips", []) if isinstance(ip.get("interface"), int) and ip["interface"] in ours}
