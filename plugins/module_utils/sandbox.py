# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sandboxes: network namespaces identified by their key, a filesystem path, or `host`.

`new_sandbox(key)` makes a namespace bind-mounted at the key (as `ip netns add` does) or
adopts the namespace already mounted there. The store remembers which ones pynet made, by the
(st_dev, st_ino) of the namespace and the boot it was made in: `destroy()` removes only the
namespace that is still that one, and never a file that is not a network namespace.

A key is reached without following symlinks and acted on through the descriptors that were
checked (kernel/netns.py). A key with a symlink in its path, under /proc, or holding the host's
own network namespace is refused.

The one key that is not a path, HOST_SANDBOX_KEY (`host`), is the host's own namespace (that of
pynet's caller, where it makes bridges), as Docker's host network shares it: only endpoints of a
host network join it (the orchestrator refuses any other), and pynet changes nothing in it. It
is never looked up on the filesystem, made or removed: new_sandbox() records it, destroy()
forgets it.

The sandbox owns its gateway policy, as libnetwork's sandbox.go and default_gateway.go do: which of
its endpoints gives it its default route of each IP version (default_route_owners), and
refresh_default_routes(), which the orchestrator calls once the endpoints of a sandbox changed.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import sandbox_files
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.base import Driver
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, paths, rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import (
    EndpointRecord, InSandbox, RecordView, SandboxRecord, record_field)
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import DEFAULT_STATE_DIR, Snapshot, Store

PATH_MAX = 4096
PROC = "/proc"
DIRECTORY_MODE = 0o755  # of the directories made on the way to a key

# The key of the host's own namespace: the sandbox of host networks' endpoints (drivers/host.py).
HOST_SANDBOX_KEY = "host"

# What new_sandbox() does at a key (see _action).
NOTHING = "nothing"
ADOPT = "adopt"
CREATE = "create"


class Sandbox(RecordView):
    """libnetwork's Sandbox: a network namespace that endpoints join, at its key."""

    key = record_field("key", "the path of the namespace file")

    def __init__(self, store: Store, record: SandboxRecord):
        super().__init__(record)
        self._store = store

    def __repr__(self) -> str:
        return "Sandbox(%r)" % self.key

    @property
    def created(self) -> bool:
        """Whether the sandbox is pynet's (and so removed by pynet): a namespace at the key must be the
        one pynet made in this boot; with none there, pynet's own is gone and is made again."""
        found, identity = examine(self.key)
        if found == netns.NETNS:
            return identity is not None and identity == _own_identity(self._record)
        return self._record.created

    def exists(self) -> bool:
        """Whether a namespace is mounted at the key (it may have been removed outside pynet); the host's
        always is."""
        return examine(self.key)[0] == netns.NETNS

    def endpoints(self) -> list[InSandbox]:
        """The endpoints in this sandbox (InSandbox records: the endpoint and its network's name), by ifname."""
        return sorted(self._store.snapshot().endpoints_in_sandbox(self.key), key=lambda found: found.endpoint.ifname)

    def destroy(self) -> None:
        """Remove the namespace if pynet made it, and forget the sandbox; refuses while endpoints use it,
        and (changing nothing) when a symlink is now on the key's path."""
        with self._store.write() as tx:
            names = ["%s/%s" % (found.network, found.endpoint.name) for found in tx.endpoints_in_sandbox(self.key)]
            if names:
                raise errors.ActiveEndpointsError("sandbox", self.key, names)
            if self.key == HOST_SANDBOX_KEY:  # the host's namespace is only forgotten, and has no files
                tx.forget_sandbox(self.key)
                return
            record = tx.sandbox(self.key)
            with _directory(self.key) as parent:
                if parent is not None and record and record.created:
                    # Only the namespace pynet mounted, and the empty file of its own under it; a
                    # namespace someone else put at the key since (after a reboot, say) is left.
                    netns.destroy_at(parent, os.path.basename(self.key), _own_identity(record))
            sandbox_files.remove(self._store.state_dir, self.key)
            tx.forget_sandbox(self.key)


def _own_identity(record: SandboxRecord | None) -> tuple[int, int] | None:
    """The (st_dev, st_ino) of the namespace pynet made for this record in this boot, or None.

    A record of schema 2 or before has none (pynet did not keep it): the namespace at its key is
    then taken for adopted, since after a reboot it may be another tool's; its empty file (left
    at the key by a reboot) is still pynet's to remove."""
    if not record or not record.created or record.ns_ino is None or record.boot_id != netns.boot_id():
        return None
    return (record.ns_dev, record.ns_ino)


