# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the CNI plugin needs of pynet's library beyond its public API, in one place, each with what
the core should give instead. verbs.py uses nothing else of the library's insides.

- An attachment, (container id, ifname), is an endpoint named `cni.<container id>.<ifname>`: the
  core has no field for a runtime's container id nor for who owns an endpoint, so the name carries
  both. The core should record them (an endpoint owner, `cni` here, and the container id), list
  endpoints by them, and leave a runtime's endpoints out of playbooks' `purge` and `prune_stale`.
- A runtime's netns is adopted by create_endpoint (recorded as not made by pynet, so never removed);
  its sandbox record should go with its last endpoint, which the core does not do by itself, and
  create_endpoint leaves the record it made when it fails.
- A Result lists the routes an attachment made: the default route of an IP version only where the
  endpoint owns it (the oldest endpoint, or the highest gw_priority, of the sandbox); sandbox_info()
  gives the gateways but not which of them the sandbox routes through.
- STATUS asks whether an ADD would get an address; the core has no call for that.
- Only some network types give a container an interface: the driver's capability flag says which
  (gives_interface); the plugin reads it through the driver the controller returns.
"""

from __future__ import annotations

import re

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, ipam

ATTACHMENT_PREFIX = "cni."
# pynet's endpoint names (options.check_name): 1 to 128 of these characters.
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
HASHED_LENGTH = 56  # hex digits of sha256 for a (container id, ifname) too long or odd for a name
PROBE_OWNER = "cni-status-probe"


def attachment_name(container_id, ifname):
    """The endpoint name of an attachment: readable where it fits a name, else a digest of the pair."""
    name = "%s%s.%s" % (ATTACHMENT_PREFIX, container_id, ifname)
    if ENDPOINT_NAME.match(name):
        return name
    import hashlib  # pylint: disable=import-outside-toplevel  # only ids longer than ~110 characters need it
    return ATTACHMENT_PREFIX + hashlib.sha256(("%s/%s" % (container_id, ifname)).encode()).hexdigest()[:HASHED_LENGTH]


def is_attachment(endpoint):
    """Whether a CNI runtime made this endpoint (the core should say so with an owner field)."""
    return endpoint.name.startswith(ATTACHMENT_PREFIX)


def container_id(endpoint):
    """The CNI container id of an attachment's endpoint, or None (not an attachment, or a digest)."""
    name, suffix = endpoint.name, "." + endpoint.record().ifname
    if not is_attachment(endpoint) or not name.endswith(suffix) or len(name) <= len(ATTACHMENT_PREFIX + suffix):
        return None
    return name[len(ATTACHMENT_PREFIX):-len(suffix)]


def known_sandbox(controller, key):
    """Whether pynet has a record of the sandbox at `key`."""
    try:
        controller.sandbox_by_key(key)
    except errors.UnknownSandboxError:
        return False
    return True


def forget_runtime_sandbox(controller, key):
    """Forget the sandbox record of a runtime's netns once no endpoint is in it (pynet did not make
    the netns, so destroy() leaves it alone; the runtime removes it). Without this, every container
    ever run would leave a record, which a playbook's prune_stale would then report as a change."""
    try:
        sandbox = controller.sandbox_by_key(key)
    except errors.UnknownSandboxError:
        return
    if not sandbox.created and not sandbox.endpoints():
        try:
            sandbox.destroy()
        except errors.ActiveEndpointsError:  # another attachment came into it meanwhile
            pass


def exhausted_pools(controller, network):
    """The IP versions of the network's pools that have no free address left: an allocation tried in
    a transaction that is rolled back. The core should answer this itself (Network.has_free_address)."""
    exhausted = []
    with controller.store.trial() as tx:
        for version in sorted({pool.version for pool in network.pools()}):
            try:
                ipam.allocate(tx, network.name, network.id, version, PROBE_OWNER)
            except errors.NoAvailableIPsError:
                exhausted.append(version)
    return exhausted


def default_route_versions(controller, endpoint):
    """The IP versions whose default route in the sandbox goes through this endpoint."""
    return controller.default_routes(endpoint)


def gives_interface(controller, network):
    """Whether the network's endpoints are an interface in the container."""
    return controller.driver(network.type).impl.gives_interface
