# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sandboxes: network namespaces identified by their key, a filesystem path.

`new_sandbox(key)` makes a namespace bind-mounted at the key (as `ip netns add` does) or
adopts the namespace already mounted there. The store remembers which ones pynet made:
`destroy()` removes only those, and never a file that is not a network namespace.
"""

from __future__ import annotations

import os

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, rtnl
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import DEFAULT_STATE_DIR, Store, file_in_the_way

PATH_MAX = 4096


class Sandbox:
    """A network namespace that endpoints join."""

    def __init__(self, store, key, created):
        self._store = store
        self._key = key
        self.created = bool(created)

    @property
    def key(self):
        return self._key

    def __repr__(self):
        return "Sandbox(%r)" % self._key

    def exists(self):
        """Whether the namespace is mounted at the key (it may have been removed outside pynet)."""
        return netns.is_netns(self._key)

    def endpoints(self):
        """The endpoints in this sandbox as (network name, endpoint name, ifname) records."""
        return self._store.read().all(
            "SELECT networks.name AS network, endpoints.name AS name, endpoints.ifname AS ifname, "
            "endpoints.id AS id FROM endpoints JOIN networks ON networks.id = endpoints.network_id "
            "WHERE endpoints.sandbox_key = ? ORDER BY endpoints.ifname", (self._key,))

    def destroy(self):
        """Remove the namespace if pynet made it, and forget the sandbox; refuses while endpoints use it."""
        with self._store.write() as tx:
            names = [ep["network"] + "/" + ep["name"] for ep in self.endpoints()]
            if names:
                raise errors.ActiveEndpointsError("sandbox", self._key, names)
            # A file someone else put at the key since (after a reboot, say) is not pynet's to remove.
            if self.created and (netns.is_netns(self._key) or is_placeholder(self._key)):
                netns.destroy(self._key)
            tx.execute("DELETE FROM sandboxes WHERE key = ?", (self._key,))


def check_key(key, param="key"):
    """A sandbox key is an absolute, normalised path; anything else is refused before any change."""
    if not isinstance(key, str) or not key:
        raise errors.InvalidParameterError(param, "%r is not a path: give the absolute path of a network "
                                           "namespace file, such as /run/pynet/netns/c1" % (key,))
    if not os.path.isabs(key):
        raise errors.SandboxKeyError(key, "is a relative path; give an absolute path such as /run/pynet/netns/c1",
                                     param)
    if os.path.normpath(key) != key or "\0" in key or len(key) >= PATH_MAX:
        raise errors.SandboxKeyError(key, "is not a normalised path (no '..', '//', trailing '/' or NUL); "
                                     "did you mean %s?" % os.path.normpath(key.replace("\0", "")), param)
    blocking = file_in_the_way(key)
    if blocking:
        raise errors.SandboxKeyError(key, "cannot be made: %s is not a directory" % blocking, param)
    return key


def lookup(store, key):
    """The sandbox known at `key`, or None."""
    row = store.read().one("SELECT key, created FROM sandboxes WHERE key = ?", (key,))
    return Sandbox(store, row["key"], row["created"]) if row else None


def all_sandboxes(store):
    return [Sandbox(store, row["key"], row["created"])
            for row in store.read().all("SELECT key, created FROM sandboxes ORDER BY key")]


def create(store, key):
    """Make or adopt the namespace at `key` and record it (the work of new_sandbox)."""
    check_key(key)
    # Intent first, committed on its own: a process killed after the mount below still
    # leaves the namespace known as pynet's.
    with store.write() as tx:
        row = tx.one("SELECT created FROM sandboxes WHERE key = ?", (key,))
        if not netns.is_netns(key):
            if os.path.lexists(key) and not (row and row["created"] and is_placeholder(key)):
                raise errors.SandboxKeyError(key, "exists and is not a network namespace; pynet never overwrites it")
            tx.execute("INSERT OR REPLACE INTO sandboxes(key, created) VALUES (?, 1)", (key,))
        elif row is None:
            tx.execute("INSERT INTO sandboxes(key, created) VALUES (?, 0)", (key,))
    with store.write() as tx:
        created = bool(tx.one("SELECT created FROM sandboxes WHERE key = ?", (key,))["created"])
        if not netns.is_netns(key):
            if is_placeholder(key):  # the empty file of a creation that was cut off
                os.unlink(key)
            os.makedirs(os.path.dirname(key), mode=0o755, exist_ok=True)
            netns.create(key)
            with rtnl.connect(key) as sandbox:
                sandbox.set_up(rtnl.LOOPBACK_INDEX)
    return Sandbox(store, key, created)


def is_placeholder(path):
    """An empty regular file: what a creation cut off between making the file and mounting leaves."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    return os.path.isfile(path) and not os.path.islink(path) and st.st_size == 0


def new_sandbox(key, state_dir=DEFAULT_STATE_DIR):
    """The seed's sandbox.NewSandbox(key): a sandbox at `key`, recorded in the store of `state_dir`."""
    return create(Store(state_dir), key)
