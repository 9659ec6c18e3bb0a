"""Part 5: bad input. Every module and the library get invalid or conflicting parameters; each case
must fail, with a message naming the parameter and what is allowed, without a traceback, and leave
the kernel (ip -j, nft -j) and the store byte-for-byte as they were.

The cases run against one world made once for the whole file (through module runs, in a private
network namespace of its own): a driver, a dual-stack network with ip_range and aux_addresses, an
IPv4-only network, an internal network, sandboxes, and endpoints with published ports, so that
conflicts are possible. Cases that a bug could let through use addresses, ports and interface names
of their own, so that what they make does not change the outcome of the others.
"""

import json
import os
import re
import subprocess
import time

import pytest
from pynet_testing import kernel_snapshot, private_host, run_module, run_play, state_files, store_snapshot

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller

PART = "5 bad input"
GOAL_CASES = 50
LIBRARY = "library"
PYNET_ERRORS = "ansible_collections.pynet.libnetwork.plugins.module_utils.errors."
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")

# The driver's default pool holds exactly front's and back's subnets: a network without ipam finds none free.
DEFAULT_POOL = "10.89.60.0/23"
FRONT_V4, FRONT_RANGE, FRONT_V6 = "10.89.60.0/24", "10.89.60.128/25", "fd00:89:60::/64"
FRONT_GATEWAY, FRONT_GATEWAY_V6 = "10.89.60.1", "fd00:89:60::1"
FRONT_BRIDGE = "pn-front"
PRINTER = "10.89.60.200"  # an aux address of front
BACK_V4 = "10.89.61.0/24"
ISOLATED_V4 = "10.89.63.0/24"  # an internal network
WEB_IP, API_IP = "10.89.60.130", "10.89.60.131"
WEB_PORT, API_PORT = 8080, 5353
FREE = "10.89.62.0/24"  # in no network: cases that must fail for another reason use it
KERNEL_SETTLE_SECONDS = 15


class World:
    """The paths of the world every case runs against, and the last kernel snapshot taken of it."""

    def __init__(self, paths):
        self.paths = paths
        self.state_dir = paths.state_dir
        self.root = paths.root
        self.ordinary_file = os.path.join(paths.netns_dir, "ordinary-file")
        self.directory = os.path.join(paths.netns_dir, "a-directory")
        self.state_file = os.path.join(paths.root, "state-is-a-file")
        self.symlinked_dir = os.path.join(paths.root, "symlinked-netns")  # -> netns_dir
        self.symlink_to_a = os.path.join(paths.root, "symlink-to-a")  # -> the sandbox a
        self.host_bound = os.path.join(paths.root, "host-bound")  # the world's own namespace, bind-mounted
        self.writable_dir = os.path.join(paths.root, "writable-by-all")
        self.users_dir = os.path.join(paths.root, "owned-by-uid-1000")
        self.kernel = None

    def key(self, name):
        return self.paths.sandbox_key(name)

    def settled_kernel(self):
        """A snapshot of a kernel that no longer moves by itself: for a second or two after a link
        comes up, IPv6 duplicate address detection and carrier changes still alter addresses and routes."""
        deadline = time.monotonic() + KERNEL_SETTLE_SECONDS
        now = kernel_snapshot(self.paths)
        while (now != self.kernel or '"tentative"' in json.dumps(now)) and time.monotonic() < deadline:
            time.sleep(0.25)
            self.kernel, now = now, kernel_snapshot(self.paths)
        self.kernel = now
        return now

    def kernel_now(self):
        self.kernel = kernel_snapshot(self.paths)
        return self.kernel

    def store_files(self):
        files = {}
        for name in state_files(self.state_dir):
            with open(os.path.join(self.state_dir, name), "rb") as handle:
                files[name] = handle.read()
        return files

    def put_back(self, files):
        """The store as it was: what a case left in it (a bug) must not change the outcome of the next ones."""
        for name in set(state_files(self.state_dir)) - set(files):
            os.remove(os.path.join(self.state_dir, name))
        for name, content in files.items():
            with open(os.path.join(self.state_dir, name), "wb") as handle:
                handle.write(content)


def world_tasks(world):
    common = {"state_dir": world.state_dir}
    return [
        ("pynet_driver", dict(common, name="bridge",
                              options={"default_address_pool": DEFAULT_POOL, "default_subnet_size": 24})),
        ("pynet_network", dict(common, name="front", bridge_name=FRONT_BRIDGE, labels={"tier": "front"}, ipam=[
            {"subnet": FRONT_V4, "ip_range": FRONT_RANGE, "aux_addresses": {"printer": PRINTER}},
            {"subnet": FRONT_V6}])),
        ("pynet_network", dict(common, name="back", ipam=[{"subnet": BACK_V4}])),
        ("pynet_network", dict(common, name="isolated", internal=True, ipam=[{"subnet": ISOLATED_V4}])),
    ] + [("pynet_sandbox", dict(common, key=world.key(name))) for name in ("a", "b", "c")] + [
        ("pynet_endpoint", dict(common, network="front", endpoints=[
            {"name": "web", "sandbox": world.key("a"), "ip": WEB_IP,
             "ports": [{"host_port": WEB_PORT, "container_port": 80}]},
            {"name": "api", "sandbox": world.key("b"), "ip": API_IP,
             "ports": [{"host_port": API_PORT, "container_port": 53, "protocol": "udp"}]}])),
        ("pynet_endpoint", dict(common, network="back", name="web-back", sandbox=world.key("a"), ifname="eth1")),
    ]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    # The `host` fixture is per test; this private namespace stays the calling thread's for the whole
    # module (pytest runs a module's tests in one thread), and its child processes inherit it.
    with private_host(tmp_path_factory.mktemp("bad-input")) as paths:
        made = World(paths)
        failures = [r["msg"] for r in run_play(world_tasks(made)) if r.get("failed")]
        assert failures == []
        with open(made.ordinary_file, "w") as handle:
            handle.write("not a network namespace\n")
        os.mkdir(made.directory)
        with open(made.state_file, "w") as handle:
            handle.write("not a state directory\n")
        os.symlink(paths.netns_dir, made.symlinked_dir)
        os.symlink(made.key("a"), made.symlink_to_a)
        with open(made.host_bound, "w"):
            pass
        subprocess.run(["mount", "--bind", "/proc/self/ns/net", made.host_bound], check=True)
        os.mkdir(made.writable_dir)
        os.chmod(made.writable_dir, 0o777)
        os.mkdir(made.users_dir, 0o700)
        os.chown(made.users_dir, 1000, 1000)
        yield made


