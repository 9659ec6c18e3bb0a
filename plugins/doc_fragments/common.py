# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  state_dir:
    description:
      - Directory of pynet's state on the target (a sqlite3 database, files mode 0600).
      - Every pynet task on a host must use the same directory to see the same drivers, networks, endpoints and sandboxes.
      - It must be owned by root and writable by no one else, and so must every directory on its path (one writable
        by all needs the sticky bit, as V(/tmp)); its path must not contain symbolic links. Anything else is refused
        before it is read. A missing directory is made, mode 0700; an existing one is never changed.
      - A C(pynet.db) that is empty or not a database is refused, never started afresh; restore it from a backup,
        or move it aside to start over.
    type: path
    default: /var/lib/pynet
requirements:
  - python >= 3.9
  - Linux with network namespaces; run as root
notes:
  - Objects are kept in the state directory and made to match in the kernel on every run,
    so a bridge, veth or address removed outside pynet is reported in check mode and repaired by a normal run.
  - The modules keep the library's compiled code on the target in C(/var/cache/pynet/bytecode/) (one file per module
    of the library and Python version, about 1 MB), so that a task does not compile the library from Ansible's payload
    on every run. It is used only where that directory and every one above it are root's alone; deleting it is safe at
    any time, and E(PYTHONDONTWRITEBYTECODE) keeps the modules from writing it.
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
