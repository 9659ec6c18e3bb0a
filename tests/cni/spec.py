"""The CNI specification as checks: what a plugin must print for each verb, written from the text of
SPEC.md at the tags spec-v0.4.0, spec-v1.0.0 and spec-v1.1.0 of containernetworking/cni (quoted
where a rule comes from).

Each check_* function returns the problems it found, as sentences (empty: conforming). The checks
are exact where the spec is: keys it does not define for that version are reported too, so a Result
shaped for the wrong version fails.
"""

from __future__ import annotations

import ipaddress
import json
import re

VERSIONS = ("0.4.0", "1.0.0", "1.1.0")
VERBS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")

# "Error codes 0-99 are reserved for well-known errors. Values of 100+ can be freely used for plugin
# specific errors." 0.4.0 defines 1, 2, 3 and 11; 1.0.0 adds 4 to 7; 1.1.0 adds 50 and 51, "defined
# in the context of STATUS".
WELL_KNOWN_CODES = {
    "0.4.0": {1: "Incompatible CNI version", 2: "Unsupported field in network configuration",
              3: "Container unknown or does not exist", 11: "Try again later"},
}
WELL_KNOWN_CODES["1.0.0"] = {**WELL_KNOWN_CODES["0.4.0"], **{
    4: "Invalid necessary environment variables", 5: "I/O failure", 6: "Failed to decode content",
    7: "Invalid network config"}}
WELL_KNOWN_CODES["1.1.0"] = {**WELL_KNOWN_CODES["1.0.0"], **{
    50: "The plugin is not available", 51: "The plugin is not available, and existing containers may have "
                                           "limited connectivity"}}
STATUS_CODES = (50, 51)

# The keys each version defines for the parts of an ADD Result (section 5 of 1.x; "Result" and
# "Well-known Structures" of 0.4.0).
RESULT_KEYS = ("cniVersion", "interfaces", "ips", "routes", "dns")
INTERFACE_KEYS = {"0.4.0": ("name", "mac", "sandbox"), "1.0.0": ("name", "mac", "sandbox"),
                  "1.1.0": ("name", "mac", "mtu", "sandbox", "socketPath", "pciID")}
IP_KEYS = {"0.4.0": ("version", "address", "gateway", "interface"), "1.0.0": ("address", "gateway", "interface"),
           "1.1.0": ("address", "gateway", "interface")}
ROUTE_KEYS = {"0.4.0": ("dst", "gw"), "1.0.0": ("dst", "gw"),
              "1.1.0": ("dst", "gw", "mtu", "advmss", "priority", "table", "scope")}
ROUTE_UINTS = ("mtu", "advmss", "priority", "table", "scope")
DNS_KEYS = ("nameservers", "domain", "search", "options")
ERROR_KEYS = ("cniVersion", "code", "msg", "details")
VERSION_RESULT_KEYS = ("cniVersion", "supportedVersions")

# "Semantic Version 2.0" (semver.org's grammar, without build metadata's details that CNI never uses).
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
# CNI_CONTAINERID: "Must start with an alphanumeric character, optionally followed by any combination of
# one or more alphanumeric characters, underscore (), dot (.) or hyphen (-)."
CONTAINER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")