@pytest.fixture(scope="module")
def tally():
    """Per case run: which of the requirements it met (for the figures)."""
    return []


class Case:
    def __init__(self, target, run, param, allowed, check_mode=False):
        self.target = target  # a module name, or LIBRARY
        self.run = run  # module arguments (a dict, or a function of the world); for LIBRARY a function
        self.param = param
        self.allowed = allowed
        self.check_mode = check_mode


def module(name, case_id, args, param, allowed, check_mode=False):
    """A module run with bad `args`; its message must name `param` and contain `allowed`."""
    suffix = "-check-mode" if check_mode else ""
    return pytest.param(Case(name, args, param, allowed, check_mode),
                        id="%s-%s%s" % (name.replace("pynet_", ""), case_id, suffix))


def library(case_id, call, param, allowed):
    """A library call, call(controller, world), that must raise a PynetError about `param`."""
    return pytest.param(Case(LIBRARY, call, param, allowed), id="library-" + case_id)


def resolve(args, world):
    """Module arguments given as a dict, or as a function of the world (for its paths)."""
    return args(world) if callable(args) else dict(args)


def network(case_id, args, param, allowed, check_mode=False):
    """A network `n-<case_id>` (unless args name another)."""
    return module("pynet_network", case_id, lambda world: dict({"name": "n-" + case_id}, **resolve(args, world)),
                  param, allowed, check_mode)


def endpoint(case_id, sandbox, args, param, allowed, check_mode=False):
    """A single endpoint `e-<case_id>` on front (unless args say otherwise) in sandbox `sandbox`."""
    def arguments(world):
        return dict({"network": "front", "name": "e-" + case_id, "sandbox": world.key(sandbox)}, **args)
    return module("pynet_endpoint", case_id, arguments, param, allowed, check_mode)


def endpoints(case_id, items, param, allowed, check_mode=False, **top):
    """The list form on front; `items` is a function of the world."""
    def arguments(world):
        return dict({"network": "front", "endpoints": items(world)}, **top)
    return module("pynet_endpoint", "list-" + case_id, arguments, param, allowed, check_mode)


def pool(**entry):
    return {"ipam": [dict({"subnet": FREE}, **entry)]}


DRIVER_CASES = [
    module("pynet_driver", "unknown-driver", {"name": "vxlan"}, "name", "bridge, simplebridge, null"),
    module("pynet_driver", "options-not-a-dict", {"name": "bridge", "options": "x"}, "options", "dict"),
    module("pynet_driver", "default-address-pools-size-out-of-range", {"name": "bridge", "options": {
        "default_address_pools": [{"base": "fd00:90::/48", "size": 40}]}}, "options.default_address_pools[0].size",
        "allowed 48 to 126"),
    module("pynet_driver", "ipvlan-on-a-kernel-without-it", {"name": "ipvlan"}, "driver", "CONFIG_IPVLAN"),
    module("pynet_driver", "ipvlan-on-a-kernel-without-it", {"name": "ipvlan"}, "driver", "CONFIG_IPVLAN",
           check_mode=True),
    module("pynet_driver", "unknown-option", {"name": "bridge", "options": {"bogus": 1}},
           "options.bogus", "allowed options: default_address_pool"),
    module("pynet_driver", "default-pool-not-a-cidr", {"name": "bridge", "options": {
        "default_address_pool": "10.89.0.0/33"}}, "options.default_address_pool", "not a CIDR"),
    module("pynet_driver", "default-pool-ipv6", {"name": "bridge", "options": {
        "default_address_pool": "fd00:89::/64"}}, "options.default_address_pool", "IPv4 CIDR"),
    module("pynet_driver", "subnet-size-out-of-range", {"name": "bridge", "options": {"default_subnet_size": 31}},
           "options.default_subnet_size", "allowed 8 to 30"),
    module("pynet_driver", "subnet-size-out-of-range", {"name": "bridge", "options": {"default_subnet_size": 31}},
           "options.default_subnet_size", "allowed 8 to 30", check_mode=True),
    module("pynet_driver", "subnet-size-not-an-integer", {"name": "bridge", "options": {"default_subnet_size": "big"}},
           "options.default_subnet_size", "integer from 8 to 30"),
    module("pynet_driver", "subnet-size-wider-than-pool",
           {"name": "bridge", "options": {"default_address_pool": "10.89.0.0/16", "default_subnet_size": 12}},
           "options.default_subnet_size", "allowed 16 to 30"),
    module("pynet_driver", "firewall-not-a-boolean", {"name": "bridge", "options": {"enable_firewall": "maybe"}},
           "options.enable_firewall", "true or false"),
    module("pynet_driver", "null-takes-no-options", {"name": "null", "options": {"mtu": 1500}},
           "options.mtu", "no options are allowed"),
]