def check_key(key: object, param: str = "key") -> str:
    """A sandbox key is HOST_SANDBOX_KEY, or an absolute, normalised path with no symlink in it, outside
    /proc, and not the host's own namespace; anything else is refused before any change."""
    if key == HOST_SANDBOX_KEY:
        return key
    if not isinstance(key, str) or not key:
        raise errors.InvalidParameterError(param, "%r is not a path: give the absolute path of a network "
                                           "namespace file, such as /run/pynet/netns/c1" % (key,))
    if not os.path.isabs(key):
        raise errors.SandboxKeyError(key, "is a relative path; give an absolute path such as /run/pynet/netns/c1 "
                                     "(or %s, the host's own namespace, for an endpoint of a host network)"
                                     % HOST_SANDBOX_KEY, param)
    if os.path.normpath(key) != key or "\0" in key or len(key) >= PATH_MAX or key == "/":
        raise errors.SandboxKeyError(key, "is not a normalised path (no '..', '//', trailing '/' or NUL); "
                                     "did you mean %s?" % os.path.normpath(key.replace("\0", "")), param)
    if key == PROC or key.startswith(PROC + "/"):
        raise errors.SandboxKeyError(key, "is under /proc: a sandbox is a namespace file of its own, such as "
                                     "/run/pynet/netns/c1, never a process's namespace", param)
    with _directory(key, param=param) as parent:
        found = netns.examine_at(parent, os.path.basename(key)) if parent is not None else (netns.MISSING, None)
    if found[0] == netns.SYMLINK:
        raise _symlink_error(key, key, param)
    if found[0] == netns.NETNS and found[1] in netns.host_identities():
        raise errors.SandboxKeyError(key, "holds the host's own network namespace (that of pynet's caller or of "
                                     "PID 1); a sandbox must be a namespace of its own. For host networking, "
                                     "join a network of driver host with the sandbox key %s" % HOST_SANDBOX_KEY,
                                     param)
    return key


def _symlink_error(key: str, link: str, param: str) -> errors.SandboxKeyError:
    return errors.SandboxKeyError(key, "must not contain symlinks: %s is a symbolic link; give the real path"
                                  % link, param)


@contextlib.contextmanager
def _directory(key: str, make: bool = False, param: str = "key") -> Iterator[int | None]:
    """The O_PATH descriptor of the key's directory, reached without symlinks (and made, mode 0755,
    with `make`); None when it does not exist."""
    try:
        parent = paths.open_directory(os.path.dirname(key), make_mode=DIRECTORY_MODE if make else None)
    except FileNotFoundError:
        parent = None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symlink_error(key, exc.filename, param) from None
        if exc.errno == errno.ENOTDIR:
            raise errors.SandboxKeyError(key, "cannot be made: %s is not a directory" % exc.filename, param) from None
        raise
    try:
        yield parent
    finally:
        if parent is not None:
            os.close(parent)


def examine(key: str) -> tuple[str, tuple[int, int] | None]:
    """(what is at the key, the namespace's (st_dev, st_ino) if it is one), as netns.examine_at()
    says; netns.SYMLINK for a symlink anywhere on its path, netns.OTHER under something not a directory.
    At HOST_SANDBOX_KEY is a namespace, always, of no identity pynet made."""
    if key == HOST_SANDBOX_KEY:
        return netns.NETNS, None
    try:
        parent = paths.open_directory(os.path.dirname(key))
    except FileNotFoundError:
        return netns.MISSING, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return netns.SYMLINK, None
        if exc.errno == errno.ENOTDIR:
            return netns.OTHER, None
        raise
    try:
        return netns.examine_at(parent, os.path.basename(key))
    finally:
        os.close(parent)


def is_there(key: str) -> bool:
    """Whether the sandbox's namespace is there: always the host's, at a path one mounted at it."""
    return key == HOST_SANDBOX_KEY or netns.is_netns(key)


def plan(store: Store, key: str) -> str:
    """What new_sandbox(key) would do at a key check_key() passed: NOTHING (the sandbox stands), ADOPT
    or CREATE; raises if it would be refused."""
    return _action(store.snapshot().sandbox(key), examine(key)[0], key)


