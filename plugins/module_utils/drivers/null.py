# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The null driver: networks without connectivity; the sandbox keeps only its loopback."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import links, netns


class NullDriver(Driver):
    network_type = "null"

    def create_endpoint(self, network, endpoint):
        with netns.entered(endpoint["sandbox_key"]), links.route_socket() as ipr:
            links.set_up(ipr, links.link(ipr, "lo")["index"])