NETWORK_CASES = [
    network("overlaps-another-network", pool(subnet="10.89.60.128/25"), "ipam[0].subnet", "of network front"),
    network("overlaps-another-network", pool(subnet="10.89.60.128/25"), "ipam[0].subnet", "of network front",
            check_mode=True),
    network("overlaps-itself", {"ipam": [{"subnet": FREE}, {"subnet": "10.89.62.128/25"}]},
            "ipam[1].subnet", "of the same network"),
    network("subnet-invalid", pool(subnet="10.89.300.0/24"), "ipam[0].subnet", "such as 10.89.0.0/24"),
    network("subnet-without-prefix", pool(subnet="10.89.62.0"), "ipam[0].subnet", "no prefix length"),
    network("subnet-with-host-bits", pool(subnet="10.89.62.5/24"), "ipam[0].subnet", "use 10.89.62.0/24"),
    network("subnet-too-small", pool(subnet="10.89.62.0/31"), "ipam[0].subnet", "/30 or IPv6 /126 or larger"),
    network("ipv6-subnet-too-small", {"ipam": [{"subnet": FREE}, {"subnet": "fd00:89:62::/127"}]},
            "ipam[1].subnet", "/30 or IPv6 /126 or larger"),
    network("gateway-outside-subnet", pool(gateway="10.89.63.1"), "ipam[0].gateway", "not inside subnet " + FREE),
    network("gateway-is-broadcast", pool(gateway="10.89.62.255"), "ipam[0].gateway", "network or broadcast"),
    network("gateway-not-an-address", pool(gateway="gw"), "ipam[0].gateway", "not an IP address"),
    network("ip-range-outside-subnet", pool(ip_range="10.89.63.0/25"), "ipam[0].ip_range",
            "not inside subnet " + FREE),
    network("ip-range-ipv6-in-ipv4-subnet", pool(ip_range="fd00:89:62::/64"), "ipam[0].ip_range",
            "not inside subnet " + FREE),
    network("aux-address-outside-subnet", pool(aux_addresses={"router": "10.89.63.9"}),
            "ipam[0].aux_addresses.router", "not inside subnet " + FREE),
    network("aux-addresses-not-a-dict", pool(aux_addresses="10.89.62.9"), "aux_addresses", "dict"),
    network("ipam-without-subnet", {"ipam": [{"gateway": "10.89.62.1"}]}, "subnet", "required"),
    network("ipam-unknown-key", pool(gw="10.89.62.1"), "ipam.gw", "gateway, ip_range, subnet"),
    network("bridge-name-too-long", dict(pool(), bridge_name="pn-name-too-long"), "bridge_name", "1 to 15"),
    network("bridge-name-too-long", dict(pool(), bridge_name="pn-name-too-long"), "bridge_name", "1 to 15",
            check_mode=True),
    network("bridge-name-with-slash", dict(pool(), bridge_name="pn/bad"), "bridge_name", "without '/'"),
    network("bridge-name-with-space", dict(pool(), bridge_name="pn bad"), "bridge_name", "white space"),
    network("bridge-name-with-colon", dict(pool(), bridge_name="pn:bad"), "bridge_name", "':'"),
    # 8 characters, 16 bytes in UTF-8: the kernel's limit is 15 bytes.
    network("bridge-name-too-many-bytes", dict(pool(subnet="10.89.70.0/24"), bridge_name="\u00e9" * 8),
            "bridge_name", "15"),
    # U+00E0 is 0xc3 0xa0 in UTF-8, and the kernel's isspace() takes 0xa0 for white space.
    network("bridge-name-byte-the-kernel-takes-for-space", dict(pool(subnet="10.89.71.0/24"), bridge_name="pn\u00e0"),
            "bridge_name", "white space"),
    network("bridge-name-of-another-network", dict(pool(), bridge_name=FRONT_BRIDGE), "bridge_name",
            "already the bridge of network front"),
    network("bridge-name-of-a-device-not-a-bridge", dict(pool(subnet="10.89.72.0/24"), bridge_name="lo"),
            "bridge_name", "not a bridge"),
    network("mtu-not-an-integer", dict(pool(), mtu="big"), "mtu", "int"),
    network("mtu-out-of-range", dict(pool(), mtu=20), "mtu", "allowed 68 to 65535"),
    network("labels-not-a-dict", dict(pool(), labels=[1]), "labels", "dict"),
    network("internal-not-a-boolean", dict(pool(), internal="maybe"), "internal", "Valid booleans"),
    network("enable-ipv4-false-with-ipv4-subnet", dict(pool(), enable_ipv4=False), "enable_ipv4",
            "has an IPv4 subnet"),
    network("enable-ipv4-and-ipv6-false", {"enable_ipv4": False}, "enable_ipv4", "at least one IP version"),
    network("route-gateway-outside-subnets", dict(pool(), routes=[{"destination": "10.90.0.0/16",
                                                                   "gateway": "10.89.63.1"}]),
            "routes[0].gateway", "not in a subnet of the network"),
    network("route-to-default", dict(pool(), routes=[{"destination": "0.0.0.0/0", "gateway": "10.89.62.254"}]),
            "routes[0].destination", "gw_priority"),
    network("route-without-gateway", dict(pool(), routes=[{"destination": "10.90.0.0/16"}]), "gateway", "required"),
    network("host-ipv4-not-of-this-host", dict(pool(), host_ipv4="192.0.2.77"), "host_ipv4",
            "not an address of this host"),
    network("host-ipv4-without-masquerade", dict(pool(), host_ipv4="127.0.0.1", enable_ip_masquerade=False),
            "host_ipv4", "enable_ip_masquerade: false"),
    network("macvlan-parent-missing", dict(pool(), driver="macvlan", parent="pnt-missing"), "parent",
            "no interface pnt-missing"),
    network("macvlan-parent-loopback", dict(pool(), driver="macvlan", parent="lo"), "parent", "loopback"),
    network("macvlan-mode-unknown", dict(pool(), driver="macvlan", parent="lo", mode="l3"), "mode",
            "bridge, passthru, private, vepa"),
    network("ipvlan-on-a-kernel-without-it", dict(pool(), driver="ipvlan", parent="lo"), "driver", "CONFIG_IPVLAN"),
    network("host-binding-not-an-address", dict(pool(), host_binding_ipv4="10.89.1"), "host_binding_ipv4",
            "not an IP address"),
    network("host-binding-ipv6-address", dict(pool(subnet="10.89.74.0/24"), host_binding_ipv4="fd00:89::1"),
            "host_binding_ipv4", "IPv4"),
    # The kernel takes IPv6 off a link whose MTU is below 1280.
    network("mtu-below-the-ipv6-minimum",
            {"mtu": 1000, "ipam": [{"subnet": "10.89.73.0/24"}, {"subnet": "fd00:89:73::/64"}]}, "mtu", "1280"),
    network("unknown-driver", dict(pool(), driver="vxlan"), "driver", "bridge, simplebridge, null"),
    network("null-driver-with-ipam", dict(pool(), driver="null"), "ipam", "leave ipam out"),
    module("pynet_network", "name-with-bad-characters", dict(pool(), name="bad name!"), "name",
           "letters, digits"),
    module("pynet_network", "name-too-long", dict(pool(), name="n" * 129), "name", "1 to 128 characters"),
    module("pynet_network", "recreate-with-endpoints-without-force", {"name": "front", "mtu": 1400},
           "force", "set force: true"),
    module("pynet_network", "recreate-with-endpoints-without-force", {"name": "front", "mtu": 1400},
           "force", "set force: true", check_mode=True),
    module("pynet_network", "recreate-onto-another-network",
           {"name": "front", "force": True, "ipam": [{"subnet": BACK_V4}]}, "ipam[0].subnet", "of network back"),
    module("pynet_network", "absent-with-endpoints-without-force", {"name": "front", "state": "absent"},
           "force", "force: true"),
    network("no-ipam-default-pool-exhausted", {}, "ipam", "default_address_pool"),
    network("state-dir-is-a-file", lambda world: dict(pool(), state_dir=world.state_file), "state_dir",
            "not a directory"),
    network("state-dir-inside-a-file", lambda world: dict(pool(), state_dir=world.state_file + "/state"),
            "state_dir", "not a directory"),
    network("state-dir-writable-by-others", lambda world: dict(pool(), state_dir=world.writable_dir), "state_dir",
            "writable by its group or others"),
    network("state-dir-writable-by-others", lambda world: dict(pool(), state_dir=world.writable_dir), "state_dir",
            "writable by its group or others", check_mode=True),
    network("state-dir-of-another-user", lambda world: dict(pool(), state_dir=world.users_dir), "state_dir",
            "owned by uid 1000"),
    network("state-dir-under-a-directory-of-another-user",
            lambda world: dict(pool(), state_dir=os.path.join(world.users_dir, "state")), "state_dir",
            "another user could put their own state directory"),
    network("state-dir-a-symlink", lambda world: dict(pool(), state_dir=world.symlinked_dir), "state_dir",
            "symbolic link"),
    network("state-dir-through-a-symlink", lambda world: dict(pool(), state_dir=world.symlinked_dir + "/state"),
            "state_dir", "must not contain symlinks"),
]

