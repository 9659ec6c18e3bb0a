# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Published ports: validation of the `ports` option and the host ports they hold in the store.

A mapping publishes container_port (or a range) of an endpoint on host_port of host_ip
(every address when empty). One host port, protocol and address belong to one endpoint.
"""

from __future__ import annotations

import collections
import os
import socket

from ansible_collections.pynet.libnetwork.plugins.module_utils import addresses, errors, options, records
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import Snapshot, Writer

PORT_KEYS = ("host_ip", "host_port", "container_port", "protocol")
LISTED_ADDRESSES = 8  # how many of the host's addresses an error names
PROTOCOLS = ("tcp", "udp", "sctp")
# Where host_port 0 (or none) picks a free port: the usual ephemeral range.
DYNAMIC_PORTS = range(49152, 61000)
SPARE_PORTS = 8  # free ports probed beyond those needed, for other writers that take some meanwhile
# The Ansible argument spec of one mapping.
ARGUMENT_SPEC = dict(
    container_port=dict(type="raw", required=True),
    host_port=dict(type="raw"),
    host_ip=dict(type="str"),
    protocol=dict(type="str", choices=list(PROTOCOLS), default="tcp"),
)


def _port_range(param: str, value: object, allow_zero: bool) -> tuple[int, int]:
    """'8080', 8080 or '8080-8090' as (first, last)."""
    text = str(value).strip()
    first, _sep, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise errors.InvalidParameterError(param, "%r is not a port or a range such as 8000-8010" % (value,)) from None
    if allow_zero and low == high == 0:
        return 0, 0
    if not 1 <= low <= high <= 65535:
        raise errors.InvalidParameterError(param, "%r is out of range: ports are 1 to 65535, first <= last" % (value,))
    return low, high


def check_ports(param: str, value: object) -> list[dict]:
    """The normalised `ports` option: a list of {protocol, host_ip, host_port, container_port}."""
    result = []
    for where, entry in options.list_of_dicts(param, value, PORT_KEYS):
        if entry.get("container_port") in (None, ""):
            raise errors.InvalidParameterError(where + ".container_port", "is required")
        protocol = str(entry.get("protocol") or "tcp").lower()
        if protocol not in PROTOCOLS:
            raise errors.InvalidParameterError(where + ".protocol", "%r is not allowed: tcp, udp or sctp" % (protocol,))
        if protocol == "sctp":
            _check_sctp(where + ".protocol")
        container = _port_range(where + ".container_port", entry["container_port"], allow_zero=False)
        host = _port_range(where + ".host_port", entry.get("host_port") or 0, allow_zero=True)
        if host != (0, 0) and host[1] - host[0] != container[1] - container[0]:
            raise errors.InvalidParameterError(where + ".host_port", "range %d-%d is not as long as container_port "
                                               "range %d-%d" % (host + container))
        if host == (0, 0) and container[0] != container[1]:
            raise errors.InvalidParameterError(where + ".host_port", "is required with a container_port range")
        host_ip = str(entry.get("host_ip") or "")
        if host_ip and not addresses.is_address(host_ip):
            raise errors.InvalidParameterError(where + ".host_ip", "%r is not an IP address" % (host_ip,))
        result.append({"protocol": protocol, "host_ip": host_ip, "host_port": _text(host),
                       "container_port": _text(container)})
    return result


def _check_sctp(param: str) -> None:
    """SCTP is published only where the kernel has it (its module sctp): elsewhere nothing could answer."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP).close()
    except OSError as exc:
        raise errors.InvalidParameterError(param, "sctp needs the kernel's SCTP support (the kernel module sctp), "
                                           "which this host lacks (%s); allowed here: tcp, udp"
                                           % os.strerror(exc.errno)) from None


PUBLISHING = "a published port takes the traffic to its address"


