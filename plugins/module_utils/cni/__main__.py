# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`python3 -m ansible_collections.pynet.libnetwork.plugins.module_utils.cni`: the CNI plugin."""

from __future__ import annotations

from ansible_collections.pynet.libnetwork.plugins.module_utils.cni import plugin

if __name__ == "__main__":
    raise SystemExit(plugin.main())