SANDBOX_CASES = [
    module("pynet_sandbox", "relative-key", {"key": "netns/x"}, "key", "absolute path"),
    module("pynet_sandbox", "relative-key", {"key": "netns/x"}, "key", "absolute path", check_mode=True),
    module("pynet_sandbox", "key-not-normalised", lambda world: {"key": world.key("a") + "/../x"}, "key",
           "normalised path"),
    module("pynet_sandbox", "empty-key", {"key": ""}, "key", "absolute path"),
    module("pynet_sandbox", "key-not-a-string", {"key": ["x"]}, "key", "absolute path"),
    module("pynet_sandbox", "key-is-an-ordinary-file", lambda world: {"key": world.ordinary_file}, "key",
           "not a network namespace"),
    module("pynet_sandbox", "key-is-an-ordinary-file", lambda world: {"key": world.ordinary_file}, "key",
           "not a network namespace", check_mode=True),
    module("pynet_sandbox", "key-is-a-directory", lambda world: {"key": world.directory}, "key",
           "not a network namespace"),
    module("pynet_sandbox", "key-inside-an-ordinary-file", lambda world: {"key": world.ordinary_file + "/x"}, "key",
           "not a directory"),
    module("pynet_sandbox", "key-through-a-symlinked-directory", lambda world: {"key": world.symlinked_dir + "/x"},
           "key", "must not contain symlinks"),
    module("pynet_sandbox", "key-through-a-symlinked-directory", lambda world: {"key": world.symlinked_dir + "/x"},
           "key", "must not contain symlinks", check_mode=True),
    module("pynet_sandbox", "key-a-symlink-to-a-sandbox", lambda world: {"key": world.symlink_to_a}, "key",
           "must not contain symlinks"),
    module("pynet_sandbox", "key-absent-through-a-symlink", lambda world: {"key": world.symlink_to_a,
                                                                           "state": "absent"},
           "key", "must not contain symlinks"),
    module("pynet_sandbox", "key-under-proc", {"key": "/proc/self/ns/net"}, "key", "under /proc"),
    module("pynet_sandbox", "key-is-the-hosts-namespace", lambda world: {"key": world.host_bound}, "key",
           "the host's own network namespace"),
    module("pynet_sandbox", "list-key-under-proc", {"sandboxes": [{"key": "/proc/thread-self/ns/net"}]},
           "sandboxes[0].key", "under /proc"),
]

