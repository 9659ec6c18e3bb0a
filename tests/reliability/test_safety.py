"""Part 6: safety. No shell command is ever built from input; the state directory pynet makes is 0700
and its files 0600, whatever the umask (one that exists is used as it is); nothing pynet did not create is ever removed: a pre-existing bridge,
veth, network namespace or nftables table with a name like pynet's survives every operation and the
garbage collector unchanged, and an adopted namespace survives its sandbox's removal."""

import ast
import contextlib
import glob
import json
import os
import stat
import subprocess

from pynet_testing import REPO, run_module

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

PART = "6 safety"
NFTABLES_MODULE = "plugins/module_utils/kernel/nftables.py"
NFT_BINARY_CALL = "_nft"  # nftables.py's lookup of the nft binary on a fixed search path
DNS_SERVER_MODULE = "plugins/module_utils/dns/server.py"
DNS_SERVER_BINARY = "DNSMASQ"  # server.py's constant: the absolute path of dnsmasq
PROCESS_MODULES = ("subprocess", "pty", "asyncio.subprocess")
SHELL_CALLS = ("os.system", "os.popen", "os.exec", "os.spawn", "os.posix_spawn", "asyncio.create_subprocess",
               "pty.spawn")  # and every function whose name starts so
CODE_EVALUATION = ("eval", "exec")
# Also through ctypes (libc.system): any call of a function of these names.
SHELL_FUNCTION_NAMES = ("system", "popen")


# --- static: no shell, no process but nft with a literal argv ---------------------------------------


def dotted_name(node, aliases):
    """`subprocess.run` for subprocess.run(...), sp.run(...) after `import subprocess as sp`, or run(...)
    after `from subprocess import run`; None for calls of anything else than names."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([aliases.get(node.id, node.id)] + parts)


def import_aliases(tree):
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({alias.asname or alias.name: alias.name for alias in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            aliases.update({alias.asname or alias.name: node.module + "." + alias.name for alias in node.names})
    return aliases


def imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def literal_argv(call):
    """The items of a process call's argv when it is a literal list, else None."""
    argv = call.args[0] if call.args else next((kw.value for kw in call.keywords if kw.arg == "args"), None)
    return argv.elts if isinstance(argv, ast.List) else None


def argv_problems(call):
    """Why the argv of a process call in nftables.py is not fixed: it must be a literal list that starts
    with the nft binary, whose other items are string constants, or names that come after nft's command
    word (nft takes no option after its command, so a name there can never become one)."""
    items = literal_argv(call)
    if items is None:
        return ["argv is not a literal list"]
    if not items or not (isinstance(items[0], ast.Call) and dotted_name(items[0].func, {}) == NFT_BINARY_CALL
                         and not items[0].args):
        return ["argv does not start with %s()" % NFT_BINARY_CALL]
    problems, command_seen = [], False
    for item in items[1:]:
        if isinstance(item, ast.Constant) and isinstance(item.value, str):
            command_seen = command_seen or not item.value.startswith("-")
        elif not (isinstance(item, ast.Name) and command_seen):
            problems.append("argv item %s is not a constant or a name after the command" % ast.unparse(item))
    return problems


def absolute_path_constants(tree):
    """Module-level NAME = "/absolute/path" assignments: name -> path."""
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            and node.value.value.startswith("/") for target in node.targets if isinstance(target, ast.Name)}


def dns_server_argv_problems(call, tree):
    """Why the argv of a process call in dns/server.py is not fixed: it must be a literal list that starts
    with the DNSMASQ constant (an absolute path assigned once in the module), whose other items are string
    constants or an option constant ending in '=' joined with a name or attribute (the value glued to its
    option, so it can never be read as another option)."""
    items = literal_argv(call)
    if items is None:
        return ["argv is not a literal list"]
    binary = absolute_path_constants(tree).get(DNS_SERVER_BINARY)
    if not (binary and items and isinstance(items[0], ast.Name) and items[0].id == DNS_SERVER_BINARY):
        return ["argv does not start with %s, an absolute path constant" % DNS_SERVER_BINARY]
    return ["argv item %s is not a constant or a constant option=name" % ast.unparse(item) for item in items[1:]
            if not (isinstance(item, ast.Constant) and isinstance(item.value, str))
            and not (isinstance(item, ast.BinOp) and isinstance(item.op, ast.Add)
                     and isinstance(item.left, ast.Constant) and isinstance(item.left.value, str)
                     and item.left.value.startswith("--") and item.left.value.endswith("=")
                     and isinstance(item.right, (ast.Name, ast.Attribute)))]