def _action(record: SandboxRecord | None, found: str, key: str) -> str:
    if found == netns.NETNS:
        return NOTHING if record else ADOPT
    # The empty file of pynet's own creation that was cut off, or left by a reboot, is made again.
    if found == netns.MISSING or (found == netns.PLACEHOLDER and record and record.created):
        return CREATE
    raise errors.SandboxKeyError(key, "exists and is not a network namespace; pynet never overwrites it")


def lookup(store: Store, key: str) -> Sandbox | None:
    """The sandbox known at `key`, or None."""
    record = store.snapshot().sandbox(key)
    return Sandbox(store, record) if record else None


def all_sandboxes(store: Store) -> list[Sandbox]:
    return [Sandbox(store, record) for record in store.snapshot().sandboxes()]


def create(store: Store, key: str) -> Sandbox:
    """Make or adopt the namespace at `key` and record it (the work of new_sandbox)."""
    check_key(key)
    with store.write() as tx:
        action = _action(tx.sandbox(key), examine(key)[0], key)
        if action == ADOPT:
            tx.adopt_sandbox(key)
    if action == CREATE:
        _make(store, key)
    return lookup(store, key)


def _make(store: Store, key: str) -> None:
    # The namespace is made first, its loopback up, and mounted at the key last: a process killed
    # before the mount leaves nothing (the namespace dies with it) but a record, or an empty file.
    ns_fd, identity = netns.new()
    try:
        with rtnl.connect(ns_fd) as sandbox:
            sandbox.set_up(rtnl.LOOPBACK_INDEX)
        # Intent first, committed on its own: a process killed after the mount below leaves the
        # namespace at the key known as pynet's, by its identity.
        with store.write() as tx:
            if _action(tx.sandbox(key), examine(key)[0], key) != CREATE:
                return  # made or adopted by another process meanwhile
            tx.record_own_sandbox(key, identity, netns.boot_id())
        with store.write() as tx:
            record = tx.sandbox(key)
            with _directory(key, make=True) as parent:
                name = os.path.basename(key)
                found = netns.examine_at(parent, name)[0]
                if not record or not record.created or found == netns.NETNS:
                    return  # forgotten, or made by another process meanwhile
                if found == netns.PLACEHOLDER:  # what a creation cut off before its mount left
                    netns.destroy_at(parent, name, None)
                elif found != netns.MISSING:
                    raise errors.SandboxKeyError(key, "exists and is not a network namespace; pynet never "
                                                 "overwrites it")
                # Another process may have recorded its own intent since: the namespace mounted is this one.
                tx.set_sandbox_identity(key, identity, netns.boot_id())
                netns.bind_at(ns_fd, parent, name)
    finally:
        os.close(ns_fd)


def new_sandbox(key: str, state_dir: str = DEFAULT_STATE_DIR) -> Sandbox:
    """libnetwork's sandbox.NewSandbox(key): a sandbox at `key`, recorded in the store of `state_dir`."""
    return create(Store(state_dir), key)


# --- the gateway policy ---------------------------------------------------------------------------


def default_route_owners(members: list[InSandbox]) -> dict[int, str]:
    """Which endpoint gives the sandbox its default route, per IP version, as {version: endpoint id}:
    of its endpoints (InSandbox records, oldest first) on networks that are neither internal nor
    no_default_route, the one with the highest gw_priority, then the oldest."""
    owners = {}
    for version in (4, 6):
        candidates = [found.endpoint for found in members
                      if found.endpoint.address(version) and not (found.internal or found.no_default_route)]
        if candidates:
            owners[version] = max(candidates, key=lambda endpoint: endpoint.options.get("gw_priority") or 0).id
    return owners


def with_default_routes(endpoint: EndpointRecord, owners: dict[int, str]) -> EndpointRecord:
    """The endpoint record with the IP versions whose default route it owns (`owners` as above)."""
    return endpoint._replace(default_routes=tuple(version for version, owner in sorted(owners.items())
                                                  if owner == endpoint.id))


def refresh_default_routes(snapshot: Snapshot, key: str, driver_of: Callable[[str], Driver]) -> None:
    """Give the sandbox at `key` its default routes through the endpoints that own them now;
    driver_of(network type) is the driver to ask. The host's namespace has none of pynet's."""
    if key == HOST_SANDBOX_KEY or not netns.is_netns(key):
        return
    members = snapshot.endpoints_in_sandbox(key)
    owners = default_route_owners(members)
    for found in members:
        if found.endpoint.id in owners.values():
            network = snapshot.network(network_id=found.endpoint.network_id)
            driver_of(network.type).set_default_route(network, with_default_routes(found.endpoint, owners))