ENDPOINT_CASES = [
    endpoint("unknown-network", "c", {"network": "nosuch"}, "network", "unknown network nosuch"),
    module("pynet_endpoint", "relative-sandbox", {"network": "front", "name": "e", "sandbox": "netns/c"},
           "sandbox", "absolute path"),
    endpoint("sandbox-not-made", "never-made", {}, "sandbox", "create the sandbox first"),
    module("pynet_endpoint", "sandbox-under-proc", {"network": "front", "name": "e", "sandbox": "/proc/self/ns/net"},
           "sandbox", "under /proc"),
    module("pynet_endpoint", "sandbox-under-proc", {"network": "front", "name": "e", "sandbox": "/proc/self/ns/net"},
           "sandbox", "under /proc", check_mode=True),
    module("pynet_endpoint", "sandbox-is-the-hosts-namespace",
           lambda world: {"network": "front", "name": "e", "sandbox": world.host_bound}, "sandbox",
           "the host's own network namespace"),
    module("pynet_endpoint", "sandbox-a-symlink-to-a-sandbox",
           lambda world: {"network": "front", "name": "e", "sandbox": world.symlink_to_a}, "sandbox",
           "must not contain symlinks"),
    module("pynet_endpoint", "sandbox-is-an-ordinary-file",
           lambda world: {"network": "front", "name": "e", "sandbox": world.ordinary_file},
           "sandbox", "create the sandbox first"),
    endpoint("address-in-use", "c", {"ip": WEB_IP}, "ip", "already allocated"),
    endpoint("address-in-use", "c", {"ip": WEB_IP}, "ip", "already allocated", check_mode=True),
    endpoint("address-is-the-gateway", "c", {"ip": FRONT_GATEWAY}, "ip", "already allocated"),
    endpoint("address-is-an-aux-address", "c", {"ip": PRINTER}, "ip", "already allocated"),
    endpoint("ipv6-address-is-the-gateway", "c", {"ipv6": FRONT_GATEWAY_V6}, "ipv6", "already allocated"),
    endpoint("address-outside-the-pools", "c", {"ip": "10.89.99.5"}, "ip", "outside the subnets of network front"),
    endpoint("ipv6-address-as-ip", "c", {"ip": "fd00:89:60::5"}, "ip", FRONT_V4),
    endpoint("ipv6-address-outside-the-pools", "c", {"ipv6": "fd00:89:99::5"}, "ipv6", FRONT_V6),
    endpoint("ipv6-on-an-ipv4-only-network", "c", {"network": "back", "ipv6": "fd00:89:61::5"}, "ipv6",
             "outside the subnets of network back"),
    endpoint("address-not-an-address", "c", {"ip": "not-an-ip"}, "ip", "not an IP address"),
    endpoint("mac-invalid", "c", {"mac": "02:42:zz:00:00:01"}, "mac", "six hex pairs"),
    endpoint("mac-multicast", "c", {"mac": "01:00:5e:00:00:01"}, "mac", "unicast"),
    endpoint("mac-all-zero", "c", {"mac": "00:00:00:00:00:00", "ifname": "eth5"}, "mac", "unicast"),
    endpoint("ifname-too-long", "c", {"ifname": "eth0-name-too-long"}, "ifname", "1 to 15"),
    endpoint("ifname-with-slash", "c", {"ifname": "eth/0"}, "ifname", "without '/'"),
    endpoint("ifname-with-colon", "c", {"ifname": "eth0:1"}, "ifname", "':'"),
    endpoint("ifname-with-space", "c", {"ifname": "eth 0"}, "ifname", "white space"),
    endpoint("ifname-too-many-bytes", "c", {"ifname": "\u00e9" * 8}, "ifname", "15"),
    endpoint("ifname-in-use-in-the-sandbox", "a", {}, "ifname", "choose another"),
    endpoint("ifname-of-the-loopback", "c", {"ifname": "lo"}, "ifname", "choose another"),
    endpoint("host-port-of-another-endpoint", "c", {"ports": [{"host_port": WEB_PORT, "container_port": 80}]},
             "ports[0].host_port", "already published by endpoint web"),
    endpoint("host-port-of-another-endpoint", "c", {"ports": [{"host_port": WEB_PORT, "container_port": 80}]},
             "ports[0].host_port", "already published by endpoint web", check_mode=True),
    endpoint("host-port-twice-in-one-endpoint", "c", {"ports": [{"host_port": 9091, "container_port": 80},
                                                                {"host_port": 9091, "container_port": 81}]},
             "ports[1].host_port", "already published by endpoint e-host-port-twice-in-one-endpoint"),
    endpoint("protocol-unknown", "c", {"ports": [{"container_port": 80, "protocol": "icmp"}]}, "protocol",
             "tcp, udp, sctp"),
    endpoint("sctp-without-the-kernels-sctp", "c", {"ports": [{"container_port": 80, "protocol": "sctp"}]},
             "ports[0].protocol", "(the kernel module sctp), which this host lacks (Protocol not supported)"),
    endpoint("container-port-out-of-range", "c", {"ports": [{"container_port": 70000}]},
             "ports[0].container_port", "1 to 65535"),
    endpoint("container-port-not-a-port", "c", {"ports": [{"container_port": "http"}]},
             "ports[0].container_port", "a port or a range"),
    endpoint("port-ranges-of-different-lengths", "c", {"ports": [{"container_port": "80-81", "host_port": "90-92"}]},
             "ports[0].host_port", "as long as"),
    endpoint("port-range-without-host-port", "c", {"ports": [{"container_port": "80-81"}]},
             "ports[0].host_port", "required with a container_port range"),
    endpoint("host-ip-not-an-address", "c", {"ports": [{"container_port": 80, "host_ip": "1.2.3"}]},
             "ports[0].host_ip", "not an IP address"),
    endpoint("host-ip-ipv6-on-an-ipv4-only-network", "c", {"network": "back", "ifname": "eth6", "ports": [
        {"container_port": 80, "host_port": 8086, "host_ip": "::1"}]}, "ports[0].host_ip", "IPv6"),
    # An internal network is reachable from nothing beyond its subnets: a published port cannot be.
    endpoint("ports-on-an-internal-network", "c", {"network": "isolated", "ifname": "eth7", "ports": [
        {"container_port": 80, "host_port": 8087}]}, "ports", "internal"),
    endpoint("port-without-container-port", "c", {"ports": [{"host_port": 80}]}, "container_port", "required"),
    endpoint("gw-priority-not-an-integer", "c", {"gw_priority": "high"}, "gw_priority", "int"),
    endpoint("gw-priority-out-of-range", "c", {"gw_priority": 20000}, "gw_priority", "allowed -10000 to 10000"),
    endpoint("state-unknown", "c", {"state": "gone"}, "state", "present, absent"),
    endpoint("name-with-bad-characters", "c", {"name": "bad/name"}, "name", "letters, digits"),
    module("pynet_endpoint", "neither-name-nor-endpoints", {"network": "front"}, "name", "name, endpoints"),
    module("pynet_endpoint", "both-name-and-endpoints", {"network": "front", "name": "e", "endpoints": []},
           "endpoints", "mutually exclusive"),
    module("pynet_endpoint", "without-sandbox", {"network": "front", "name": "e"}, "sandbox", "required"),
    module("pynet_endpoint", "without-network", lambda world: {"name": "e", "sandbox": world.key("c")},
           "network", "required"),
    module("pynet_endpoint", "recreate-taking-an-address-in-use",
           lambda world: {"network": "front", "name": "web", "sandbox": world.key("a"), "ip": API_IP},
           "ip", "already allocated"),
]


