"""Bridges and sandboxes made with iproute2 in the caller's namespace, for tests and benchmarks that
need a data plane but not pynet's (the DNS adapter's own tests, tests/kernel/test_dns.py)."""

import subprocess

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns


def ip(*args, key=None):
    prefix = ["nsenter", "--net=" + key] if key else []
    subprocess.run(prefix + ["ip"] + list(args), check=True)


def add_bridge(name, *cidrs):
    """A bridge, up, with the addresses (IPv6 ones without DAD, usable at once)."""
    ip("link", "add", name, "type", "bridge")
    for cidr in cidrs:
        ip("addr", "add", cidr, "dev", name, *(["nodad"] if ":" in cidr else []))
    ip("link", "set", name, "up")


def add_sandbox(key, host_end, bridge, cidrs, default_gateway=None, ifname="eth0"):
    """A network namespace at `key` (made when missing) with a veth `ifname` holding the addresses,
    its host end `host_end` on `bridge` (or left in the caller's namespace, up, when bridge is None)."""
    if not netns.is_netns(key):
        netns.create(key)
        ip("link", "set", "lo", "up", key=key)
    ip("link", "add", host_end, "type", "veth", "peer", "name", ifname, "netns", key)
    ip("link", "set", host_end, *(["master", bridge] if bridge else []), "up")
    ip("link", "set", ifname, "up", key=key)
    for cidr in cidrs:
        ip("addr", "add", cidr, "dev", ifname, *(["nodad"] if ":" in cidr else []), key=key)
    if default_gateway:
        ip("route", "add", "default", "via", default_gateway, key=key)
