# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interface every driver implements: what a network type does to the kernel.

Drivers get plain records (dicts) from the controller and never touch the store: the
controller records intent first, then asks the driver to make the kernel match it.
Every method is idempotent, so a run cut off at any point is finished by the next one.
"""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils import options


class Driver:
    network_type = ""
    # Host-wide options (new_network_driver), network options and endpoint options, by name.
    DRIVER_OPTIONS = {}
    NETWORK_OPTIONS = {}
    ENDPOINT_OPTIONS = {}
    # Whether networks of this type get address pools and endpoints get addresses.
    uses_ipam = False

    def __init__(self, driver_options):
        self.options = driver_options

    @classmethod
    def validate_driver_options(cls, given):
        return options.validate(given, cls.DRIVER_OPTIONS, "options.")

    def check_network(self, network_options):
        """Refuse network options that this driver's host-wide options or the host forbid, and fill in
        those whose default comes from the host."""

    def complete_network_options(self, network_options, network_id):
        """Fill in the defaults that derive from the network id."""
        return network_options

    def validate_endpoint_options(self, given):
        return options.validate(given, self.ENDPOINT_OPTIONS)

    def create_network(self, network):
        """Make (or repair) the network's kernel objects."""

    def delete_network(self, network):
        """Remove the network's kernel objects that pynet made."""

    def create_endpoints(self, network, endpoints):
        """Make (or repair) the endpoints' kernel objects (endpoint['sandbox_key'] is a netns path).

        Returns one entry per endpoint: None, or the exception that stopped it; an endpoint that
        fails leaves nothing in the kernel, the others stand.
        """
        return [None] * len(endpoints)

    def delete_endpoints(self, network, endpoints):
        """Remove the endpoints' kernel objects; ones already gone are fine."""

    def host_settings(self, network, published):
        """What the host needs for this network, beyond the network's own objects, as {setting: value}
        (settings named as host_changes.py names them); `published` tells whether its endpoints publish ports.
        The controller records each change and puts it back once no network needs it."""
        return {}

    @staticmethod
    def owns_link(link):
        """Whether a host link (an rtnl link dict) is one this driver made for tenants' traffic."""
        return False

    @staticmethod
    def network_of_link(link):
        """The id of the network a host link was made for (a network's bridge), or None."""
        return None

    def network_drift(self, network):
        """What differs between the kernel and the declared network, as sentences (empty: none)."""
        return []

    def endpoints_drift(self, network, endpoints):
        """Per endpoint, what differs between the kernel and its declaration, as sentences (empty: none)."""
        return [[] for _endpoint in endpoints]
