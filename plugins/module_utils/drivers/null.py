# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The null driver: networks without connectivity; the sandbox keeps only its loopback."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import EndpointRecord, NetworkRecord


class NullDriver(Driver):
    network_type = "null"

    def create_endpoints(self, network: NetworkRecord, endpoints: list[EndpointRecord]) -> list[Exception | None]:
        outcome = []
        for endpoint in endpoints:
            try:
                with rtnl.connect(endpoint.sandbox_key) as sandbox:
                    sandbox.set_up(rtnl.LOOPBACK_INDEX)
                outcome.append(None)
            except OSError as exc:
                outcome.append(exc)
        return outcome
