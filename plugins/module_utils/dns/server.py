# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DNS servers of the networks in one directory: a dnsmasq per DNS network, made to match a
list of networks (config.DnsNetwork) as the firewall is made to match the store, whole.

`converge(directory, networks)` writes each network's files (config.dnsmasq_conf, its hosts files),
starts the servers that are missing, restarts those whose listen addresses or upstream servers
changed, reloads those whose names changed (the hosts files of the records that came or went
written or removed: dnsmasq watches its hostsdir with inotify and reads a file that comes, forgets
the names of one that goes, keeping its sockets and its process), and stops the servers of networks
no longer given. A reload needs no signal, so a caller in another PID namespace than the server's
(a container) can change names; a restart or a stop from there is refused with an error that says so.
`drift(directory, networks)` says what converge would change, as sentences, and changes nothing.
`update(directory, network, added, removed)` gives one running server records that came and takes
those that went, without reading or rendering the others: what an endpoint made or removed costs
does not grow with its network (converge reads every file of every network).

A server runs in the network namespace of the thread that starts it (the child forked from that
thread inherits it). Its pid file lives in the directory; a pid is taken to be that network's server
only when it is /usr/sbin/dnsmasq, started with exactly that network's configuration file, in the
caller's network namespace (as /proc shows it), so a pid reused after a crash or a reboot is never
signalled, and it is signalled through a pidfd opened before those checks. What the running server was last given is
recorded (`<id>.loaded`: a hash of its configuration), so a run cut off between writing the
configuration and the restart is finished by the next one (hosts files need no such record: writing
one is its reload).

Files per network, named by its id: <id>.conf, <id>.pid (dnsmasq's), <id>.loaded, and the directory
<id>.d holding its hosts files (dnsmasq's hostsdir: a file per record, named as config.record_file
names it, and the temporary files of their writing, whose names start with '.', which dnsmasq ignores).
Failures of dnsmasq or of the files raise OSError.

dnsmasq runs as the user `dnsmasq` (RUN_AS), which Debian's dnsmasq-base (and the dnsmasq packages of
other distributions) create for it, in that user's group: a user of its own, so that a compromised
server can read nothing but the names it serves and signal no other daemon (`nobody` is shared by
many). Only root reads the directory's other files; the hosts files and their directory belong to that
user, read-only (0400, 0500).
The directory must therefore be reachable by it (mode 0711: others may pass, not list), which pynet's
private state directory is not: the servers' directory lives elsewhere (the orchestrator uses /run).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import grp
import hashlib
import json
import os
import pwd
import re
import select
import stat

from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import config, files

DNSMASQ = "/usr/sbin/dnsmasq"
RUN_AS = "dnsmasq"
DIRECTORY_MODE = 0o711  # of the directory and of the directories made on its way
START_TIMEOUT = 10.0  # seconds for dnsmasq to bind its sockets and write its pid file
STOP_TIMEOUT = 2.0  # seconds for dnsmasq to exit on SIGTERM before it gets SIGKILL
LOCK_NAME = "lock"
_SERVED = re.compile(r"^([0-9a-f]{1,64})\.conf$")
_SUFFIXES = (".conf", ".pid", ".loaded")
HOSTS_DIR = ".d"
_DONE = {"start": "started", "restart": "restarted", "reload": "reloaded"}


def converge(directory, networks):
    """Make the servers in `directory` (an absolute path; made 0700 when missing, its parents must
    exist) serve exactly `networks`, each at its gateways; returns what was changed, as sentences.
    `networks` may be a function that returns them: it is called once the directory is locked, so
    that runs at the same time, each reading the store when its turn comes, end with the last one's."""
    return _run(directory, networks, act=True)


def drift(directory, networks):
    """What converge(directory, networks) would change, as sentences (empty: nothing)."""
    return _run(directory, networks, act=False)


