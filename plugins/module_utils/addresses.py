# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""IP addresses and subnets as text, read with the standard library's ipaddress.

netaddr is not used: importing it costs about 68 ms of every process (every Ansible task, every
exec of the CNI plugin), ipaddress about 5 ms. The IP version of an address or CIDR always comes
from here, never from the look of the text.
"""

from __future__ import annotations

import functools
import ipaddress

ADDRESS_BITS = {4: 32, 6: 128}
_ADDRESS = {4: ipaddress.IPv4Address, 6: ipaddress.IPv6Address}


def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IP address from its text; ValueError for anything else (an IPv6 zone such as %eth0 included)."""
    if not isinstance(text, str) or "%" in text:
        raise ValueError("%r is not an IP address" % (text,))
    return ipaddress.ip_address(text)


def interface(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """An address with a prefix length ('10.89.0.5/24'), or without (a host prefix); ValueError otherwise."""
    if not isinstance(text, str) or "%" in text:
        raise ValueError("%r is not an IP address or CIDR" % (text,))
    return ipaddress.ip_interface(text)


@functools.lru_cache(maxsize=1024)
def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """A subnet from a CIDR without host bits (as the store records them); ValueError otherwise."""
    return ipaddress.ip_network(text)


@functools.lru_cache(maxsize=4096)
def version(text: str) -> int:
    """4 or 6: the IP version of an address or a CIDR; ValueError for anything else."""
    return interface(text).version


def from_int(ip_version: int, value: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return _ADDRESS[ip_version](value)


def is_address(text: object) -> bool:
    try:
        address(text)
    except ValueError:
        return False
    return True
