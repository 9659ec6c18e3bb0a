# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State on the host: one sqlite3 database in the state directory.

Writers are serialised by `BEGIN IMMEDIATE` (one write transaction at a time across every
process on the host); readers use WAL snapshots and are never blocked by a writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors

DEFAULT_STATE_DIR = "/var/lib/pynet"
DATABASE_NAME = "pynet.db"
SCHEMA_VERSION = 3
BUSY_TIMEOUT_MS = 60000

# Life of a network or endpoint record: intent is recorded before the kernel is changed,
# so a record not 'ready' is one whose creation or deletion was cut off.
STATE_CREATING = "creating"
STATE_READY = "ready"
STATE_DELETING = "deleting"

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
    created INTEGER NOT NULL
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
        """With create=False (check mode, reading), a state directory that does not exist yet is
        read as an empty store held in memory: nothing is written on the host."""
        self.state_dir = os.path.abspath(state_dir)
        self.path = os.path.join(self.state_dir, DATABASE_NAME)
        if os.path.lexists(self.state_dir) and not os.path.isdir(self.state_dir):
            raise errors.InvalidParameterError("state_dir", "%s exists and is not a directory" % self.state_dir)
        blocking = file_in_the_way(self.state_dir)
        if blocking:
            raise errors.InvalidParameterError("state_dir", "%s cannot be made: %s is not a directory"
                                               % (self.state_dir, blocking))
        if create or os.path.exists(self.path):
            _make_private_dir(self.state_dir)
            # Files sqlite creates (the database, -wal, -shm) are private to root too.
            old_umask = os.umask(0o077)
            try:
                self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000.0,
                                           isolation_level=None, check_same_thread=False)
            finally:
                os.umask(old_umask)
        else:
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = %d" % BUSY_TIMEOUT_MS)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")
        if self._schema_version() != SCHEMA_VERSION:
            with self.write() as tx:
                tx.executescript_in_tx(_SCHEMA)
                tx.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def _schema_version(self):
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        except sqlite3.OperationalError:
            return None
        return int(row[0]) if row else None

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
        lock = os.open(self.state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)  # releases the lock, as the death of the process does


class Transaction:
    """Thin helpers over one connection; rows come back as dicts with JSON fields decoded."""

    def __init__(self, db):
        self._db = db

    def execute(self, sql, params=()):
        return self._db.execute(sql, params)

    def executescript_in_tx(self, script):
        for statement in script.split(";"):
            if statement.strip():
                self._db.execute(statement)

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


def file_in_the_way(path):
    """The nearest existing ancestor of `path` if it is not a directory (so `path` cannot be made), else None."""
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(parent):
        parent = os.path.dirname(parent)
    return None if os.path.isdir(parent) else parent


def _make_private_dir(path):
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o700)