def update(directory, network, added, removed):
    """Give the running server of `network` (a config.DnsNetwork, whose records are not read) the records
    `added` and take away the records `removed` that are not added, each a file written or removed; True
    when done. `added` may be a function that returns them: it is called once the directory is locked,
    as converge's `networks` is, so that a run that changed the store later writes after this one.
    False, with nothing changed, when the network's server is not running with its configuration as
    rendered: the caller converges then (started, restarted, all its names written)."""
    config.check_conf_path("directory", directory)
    if not os.path.isdir(directory):
        return False
    with files.directory(directory) as directory_fd, _locked(directory_fd):
        server = _Server(directory, directory_fd, network.id)
        conf = _conf(directory, network, account()[2])
        running = server.running()
        if running is None:
            return False
        running.close()
        # Exactly what converge records: the record of a pynet before hosts files per record (with a
        # "hosts" digest, and one file of all names in the hostsdir) needs converge's whole pass once.
        if server.read(".conf") != conf or server.loaded() != {"conf": _digest(conf)}:
            return False
        wanted = {name: text.encode() for name, text in map(config.record_file, added() if callable(added) else added)}
        server.write_hosts(wanted, {config.record_file(record)[0] for record in removed} - set(wanted))
    return True


def check_installed():
    """OSError unless dnsmasq and its user are there."""
    if not os.access(DNSMASQ, os.X_OK):
        raise OSError(errno.ENOENT, "%s (Debian's dnsmasq-base) is not installed; pynet serves the names of "
                                    "its networks with it" % DNSMASQ)
    account()


def account():
    """(uid, gid, group name) of RUN_AS; OSError when there is no such user."""
    try:
        user = pwd.getpwnam(RUN_AS)
    except KeyError:
        raise OSError(errno.ENOENT, "there is no user %s to run dnsmasq as: install dnsmasq-base (Debian's "
                                    "package creates it) or create it as a system user" % RUN_AS) from None
    try:
        group = grp.getgrgid(user.pw_gid).gr_name
    except KeyError:
        group = str(user.pw_gid)
    return user.pw_uid, user.pw_gid, group


def _run(directory, networks, act):
    config.check_conf_path("directory", directory)
    if not act and not os.path.isdir(directory):
        return ["the DNS server of network %s is not running" % network.name
                for network, _conf, _hosts in _rendered(directory, networks)]
    with files.directory(directory, create_mode=DIRECTORY_MODE) as directory_fd:
        with _locked(directory_fd) if act else contextlib.nullcontext():
            rendered = _rendered(directory, networks)
            if act and rendered:
                _check_reachable(directory, account())
            return _converge_in(directory, directory_fd, rendered, act)


def _check_reachable(directory, run_as):
    """OSError unless every directory on the way to `directory` lets RUN_AS pass (search permission),
    so that dnsmasq can read its hosts file after dropping root."""
    uid, gid = run_as[0], run_as[1]
    path = "/"
    for part in [""] + directory.strip("/").split("/"):
        path = os.path.join(path, part)
        found = os.stat(path)
        if found.st_uid == uid:
            allowed = found.st_mode & stat.S_IXUSR
        elif found.st_gid == gid:
            allowed = found.st_mode & stat.S_IXGRP
        else:
            allowed = found.st_mode & stat.S_IXOTH
        if not allowed:
            raise OSError(errno.EACCES, "dnsmasq runs as user %s, which cannot pass %s (mode %o) to read its hosts "
                                        "file in %s" % (RUN_AS, path, stat.S_IMODE(found.st_mode), directory))