def twins(world):
    return [{"name": "twin", "sandbox": world.key("c")}, {"name": "twin", "sandbox": world.key("c"), "ifname": "eth1"}]


def same_host_port(world):
    return [{"name": "p1", "sandbox": world.key("c"), "ports": [{"host_port": 9090, "container_port": 80}]},
            {"name": "p2", "sandbox": world.key("c"), "ifname": "eth1",
             "ports": [{"host_port": 9090, "container_port": 81}]}]


ENDPOINT_LIST_CASES = [
    endpoints("duplicate-names", twins, "endpoints[1].name", "already exists"),
    endpoints("duplicate-names", twins, "endpoints[1].name", "already exists", check_mode=True),
    endpoints("duplicate-host-ports", same_host_port, "endpoints[1].ports[0].host_port",
              "already published by endpoint p1"),
    endpoints("duplicate-host-ports", same_host_port, "endpoints[1].ports[0].host_port",
              "already published by endpoint p1", check_mode=True),
    endpoints("host-port-of-another-endpoint", lambda world: [
        {"name": "p1", "sandbox": world.key("c"), "ports": [{"host_port": API_PORT, "container_port": 53,
                                                             "protocol": "udp"}]}],
        "endpoints[0].ports[0].host_port", "already published by endpoint api"),
    endpoints("duplicate-ifname-in-a-sandbox", lambda world: [{"name": "i1", "sandbox": world.key("c")},
                                                              {"name": "i2", "sandbox": world.key("c")}],
              "endpoints[1].ifname", "choose another"),
    endpoints("second-item-address-outside", lambda world: [{"name": "ok", "sandbox": world.key("c")},
                                                            {"name": "bad", "sandbox": world.key("c"),
                                                             "ifname": "eth1", "ip": "10.89.99.5"}],
              "endpoints[1].ip", "outside the subnets of network front"),
    endpoints("item-unknown-network", lambda world: [{"name": "x", "network": "nosuch", "sandbox": world.key("c")}],
              "endpoints[0].network", "unknown network nosuch"),
    endpoints("item-relative-sandbox", lambda world: [{"name": "x", "sandbox": "netns/c"}],
              "endpoints[0].sandbox", "absolute path"),
    endpoints("item-without-name", lambda world: [{"sandbox": world.key("c")}], "name", "required"),
    endpoints("item-unknown-key", lambda world: [{"name": "x", "sandbox": world.key("c"), "bogus": 1}],
              "endpoints.bogus", "gw_priority, ifname, ip"),
    endpoints("item-gw-priority-not-an-integer", lambda world: [{"name": "x", "sandbox": world.key("c"),
                                                                 "gw_priority": "x"}], "gw_priority", "int"),
    endpoints("purge-not-a-boolean", lambda world: [], "purge", "Valid booleans", purge="maybe"),
    endpoints("prune-stale-not-a-boolean", lambda world: [], "prune_stale", "Valid booleans", prune_stale="x"),
]

