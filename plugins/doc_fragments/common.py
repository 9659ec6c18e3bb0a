# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  state_dir:
    description:
      - Directory of pynet's state on the target (a sqlite3 database, mode 0700).
      - Every pynet task on a host must use the same directory to see the same drivers, networks, endpoints and sandboxes.
    type: path
    default: /var/lib/pynet
requirements:
  - python >= 3.9
  - netaddr
  - Linux with network namespaces; run as root
notes:
  - Objects are kept in the state directory and made to match in the kernel on every run,
    so a bridge, veth or address removed outside pynet is reported in check mode and repaired by a normal run.
"""

    ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

    INFO_ATTRIBUTES = r"""
attributes:
  check_mode:
    support: full
    details: The module changes nothing.
  diff_mode:
    support: N/A
    details: The module changes nothing.
  platform:
    platforms: posix
"""