class HostAddresses:
    """The addresses assigned to the host's interfaces, read in one dump the first time one is checked
    (one per batch of endpoints, not one per port)."""

    def __init__(self) -> None:
        self._found = None

    def check(self, param: str, address: str, purpose: str = PUBLISHING, none_means: str = "for every address") -> None:
        """Refuse an address to publish on that is not the host's: its DNAT would take the host's
        own and its sandboxes' connections to that address, another machine's, to the container.
        `purpose` says why another address is refused, `none_means` what giving none does, for another use
        (a source address)."""
        if not address:
            return
        if self._found is None:
            with rtnl.connect() as connection:
                self._found = {addresses.address(found) for found in connection.local_addresses()}
        wanted = addresses.address(address)
        if wanted in self._found:
            return
        same = sorted(str(found) for found in self._found if found.version == wanted.version)
        listed = ", ".join(same[:LISTED_ADDRESSES]) + (", ..." if len(same) > LISTED_ADDRESSES else "")
        raise errors.InvalidParameterError(param, "%s is not an address of this host, and %s; allowed: an address "
                                           "assigned to one of the host's interfaces (here: %s), or none %s"
                                           % (address, purpose, listed or "none of this version", none_means))


def _text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else "%d-%d" % pair


def free_port_needs(mappings: list[tuple[dict, str]]) -> collections.Counter:
    """How many free ports the mappings with host_port 0 need, by (protocol, host address); `mappings`
    are (mapping, the host address its network publishes on by default) pairs."""
    needs = collections.Counter()
    for mapping, default_host_ip in mappings:
        if mapping["host_port"] == "0":
            needs[(mapping["protocol"], mapping["host_ip"] or default_host_ip)] += 1
    return needs


def probe_free_ports(snapshot: Snapshot, needs: collections.Counter) -> dict[tuple[str, str], list[int]]:
    """For each (protocol, host address) of `needs`, ports of DYNAMIC_PORTS that no endpoint holds (as
    `snapshot` says) and no process on the host listens on (a socket binds to them): as many as needed
    and SPARE_PORTS more. Probed before the write transaction, which holds every writer on the host
    and only checks that no other writer took them meanwhile (reserve)."""
    found = {}
    for (protocol, host_ip), count in needs.items():
        held = snapshot.held_ports(protocol, host_ip, DYNAMIC_PORTS[0], DYNAMIC_PORTS[-1])
        free = found[(protocol, host_ip)] = []
        for port in DYNAMIC_PORTS:
            if port not in held and _bindable(protocol, host_ip, port):
                free.append(port)
                if len(free) == count + SPARE_PORTS:
                    break
    return found


def _bindable(protocol: str, host_ip: str, port: int) -> bool:
    """Whether no process on the host holds the port: a socket binds to it."""
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    family = socket.AF_INET6 if host_ip and addresses.version(host_ip) == 6 else socket.AF_INET
    probe = socket.socket(family, kind, socket.IPPROTO_SCTP if protocol == "sctp" else 0)
    try:
        probe.bind((host_ip, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def reserve(tx: Writer, endpoint_id: str, mappings: list[dict], default_host_ip: str, free_ports: dict) -> None:
    """Record the host ports of an endpoint's mappings in the write transaction `tx`; host_port 0 takes
    the first of `free_ports` (probe_free_ports, consumed) that no endpoint holds now."""
    for index, mapping in enumerate(mappings):
        where = "ports[%d]" % index
        protocol, host_ip = mapping["protocol"], mapping["host_ip"] or default_host_ip
        container = _port_range(where, mapping["container_port"], False)
        if mapping["host_port"] == "0":
            host_ports = [_take_free(tx, free_ports.get((protocol, host_ip), []), protocol, host_ip, where)]
        else:
            low = _port_range(where, mapping["host_port"], True)[0]
            host_ports = list(range(low, low + container[1] - container[0] + 1))
        for offset, host_port in enumerate(host_ports):
            holder = tx.port_holder(protocol, host_ip, host_port)
            if holder:
                raise errors.InvalidParameterError(
                    where + ".host_port", "%d/%s on %s is already published by endpoint %s of network %s"
                    % ((host_port, protocol, host_ip or "every address") + holder))
            tx.add_port(endpoint_id, records.PublishedPort(protocol, host_ip, host_port, container[0] + offset))


def _take_free(tx: Writer, candidates: list[int], protocol: str, host_ip: str, where: str) -> int:
    while candidates:
        port = candidates.pop(0)
        if tx.port_holder(protocol, host_ip, port) is None:
            return port
    raise errors.InvalidParameterError(where + ".host_port", "no free %s port left in %d-%d"
                                       % (protocol, DYNAMIC_PORTS[0], DYNAMIC_PORTS[-1]))