INFO_CASES = [
    module("pynet_info", "networks-not-a-list", {"networks": {"front": 1}}, "networks", "list"),
    module("pynet_info", "sandboxes-not-a-list", {"sandboxes": {"a": 1}}, "sandboxes", "list"),
    module("pynet_info", "unknown-option", {"bogus": 1}, "bogus", "networks, sandboxes"),
    module("pynet_info", "state-dir-is-a-file", lambda world: {"state_dir": world.state_file}, "state_dir",
           "not a directory"),
    module("pynet_info", "state-dir-is-a-file", lambda world: {"state_dir": world.state_file}, "state_dir",
           "not a directory", check_mode=True),
]


def front(controller):
    return controller.network_by_name("front")


def bridge(controller):
    return controller.driver("bridge")


def driver_of_another_store(controller, world):
    other = Controller(state_dir=os.path.join(world.root, "another-store"))
    try:
        controller.new_network(other.driver("bridge"), "n-foreign-driver", pool())
    finally:
        other.close()


LIBRARY_CASES = [
    library("new-network-nil-driver", lambda c, w: c.new_network(None, "n-nil", pool()), "driver",
            "new_network_driver()"),
    library("new-network-driver-not-a-driver", lambda c, w: c.new_network("bridge", "n-str", pool()), "driver",
            "new_network_driver()"),
    library("new-network-driver-of-another-store", driver_of_another_store, "driver", "belongs to the controller"),
    library("new-network-driver-unknown-type", lambda c, w: c.new_network_driver("vxlan"), "driver",
            "known types: bridge, host, ipvlan, macvlan, null, overlay, simplebridge"),
    library("new-network-duplicate-name", lambda c, w: c.new_network(bridge(c), "front", pool()), "name",
            "already exists"),
    library("new-network-options-not-a-dict", lambda c, w: c.new_network(bridge(c), "n-list", ["mtu", 1500]),
            "options", "dict"),
    library("new-network-mtu-not-an-integer", lambda c, w: c.new_network(bridge(c), "n-mtu", dict(pool(), mtu="big")),
            "mtu", "integer from 68 to 65535"),
    library("new-network-ipam-not-a-list", lambda c, w: c.new_network(bridge(c), "n-ipam", {"ipam": "x"}),
            "ipam", "list of dicts"),
    library("new-network-subnet-not-a-string", lambda c, w: c.new_network(bridge(c), "n-int", {"ipam": [
        {"subnet": 24}]}), "ipam[0].subnet", "such as 10.89.0.0/24"),
    library("new-network-labels-not-a-dict", lambda c, w: c.new_network(bridge(c), "n-labels", dict(
        pool(), labels=[1])), "labels", "dict"),
    library("new-network-unknown-option", lambda c, w: c.new_network(bridge(c), "n-opt", dict(pool(), vlan=5)),
            "vlan", "allowed options"),
    library("driver-subnet-size-not-an-integer", lambda c, w: c.new_network_driver("bridge", {
        "default_subnet_size": "x"}), "options.default_subnet_size", "integer from 8 to 30"),
    library("unknown-network", lambda c, w: c.network_by_name("nosuch"), "network", "unknown network nosuch"),
    library("create-endpoint-duplicate-name", lambda c, w: front(c).create_endpoint("web", w.key("c"), {}),
            "name", "already exists"),
    library("create-endpoint-address-in-use", lambda c, w: front(c).create_endpoint("e", w.key("c"), {"ip": WEB_IP}),
            "ip", "already allocated"),
    library("create-endpoint-address-not-a-string", lambda c, w: front(c).create_endpoint("e", w.key("c"), {"ip": 5}),
            "ip", "non-empty string"),
    library("create-endpoint-ports-not-a-list", lambda c, w: front(c).create_endpoint("e", w.key("c"), {
        "ports": "80"}), "ports", "list of dicts"),
    library("create-endpoint-gw-priority-boolean", lambda c, w: front(c).create_endpoint("e", w.key("c"), {
        "gw_priority": True}), "gw_priority", "integer from -10000 to 10000"),
    library("create-endpoint-sandbox-not-a-netns", lambda c, w: front(c).create_endpoint("e", w.ordinary_file, {}),
            "sandbox", "not a network namespace"),
    library("new-sandbox-relative-key", lambda c, w: c.new_sandbox("netns/x"), "key", "absolute path"),
    library("new-sandbox-key-is-an-ordinary-file", lambda c, w: c.new_sandbox(w.ordinary_file), "key",
            "not a network namespace"),
    library("new-sandbox-key-inside-an-ordinary-file", lambda c, w: c.new_sandbox(w.ordinary_file + "/x"), "key",
            "not a directory"),
    library("controller-state-dir-is-a-file", lambda c, w: Controller(state_dir=w.state_file), "state_dir",
            "not a directory"),
    library("controller-state-dir-a-symlink", lambda c, w: Controller(state_dir=w.symlinked_dir), "state_dir",
            "symbolic link"),
    library("new-sandbox-key-through-a-symlink", lambda c, w: c.new_sandbox(w.symlinked_dir + "/x"), "key",
            "must not contain symlinks"),
    library("new-sandbox-the-hosts-namespace", lambda c, w: c.new_sandbox(w.host_bound), "key",
            "the host's own network namespace"),
    library("create-endpoint-sandbox-under-proc", lambda c, w: front(c).create_endpoint("e", "/proc/self/ns/net", {}),
            "sandbox", "under /proc"),
    library("create-endpoint-sandbox-the-hosts-namespace",
            lambda c, w: front(c).create_endpoint("e", w.host_bound, {}), "sandbox", "the host's own network namespace"),
]

