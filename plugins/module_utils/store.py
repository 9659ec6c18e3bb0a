# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State on the host: one sqlite3 database in the state directory.

Writers are serialised by `BEGIN IMMEDIATE` (one write transaction at a time across every
process on the host); readers use WAL snapshots and are never blocked by a writer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import stat

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import paths

DEFAULT_STATE_DIR = "/var/lib/pynet"
DATABASE_NAME = "pynet.db"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 60000

# Life of a network or endpoint record: intent is recorded before the kernel is changed,
# so a record not 'ready' is one whose creation or deletion was cut off.
STATE_CREATING = "creating"
STATE_READY = "ready"
STATE_DELETING = "deleting"

# A sandbox pynet made: the (st_dev, st_ino) of the namespace it mounted at the key, and the boot
# it did so in (an inode number names a namespace only until the next boot).
SANDBOX_IDENTITY_COLUMNS = (("ns_dev", "INTEGER"), ("ns_ino", "INTEGER"), ("boot_id", "TEXT"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS drivers (
    type TEXT PRIMARY KEY,
    options TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pools (
    id INTEGER PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    subnet TEXT NOT NULL,
    gateway TEXT,
    range_first INTEGER NOT NULL,
    range_last INTEGER NOT NULL,
    cursor INTEGER
);
CREATE INDEX IF NOT EXISTS pools_network ON pools(network_id);
CREATE TABLE IF NOT EXISTS allocations (
    pool_id INTEGER NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
    offset INTEGER NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (pool_id, offset)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS allocations_owner ON allocations(owner);
CREATE TABLE IF NOT EXISTS sandboxes (
    key TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    ns_dev INTEGER,
    ns_ino INTEGER,
    boot_id TEXT
);
CREATE TABLE IF NOT EXISTS endpoints (
    id TEXT PRIMARY KEY,
    network_id TEXT NOT NULL REFERENCES networks(id),
    name TEXT NOT NULL,
    sandbox_key TEXT NOT NULL,
    ifname TEXT NOT NULL,
    host_ifname TEXT NOT NULL,
    mac TEXT NOT NULL,
    address TEXT,
    address_ipv6 TEXT,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    UNIQUE (network_id, name)
);
CREATE INDEX IF NOT EXISTS endpoints_sandbox ON endpoints(sandbox_key);
CREATE TABLE IF NOT EXISTS ports (
    endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    protocol TEXT NOT NULL,
    host_ip TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (protocol, host_ip, host_port)
);
CREATE INDEX IF NOT EXISTS ports_endpoint ON ports(endpoint_id);
CREATE TABLE IF NOT EXISTS host_changes (
    setting TEXT PRIMARY KEY,
    original TEXT NOT NULL,
    value TEXT NOT NULL,
    parent TEXT NOT NULL DEFAULT ''
);
"""


class Store:
    """The database of one state directory. Cheap to open; one per Controller."""

    def __init__(self, state_dir=DEFAULT_STATE_DIR, create=True):
        """With create=False (check mode, reading), a state directory or database that does not exist
        yet is read as an empty store held in memory: nothing is written on the host."""
        self.state_dir = state_directory(state_dir)
        self.path = os.path.join(self.state_dir, DATABASE_NAME)
        # Files sqlite creates (the database, -wal, -shm) are private to root too.
        old_umask = os.umask(0o077)
        try:
            self._db = _open(self.state_dir, create)
        finally:
            os.umask(old_umask)

    def close(self):
        self._db.close()

    @contextlib.contextmanager
    def write(self):
        """One write transaction; every process on the host waits its turn."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def trial(self):
        """A write transaction that is always rolled back: for predicting a change (check mode)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(self._db)
        finally:
            self._db.execute("ROLLBACK")

    def read(self):
        """A reader over the last committed state."""
        return Transaction(self._db)

    @contextlib.contextmanager
    def host_lock(self):
        """Held by one process at a time: for work that reads the store and then changes the host in
        several steps (host settings, the firewall), so that two processes never act on different
        readings. Never taken inside a transaction (a writer may be waiting for it). A flock of the
        state directory: no file of its own, and apart from sqlite's own (POSIX) locks."""
        lock = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)  # releases the lock, as the death of the process does


def state_directory(state_dir):
    """The absolute path of a state directory: the store and the firewall's table name both go by it
    (the store refuses a path with a symlink, so this is the real path)."""
    if not isinstance(state_dir, str) or not state_dir or "\0" in state_dir:
        raise errors.InvalidParameterError("state_dir", "%r is not a path: give the absolute path of a directory, "
                                           "such as %s" % (state_dir, DEFAULT_STATE_DIR))
    return os.path.abspath(state_dir)


def _open(state_dir, create):
    """The connection to the database of `state_dir`, checked, made or brought to this schema."""
    directory = _open_state_dir(state_dir, create)
    if directory is None:
        return _connect(":memory:", create_schema=True)
    try:
        try:
            found = os.stat(DATABASE_NAME, dir_fd=directory, follow_symlinks=False)
        except FileNotFoundError:
            if not create:
                return _connect(":memory:", create_schema=True)
            _create_database(directory, state_dir)
        else:
            _check_database_file(found, os.path.join(state_dir, DATABASE_NAME))
    finally:
        os.close(directory)
    return _connect(os.path.join(state_dir, DATABASE_NAME))


def _open_state_dir(state_dir, create):
    """An O_PATH descriptor of the state directory, every directory on its path checked (see
    _check_directory) before anything in it is read or made; None if it does not exist and not `create`.
    Missing directories are made, mode 0700; none that exists is ever changed."""

    def check(path, st, unused_made):
        _check_directory(state_dir, path, st)

    try:
        return paths.open_directory(state_dir, make_mode=0o700 if create else None, check=check)
    except FileNotFoundError:
        if create:
            raise
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise errors.InvalidParameterError(
                "state_dir", "%s is a symbolic link; give the real path of the state directory (its path must "
                "not contain symlinks)" % exc.filename) from None
        if exc.errno == errno.ENOTDIR:
            if exc.filename == state_dir:
                raise errors.InvalidParameterError("state_dir", "%s exists and is not a directory" % state_dir) from None
            raise errors.InvalidParameterError("state_dir", "%s cannot be made: %s is not a directory"
                                               % (state_dir, exc.filename)) from None
        raise


def _check_directory(state_dir, path, st):
    """Only root may write the state directory, or any directory on its path (where whoever may
    could put another state directory in its place): a directory on the way may be writable by all
    only with the sticky bit, as /tmp, where only its owner can rename or remove an entry."""
    euid = os.geteuid()
    writable = stat.S_IMODE(st.st_mode) & 0o022
    remedy = "pynet keeps its state only where no one but root can change it; give another path (a missing " \
        "directory is made, mode 0700)"
    if path == state_dir:
        if st.st_uid != euid:
            raise errors.InvalidParameterError("state_dir", "%s is owned by uid %d, not by root (uid %d); %s"
                                               % (path, st.st_uid, euid, remedy))
        if writable:
            raise errors.InvalidParameterError("state_dir", "%s is writable by its group or others (mode %04o); %s"
                                               % (path, stat.S_IMODE(st.st_mode), remedy))
    elif st.st_uid not in (0, euid) or (writable and not st.st_mode & stat.S_ISVTX):
        raise errors.InvalidParameterError(
            "state_dir", "%s, on the path of %s, is owned by uid %d with mode %04o: another user could put "
            "their own state directory in its place; %s" % (path, state_dir, st.st_uid, stat.S_IMODE(st.st_mode),
                                                            remedy))


def _check_database_file(found, path):
    if not stat.S_ISREG(found.st_mode):
        raise errors.StateError(path, "is not a regular file")
    if found.st_size == 0:
        # Never started afresh: the networks, endpoints and sandboxes it held would be orphaned.
        raise errors.StateError(path, "is empty (0 bytes): the state of everything pynet made on this host "
                                "is lost")


def _create_database(directory, state_dir):
    """A new database, made whole under a temporary name and then linked into place, so that no
    crash ever leaves pynet.db empty or half made (an empty one is refused, not started afresh).
    A process killed in between leaves only its temporary files."""
    temporary = ".%s.%d-%s.new" % (DATABASE_NAME, os.getpid(), os.urandom(4).hex())
    try:
        _connect(os.path.join(state_dir, temporary), create_schema=True).close()
        made = os.open(temporary, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=directory)
        try:
            os.fsync(made)
        finally:
            os.close(made)
        # link(), not rename(): a database another process linked in first is kept, and used.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, DATABASE_NAME, src_dir_fd=directory, dst_dir_fd=directory, follow_symlinks=False)
    finally:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary + suffix, dir_fd=directory)


def _connect(path, create_schema=False):
    """A connection to the database at `path`, brought to SCHEMA_VERSION; a file that is not a pynet
    database (of this schema or an older one) is refused."""
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000.0, isolation_level=None, check_same_thread=False)
    try:
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        version = _schema_version(db)
        if version is None and not create_schema:
            raise errors.StateError(path, "holds no pynet state (no schema version)")
        if version is not None and version > SCHEMA_VERSION:
            raise errors.StateError(path, "was written by a newer pynet (schema %d; this one knows %d): upgrade "
                                    "pynet" % (version, SCHEMA_VERSION), remedy="")
        if version != SCHEMA_VERSION:
            _migrate(db)
    except sqlite3.OperationalError:
        db.close()
        raise
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        db.close()
        raise errors.StateError(path, "is not a usable pynet database (sqlite: %s)" % exc) from None
    except BaseException:
        db.close()
        raise
    return db


def _schema_version(db):
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.OperationalError:  # no meta table
        return None
    return int(row[0]) if row else None


def _migrate(db):
    """The schema of this version, made or brought up from an older one in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if _schema_version(db) != SCHEMA_VERSION:  # another process may have done it meanwhile
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            # Schema 3: a sandbox's namespace identity. Rows of before have none: see sandbox.py.
            columns = {row[1] for row in db.execute("PRAGMA table_info(sandboxes)")}
            for column, kind in SANDBOX_IDENTITY_COLUMNS:
                if column not in columns:
                    db.execute("ALTER TABLE sandboxes ADD COLUMN %s %s" % (column, kind))
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Transaction:
    """Thin helpers over one connection; rows come back as dicts with JSON fields decoded."""

    def __init__(self, db):
        self._db = db

    def execute(self, sql, params=()):
        return self._db.execute(sql, params)

    def one(self, sql, params=()):
        row = self._db.execute(sql, params).fetchone()
        return _decode(row) if row is not None else None

    def all(self, sql, params=()):
        return [_decode(row) for row in self._db.execute(sql, params)]


def _decode(row):
    record = dict(row)
    if isinstance(record.get("options"), str):
        record["options"] = json.loads(record["options"])
    return record


def encode_options(options):
    return json.dumps(options, sort_keys=True)
