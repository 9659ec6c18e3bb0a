# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validation of option dicts: every error names the option and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Callable

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors

# The kernel's dev_valid_name(): 1-15 bytes, no '/', ':' or white space (its isspace() also takes
# byte 0xa0, which UTF-8 uses inside characters such as 'à'), not '.' or '..'; NUL would end the
# name the kernel reads early.
_IFNAME_REFUSED = frozenset(b"/: \t\n\v\f\r\xa0\0")
# What nftables reads literally in an interface name: it takes '*' as a wildcard, '\\' as an escape
# and a leading '@' as the name of a set.
_NFT_LITERAL_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class Option:
    """One allowed option: a checker that returns the normalised value, its default, and its Ansible
    argument spec (the modules' specs are made of these)."""

    def __init__(self, check: Callable[[str, object], object], default: object = None, doc: str = "",
                 spec: dict | None = None):
        self.check = check
        self.default = default
        self.doc = doc
        self.spec = spec


def validate(given: object, spec: dict[str, Option], where: str = "") -> dict:
    """Return `given` checked against `spec` (name -> Option) with defaults filled in."""
    if given is not None and not isinstance(given, dict):
        raise errors.InvalidParameterError(where.rstrip(".") or "options", "must be a dict of option names to "
                                           "values, not %r" % (given,))
    given = dict(given or {})
    unknown = sorted(set(given) - set(spec))
    if unknown:
        allowed = "allowed options: %s" % ", ".join(sorted(spec)) if spec else "no options are allowed here"
        raise errors.InvalidParameterError(where + unknown[0], "unknown option; %s" % allowed)
    result = {}
    for name, option in spec.items():
        value = given.get(name)
        result[name] = option.default if value is None else option.check(where + name, value)
    return result


def list_of_dicts(param: str, value: object, keys: tuple[str, ...]) -> list[tuple[str, dict]]:
    """(param[index], dict) of each item of a list of dicts whose keys are among `keys`; an error
    naming the item (or the list) for anything else."""
    allowed = ", ".join(keys)
    if not isinstance(value, list):
        raise errors.InvalidParameterError(param, "must be a list of dicts with keys %s" % allowed)
    items = []
    for index, entry in enumerate(value):
        where = "%s[%d]" % (param, index)
        if not isinstance(entry, dict):
            raise errors.InvalidParameterError(where, "must be a dict with keys %s" % allowed)
        unknown = sorted(set(entry) - set(keys))
        if unknown:
            raise errors.InvalidParameterError(where, "unknown key(s) %s; allowed: %s" % (", ".join(unknown), allowed))
        items.append((where, entry))
    return items


def check_bool(param: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise errors.InvalidParameterError(param, "%r is not a boolean (true or false)" % (value,))


def int_between(low: int, high: int) -> Callable[[str, object], int]:
    def check(param: str, value: object) -> int:
        if isinstance(value, bool):
            raise errors.InvalidParameterError(param, "%r is not an integer from %d to %d" % (value, low, high))
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise errors.InvalidParameterError(param, "%r is not an integer from %d to %d"
                                               % (value, low, high)) from None
        if not low <= number <= high:
            raise errors.InvalidParameterError(param, "%d is out of range: allowed %d to %d" % (number, low, high))
        return number
    return check


def check_ifname(param: str, value: object) -> str:
    encoded = value.encode() if isinstance(value, str) else b""
    if not 1 <= len(encoded) <= 15 or _IFNAME_REFUSED.intersection(encoded) or value in (".", ".."):
        raise errors.InvalidParameterError(param, "%r is not a valid interface name: 1 to 15 bytes (ASCII letters, "
                                           "digits, '-', '_' and '.' are safe), without '/', ':', NUL or white space"
                                           % (value,))
    return value


def check_literal_ifname(param: str, value: object) -> str:
    """An interface name that goes into firewall rules, where it must match itself only."""
    value = check_ifname(param, value)
    if not _NFT_LITERAL_NAME.match(value):
        raise errors.InvalidParameterError(param, "%r is not allowed: this name goes into firewall rules, so it may "
                                           "hold only ASCII letters, digits, '-', '_' and '.' (nftables would read "
                                           "'*', '\\', '@' and quotes as patterns)" % (value,))
    return value


def check_sandbox_ifname(param: str, value: object) -> str:
    """An interface name inside a sandbox, where the loopback is always there."""
    value = check_ifname(param, value)
    if value == "lo":
        raise errors.InvalidParameterError(param, "lo is the sandbox's loopback; choose another name (such as eth1)")
    return value


def check_mac(param: str, value: object) -> str:
    mac = str(value).lower().replace("-", ":")
    if not _MAC.match(mac):
        raise errors.InvalidParameterError(param, "%r is not a MAC address (six hex pairs such as "
                                           "02:42:ac:11:00:02)" % (value,))
    if int(mac[:2], 16) & 1:
        raise errors.InvalidParameterError(param, "%s is a multicast address; a unicast MAC has an even "
                                           "first byte" % mac)
    if mac == "00:00:00:00:00:00":
        raise errors.InvalidParameterError(param, "00:00:00:00:00:00 is not a usable MAC address; give a unicast "
                                           "address such as 02:42:ac:11:00:02")
    return mac


def check_name(param: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise errors.InvalidParameterError(param, "%r is not a valid name: 1 to 128 characters of letters, digits, "
                                           "'_', '.' and '-', starting with a letter or digit" % (value,))
    return value


def check_labels(param: str, value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise errors.InvalidParameterError(param, "must be a dict of string keys to string values")
    return {key: str(item) for key, item in value.items()}


def check_str(param: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise errors.InvalidParameterError(param, "%r is not a non-empty string" % (value,))
    return value


def check_ip(param: str, value: object) -> str:
    """An IP address as text; '' means none."""
    text = str(value)
    if text and not addresses.is_address(text):
        raise errors.InvalidParameterError(param, "%r is not an IP address" % (value,))
    return text


def check_ipv4(param: str, value: object) -> str:
    """An IPv4 address as text; '' means none."""
    text = check_ip(param, value)
    if text and addresses.version(text) != 4:
        raise errors.InvalidParameterError(param, "%r is not an IPv4 address" % (value,))
    return text


def check_ipv6(param: str, value: object) -> str:
    """An IPv6 address as text, normalised; '' means none."""
    text = check_ip(param, value)
    if text and addresses.version(text) != 6:
        raise errors.InvalidParameterError(param, "%r is not an IPv6 address" % (value,))
    return str(addresses.address(text)) if text else text


def passthrough(param: str, value: object) -> object:
    return value
