"""The simulated fleet (README.md here): an underlay bridge in a fabric namespace, etcd members
on it, and hosts that Ansible reaches by ssh as it reaches real ones.

Everything lives under one root directory (a test's tmp_path): namespace files, etcd's data,
keys and certificates, each host's layers. Every process is started here and stopped by its pid;
close() leaves no namespace, mount or process behind, and leftovers() says so.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))

import pynet_testing  # noqa: E402  (makes the collection importable)
from ansible_collections.pynet.libnetwork.plugins.module_utils import errors  # noqa: E402
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import etcd  # noqa: E402
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIXLEN = 16
CONTROL_ADDRESS = "10.250.255.254"  # the control node: the fabric bridge's own address
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
# The machine's own interpreter: the hosts' (a real host runs its distribution's Python; pynet's modules
# need only its standard library) and host_init's. Debian's is built with PGO and LTO: the modules run
# about a fifth faster than with this machine's pyenv build.
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def etcd_address(index):
    return "10.250.0.%d" % index


def host_address(index):
    return "10.250.%d.%d" % (1 + (index - 1) // 250, 1 + (index - 1) % 250)


def _wait(what, ready, timeout, process=None, log=None):
    """Poll ready() until it is true; fail with `what` (and the tail of the log) after timeout."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError("%s exited with %s: %s" % (what, process.returncode, _tail(log)))
        if time.monotonic() > deadline:
            raise RuntimeError("%s not ready after %g s: %s" % (what, timeout, _tail(log)))
        time.sleep(0.02)


def _tail(path):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as handle:
        return handle.read()[-2000:]


def _descendants(pid):
    """The pids of every process below `pid`, children before their parents' parents."""
    found = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except FileNotFoundError:
        return found
    for task in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as handle:
                children = [int(child) for child in handle.read().split()]
        except FileNotFoundError:
            continue
        for child in children:
            found.extend(_descendants(child))
            found.append(child)
    return found


def _command(pid):
    with contextlib.suppress(OSError):
        with open("/proc/%s/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    return "?"


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def stop_tree(process, timeout=10):
    """SIGTERM a process we started and every process below it, by pid; SIGKILL what outlives timeout."""
    pids = _descendants(process.pid) + [process.pid]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids[:-1]) and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        process.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    process.wait()


class Underlay:
    """A fabric namespace with the bridge pnfab (the control node's address on it), and a
    veth from the bridge to each namespace attached to it (eth0 there)."""

    def __init__(self, root):
        self.root = str(root)
        self.netns_dir = os.path.join(self.root, "netns")
        os.makedirs(self.netns_dir)
        self.inodes = set()  # of every namespace of the rig (network, and the hosts' mount namespaces)
        self.fabric = self._new_netns("fabric")
        self.run(["ip", "-batch", "-"], input="link set lo up\nlink add pnfab type bridge\n"
                 "addr add %s/%d dev pnfab\nlink set pnfab up\n" % (CONTROL_ADDRESS, PREFIXLEN))

    def _new_netns(self, name):
        path = os.path.join(self.netns_dir, name)
        netns.create(path)
        self.inodes.add(os.stat(path).st_ino)
        return path

    def namespaces(self):
        """Paths of every namespace of the underlay, the fabric's first."""
        return [self.fabric] + sorted(os.path.join(self.netns_dir, name) for name in os.listdir(self.netns_dir)
                                      if name != "fabric")

    def attach(self, name, address):
        """A new namespace `name` whose eth0 has `address` on the underlay; returns its path."""
        path = self._new_netns(name)
        self.run(["ip", "-batch", "-"], netns_path=path, input=(
            "link set lo up\nlink add eth0 type veth peer name pnf-%s netns %s\naddr add %s/%d dev eth0\n"
            "link set eth0 up\n" % (name, self.fabric, address, PREFIXLEN)))
        self.run(["ip", "link", "set", "pnf-" + name, "master", "pnfab", "up"])
        return path

    def run(self, argv, netns_path=None, check=True, **kwargs):
        """Run argv in the fabric (or in the namespace at netns_path); by default CalledProcessError
        if it fails."""
        kwargs.setdefault("capture_output", True)
        return subprocess.run(["nsenter", "--net=" + (netns_path or self.fabric)] + list(argv), check=check,
                              text=True, **kwargs)

    def entered(self):
        """The calling thread in the fabric for the block (sockets made there stay there)."""
        return netns.entered(self.fabric)

    def close(self):
        """Remove the namespaces, once every process in them is gone. Processes that the rig's
        own stops missed are SIGKILLed by pid (only the rig's processes can be inside its
        namespaces); returns their descriptions."""
        strays = self._inside()
        for pid in strays:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in strays) and time.monotonic() < deadline:
            time.sleep(0.02)
        for path in self.namespaces():
            netns.destroy(path)
        return ["process %d (%s)" % (pid, command) for pid, command in strays.items()]

    def _inside(self):
        """{pid: command} of the processes in a namespace of the rig."""
        found = {}
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                for kind in ("net", "mnt"):
                    with contextlib.suppress(OSError):
                        if os.stat("/proc/%s/ns/%s" % (pid, kind)).st_ino in self.inodes:
                            found[int(pid)] = _command(pid)
        return found

    def leftovers(self):
        """What is left of the rig: mounts under root, processes in its namespaces."""
        return (["mount " + point for point in pynet_testing.mounts_under(self.root)]
                + ["process %d (%s)" % item for item in self._inside().items()])


