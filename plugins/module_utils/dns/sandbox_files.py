# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resolv.conf and hosts files of a sandbox, for its runtime to give its containers.

They live under the state directory, in `sandboxes/`, named after a digest of the sandbox's key
(`<digest>.resolv.conf`, `<digest>.hosts`), mode 0644: a runtime bind-mounts or copies them into
containers whose processes may not be root. A sandbox under /run/netns (`ip netns add NAME`) also
gets /etc/netns/NAME/resolv.conf, which `ip netns exec` mounts over /etc/resolv.conf; a file there
that pynet did not write (it lacks pynet's first line) is never replaced or removed.
"""

from __future__ import annotations

import errno
import hashlib
import os

from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import files

DIRECTORY = "sandboxes"
IP_NETNS_DIR = "/run/netns"
ETC_NETNS = "/etc/netns"
_OURS = b"# pynet: "  # the first line of every file pynet renders (config.resolv_conf, config.hosts)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _netns_directory(key: str) -> str | None:
    """/etc/netns/NAME for a sandbox at /run/netns/NAME, else None."""
    if os.path.dirname(key) == IP_NETNS_DIR:
        return os.path.join(ETC_NETNS, os.path.basename(key))
    return None


def paths(state_dir: str, key: str) -> dict:
    """Where the files of the sandbox at `key` are: resolv_conf, hosts, and netns_resolv_conf (or None)."""
    base = os.path.join(state_dir, DIRECTORY, _digest(key))
    netns_directory = _netns_directory(key)
    return {"resolv_conf": base + ".resolv.conf", "hosts": base + ".hosts",
            "netns_resolv_conf": os.path.join(netns_directory, "resolv.conf") if netns_directory else None}


def write(state_dir: str, key: str, resolv_conf: str, hosts: str) -> None:
    """Write the sandbox's files (each replaced whole, only where it changed)."""
    name = _digest(key)
    with files.directory(os.path.join(state_dir, DIRECTORY), create_mode=0o700) as directory_fd:
        for suffix, text in ((".resolv.conf", resolv_conf), (".hosts", hosts)):
            if files.read(directory_fd, name + suffix) != text.encode():
                files.write_atomically(directory_fd, name + suffix, text.encode(), mode=0o644)
    netns_directory = _netns_directory(key)
    if netns_directory:
        with files.directory(netns_directory, create_mode=0o755) as directory_fd:
            found = files.read(directory_fd, "resolv.conf")
            if found is None or (found.startswith(_OURS) and found != resolv_conf.encode()):
                files.write_atomically(directory_fd, "resolv.conf", resolv_conf.encode(), mode=0o644)


def remove(state_dir: str, key: str) -> None:
    """Remove the sandbox's files (those pynet wrote); missing ones are fine."""
    name = _digest(key)
    try:
        with files.directory(os.path.join(state_dir, DIRECTORY)) as directory_fd:
            for suffix in (".resolv.conf", ".hosts"):
                files.remove(directory_fd, name + suffix)
    except FileNotFoundError:
        pass
    netns_directory = _netns_directory(key)
    if netns_directory:
        try:
            with files.directory(netns_directory) as directory_fd:
                found = files.read(directory_fd, "resolv.conf")
                if found is not None and found.startswith(_OURS):
                    files.remove(directory_fd, "resolv.conf")
                if not files.names(directory_fd):
                    os.rmdir(netns_directory)  # empty: the directory pynet made for the file
        except FileNotFoundError:
            pass
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise


def host_nameservers(resolv_conf: str = "/etc/resolv.conf") -> list[str]:
    """The host's resolvers that a sandbox can reach (loopback ones are the host's own), as Docker gives
    containers on networks without DNS."""
    try:
        with open(resolv_conf, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            address = fields[1].split("%")[0]
            if not (address.startswith("127.") or address == "::1") and address not in found:
                found.append(address)
    return found
