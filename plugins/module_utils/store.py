# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State on the host: one sqlite3 database in the state directory, and the only place with SQL
(but for ipam.py's own tables: pools and allocations).

Writers are serialised by `BEGIN IMMEDIATE` (one write transaction at a time across every
process on the host); readers read the last committed state (WAL) and are never blocked by a
writer. Reads and writes are named operations on typed records (records.py): Snapshot reads,
Writer (a write transaction, or a trial that is rolled back) reads and writes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sqlite3
import stat
from collections.abc import Iterator

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, records
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import paths

DEFAULT_STATE_DIR = "/var/lib/pynet"
DATABASE_NAME = "pynet.db"
SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 60000

# Columns added to a table after it was first made, by the schema that added them: a database of
# before gets them (NULL in its rows) when it is brought to this schema.
ADDED_COLUMNS = {
    # Schema 3: a sandbox pynet made, the (st_dev, st_ino) of the namespace it mounted at the key, and
    # the boot it did so in (an inode number names a namespace only until the next boot).
    "sandboxes": (("ns_dev", "INTEGER"), ("ns_ino", "INTEGER"), ("boot_id", "TEXT"),
                  # Schema 4: who made the record by attaching to the namespace (records.OWNER_CNI: a
                  # runtime's netns, forgotten with its last endpoint); NULL for playbooks and the library.
                  ("owner", "TEXT")),
    # Schema 4: who made the endpoint (NULL: a playbook or the library; records.OWNER_CNI: a container
    # runtime) and, for a runtime's, the CNI container id of the attachment (container id, ifname).
    "endpoints": (("owner", "TEXT"), ("container_id", "TEXT")),
}
# Indexes on added columns: made once the columns are there.
ADDED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS endpoints_attachment ON endpoints(network_id, container_id, ifname)",
)

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
    boot_id TEXT,
    owner TEXT
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
    owner TEXT,
    container_id TEXT,
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

    def __init__(self, state_dir: str = DEFAULT_STATE_DIR, create: bool = True):
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

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[Writer]:
        """One write transaction (a Writer); every process on the host waits its turn."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield Writer(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextlib.contextmanager
    def trial(self) -> Iterator[Writer]:
        """A write transaction that is always rolled back: for predicting a change (check mode)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield Writer(self._db)
        finally:
            self._db.execute("ROLLBACK")

    def snapshot(self) -> Snapshot:
        """Reads of the last committed state."""
        return Snapshot(self._db)

    @contextlib.contextmanager
    def host_lock(self) -> Iterator[None]:
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


def state_directory(state_dir: str) -> str:
    """The absolute path of a state directory: the store and the firewall's table name both go by it
    (the store refuses a path with a symlink, so this is the real path)."""
    if not isinstance(state_dir, str) or not state_dir or "\0" in state_dir:
        raise errors.InvalidParameterError("state_dir", "%r is not a path: give the absolute path of a directory, "
                                           "such as %s" % (state_dir, DEFAULT_STATE_DIR))
    return os.path.abspath(state_dir)


def _open(state_dir: str, create: bool) -> sqlite3.Connection:
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


def _open_state_dir(state_dir: str, create: bool) -> int | None:
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


def _check_directory(state_dir: str, path: str, st: os.stat_result) -> None:
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


def _check_database_file(found: os.stat_result, path: str) -> None:
    if not stat.S_ISREG(found.st_mode):
        raise errors.StateError(path, "is not a regular file")
    if found.st_size == 0:
        # Never started afresh: the networks, endpoints and sandboxes it held would be orphaned.
        raise errors.StateError(path, "is empty (0 bytes): the state of everything pynet made on this host "
                                "is lost")


def _create_database(directory: int, state_dir: str) -> None:
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


def _connect(path: str, create_schema: bool = False) -> sqlite3.Connection:
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


def _schema_version(db: sqlite3.Connection) -> int | None:
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.OperationalError:  # no meta table
        return None
    return int(row[0]) if row else None