def _is_uint(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _ip_problem(where, value, version=None):
    """'' if value is an IP address (of that version, when given)."""
    if not isinstance(value, str):
        return "%s: %r is not a string" % (where, value)
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "%s: %r is not an IP address" % (where, value)
    if version is not None and address.version != version:
        return "%s: %s is IPv%d, not IPv%d" % (where, value, address.version, version)
    return ""


def _cidr(where, value, problems):
    """The IP version of a CIDR ("an IP address in CIDR notation (eg "192.168.1.3/24")"), or None."""
    if not isinstance(value, str) or "/" not in value:
        problems.append("%s: %r is not in CIDR notation (address/prefix)" % (where, value))
        return None
    try:
        return ipaddress.ip_interface(value).version
    except ValueError:
        problems.append("%s: %r is not in CIDR notation (address/prefix)" % (where, value))
        return None


def _unknown_keys(where, obj, allowed, version):
    return ["%s: key %r is not defined by CNI %s (defined: %s)" % (where, key, version, ", ".join(allowed))
            for key in obj if key not in allowed]


def _list_of_objects(where, value, problems):
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        problems.append("%s: must be a list of objects, not %r" % (where, value))
        return []
    return value


def check_result(result, version, netns=None, ifname=None):
    """An ADD Result ("Success" of section 5) for a config of `version`. With netns and ifname (the
    CNI_NETNS and CNI_IFNAME of the call), the interface made in the container must be listed."""
    problems = []
    if not isinstance(result, dict):
        return ["the result is not a JSON object: %r" % (result,)]
    problems += _unknown_keys("result", result, RESULT_KEYS, version)
    # 1.x: "cniVersion: The same version supplied on input"; 0.4.0: "must be consistent with the
    # cniVersion specified in Network Configuration".
    if result.get("cniVersion") != version:
        problems.append("result.cniVersion: %r, not %r, the version of the config" % (result.get("cniVersion"), version))
    interfaces = _list_of_objects("result.interfaces", result.get("interfaces", []), problems)
    for index, interface in enumerate(interfaces):
        problems += _interface_problems("result.interfaces[%d]" % index, interface, version)
    if netns is not None and ifname is not None:
        # 0.4.0: "If the CNI_IFNAME variable exists the plugin must use that name for the sandbox
        # interface"; "sandbox ... must be provided for interfaces created or moved into a sandbox".
        # 1.x: "For interfaces created inside the container, this should be the value passed via CNI_NETNS."
        if not any(item.get("name") == ifname and item.get("sandbox") == netns for item in interfaces):
            problems.append("result.interfaces: no interface named %s with sandbox %s (CNI_IFNAME, CNI_NETNS)"
                            % (ifname, netns))
    for index, ip in enumerate(_list_of_objects("result.ips", result.get("ips", []), problems)):
        problems += _ip_config_problems("result.ips[%d]" % index, ip, version, interfaces)
    for index, route in enumerate(_list_of_objects("result.routes", result.get("routes", []), problems)):
        problems += _route_problems("result.routes[%d]" % index, route, version)
    if "dns" in result:
        problems += _dns_problems("result.dns", result["dns"])
    return problems


def _interface_problems(where, interface, version):
    problems = _unknown_keys(where, interface, INTERFACE_KEYS[version], version)
    if not isinstance(interface.get("name"), str) or not interface.get("name"):
        problems.append("%s.name: the interface's name is required, a non-empty string" % where)
    if "mac" in interface and not (isinstance(interface["mac"], str) and MAC.match(interface["mac"])):
        problems.append("%s.mac: %r is not a hardware address" % (where, interface["mac"]))
    if "sandbox" in interface and not isinstance(interface["sandbox"], str):
        problems.append("%s.sandbox: %r is not a string" % (where, interface["sandbox"]))
    if "mtu" in interface and not _is_uint(interface["mtu"]):
        problems.append("%s.mtu: %r is not a uint" % (where, interface["mtu"]))
    for key in ("socketPath", "pciID"):
        if key in interface and not isinstance(interface[key], str):
            problems.append("%s.%s: %r is not a string" % (where, key, interface[key]))
    return problems


def _ip_config_problems(where, ip, version, interfaces):
    problems = _unknown_keys(where, ip, IP_KEYS[version], version)
    ip_version = _cidr(where + ".address", ip.get("address"), problems)
    if version == "0.4.0":
        # "version (string): either "4" or "6" and corresponds to the IP version of the addresses in
        # the entry. All IP addresses and gateways provided must be valid for the given version."
        if ip.get("version") not in ("4", "6"):
            problems.append("%s.version: %r is not \"4\" or \"6\" (required by 0.4.0)" % (where, ip.get("version")))
        elif ip_version is not None and ip["version"] != str(ip_version):
            problems.append("%s.version: %r, but the address is IPv%d" % (where, ip["version"], ip_version))
    if "gateway" in ip:
        problem = _ip_problem(where + ".gateway", ip["gateway"], ip_version)
        if problem:
            problems.append(problem)
    # "interface (uint): the index into the interfaces list ... indicating which interface this IP
    # configuration should be applied to" (left out only by IPAM plugins, which this is not).
    if "interface" not in ip:
        problems.append("%s.interface: missing; an interface plugin gives the index of the interface" % where)
    elif not _is_uint(ip["interface"]) or ip["interface"] >= len(interfaces):
        problems.append("%s.interface: %r is not an index into interfaces (%d listed)"
                        % (where, ip["interface"], len(interfaces)))
    return problems


def _route_problems(where, route, version):
    problems = _unknown_keys(where, route, ROUTE_KEYS[version], version)
    dst_version = _cidr(where + ".dst", route.get("dst"), problems)
    if "gw" in route:
        # 0.4.0: "All IP addresses in the routes entry must be the same IP version".
        problem = _ip_problem(where + ".gw", route["gw"], dst_version)
        if problem:
            problems.append(problem)
    for key in ROUTE_UINTS:
        if key in route and not _is_uint(route[key]):
            problems.append("%s.%s: %r is not a uint" % (where, key, route[key]))
    return problems


def _dns_problems(where, dns):
    if not isinstance(dns, dict):
        return ["%s: must be an object, not %r" % (where, dns)]
    problems = ["%s: key %r is not defined (defined: %s)" % (where, key, ", ".join(DNS_KEYS))
                for key in dns if key not in DNS_KEYS]
    servers = dns.get("nameservers", [])
    if not isinstance(servers, list):
        problems.append("%s.nameservers: must be a list of IP addresses" % where)
    else:
        problems += [problem for index, server in enumerate(servers)
                     for problem in [_ip_problem("%s.nameservers[%d]" % (where, index), server)] if problem]
    if "domain" in dns and not isinstance(dns["domain"], str):
        problems.append("%s.domain: %r is not a string" % (where, dns["domain"]))
    for key in ("search", "options"):
        if key in dns and not (isinstance(dns[key], list) and all(isinstance(item, str) for item in dns[key])):
            problems.append("%s.%s: must be a list of strings, not %r" % (where, key, dns[key]))
    return problems


def check_error(error, verb):
    """An error object ("Error" of section 5): cniVersion, code, msg, details; a well-known code of the
    error's own version, 50 and 51 only for STATUS."""
    if not isinstance(error, dict):
        return ["the error is not a JSON object: %r" % (error,)]
    version = error.get("cniVersion")
    if version not in VERSIONS:
        return ["error.cniVersion: %r is not one of %s (1.x: \"The protocol version in use\")"
                % (version, ", ".join(VERSIONS))]
    problems = _unknown_keys("error", error, ERROR_KEYS, version)
    code = error.get("code")
    if not _is_uint(code) or code == 0:
        problems.append("error.code: %r is not a positive integer" % (code,))
    elif code < 100 and code not in WELL_KNOWN_CODES[version]:
        problems.append("error.code: %d is reserved but not defined by CNI %s (defined: %s)"
                        % (code, version, ", ".join(str(known) for known in sorted(WELL_KNOWN_CODES[version]))))
    elif code in STATUS_CODES and verb != "STATUS":
        problems.append("error.code: %d is defined in the context of STATUS, not %s" % (code, verb))
    if not isinstance(error.get("msg"), str) or not error.get("msg"):
        problems.append("error.msg: a short message is required, not %r" % (error.get("msg"),))
    if "details" in error and not isinstance(error["details"], str):
        problems.append("error.details: %r is not a string" % (error["details"],))
    return problems


def check_version_result(result, requested):
    """VERSION's output: "cniVersion: The value of cniVersion specified on input" and
    "supportedVersions: A list of supported specification versions"."""
    if not isinstance(result, dict):
        return ["the VERSION result is not a JSON object: %r" % (result,)]
    problems = ["version result: key %r is not defined (defined: %s)" % (key, ", ".join(VERSION_RESULT_KEYS))
                for key in result if key not in VERSION_RESULT_KEYS]
    if result.get("cniVersion") != requested:
        problems.append("version result.cniVersion: %r, not %r as on input" % (result.get("cniVersion"), requested))
    supported = result.get("supportedVersions")
    if not isinstance(supported, list) or not supported:
        problems.append("version result.supportedVersions: must be a non-empty list, not %r" % (supported,))
    else:
        problems += ["version result.supportedVersions: %r is not a semantic version" % (item,)
                     for item in supported if not (isinstance(item, str) and SEMVER.match(item))]
    return problems


def check_gc_request(config):
    """GC's input: "cni.dev/valid-attachments (array of objects): The list of still valid attachments
    to this network: containerID ..., ifname ..." (spec-v1.1.0's text says cni.dev/attachments;
    libcni sends both names, containernetworking/cni#1101)."""
    attachments = config.get("cni.dev/valid-attachments")
    if not isinstance(attachments, list):
        return ["cni.dev/valid-attachments: must be a list of objects, not %r" % (attachments,)]
    problems = []
    for index, item in enumerate(attachments):
        where = "cni.dev/valid-attachments[%d]" % index
        if not isinstance(item, dict) or set(item) != {"containerID", "ifname"}:
            problems.append("%s: must be an object with exactly containerID and ifname, not %r" % (where, item))
        elif not (isinstance(item["containerID"], str) and CONTAINER_ID.match(item["containerID"])):
            problems.append("%s.containerID: %r is not a container id" % (where, item["containerID"]))
        elif not isinstance(item["ifname"], str) or not item["ifname"]:
            problems.append("%s.ifname: %r is not an interface name" % (where, item["ifname"]))
    return problems


def check_outcome(verb, version, returncode, stdout, netns=None, ifname=None):
    """What one plugin execution printed, for its exit status: "A plugin must exit with a return code
    of 0 on success, and non-zero on failure"; on failure an error object on stdout; on success a
    Result for ADD, the version result for VERSION, nothing for DEL, CHECK ("no output on
    success" is GC's and STATUS's text; DEL and CHECK define no result) and the others.

    Returns (problems, the parsed output or None)."""
    text = stdout.strip()
    if returncode != 0:
        try:
            error = json.loads(text)
        except ValueError:
            return ["%s failed (exit status %d) without an error object on stdout: %r" % (verb, returncode, text)], None
        return check_error(error, verb), error
    if verb not in VERBS:
        return ["%r is no CNI verb, yet the plugin succeeded" % verb], None
    if verb in ("DEL", "CHECK", "GC", "STATUS"):
        return (["%s succeeded but printed %r; it prints nothing on success" % (verb, text)] if text else []), None
    try:
        printed = json.loads(text)
    except ValueError:
        return ["%s succeeded without a JSON object on stdout: %r" % (verb, text)], None
    if verb == "VERSION":
        return check_version_result(printed, version), printed
    return check_result(printed, version, netns, ifname), printed