CASES = DRIVER_CASES + NETWORK_CASES + SANDBOX_CASES + ENDPOINT_CASES + ENDPOINT_LIST_CASES + INFO_CASES + LIBRARY_CASES


class Outcome:
    def __init__(self, failed, message, param, traceback):
        self.failed = failed
        self.message = message
        self.param = param
        self.traceback = traceback


def run_case(case, world):
    if case.target == LIBRARY:
        return run_library_case(case, world)
    args = resolve(case.run, world)
    args.setdefault("state_dir", world.state_dir)
    # As with ANSIBLE_DISPLAY_TRACEBACK=error: every failure then carries the traceback of the exception
    # behind it, which must be one of pynet's errors, or none for Ansible's own argument checks.
    args["_ansible_tracebacks_for"] = ["error"]
    result = run_module(case.target, args, check=case.check_mode)
    # Ansible's own argument checks report no `param`; pynet's errors always do.
    return Outcome(failed=bool(result.get("failed")) and result["rc"] != 0, message=result.get("msg", ""),
                   param=result.get("param", case.param),
                   traceback="Traceback" in result["stderr"] or bool(foreign_exceptions(str(result.get("exception")))))


def foreign_exceptions(formatted_traceback):
    """The exception lines of a formatted traceback (chained ones too) that are not pynet's errors."""
    return [line for line in formatted_traceback.splitlines()
            if EXCEPTION_LINE.match(line) and not line.startswith(PYNET_ERRORS)]


def run_library_case(case, world):
    controller = Controller(state_dir=world.state_dir)
    try:
        case.run(controller, world)
    except errors.PynetError as exc:
        return Outcome(True, str(exc), exc.param, traceback=False)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # a user's mistake must be a PynetError
        return Outcome(True, "%s: %s" % (type(exc).__name__, exc), None, traceback=True)
    finally:
        controller.close()
    return Outcome(False, "", None, traceback=False)


# A string where a list of dicts is declared: ansible-core 2.19 refuses it before pynet runs, with
# "dictionary requested, could not parse JSON or key=value" that names no option
# (module_utils/common/parameters.py, _list_no_log_values). Checked apart: failed, nothing changed.
REFUSED_BY_ANSIBLE_CORE = [
    pytest.param("pynet_network", {"name": "x", "ipam": "x"}, id="network-ipam-a-string"),
    pytest.param("pynet_endpoint", {"network": "front", "name": "x", "sandbox": "/run/x", "ports": "80"},
                 id="endpoint-ports-a-string"),
    pytest.param("pynet_endpoint", {"network": "front", "endpoints": "x"}, id="endpoint-endpoints-a-string"),
]


@pytest.mark.parametrize("name, args", REFUSED_BY_ANSIBLE_CORE)
def test_a_string_for_a_list_of_dicts_is_refused_before_pynet_runs(world, name, args):
    kernel_before, store_before = world.settled_kernel(), store_snapshot(world.state_dir)
    result = run_module(name, dict(args, state_dir=world.state_dir))
    unchanged = world.kernel_now() == kernel_before and store_snapshot(world.state_dir) == store_before
    assert result.get("failed") and "dictionary requested" in result["msg"] and unchanged


def differences(before, after):
    return sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_fails_cleanly_and_changes_nothing(world, tally, case):
    kernel_before = world.settled_kernel()
    store_before, store_files = store_snapshot(world.state_dir), world.store_files()
    outcome = run_case(case, world)
    kernel_changed = differences(kernel_before, world.kernel_now())
    store_changed = differences(store_before, store_snapshot(world.state_dir))
    if store_changed:
        world.put_back(store_files)
    met = {
        "failed": outcome.failed,
        "names the parameter": outcome.param == case.param and case.param in outcome.message,
        "says what is allowed": case.allowed in outcome.message,
        "kernel unchanged": not kernel_changed,
        "store unchanged": not store_changed,
        "no traceback": not outcome.traceback,
    }
    tally.append(met)
    assert all(met.values()), {"unmet": [name for name, ok in met.items() if not ok], "message": outcome.message,
                               "param": outcome.param, "kernel changed": kernel_changed,
                               "store changed": store_changed}


def test_bad_input_figures(tally, figures):
    def count(requirement):
        return sum(not met[requirement] for met in tally)

    named = sum(met["failed"] and met["names the parameter"] and met["says what is allowed"] for met in tally)
    figures.record(PART, "bad-input cases", len(tally), ">= %d" % GOAL_CASES, len(tally) >= GOAL_CASES)
    figures.record(PART, "failed with a message naming the parameter and what is allowed",
                   "%d/%d" % (named, len(tally)), "all", named == len(tally))
    figures.record(PART, "kernel changed", count("kernel unchanged"), 0, not count("kernel unchanged"))
    figures.record(PART, "store changed", count("store unchanged"), 0, not count("store unchanged"))
    figures.record(PART, "tracebacks", count("no traceback"), 0, not count("no traceback"))
    assert len(tally) >= GOAL_CASES
    assert named == len(tally)
    assert not (count("kernel unchanged") or count("store unchanged") or count("no traceback"))