def _migrate(db: sqlite3.Connection) -> None:
    """The schema of this version, made or brought up from an older one in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if _schema_version(db) != SCHEMA_VERSION:  # another process may have done it meanwhile
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for table, added in ADDED_COLUMNS.items():
                columns = {row[1] for row in db.execute("PRAGMA table_info(%s)" % table)}
                for column, kind in added:
                    if column not in columns:
                        db.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, kind))
            for statement in ADDED_INDEXES:
                db.execute(statement)
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True)


# Each record type is read from its row here: the JSON columns (options) are decoded by the record
# that holds them.

def _network(row: sqlite3.Row) -> records.NetworkRecord:
    options = json.loads(row["options"])
    return records.NetworkRecord(row["id"], row["name"], row["type"], options, row["state"],
                                 records.pools_of(options.get("ipam")))


def _endpoint(row: sqlite3.Row) -> records.EndpointRecord:
    return records.EndpointRecord(row["id"], row["network_id"], row["name"], row["sandbox_key"], row["ifname"],
                                  row["host_ifname"], row["mac"], row["address"], row["address_ipv6"],
                                  json.loads(row["options"]), row["state"], owner=row["owner"],
                                  container_id=row["container_id"])


def _sandbox(row: sqlite3.Row) -> records.SandboxRecord:
    return records.SandboxRecord(row["key"], bool(row["created"]), row["ns_dev"], row["ns_ino"], row["boot_id"],
                                 row["owner"])


_PORT_COLUMNS = "ports.protocol, ports.host_ip, ports.host_port, ports.container_port"


def _port(row: sqlite3.Row) -> records.PublishedPort:
    return records.PublishedPort(row["protocol"], row["host_ip"], row["host_port"], row["container_port"])


class Snapshot:
    """Reads of the store: of the last committed state, or inside a Writer's transaction."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def query_one(self, sql: str, params: tuple = ()) -> dict | None:
        """One row as a dict, or None: for ipam.py's own tables (pools, allocations), which it reads itself."""
        row = self._db.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def query_all(self, sql: str, params: tuple = ()) -> list[dict]:
        """Rows as dicts: for ipam.py's own tables (pools, allocations), which it reads itself."""
        return [dict(row) for row in self._db.execute(sql, params)]

    # --- drivers ----------------------------------------------------------------------------------

    def driver_options(self, network_type: str) -> dict | None:
        """The host-wide options a driver was configured with, or None when it is not configured."""
        row = self._db.execute("SELECT options FROM drivers WHERE type = ?", (network_type,)).fetchone()
        return json.loads(row["options"]) if row is not None else None

    def driver_types(self) -> list[str]:
        return [row["type"] for row in self._db.execute("SELECT type FROM drivers ORDER BY type")]

    # --- networks ---------------------------------------------------------------------------------

    def networks(self, network_type: str | None = None) -> list[records.NetworkRecord]:
        """Every network (or those of one type), by name."""
        if network_type is None:
            rows = self._db.execute("SELECT * FROM networks ORDER BY name")
        else:
            rows = self._db.execute("SELECT * FROM networks WHERE type = ? ORDER BY name", (network_type,))
        return [_network(row) for row in rows]

    def network(self, name: str | None = None, network_id: str | None = None) -> records.NetworkRecord | None:
        """The network of that name (or id), or None."""
        if network_id is not None:
            row = self._db.execute("SELECT * FROM networks WHERE id = ?", (network_id,)).fetchone()
        else:
            row = self._db.execute("SELECT * FROM networks WHERE name = ?", (name,)).fetchone()
        return _network(row) if row is not None else None

    def networks_publishing(self) -> set[str]:
        """The ids of the networks with an endpoint (not being deleted) that publishes ports."""
        return {row[0] for row in self._db.execute(
            "SELECT DISTINCT endpoints.network_id FROM ports JOIN endpoints ON endpoints.id = ports.endpoint_id "
            "WHERE endpoints.state != ?", (records.STATE_DELETING,))}

    def firewall_inputs(self) -> tuple[list[records.NetworkRecord], list[records.FirewallPort]]:
        """What the firewall is rendered from: the networks, and the published ports of their endpoints
        (as FirewallPorts, ordered by protocol, address and port), but those being deleted: their
        rules go first, so a deletion cut off leaves none behind."""
        networks = [network for network in self.networks() if network.state != records.STATE_DELETING]
        ports = [records.FirewallPort(row["network_id"], _port(row), row["address"], row["address_ipv6"])
                 for row in self._db.execute(
                     "SELECT %s, endpoints.network_id, endpoints.address, endpoints.address_ipv6 FROM ports "
                     "JOIN endpoints ON endpoints.id = ports.endpoint_id JOIN networks ON networks.id = "
                     "endpoints.network_id WHERE endpoints.state != ? AND networks.state != ? "
                     "ORDER BY ports.protocol, ports.host_ip, ports.host_port" % _PORT_COLUMNS,
                     (records.STATE_DELETING, records.STATE_DELETING))]
        return networks, ports

    # --- endpoints --------------------------------------------------------------------------------

    def endpoints(self, network_id: str) -> list[records.EndpointRecord]:
        """A network's endpoints, by name."""
        return [_endpoint(row) for row in self._db.execute(
            "SELECT * FROM endpoints WHERE network_id = ? ORDER BY name", (network_id,))]

    def endpoint(self, network_id: str, name: str | None = None,
                 endpoint_id: str | None = None) -> records.EndpointRecord | None:
        """The endpoint of that name (or id) in the network, or None."""
        if endpoint_id is not None:
            row = self._db.execute("SELECT * FROM endpoints WHERE network_id = ? AND id = ?",
                                   (network_id, endpoint_id)).fetchone()
        else:
            row = self._db.execute("SELECT * FROM endpoints WHERE network_id = ? AND name = ?",
                                   (network_id, name)).fetchone()
        return _endpoint(row) if row is not None else None

    def endpoints_owned(self, network_id: str, owner: str | None) -> list[records.EndpointRecord]:
        """A network's endpoints made by `owner` (None: by playbooks and the library), by name."""
        return [_endpoint(row) for row in self._db.execute(
            "SELECT * FROM endpoints WHERE network_id = ? AND owner IS ? ORDER BY name", (network_id, owner))]

    def attachment(self, network_id: str, container_id: str, ifname: str) -> records.EndpointRecord | None:
        """The endpoint of a runtime's attachment (container id, ifname) in the network, or None."""
        row = self._db.execute("SELECT * FROM endpoints WHERE network_id = ? AND container_id = ? AND ifname = ?",
                               (network_id, container_id, ifname)).fetchone()
        return _endpoint(row) if row is not None else None

    def endpoints_in_sandbox(self, key: str) -> list[records.InSandbox]:
        """The endpoints in the sandbox at `key`, oldest first, as InSandbox records."""
        return [records.InSandbox(_endpoint(row), row["network"], bool(network_options.get("internal")),
                                  bool(network_options.get("no_default_route")))
                for row in self._db.execute(
                    "SELECT endpoints.*, networks.name AS network, networks.options AS network_options "
                    "FROM endpoints JOIN networks ON networks.id = endpoints.network_id "
                    "WHERE endpoints.sandbox_key = ? ORDER BY endpoints.rowid", (key,))
                for network_options in (json.loads(row["network_options"]),)]

    # --- published ports --------------------------------------------------------------------------

    def ports(self, endpoint_id: str) -> list[records.PublishedPort]:
        """The host ports an endpoint holds, by protocol and port."""
        return [_port(row) for row in self._db.execute(
            "SELECT %s FROM ports WHERE endpoint_id = ? ORDER BY protocol, host_port" % _PORT_COLUMNS,
            (endpoint_id,))]

    def port_holder(self, protocol: str, host_ip: str, host_port: int) -> tuple[str, str] | None:
        """(endpoint name, network name) of the endpoint that holds the port on that address (or on
        every address), or None."""
        row = self._db.execute(
            "SELECT endpoints.name, networks.name FROM ports JOIN endpoints ON endpoints.id = ports.endpoint_id "
            "JOIN networks ON networks.id = endpoints.network_id "
            "WHERE protocol = ? AND host_port = ? AND (host_ip = ? OR host_ip = '' OR ? = '')",
            (protocol, host_port, host_ip, host_ip)).fetchone()
        return tuple(row) if row is not None else None

    def held_ports(self, protocol: str, host_ip: str, first: int, last: int) -> set[int]:
        """The host ports from `first` to `last` held on that address (or on every address)."""
        return {row[0] for row in self._db.execute(
            "SELECT host_port FROM ports WHERE protocol = ? AND host_port BETWEEN ? AND ? "
            "AND (host_ip = ? OR host_ip = '' OR ? = '')", (protocol, first, last, host_ip, host_ip))}

    # --- sandboxes --------------------------------------------------------------------------------

    def sandbox(self, key: str) -> records.SandboxRecord | None:
        row = self._db.execute("SELECT * FROM sandboxes WHERE key = ?", (key,)).fetchone()
        return _sandbox(row) if row is not None else None

    def sandboxes(self) -> list[records.SandboxRecord]:
        return [_sandbox(row) for row in self._db.execute("SELECT * FROM sandboxes ORDER BY key")]

    # --- host settings ----------------------------------------------------------------------------

    def host_changes(self) -> list[records.HostChange]:
        """What pynet changed on the host and has not put back (HostChanges), by setting."""
        return [records.HostChange(*row) for row in self._db.execute(
            "SELECT setting, original, value, parent FROM host_changes ORDER BY setting")]


