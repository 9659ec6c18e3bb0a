# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host driver: Docker's host network, whose endpoints share the host's own network namespace.

Its endpoints are in the sandbox of the key `host` (sandbox.HOST_SANDBOX_KEY), and only there (the
orchestrator refuses any other pairing). Joining is nothing, as in Docker: no interface, no address,
no route, no firewall rule and no DNS file; a service of such a container listens on the host's own
addresses and ports. So a host network takes no option but labels, its endpoints none at all, and a
host has one of them, as it has one namespace.
"""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, options
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import NetworkRecord

# The one network option a host network takes: labels live only in the store.
TAKEN = ("labels",)


class HostDriver(Driver):
    network_type = "host"
    changes_kernel = False
    shares_host_namespace = True

    def validate_network_options(self, given: object) -> dict:
        """Labels, and the other options only at what a host network records for them (as a task that
        changes labels gives them back)."""
        unknown = sorted(set(given) - set(self.NETWORK_OPTIONS)) if isinstance(given, dict) else []
        if unknown:
            raise _no_option(unknown[0])
        checked = super().validate_network_options(given)
        for name, option in self.NETWORK_OPTIONS.items():
            if name not in TAKEN and not _is_default(checked[name], option.default):
                raise _no_option(name)
        return checked

    def check_conflicts(self, network_options: dict, others: list[NetworkRecord]) -> None:
        if others:
            raise errors.InvalidParameterError(
                "driver", "network %s is this host's host network already: a host has one namespace, so one host "
                "network (as Docker allows one); put the endpoints on %s" % (others[0].name, others[0].name))

    def validate_endpoint_options(self, given: object) -> dict:
        named = sorted(name for name, value in given.items() if value is not None) if isinstance(given, dict) else []
        if named:
            name = named[0]
            if "ports" in named:
                raise errors.InvalidParameterError(
                    "ports", "an endpoint of a host network uses the host's own ports: what it listens on is "
                    "reached at the host's addresses, with nothing to publish; leave ports out")
            raise errors.InvalidParameterError(
                name, "an endpoint of a host network is in the host's own namespace, with the host's interfaces, "
                "addresses and names: it takes no options; leave %s out" % name)
        return options.validate(given, self.ENDPOINT_OPTIONS)


def _is_default(value: object, default: object) -> bool:
    # An option left unset (None) is recorded as its empty value (ipam [], enable_ipv6 false).
    return value == default or (default is None and not value)


def _no_option(name: str) -> errors.InvalidParameterError:
    return errors.InvalidParameterError(name, "the host network has the host's own addresses and routes, which pynet "
                                        "leaves alone; it takes no option but %s" % ", ".join(TAKEN))
