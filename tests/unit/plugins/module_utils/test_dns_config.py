"""The files rendered for DNS (dnsmasq's, a sandbox's resolv.conf and hosts): pure logic."""

from __future__ import annotations

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.dns import config

WEB = config.Record("Web", ("www", "api"), ("10.89.0.5",), ("fd00:0:0::5",))


def network(**options):
    return config.DnsNetwork(**dict(dict(id="ab12", name="front", gateways=("10.89.0.1", "fd00::1"),
                                         records=(WEB,)), **options))


def conf_lines(**options):
    return config.dnsmasq_conf(network(**options), "/run/pynet/dns/pynet/ab12.d", "/run/pynet/dns/pynet/ab12.pid",
                               "dnsmasq", "nogroup").splitlines()


def test_dnsmasq_listens_at_each_gateway_only():
    lines = conf_lines()
    assert ["listen-address=10.89.0.1", "listen-address=fd00::1"] == [line for line in lines if "listen" in line]
    assert {"port=53", "bind-dynamic", "no-hosts", "hostsdir=/run/pynet/dns/pynet/ab12.d", "local-ttl=0",
            "domain-needed", "pid-file=/run/pynet/dns/pynet/ab12.pid"} <= set(lines)
    # Never root: the user that dnsmasq-base makes for it.
    assert {"user=dnsmasq", "group=nogroup"} <= set(lines) and "user=root" not in lines


def test_upstream_forwarding_per_network():
    assert not [line for line in conf_lines() if line.startswith(("server=", "no-resolv", "local="))]  # the host's
    assert [line for line in conf_lines(upstream=("10.0.0.53", "2001:db8::53")) if "server=" in line or "resolv" in line] \
        == ["no-resolv", "server=10.0.0.53", "server=2001:db8::53"]
    internal = conf_lines(internal=True, upstream=("10.0.0.53",))
    assert "local=/#/" in internal and "no-resolv" in internal and not [line for line in internal if "server=" in line]


def test_a_domain_is_answered_and_never_forwarded():
    assert {"domain=pynet.internal", "expand-hosts", "local=/pynet.internal/"} <= set(conf_lines(domain="Pynet.Internal."))


def test_hosts_file_per_record_line_per_address_names_lowered_record_name_first():
    other = config.Record("db", (), ("10.89.0.6",))
    files = config.dnsmasq_hosts(network(records=(WEB, other)))
    assert sorted(files.values()) == ["10.89.0.6\tdb\n", "10.89.0.5\tweb www api\nfd00::5\tweb www api\n"][::-1]
    # Each file is named from its record alone, so that a record's file is found again without the others.
    assert dict([config.record_file(WEB), config.record_file(other)]) == files
    assert len(set(files)) == 2 and all(len(name) == 32 and not name.startswith(".") for name in files)


@pytest.mark.parametrize("record, param", [
    (config.Record("web", ("bad name",), ("10.89.0.5",)), "aliases"),
    (config.Record("web", ("-x",), ("10.89.0.5",)), "aliases"),
    (config.Record("a" * 64, (), ("10.89.0.5",)), "name"),
    (config.Record("web\nserver=1.1.1.1", (), ("10.89.0.5",)), "name"),
    (config.Record("web", (), ("10.89.0.5 evil",)), "address"),
    (config.Record("web", (), ("fd00::5",)), "address"),
    (config.Record("web", (), (), ("10.89.0.5",)), "address_ipv6"),
])
def test_bad_records_are_refused_naming_the_field(record, param):
    with pytest.raises(errors.InvalidParameterError) as raised:
        config.dnsmasq_hosts(network(records=(record,)))
    assert raised.value.param == param


@pytest.mark.parametrize("options, param", [
    ({"id": "../etc"}, "id"), ({"gateways": ()}, "gateways"), ({"gateways": ("10.89.0.1/24",)}, "gateways"),
    ({"upstream": ("8.8.8.8#53",)}, "dns_servers"), ({"domain": "a..b"}, "domain"),
])
def test_bad_networks_are_refused_naming_the_field(options, param):
    with pytest.raises(errors.InvalidParameterError) as raised:
        conf_lines(**options)
    assert raised.value.param == param


@pytest.mark.parametrize("path", ["relative/x.hosts", "/state dir/x.hosts", "/state#/x.hosts", "/a,b/x.hosts",
                                  "/a\nserver=1.1.1.1/x.hosts"])
def test_paths_dnsmasq_would_read_otherwise_are_refused(path):
    with pytest.raises(errors.InvalidParameterError, match="directory: "):
        config.dnsmasq_conf(network(), path, "/run/pynet/dns/pynet/ab12.pid", "dnsmasq", "nogroup")


@pytest.mark.parametrize("user, group", [("root\nuser=root", "nogroup"), ("dnsmasq", "x y"), ("", "nogroup")])
def test_accounts_that_are_not_names_are_refused(user, group):
    with pytest.raises(errors.InvalidParameterError):
        config.dnsmasq_conf(network(), "/run/x.hosts", "/run/x.pid", user, group)


def test_resolv_conf():
    assert config.resolv_conf(["10.89.0.1", "fd00::1"], ["pynet.internal"], ["ndots:0", "edns0"]).splitlines()[1:] == [
        "nameserver 10.89.0.1", "nameserver fd00::1", "search pynet.internal", "options ndots:0 edns0"]
    assert config.resolv_conf(["10.89.0.1"]).splitlines()[1:] == ["nameserver 10.89.0.1"]
    with pytest.raises(errors.InvalidParameterError, match="options: "):
        config.resolv_conf(["10.89.0.1"], options=["ndots:0\nnameserver 192.0.2.1"])
    with pytest.raises(errors.InvalidParameterError, match="nameservers: "):
        config.resolv_conf(["10.89.0.1 192.0.2.1"])


def test_hosts_file_of_a_sandbox():
    lines = config.hosts([WEB, config.Record("web", (), ("10.89.1.5",))]).splitlines()
    assert lines[1:3] == ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    assert lines[-3:] == ["10.89.0.5\tweb www api", "fd00::5\tweb www api", "10.89.1.5\tweb"]


@pytest.mark.parametrize("name", ["web", "web-1", "a.b.c", "_sip", "x" * 63, "WEB.", "1web"])
def test_dns_names_accepted(name):
    assert config.check_dns_name("aliases", name) == name.lower().rstrip(".")


@pytest.mark.parametrize("name", ["", ".", "a..b", "-a", "a-", "a b", "a/b", "x" * 64, ("x" * 60 + ".") * 5, None, 7])
def test_dns_names_refused(name):
    with pytest.raises(errors.InvalidParameterError, match="aliases: .* is not a DNS name"):
        config.check_dns_name("aliases", name)