class Writer(Snapshot):
    """One write transaction (or a trial, rolled back): named changes, and the reads within it."""

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        """For ipam.py's own tables (pools, allocations), which it writes itself."""
        return self._db.execute(sql, params)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Changes made in the block are undone when it raises; the transaction goes on."""
        self._db.execute("SAVEPOINT step")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO step")
            raise
        finally:
            self._db.execute("RELEASE step")

    # --- drivers ----------------------------------------------------------------------------------

    def save_driver(self, network_type: str, options: dict) -> None:
        self._db.execute("INSERT OR REPLACE INTO drivers(type, options) VALUES (?, ?)", (network_type, _json(options)))

    def forget_driver(self, network_type: str) -> None:
        self._db.execute("DELETE FROM drivers WHERE type = ?", (network_type,))

    # --- networks ---------------------------------------------------------------------------------

    def add_network(self, network: records.NetworkRecord) -> None:
        self._db.execute("INSERT INTO networks(id, name, type, options, state) VALUES (?, ?, ?, ?, ?)",
                         (network.id, network.name, network.type, _json(network.options), network.state))

    def set_network_state(self, network_id: str, state: str) -> None:
        self._db.execute("UPDATE networks SET state = ? WHERE id = ?", (state, network_id))

    def set_network_options(self, network_id: str, options: dict) -> None:
        self._db.execute("UPDATE networks SET options = ? WHERE id = ?", (_json(options), network_id))

    def forget_network(self, network_id: str) -> None:
        """The network's record, with its pools and their allocations; its endpoints must be gone."""
        self._db.execute("DELETE FROM networks WHERE id = ?", (network_id,))

    # --- endpoints --------------------------------------------------------------------------------

    def add_endpoint(self, endpoint: records.EndpointRecord) -> None:
        self._db.execute("INSERT INTO endpoints(id, network_id, name, sandbox_key, ifname, host_ifname, mac, address, "
                         "address_ipv6, options, state, owner, container_id) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (endpoint.id, endpoint.network_id, endpoint.name, endpoint.sandbox_key, endpoint.ifname,
                          endpoint.host_ifname, endpoint.mac, endpoint.ipv4, endpoint.ipv6, _json(endpoint.options),
                          endpoint.state, endpoint.owner, endpoint.container_id))

    def set_endpoint_state(self, endpoint_ids: list[str], state: str) -> None:
        self._db.executemany("UPDATE endpoints SET state = ? WHERE id = ?", [(state, id_) for id_ in endpoint_ids])

    def forget_endpoints(self, endpoint_ids: list[str]) -> None:
        """The endpoints' records with their published ports (ipam.release frees their addresses)."""
        self._db.executemany("DELETE FROM endpoints WHERE id = ?", [(id_,) for id_ in endpoint_ids])

    def add_port(self, endpoint_id: str, port: records.PublishedPort) -> None:
        self._db.execute("INSERT INTO ports(endpoint_id, protocol, host_ip, host_port, container_port) "
                         "VALUES (?, ?, ?, ?, ?)", (endpoint_id,) + tuple(port))

    # --- sandboxes --------------------------------------------------------------------------------

    def adopt_sandbox(self, key: str, owner: str | None = None) -> bool:
        """Record the namespace at `key` as not pynet's (never removed by pynet), unless it is known;
        `owner` as an endpoint's. Whether it was recorded now."""
        return self._db.execute("INSERT OR IGNORE INTO sandboxes(key, created, owner) VALUES (?, 0, ?)",
                                (key, owner)).rowcount == 1

    def record_own_sandbox(self, key: str, identity: tuple[int, int], boot_id: str) -> None:
        """Record the sandbox at `key` as pynet's, made with the namespace of (st_dev, st_ino) `identity`."""
        self._db.execute("INSERT OR REPLACE INTO sandboxes(key, created, ns_dev, ns_ino, boot_id) "
                         "VALUES (?, 1, ?, ?, ?)", (key, identity[0], identity[1], boot_id))

    def set_sandbox_identity(self, key: str, identity: tuple[int, int], boot_id: str) -> None:
        self._db.execute("UPDATE sandboxes SET ns_dev = ?, ns_ino = ?, boot_id = ? WHERE key = ?",
                         (identity[0], identity[1], boot_id, key))

    def forget_sandbox(self, key: str) -> None:
        self._db.execute("DELETE FROM sandboxes WHERE key = ?", (key,))

    # --- host settings ----------------------------------------------------------------------------

    def record_host_change(self, setting: str, original: str, value: str, parent: str = "") -> None:
        """A change about to be made (a child one, with a `parent`, is kept if already recorded)."""
        self._db.execute("INSERT OR %s INTO host_changes(setting, original, value, parent) VALUES (?, ?, ?, ?)"
                         % ("IGNORE" if parent else "ABORT"), (setting, original, value, parent))

    def set_host_change(self, setting: str, value: str) -> None:
        self._db.execute("UPDATE host_changes SET value = ? WHERE setting = ?", (value, setting))

    def forget_host_change(self, setting: str) -> None:
        self._db.execute("DELETE FROM host_changes WHERE setting = ?", (setting,))