class Pki:
    """A throwaway CA, made with the openssl command line: server and client certificates."""

    def __init__(self, root, name="ca"):
        self.dir = os.path.join(str(root), name)
        os.makedirs(self.dir)
        self.ca_file = os.path.join(self.dir, "ca.crt")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", os.path.join(self.dir, "ca.key"), "-out", self.ca_file, "-days", "2",
                      "-subj", "/CN=pynet test %s" % name)

    def _openssl(self, *args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)

    def issue(self, name, addresses=(), usage="serverAuth,clientAuth"):
        """A certificate and key for `name` (the IP addresses as subjectAltNames): (cert, key) paths."""
        key, request, cert = (os.path.join(self.dir, name + suffix) for suffix in (".key", ".csr", ".crt"))
        extensions = ["-addext", "extendedKeyUsage=" + usage]
        if addresses:
            extensions += ["-addext", "subjectAltName=" + ",".join("IP:" + address for address in addresses)]
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", key, "-out", request, "-subj", "/CN=" + name, *extensions)
        self._openssl("x509", "-req", "-in", request, "-CA", self.ca_file, "-CAkey", os.path.join(self.dir, "ca.key"),
                      "-CAcreateserial", "-copy_extensions", "copyall", "-days", "2", "-out", cert)
        return cert, key


