# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nftables through its JSON interface, in the calling thread's network namespace.

Commands are JSON documents given to `nft -j -f -` on standard input: nothing is ever
interpolated into a command line. A document is applied by the kernel as one transaction.
Refusals are raised as OSError with an errno, as the kernel's others are. subprocess is imported
only when nft runs: most processes (an endpoint without published ports) never need it.
"""

from __future__ import annotations

import errno
import json
import os

NFT_SEARCH_PATH = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def _nft() -> str:
    for directory in NFT_SEARCH_PATH:
        binary = os.path.join(directory, "nft")
        if os.access(binary, os.X_OK):
            return binary
    raise OSError(errno.ENOENT, "nft (the nftables package) is not installed; pynet programs its firewall with it")


def _errno(message: str) -> int:
    """The errno of a refusal nft reports as text ("Error: Could not process rule: File exists");
    EINVAL for a document nft itself rejects."""
    return next((code for code in errno.errorcode if os.strerror(code) in message), errno.EINVAL)


def apply(commands: list[dict]) -> None:
    """Apply a list of JSON commands ({"add": ...}, {"flush": ...}, ...) as one transaction."""
    import subprocess  # pylint: disable=import-outside-toplevel  # see the module's docstring
    document = json.dumps({"nftables": [{"metainfo": {"json_schema_version": 1}}] + list(commands)})
    done = subprocess.run([_nft(), "-j", "-f", "-"], input=document, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise OSError(_errno(done.stderr), "nftables refused pynet's ruleset: %s" % done.stderr.strip())


def list_table(family: str, name: str) -> list[dict] | None:
    """The table's objects as nft lists them in JSON, or None when there is no such table."""
    import subprocess  # pylint: disable=import-outside-toplevel  # see the module's docstring
    done = subprocess.run([_nft(), "-j", "list", "table", family, name], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    return [item for item in json.loads(done.stdout)["nftables"] if "metainfo" not in item]
