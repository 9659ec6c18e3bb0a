# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The CNI protocol (SPEC.md, 1.1.0): the call read from the environment and stdin, the answer
printed on stdout, errors as the spec's error object with its codes.

Only the standard library is imported here, and only json among the modules Python does not load
at start-up: VERSION and every malformed call are answered (module_utils/cni.py) before pynet's library is
loaded.
"""

from __future__ import annotations

import json
import os
import re

SPEC_VERSION = "1.1.0"
SUPPORTED_VERSIONS = ("0.4.0", "1.0.0", "1.1.0")
VERBS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")
VERBS_SINCE_1_1 = ("GC", "STATUS")

# The spec's well-known error codes (1-99 are reserved to it).
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50  # STATUS: the plugin cannot service ADD requests
# pynet's own codes (100 and above are the plugin's to define).
REFUSED = 100  # pynet's library refused the request; the message names the field
DRIFT = 101  # CHECK: the kernel no longer holds what the attachment made
INTERNAL = 999  # an unexpected failure (the code the reference plugins give theirs)

# Environment variables each verb requires (SPEC.md, "CNI operations").
REQUIRED_ENVIRONMENT = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": (),
    "STATUS": (),
}
# Container ids and network names: "Must start with an alphanumeric character, optionally followed by
# any combination of one or more alphanumeric characters, underscore, dot (.) or hyphen (-)".
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# The keys of a version's Result parts; anything else (another version's keys) is left out.
INTERFACE_KEYS = {"0.4.0": ("name", "mac", "sandbox"), "1.0.0": ("name", "mac", "sandbox"),
                  "1.1.0": ("name", "mac", "mtu", "sandbox", "socketPath", "pciID")}
ROUTE_KEYS = {"0.4.0": ("dst", "gw"), "1.0.0": ("dst", "gw"),
              "1.1.0": ("dst", "gw", "mtu", "advmss", "priority", "table", "scope")}
GC_ATTACHMENTS = ("cni.dev/valid-attachments", "cni.dev/attachments")  # spec-v1.1.0's text has the latter


class CniError(Exception):
    """A failure reported as the spec's error object; `msg` names the field or variable at fault."""

    def __init__(self, code, msg, details=""):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details


class Call:
    """One execution of the plugin: the verb, its environment variables and the network config."""

    def __init__(self, command, environ, config):
        self.command = command
        self.config = config
        self.version = config["cniVersion"]
        self.container_id = environ.get("CNI_CONTAINERID", "")
        self.netns = environ.get("CNI_NETNS", "")
        self.ifname = environ.get("CNI_IFNAME", "")
        self.args = parse_cni_args(environ.get("CNI_ARGS", ""))
        self.runtime_config = config.get("runtimeConfig") or {}

    @property
    def network_name(self):
        return self.config["name"]

    @property
    def state_dir(self):
        return self.config.get("state_dir")


def read(stdin, lenient=False):
    try:
        data = stdin.read()
    except OSError as exc:
        if lenient:
            return {}
        raise CniError(IO_FAILURE, "stdin: cannot read the network config: %s" % exc) from None
    try:
        return json.loads(data)
    except ValueError as exc:
        if lenient:
            return {}
        raise CniError(DECODING_FAILURE, "stdin: the network config is not JSON: %s" % exc) from None


def version_result(request):
    """VERSION: "cniVersion: The value of cniVersion specified on input" (or the spec's when there is none)."""
    requested = request.get("cniVersion") if isinstance(request, dict) else None
    return {"cniVersion": requested if isinstance(requested, str) and requested else SPEC_VERSION,
            "supportedVersions": list(SUPPORTED_VERSIONS)}