class EtcdCluster:
    """Debian's etcd: `size` members, each in a namespace of its own on the underlay
    (10.250.0.1, .2, ...), data under root; with TLS for clients when `pki` is given."""

    def __init__(self, underlay, root, size=1, pki=None, client_cert_auth=False, extra_args=()):
        self.underlay = underlay
        self.root = os.path.join(str(root), "etcd")
        self.size = size
        self.pki = pki
        self.client_cert_auth = client_cert_auth
        self.extra_args = list(extra_args)
        self.members = {}  # index: Popen
        self.names = ["pnetcd%d" % index for index in range(1, size + 1)]
        self.namespaces = {}
        scheme = "etcds" if pki else "etcd"
        self.urls = ["%s://%s:%d" % (scheme, etcd_address(index), ETCD_CLIENT_PORT) for index in range(1, size + 1)]
        self.cluster_store = ",".join(self.urls)
        self.client_cert = pki.issue("pynet-client", usage="clientAuth") if pki else None

    def client_options(self):
        """EtcdClient's keyword arguments other than cluster_store."""
        if not self.pki:
            return {}
        return {"ca_file": self.pki.ca_file, "cert_file": self.client_cert[0], "key_file": self.client_cert[1]}

    def start(self, timeout=30):
        for index in range(1, self.size + 1):
            self.start_member(index)
        with self.underlay.entered():
            _wait("etcd at %s" % self.cluster_store, self._answers, timeout, log=self._log(1))
        return self

    def start_member(self, index):
        name, address = self.names[index - 1], etcd_address(index)
        if name not in self.namespaces:
            self.namespaces[name] = self.underlay.attach(name, address)
        scheme = "https" if self.pki else "http"
        client_url = "%s://%s:%d" % (scheme, address, ETCD_CLIENT_PORT)
        peers = ",".join("%s=http://%s:%d" % (self.names[i - 1], etcd_address(i), ETCD_PEER_PORT)
                         for i in range(1, self.size + 1))
        argv = ["etcd", "--name", name, "--data-dir", os.path.join(self.root, name),
                "--listen-client-urls", client_url, "--advertise-client-urls", client_url,
                "--listen-peer-urls", "http://%s:%d" % (address, ETCD_PEER_PORT),
                "--initial-advertise-peer-urls", "http://%s:%d" % (address, ETCD_PEER_PORT),
                "--initial-cluster", peers, "--initial-cluster-token", "pynet-test",
                # A machine of this kind answers in well under a millisecond: elections in 0.1 s
                "--heartbeat-interval", "20", "--election-timeout", "200",
                "--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
        if self.pki:
            cert, key = self.pki.issue(name, [address])
            argv += ["--cert-file", cert, "--key-file", key]
            if self.client_cert_auth:
                argv += ["--trusted-ca-file", self.pki.ca_file, "--client-cert-auth"]
        argv += self.extra_args
        os.makedirs(self.root, exist_ok=True)
        with open(self._log(index), "a") as log:
            self.members[index] = subprocess.Popen(["nsenter", "--net=" + self.namespaces[name]] + argv,
                                                   stdout=log, stderr=subprocess.STDOUT)

    def _log(self, index):
        return os.path.join(self.root, "%s.log" % self.names[index - 1])

    def _answers(self):
        try:
            with etcd.EtcdClient(self.cluster_store, timeout=1, **self.client_options()) as client:
                client.get("/pynet-test/ready")
            return True
        except errors.ClusterStoreError:
            return False

    def stop_member(self, index):
        process = self.members.pop(index, None)
        if process is not None:
            stop_tree(process)

    def etcdctl(self, *args):
        """etcdctl against the first member, from the fabric (the root user once auth is on)."""
        argv = ["etcdctl", "--endpoints", self.urls[0].replace("etcds://", "https://").replace("etcd://", "http://")]
        if self.pki:
            argv += ["--cacert", self.pki.ca_file, "--cert", self.client_cert[0], "--key", self.client_cert[1]]
        return self.underlay.run(argv + list(args)).stdout

    def enable_auth(self, username, password, root_password="pynet-root"):
        """etcd's authentication on: `username` may read and write the keys under /pynet/ only."""
        for args in (("user", "add", "root:" + root_password), ("role", "add", "root"),
                     ("user", "grant-role", "root", "root"), ("user", "add", "%s:%s" % (username, password)),
                     ("role", "add", "pynet"),
                     ("role", "grant-permission", "pynet", "--prefix=true", "readwrite", "/pynet/"),
                     ("user", "grant-role", username, "pynet"), ("auth", "enable")):
            self.etcdctl(*args)

    def close(self):
        for index in list(self.members):
            self.stop_member(index)


class Host:
    def __init__(self, index, root):
        self.index = index
        self.name = "pnh%d" % index
        self.address = host_address(index)
        self.dir = os.path.join(root, self.name)
        self.netns = None
        self.process = None

    @property
    def log(self):
        return os.path.join(self.dir, "sshd.log")

    def nsenter(self, *argv):
        """argv with this host's namespaces (network, mount, UTS), as its sshd has them."""
        return ["nsenter", "--target", str(self.process.pid), "--net", "--mount", "--uts"] + list(argv)


class Fleet:
    """`count` hosts on the underlay, each with its own network, mount and UTS namespaces and an
    sshd on its underlay address; an inventory (group `fleet`) and an ansible.cfg to reach them."""

    def __init__(self, underlay, root, count, python=SYSTEM_PYTHON, forks=20, collections=None):
        self.underlay = underlay
        self.root = os.path.join(str(root), "fleet")
        self.python = python
        self.forks = forks
        # Where ansible-playbook finds the collection (another revision's, for a benchmark side by side).
        self.collections = collections or pynet_testing.COLLECTIONS
        self.hosts = [Host(index, self.root) for index in range(1, count + 1)]
        self.ssh_dir = os.path.join(self.root, "ssh")
        self.identity = os.path.join(self.ssh_dir, "id_ed25519")
        self.known_hosts = os.path.join(self.ssh_dir, "known_hosts")
        self.control_dir = None  # ssh's control sockets: a short path of its own (a socket's is at most 107 bytes)
        self.inventory = os.path.join(self.root, "inventory.ini")
        self.config = os.path.join(self.root, "ansible.cfg")

    def start(self, timeout=30):
        os.makedirs(self.ssh_dir)
        self.control_dir = tempfile.mkdtemp(prefix="pncp-")
        self._keygen(self.identity, "pynet-control")
        known = []
        for host in self.hosts:
            known.append(self._start_host(host))
        with open(self.known_hosts, "w") as handle:
            handle.writelines(known)
        self._write_ansible_files()
        with self.underlay.entered():
            for host in self.hosts:
                _wait("sshd of " + host.name, lambda: _listening(host.address, 22), timeout, host.process, host.log)
        for host in self.hosts:
            self.underlay.inodes.add(os.stat("/proc/%d/ns/mnt" % host.process.pid).st_ino)
        return self

    def _keygen(self, path, comment):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], check=True)

    def _start_host(self, host):
        os.makedirs(host.dir)
        host_key = os.path.join(host.dir, "ssh_host_ed25519_key")
        self._keygen(host_key, host.name)
        config = os.path.join(host.dir, "sshd_config")
        with open(config, "w") as handle:
            handle.write("\n".join([
                "ListenAddress %s" % host.address, "HostKey %s" % host_key,
                "AuthorizedKeysFile %s.pub" % self.identity,
                "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                "UsePAM no", "StrictModes no", "PidFile none", "LogLevel ERROR", "MaxStartups 100",
                "Subsystem sftp internal-sftp", ""]))
        host.netns = self.underlay.attach(host.name, host.address)
        with open(host.log, "w") as log:
            host.process = subprocess.Popen(
                ["nsenter", "--net=" + host.netns, SYSTEM_PYTHON, "-I", "-S", os.path.join(HERE, "host_init.py"),
                 host.name, host.dir, "--", "/usr/sbin/sshd", "-D", "-e", "-f", config],
                stdout=log, stderr=subprocess.STDOUT)
        with open(host_key + ".pub") as handle:
            return "%s %s\n" % (host.address, " ".join(handle.read().split()[:2]))

    def _write_ansible_files(self):
        with open(self.inventory, "w") as handle:
            handle.write("[fleet]\n")
            for host in self.hosts:
                handle.write("%s ansible_host=%s\n" % (host.name, host.address))
            handle.write("\n[fleet:vars]\nansible_user=root\nansible_python_interpreter=%s\n" % self.python)
        with open(self.config, "w") as handle:
            handle.write("\n".join([
                "[defaults]", "inventory = %s" % self.inventory, "forks = %d" % self.forks,
                "collections_path = %s" % self.collections,
                "remote_tmp = /run/ansible-tmp", "local_tmp = %s" % os.path.join(self.root, "ansible-local"),
                "private_key_file = %s" % self.identity, "host_key_checking = True",
                "", "[ssh_connection]", "pipelining = True",
                "ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=%s "
                "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes" % self.known_hosts,
                "control_path = %s/%%%%C" % self.control_dir, ""]))

    def environment(self):
        env = dict(os.environ, ANSIBLE_CONFIG=self.config, ANSIBLE_HOME=os.path.join(self.root, "ansible-home"))
        env.pop("PYTHONPATH", None)
        return env

    def ansible(self, program, *args, timeout=600):
        """Run an Ansible program (ansible, ansible-playbook) from the control node in the fabric."""
        executable = os.path.join(os.path.dirname(sys.executable), program)
        return self.underlay.run([executable] + list(args), env=self.environment(), timeout=timeout, check=False)

    def close(self):
        # ssh's control masters (ControlPersist) are ours too: ask each to exit.
        if self.control_dir is not None:
            for name in os.listdir(self.control_dir):
                subprocess.run(["ssh", "-o", "ControlPath=" + os.path.join(self.control_dir, name), "-O", "exit",
                                "pynet-fleet"], capture_output=True, check=False)
            shutil.rmtree(self.control_dir, ignore_errors=True)
        for host in self.hosts:
            if host.process is not None:
                stop_tree(host.process)


def _listening(address, port):
    try:
        socket.create_connection((address, port), timeout=0.5).close()
        return True
    except OSError:
        return False