def shell_problems(source, path):
    """Every shell command, process start, eval or exec in one file's source, as sentences."""
    tree = ast.parse(source, path)
    aliases = import_aliases(tree)
    may_start_nft = path.endswith(NFTABLES_MODULE)
    may_start_dns_server = path.endswith(DNS_SERVER_MODULE)
    found = ["%s imports %s" % (path, module) for module in imported_modules(tree)
             if module in PROCESS_MODULES and not ((may_start_nft or may_start_dns_server) and module == "subprocess")]
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        name = dotted_name(call.func, aliases) or ""
        where = "%s:%d %s" % (path, call.lineno, ast.unparse(call.func))
        if name.startswith(SHELL_CALLS) or name in CODE_EVALUATION or name.rsplit(".", 1)[-1] in SHELL_FUNCTION_NAMES:
            found.append(where + " runs a shell or evaluates code")
        for keyword in call.keywords:
            if keyword.arg == "shell" and ast.unparse(keyword.value) != "False":
                found.append(where + " has shell=" + ast.unparse(keyword.value))
        if name.startswith("subprocess."):
            if may_start_nft:
                found += ["%s: %s" % (where, problem) for problem in argv_problems(call)]
            elif may_start_dns_server:
                found += ["%s: %s" % (where, problem) for problem in dns_server_argv_problems(call, tree)]
            else:
                found.append(where + " starts a process")
    return found


def plugin_sources():
    for path in sorted(glob.glob(os.path.join(REPO, "plugins", "**", "*.py"), recursive=True)):
        with open(path) as handle:
            yield os.path.relpath(path, REPO), handle.read()


def test_the_scan_finds_shell_commands():
    """The scan below can fail: each of these is found."""
    bad = {
        "os.system('ip link del ' + name)": 1,
        "import subprocess as sp\nsp.run('nft ' + table, shell=True)": 3,
        "from os import popen\npopen(command)": 1,
        "libc.system(command.encode())": 1,
        "eval(expression)": 1,
        "import os\nos.execv('/bin/sh', argv)": 1,
    }
    for source, count in bad.items():
        assert len(shell_problems(source, "plugins/module_utils/example.py")) == count, source
    nft = "import subprocess\nsubprocess.run([_nft(), '-j', name, 'list'])\nsubprocess.run(argv)"
    assert len(shell_problems(nft, NFTABLES_MODULE)) == 2
    dns = {
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run([DNSMASQ, '--conf-file=' + path, '--keep-in-foreground'])": 0,
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run(['/bin/sh', '-c', 'dnsmasq ' + options])": 1,
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run([DNSMASQ, options])": 1,  # a name could be any option
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run([DNSMASQ, '--conf-file', path])": 1,
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run([DNSMASQ, '--conf-file=%s' % path])": 1,
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run([DNSMASQ] + options)": 1,
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run(' '.join([DNSMASQ, path]), shell=True)": 2,
        "DNSMASQ = shutil.which('dnsmasq')\nsubprocess.run([DNSMASQ, '--test'])": 1,
        "subprocess.run([binary, '--conf-file=' + path])": 1,
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run([DNSMASQ, '--conf-file=' + self.conf_path])": 0,
        "DNSMASQ = '/usr/sbin/dnsmasq'\nsubprocess.run([DNSMASQ, '--conf-file=' + conf(path)])": 1,
    }
    for source, count in dns.items():
        assert len(shell_problems("import subprocess, shutil\n" + source, DNS_SERVER_MODULE)) == count, source
    # Only dns/server.py may start dnsmasq.
    assert len(shell_problems("import subprocess\nDNSMASQ = '/usr/sbin/dnsmasq'\n"
                              "subprocess.run([DNSMASQ, '--conf-file=' + path])", "plugins/module_utils/dns/config.py")) == 2


