"""Option validation: pure logic."""

from __future__ import annotations

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, options

SPEC = {
    "mtu": options.Option(options.int_between(68, 65535), 1500),
    "ifname": options.Option(options.check_ifname, "eth0"),
    "flag": options.Option(options.check_bool, False),
}


def test_defaults_filled_and_values_normalised():
    assert options.validate({"flag": "yes", "mtu": "9000"}, SPEC) == {"mtu": 9000, "ifname": "eth0", "flag": True}


def test_unknown_option_names_it_and_lists_the_allowed():
    with pytest.raises(errors.InvalidParameterError) as raised:
        options.validate({"colour": 1}, SPEC, "options.")
    assert raised.value.param == "options.colour"
    assert "allowed options: flag, ifname, mtu" in str(raised.value)


@pytest.mark.parametrize("value", ["", "a" * 16, "a/b", "a:b", "a b", ".", "..", 7, "eth\x000"])
def test_bad_interface_names(value):
    with pytest.raises(errors.InvalidParameterError, match="ifname: .*not a valid interface name"):
        options.check_ifname("ifname", value)


@pytest.mark.parametrize("value", ["br-web", "pn_1.2", "A0"])
def test_literal_interface_names(value):
    assert options.check_literal_ifname("bridge_name", value) == value


@pytest.mark.parametrize("value", ["uplink*", "@set", "br\\0", 'br"0', "br'0", "br{a}", "br$x", "br\u00e9"])
def test_names_nftables_would_read_as_patterns(value):
    with pytest.raises(errors.InvalidParameterError, match="bridge_name: .*is not allowed: .*only ASCII letters, "
                       "digits, '-', '_' and '.'"):
        options.check_literal_ifname("bridge_name", value)


@pytest.mark.parametrize("value, expected", [("02:42:AC:11:00:02", "02:42:ac:11:00:02"),
                                             ("02-42-ac-11-00-02", "02:42:ac:11:00:02")])
def test_mac_normalised(value, expected):
    assert options.check_mac("mac", value) == expected


@pytest.mark.parametrize("value, message", [("zz", "not a MAC"), ("01:00:5e:00:00:01", "multicast")])
def test_bad_macs(value, message):
    with pytest.raises(errors.InvalidParameterError, match=message):
        options.check_mac("mac", value)


@pytest.mark.parametrize("value", [True, "x", 67, 65536])
def test_bad_integers(value):
    with pytest.raises(errors.InvalidParameterError, match="mtu"):
        options.int_between(68, 65535)("mtu", value)


@pytest.mark.parametrize("value", ["ok-name_1.2", "A"])
def test_good_names(value):
    assert options.check_name("name", value) == value


@pytest.mark.parametrize("value", ["", "-lead", "has space", "x" * 129, None])
def test_bad_names(value):
    with pytest.raises(errors.InvalidParameterError, match="name"):
        options.check_name("name", value)