def _rendered(directory, networks):
    """[(network, its dnsmasq configuration, its hosts file)]: every file rendered, so every value
    checked, before anything changes."""
    networks = list(networks() if callable(networks) else networks)
    ids = [network.id for network in networks]
    if len(set(ids)) != len(ids):
        raise ValueError("networks given twice: %s" % ", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    if not networks:
        return []
    group = account()[2]
    return [(network, _conf(directory, network, group),
             {name: text.encode() for name, text in config.dnsmasq_hosts(network).items()}) for network in networks]


def _conf(directory, network, group):
    return config.dnsmasq_conf(network, _path(directory, network.id, HOSTS_DIR), _path(directory, network.id, ".pid"),
                               RUN_AS, group).encode()


def _path(directory, network_id, suffix):
    return os.path.join(directory, network_id + suffix)


@contextlib.contextmanager
def _locked(directory_fd):
    """One process at a time changes the servers of a directory (concurrent runs on one host)."""
    fd = os.open(LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=directory_fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _converge_in(directory, directory_fd, rendered, act):
    served = {match.group(1) for match in map(_SERVED.match, files.names(directory_fd)) if match}
    found = []
    for network_id in sorted(served - {network.id for network, _conf, _hosts in rendered}):
        found += _retire(_Server(directory, directory_fd, network_id), act)
    for network, conf, hosts in rendered:
        found += _serve(_Server(directory, directory_fd, network.id), network, conf, hosts, act)
    return found


def _digest(data):
    return hashlib.sha256(data).hexdigest()


class _Server:
    """The files and the process of one network's dnsmasq."""

    def __init__(self, directory, directory_fd, network_id):
        self.id = network_id
        self.directory_fd = directory_fd
        self.conf_path = _path(directory, network_id, ".conf")
        self.pid_path = _path(directory, network_id, ".pid")

    def read(self, suffix):
        return files.read(self.directory_fd, self.id + suffix)

    def write(self, suffix, data):
        files.write_atomically(self.directory_fd, self.id + suffix, data)

    def read_hosts(self):
        """{file name: bytes} of the hosts files (None for a symlink there), or None without the directory."""
        try:
            with files.subdirectory(self.directory_fd, self.id + HOSTS_DIR) as hosts_dir:
                return {name: files.read(hosts_dir, name) for name in files.names(hosts_dir)
                        if not name.startswith(".")}
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_hosts(self, wanted, unwanted):
        """Write the hosts files `wanted` ({name: bytes}), which dnsmasq (as RUN_AS) reads at once: its and its
        directory's owner; remove those named in `unwanted`, whose names dnsmasq forgets at once."""
        owner = account()[0]
        with files.subdirectory(self.directory_fd, self.id + HOSTS_DIR, mode=0o500, owner=owner) as hosts_dir:
            for name, data in wanted.items():
                files.write_atomically(hosts_dir, name, data, mode=0o400, owner=owner)
            for name in unwanted:
                files.remove(hosts_dir, name)

    def loaded(self):
        """{"conf": digest} of what the running server was last started with, or {}."""
        try:
            return json.loads(self.read(".loaded") or b"{}")
        except ValueError:
            return {}

    def record_loaded(self, conf):
        self.write(".loaded", json.dumps({"conf": _digest(conf)}).encode())

    def running(self):
        """This network's running dnsmasq: None when it is not running, else a _Running."""
        raw = self.read(".pid") or b""
        if not raw.strip().isdigit():
            return None
        pid = int(raw)
        try:
            pidfd = os.pidfd_open(pid)
        except ProcessLookupError:  # gone, or in a PID namespace this process does not see
            pidfd = None
        if self._is_ours(pid):
            return _Running(self.id, pidfd)
        if pidfd is not None:
            os.close(pidfd)
        return None

    def _is_ours(self, pid):
        proc = "/proc/%d/" % pid
        try:
            exe = os.readlink(proc + "exe")
            with open(proc + "cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")[:-1]
            namespace = os.stat(proc + "ns/net")
        except OSError:  # gone meanwhile, or a zombie (no exe)
            return False
        here = os.stat("/proc/thread-self/ns/net")
        return all((exe in (DNSMASQ, DNSMASQ + " (deleted)"),  # deleted: upgraded since it started
                    argv == [os.fsencode(DNSMASQ), os.fsencode("--conf-file=" + self.conf_path)],
                    (namespace.st_dev, namespace.st_ino) == (here.st_dev, here.st_ino)))

    def start(self):
        import subprocess  # pylint: disable=import-outside-toplevel  # only a start needs it (exec'd per call)
        check_installed()
        # dnsmasq forks into the background once its sockets are bound and its pid file is written,
        # and its first process exits then, with a message and a non-zero status if that failed.
        done = subprocess.run([DNSMASQ, "--conf-file=" + self.conf_path], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, env={}, timeout=START_TIMEOUT, check=False)
        if done.returncode != 0:
            raise OSError(errno.EIO, "dnsmasq for network %s did not start: %s"
                          % (self.id, (done.stderr or done.stdout).strip()))
        # dnsmasq gives its pid file to its user; it is root's again, so that the server cannot name another
        # process for pynet to signal (a pid is checked before it is signalled anyway).
        files.set_mode(self.directory_fd, self.id + ".pid", 0o600, owner=0)
        started = self.running()
        if started is None:
            raise OSError(errno.ESRCH, "dnsmasq for network %s started but %s does not name it"
                          % (self.id, self.pid_path))
        started.close()

    def remove_files(self):
        for suffix in _SUFFIXES:
            files.remove(self.directory_fd, self.id + suffix)
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            with files.subdirectory(self.directory_fd, self.id + HOSTS_DIR) as hosts_dir:
                for name in files.names(hosts_dir):
                    files.remove(hosts_dir, name)
            os.rmdir(self.id + HOSTS_DIR, dir_fd=self.directory_fd)


class _Running:
    """A running server: a pidfd of it, or None when it runs in a PID namespace this process does not see."""

    def __init__(self, network_id, pidfd):
        self.network_id = network_id
        self.pidfd = pidfd

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns once the process is gone."""
        if self.pidfd is None:
            raise OSError(errno.ESRCH, "the DNS server of network %s runs in a PID namespace that this process "
                                       "does not see, so it cannot be stopped or restarted from here: run pynet "
                                       "in the PID namespace that started it (the host's)" % self.network_id)
        import signal  # pylint: disable=import-outside-toplevel  # only a stop needs it (1 ms of a CNI call)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            signal.pidfd_send_signal(self.pidfd, sig)
            if select.select([self.pidfd], [], [], STOP_TIMEOUT)[0]:  # a pidfd is readable once its process exits
                return

    def close(self):
        if self.pidfd is not None:
            os.close(self.pidfd)


def _serve(server, network, conf, hosts, act):
    """Sentences of what is wrong with (act=False) or was done to (act=True) the network's server,
    given its rendered configuration and hosts files."""
    conf_written = server.read(".conf") != conf
    present = server.read_hosts()
    hosts_written = present != hosts  # None: no hostsdir, which dnsmasq must find at its start to watch it
    present = present or {}
    loaded = server.loaded()
    running = server.running()
    try:
        if running is None:
            found = ["the DNS server of network %s is not running" % network.name]
            step = "start"
        elif conf_written or loaded.get("conf") != _digest(conf):
            found = ["the DNS server of network %s runs with other addresses or upstream servers than pynet's "
                     "store has" % network.name]
            step = "restart"
        elif hosts_written:
            found = ["the DNS server of network %s answers other names than pynet's store has" % network.name]
            step = "reload"
        else:
            return []
        if not act:
            return found
        if conf_written:
            server.write(".conf", conf)
        if step == "restart":
            running.stop()
        if hosts_written:  # a running server reads them now (inotify): the reload
            server.write_hosts({name: data for name, data in hosts.items() if present.get(name) != data},
                               set(present) - set(hosts))
        if step != "reload":
            server.start()
        server.record_loaded(conf)
        return ["%s the DNS server of network %s" % (_DONE[step], network.name)]
    finally:
        if running is not None:
            running.close()


def _retire(server, act):
    """The server and files of a network that is no longer served."""
    running = server.running()
    if not act:
        if running is None:
            return ["DNS files of network %s are left over" % server.id]
        running.close()
        return ["the DNS server of network %s runs but pynet serves no such network" % server.id]
    if running is not None:
        try:
            running.stop()
        finally:
            running.close()
    server.remove_files()
    return ["%s the DNS server of network %s" % ("stopped" if running is not None else "removed the files of",
                                                 server.id)]