def test_no_shell_command_is_built_from_input(figures):
    sources = dict(plugin_sources())
    found = [problem for path, source in sources.items() for problem in shell_problems(source, path)]
    nft_calls, dns_server_calls = ([node for node in ast.walk(ast.parse(sources[module])) if isinstance(node, ast.Call)
                                    and ast.unparse(node.func).startswith("subprocess.")]
                                   for module in (NFTABLES_MODULE, DNS_SERVER_MODULE))
    figures.record(PART, "shell commands built from input (%d files; %d nft and %d dnsmasq calls, argv checked)"
                   % (len(sources), len(nft_calls), len(dns_server_calls)), len(found), 0, not found)
    assert found == []
    assert nft_calls and dns_server_calls  # the argv checks above looked at something


# --- the state directory is private ------------------------------------------------------------------


@contextlib.contextmanager
def umask(mask):
    """Module runs started in the block inherit the umask."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def not_private(state_dir, directory_mode=0o700):
    """The state directory if it is not `directory_mode`, its subdirectories that are not 0700, and its
    files that are not 0600, but the sandboxes' resolv.conf and hosts files (sandboxes/), 0644 for the
    containers' processes that may not be root (their directories keep them from others)."""
    found = []
    mode = stat.S_IMODE(os.stat(state_dir).st_mode)
    if mode != directory_mode:
        found.append("%s is %o" % (state_dir, mode))
    for directory, subdirectories, names in os.walk(state_dir):
        for name in subdirectories + names:
            path = os.path.join(directory, name)
            wanted = 0o700 if name in subdirectories else 0o644 if directory.endswith("/sandboxes") else 0o600
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode != wanted:
                found.append("%s is %o" % (os.path.relpath(path, state_dir), mode))
    return found


def lifecycle(paths):
    """(step, module, args): everything made, used and removed again."""
    common = {"state_dir": paths.state_dir}
    keys = [paths.sandbox_key(name) for name in ("a", "b")]
    items = [{"name": "a", "sandbox": keys[0], "ports": [{"host_port": 8080, "container_port": 80}]},
             {"name": "b", "sandbox": keys[1], "ports": [{"container_port": 53, "protocol": "udp"}]}]
    front = dict(common, name="front", ipam=[{"subnet": "10.89.90.0/24"}, {"subnet": "fd00:89:90::/64"}])
    return ([("driver", "pynet_driver", dict(common, name="bridge")), ("network", "pynet_network", front)]
            + [("sandbox", "pynet_sandbox", dict(common, key=key)) for key in keys]
            + [("endpoints", "pynet_endpoint", dict(common, network="front", endpoints=items)),
               ("info", "pynet_info", common),
               ("endpoints purged", "pynet_endpoint", dict(common, network="front", endpoints=[], purge=True))]
            + [("sandbox absent", "pynet_sandbox", dict(common, key=key, state="absent")) for key in keys]
            + [("network absent", "pynet_network", dict(common, name="front", state="absent")),
               ("driver absent", "pynet_driver", dict(common, name="bridge", state="absent"))])


def test_state_directory_is_private_even_with_umask_000(host, figures):
    # A state directory of root's that already exists, readable by all, is used as it is (pynet
    # changes no directory it did not make; one that others may write is refused): its files are private.
    existing_state_dir = os.path.join(host.root, "existing-state")
    os.mkdir(existing_state_dir)
    os.chmod(existing_state_dir, 0o755)
    found, failures, checks, holder = [], [], 0, None
    with umask(0):
        try:
            for step, name, args in [("existing state dir", "pynet_driver",
                                      {"state_dir": existing_state_dir, "name": "bridge"})] + lifecycle(host):
                result = run_module(name, args)
                if result.get("failed"):
                    failures.append("%s: %s" % (step, result["msg"]))
                if holder is None and os.path.isdir(host.state_dir):
                    # Held open, the database keeps its -wal and -shm files (made by this process, with
                    # umask 000) between the module runs, which then write through them.
                    holder = Controller(state_dir=host.state_dir)
                if step == "existing state dir":
                    found += ["after %s: %s" % (step, problem) for problem in not_private(existing_state_dir, 0o755)]
                else:
                    found += ["after %s: %s" % (step, problem) for problem in not_private(host.state_dir)]
                checks += 1
            files = sorted(os.listdir(host.state_dir))
        finally:
            if holder is not None:
                holder.close()
    found += ["after the last run: " + problem for problem in not_private(host.state_dir)]
    figures.record(PART, "state dir / files not private (umask 000, %d checks)" % (checks + 1), len(found), 0,
                   not found)
    assert failures == []
    assert files == ["pynet.db", "pynet.db-shm", "pynet.db-wal", "sandboxes"]  # the sqlite files were there to check
    assert found == []