def parse_config(config):
    """The network config, checked: {"cniVersion", "name" (a pynet network), "type", "state_dir"?}."""
    if not isinstance(config, dict):
        raise CniError(DECODING_FAILURE, "stdin: the network config must be a JSON object, not %s"
                       % type(config).__name__)
    version = config.get("cniVersion")
    if not isinstance(version, str) or not version:
        raise CniError(INVALID_CONFIG, "cniVersion: required, a version of the CNI spec (pynet supports %s)"
                       % ", ".join(SUPPORTED_VERSIONS))
    if version not in SUPPORTED_VERSIONS:
        raise CniError(INCOMPATIBLE_VERSION, "cniVersion: %s is not supported; pynet supports %s"
                       % (version, ", ".join(SUPPORTED_VERSIONS)))
    name = config.get("name")
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise CniError(INVALID_CONFIG, "name: %r is not a network name (the name of a pynet network: letters, "
                       "digits, '_', '.', '-', starting with a letter or digit)" % (name,))
    if not isinstance(config.get("type"), str) or not config["type"]:
        raise CniError(INVALID_CONFIG, "type: required, the plugin's name (pynet)")
    state_dir = config.get("state_dir")
    if state_dir is not None and not (isinstance(state_dir, str) and os.path.isabs(state_dir)):
        raise CniError(INVALID_CONFIG, "state_dir: %r is not an absolute path (pynet's state directory, "
                       "default /var/lib/pynet)" % (state_dir,))
    if "ipam" in config:
        raise CniError(UNSUPPORTED_FIELD, "ipam: %s is not supported: pynet gives addresses from the pools of "
                       "network %s; remove ipam" % (json.dumps(config["ipam"]), name))
    for key in ("runtimeConfig", "prevResult", "args", "dns"):
        if key in config and not isinstance(config[key], dict):
            raise CniError(INVALID_CONFIG, "%s: must be a JSON object, not %s" % (key, json.dumps(config[key])))
    return config


def check_environment(command, environ, version):
    """The verb, once the variables it requires are present and well formed."""
    if command not in VERBS:
        raise CniError(INVALID_ENVIRONMENT, "CNI_COMMAND: %r is not a CNI verb (%s)" % (command, ", ".join(VERBS)))
    if command in VERBS_SINCE_1_1 and version not in ("1.1.0",):
        raise CniError(INCOMPATIBLE_VERSION, "cniVersion: %s has no %s; it came with CNI 1.1.0" % (version, command))
    missing = [name for name in REQUIRED_ENVIRONMENT[command] if not environ.get(name)]
    if missing:
        raise CniError(INVALID_ENVIRONMENT, "%s: required for %s" % (", ".join(missing), command))
    container_id = environ.get("CNI_CONTAINERID")
    if container_id and not IDENTIFIER.match(container_id):
        raise CniError(INVALID_ENVIRONMENT, "CNI_CONTAINERID: %r is not a container id (letters, digits, '_', '.', "
                       "'-', starting with a letter or digit)" % container_id)
    return command


def parse_cni_args(text):
    """CNI_ARGS: "Alphanumeric key-value pairs separated by semicolons; for example, FOO=BAR;ABC=123"."""
    pairs = {}
    for item in filter(None, text.split(";")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CniError(INVALID_ENVIRONMENT, "CNI_ARGS: %r is not a KEY=VALUE pair" % item)
        pairs[key] = value
    return pairs


def gc_attachments(config):
    """GC's valid attachments as a set of (containerID, ifname)."""
    key = next((name for name in GC_ATTACHMENTS if name in config), GC_ATTACHMENTS[0])
    attachments = config.get(key)
    if not isinstance(attachments, list):
        raise CniError(INVALID_CONFIG, "%s: required for GC, a list of {containerID, ifname}" % key)
    valid = set()
    for index, item in enumerate(attachments):
        if not (isinstance(item, dict) and all(isinstance(item.get(key), str) for key in ("containerID", "ifname"))):
            raise CniError(INVALID_CONFIG, "%s[%d]: %s is not {containerID, ifname}" % (key, index, json.dumps(item)))
        valid.add((item["containerID"], item["ifname"]))
    return valid


def error_object(error, version):
    """The spec's error object. Its cniVersion is "the protocol version in use" (1.x); a 0.4.0 call gets
    1.1.0, whose codes pynet uses (0.4.0 names the version "used by the plugin" there)."""
    obj = {"cniVersion": version if version in SUPPORTED_VERSIONS[1:] else SPEC_VERSION,
           "code": error.code, "msg": error.msg}
    if error.details:
        obj["details"] = error.details
    return obj


def shape_result(result, version):
    """A Result (1.1.0's keys, ips with their IP "version") as the config's version defines it."""
    shaped = {"cniVersion": version}
    shaped["interfaces"] = [{key: item[key] for key in INTERFACE_KEYS[version] if key in item}
                            for item in result.get("interfaces", [])]
    shaped["ips"] = [{key: value for key, value in ip.items() if key != "version" or version == "0.4.0"}
                     for ip in result.get("ips", [])]
    if result.get("routes"):
        shaped["routes"] = [{key: route[key] for key in ROUTE_KEYS[version] if key in route}
                            for route in result["routes"]]
    if result.get("dns"):
        shaped["dns"] = result["dns"]
    return shaped