# --- nothing pynet did not create is removed ---------------------------------------------------------


def command(argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def inside(key):
    return ["nsenter", "--net=" + key] if key else []


def without_timers(value):
    """A link as ip -j -d shows it, less the bridge timers that run down on their own."""
    if isinstance(value, dict):
        return {key: without_timers(item) for key, item in value.items() if not key.endswith("_timer")}
    if isinstance(value, list):
        return [without_timers(item) for item in value]
    return value


def link_view(name, key=None):
    shown = command(inside(key) + ["ip", "-j", "-d", "link", "show", "dev", name], check=False)
    return without_timers(json.loads(shown.stdout)) if shown.returncode == 0 else "missing"


def adopted_bridge_view(name):
    """A bridge given to a network as its bridge_name: pynet uses it (up, its gateway on it) but must
    neither remove it nor mark it as its own."""
    shown = command(["ip", "-j", "-d", "link", "show", "dev", name], check=False)
    if shown.returncode != 0:
        return "missing"
    link = json.loads(shown.stdout)[0]
    return {"ifindex": link["ifindex"], "kind": link["linkinfo"]["info_kind"], "alias": link.get("ifalias")}


def ipv4_addresses(name):
    shown = json.loads(command(["ip", "-j", "-4", "addr", "show", "dev", name]).stdout)
    return [address["local"] for link in shown for address in link["addr_info"]]


def table_view(family, name):
    shown = command(["nft", "-j", "list", "table", family, name], check=False)
    return json.loads(shown.stdout) if shown.returncode == 0 else "missing"


def netns_view(path):
    return {"netns": netns.is_netns(path), "inode": os.stat(path).st_ino} if os.path.lexists(path) else "missing"


def make_netns(path):
    """A network namespace bind-mounted at `path` by util-linux, not by pynet."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()
    command(["unshare", "--net=" + path, "true"])


FOREIGN_TABLES = (("inet", "pynet_0000aaaa"), ("inet", "pynetx"), ("ip", "pynet"),
                  ("inet", "pynet"))  # the last: the table of a pynet using the default state directory
ADOPTED_BRIDGE = "pn-adopted"
INSIDE_ADOPTED = "pn-000000000004"


def make_foreign_objects(paths):
    """Objects with names like pynet's that pynet did not make; returns name -> how to look at it."""
    command(["ip", "link", "add", "pn-000000000001", "type", "bridge"])
    command(["ip", "link", "add", "pnv000000000001", "type", "bridge"])
    command(["ip", "link", "add", "pnv000000000002", "type", "veth", "peer", "name", "pnv000000000003"])
    command(["ip", "link", "add", ADOPTED_BRIDGE, "type", "bridge"])
    for path in (paths.sandbox_key("stray"), paths.sandbox_key("adopted")):
        make_netns(path)
    command(inside(paths.sandbox_key("adopted")) + ["ip", "link", "add", INSIDE_ADOPTED, "type", "bridge"])
    for family, name in FOREIGN_TABLES:
        command(["nft", "add", "table", family, name])
        command(["nft", "add", "chain", family, name, "kept"])
        command(["nft", "add", "rule", family, name, "kept", "tcp", "dport", "9", "accept"])
    views = {"%s %s" % (kind, name): (lambda name=name: link_view(name)) for kind, name in (
        ("bridge", "pn-000000000001"), ("bridge", "pnv000000000001"), ("veth", "pnv000000000002"),
        ("veth peer", "pnv000000000003"))}
    views["bridge %s (given as a bridge_name)" % ADOPTED_BRIDGE] = lambda: adopted_bridge_view(ADOPTED_BRIDGE)
    views["bridge %s in the adopted netns" % INSIDE_ADOPTED] = lambda: link_view(
        INSIDE_ADOPTED, paths.sandbox_key("adopted"))
    views.update({"netns " + name: (lambda name=name: netns_view(paths.sandbox_key(name)))
                  for name in ("stray", "adopted")})
    views.update({"nft table %s %s" % table: (lambda table=table: table_view(*table)) for table in FOREIGN_TABLES})
    return views


def similar_names_steps(paths):
    """(step, [(module, args)]) of a whole life: made, recreated with force, declared again, garbage
    collected, removed."""
    common = {"state_dir": paths.state_dir}
    key = paths.sandbox_key
    front = dict(common, name="front", ipam=[{"subnet": "10.89.91.0/24"}, {"subnet": "fd00:89:91::/64"}])
    side = dict(common, name="side", bridge_name=ADOPTED_BRIDGE, ipam=[{"subnet": "10.89.92.0/24"}])
    on_front = dict(common, network="front", endpoints=[
        {"name": "a", "sandbox": key("a"), "ports": [{"host_port": 8080, "container_port": 80}]},
        {"name": "b", "sandbox": key("b")},
        {"name": "adopted", "sandbox": key("adopted"), "ports": [{"host_port": 5353, "container_port": 53,
                                                                  "protocol": "udp"}]},
        {"name": "gone", "sandbox": key("gone")}])
    on_side = dict(common, network="side", endpoints=[{"name": "adopted", "sandbox": key("adopted"), "ifname": "eth1"}])
    sandboxes = ("a", "b", "adopted", "gone")
    return [
        ("create", [("pynet_driver", dict(common, name="bridge")), ("pynet_network", front),
                    ("pynet_network", side)]
         + [("pynet_sandbox", dict(common, key=key(name))) for name in sandboxes]
         + [("pynet_endpoint", on_front), ("pynet_endpoint", on_side)]),
        ("recreate front with force", [("pynet_network", dict(front, mtu=1400, force=True))]),
        ("declare the endpoints again", [("pynet_endpoint", on_front)]),
        ("garbage collector", [("pynet_endpoint", dict(common, endpoints=[], prune_stale=True))]),
        ("delete all", [("pynet_endpoint", dict(common, network=network, endpoints=[], purge=True))
                        for network in ("front", "side")]
         + [("pynet_sandbox", dict(common, key=key(name), state="absent")) for name in sandboxes]
         + [("pynet_network", dict(common, name=name, state="absent")) for name in ("front", "side")]
         + [("pynet_driver", dict(common, name="bridge", state="absent"))]),
    ]


def remove_outside_pynet(path):
    """What removing a container without pynet does to its namespace."""
    command(["umount", path])
    os.remove(path)


def test_nothing_pynet_did_not_create_is_removed(host, figures):
    views = make_foreign_objects(host)
    before = {name: view() for name, view in views.items()}
    assert "missing" not in before.values()
    changed, failures, results = [], [], {}
    for step, tasks in similar_names_steps(host):
        if step == "garbage collector":
            remove_outside_pynet(host.sandbox_key("gone"))
        for name, args in tasks:
            result = run_module(name, args)
            results.setdefault(step, []).append(result)
            if result.get("failed"):
                failures.append("%s: %s: %s" % (step, name, result["msg"]))
        changed += ["after %s: %s" % (step, name) for name, view in views.items() if view() != before[name]]
    changed += ["after all: bridge %s keeps pynet's address %s" % (ADOPTED_BRIDGE, address)
                for address in ipv4_addresses(ADOPTED_BRIDGE)]
    steps = len(results)
    figures.record(PART, "pre-existing objects removed or changed (%d objects checked after each of %d steps)"
                   % (len(views), steps), len(changed), 0, not changed)
    adopted = next(result["sandbox"] for result in results["create"]
                   if (result.get("sandbox") or {}).get("key") == host.sandbox_key("adopted"))
    pruned = [ep["name"] for ep in results["garbage collector"][0]["endpoints"] if ep["action"] == "delete"]
    assert failures == []
    assert adopted["created"] is False  # pynet knew the namespace was not its own
    assert pruned == ["gone"]  # the garbage collector did collect something
    assert changed == []
