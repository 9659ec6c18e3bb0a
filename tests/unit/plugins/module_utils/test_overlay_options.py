"""The overlay driver's option checks and pool rules, and the secrets results never show: pure logic."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, ipam
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import diff
from ansible_collections.pynet.libnetwork.plugins.module_utils.drivers.overlay import OverlayDriver, block_gateway
from ansible_collections.pynet.libnetwork.plugins.module_utils.records import NetworkRecord, pools_of


def test_without_a_cluster_store_the_driver_is_not_configured():
    opts = OverlayDriver.validate_driver_options({})
    assert opts["cluster_store"] is None and opts["vxlan_port"] == 4789
    driver = OverlayDriver(opts)
    assert not driver.configured and driver.global_networks() == [] and driver.global_network(name="ov") is None
    with pytest.raises(errors.InvalidParameterError) as refused:
        driver.check_network({"internal": False, "mtu": None})
    assert refused.value.param == "cluster_store"


@pytest.mark.parametrize("given, param", [
    ({"cluster_store": "etcd://10.250.0.1:2379"}, "options.advertise_address"),
    ({"advertise_address": "10.250.1.1"}, "options.cluster_store"),
    ({"username": "pynet"}, "options.cluster_store"),
    ({"cluster_store": "https://10.250.0.1:2379", "advertise_address": "10.250.1.1"}, "cluster_store"),
    ({"cluster_store": "etcd://10.250.0.1", "advertise_address": "not an address"}, "options.advertise_address"),
    ({"cluster_store": "etcd://10.250.0.1", "advertise_address": "10.250.1.1", "vxlan_port": 70000},
     "options.vxlan_port"),
    ({"cluster_store": "etcd://10.250.0.1", "advertise_address": "10.250.1.1", "host_name": "a/b"},
     "options.host_name"),
    ({"cluster_store": "etcd://10.250.0.1", "advertise_address": "10.250.1.1", "username": "pynet"}, "password"),
    ({"cluster_store": "etcd://10.250.0.1", "advertise_address": "10.250.1.1", "ca_file": "/ca.crt"}, "ca_file"),
])
def test_bad_driver_options_name_the_option(given, param):
    with pytest.raises(errors.InvalidParameterError) as refused:
        OverlayDriver.validate_driver_options(given)
    assert refused.value.param == param


@pytest.mark.parametrize("pools, param", [
    ([{"subnet": "fd00:1::/64"}], "ipam"),
    ([{"subnet": "10.251.0.0/16"}, {"subnet": "10.252.0.0/16"}], "ipam[1].subnet"),
    ([{"subnet": "10.251.0.0/16"}, {"subnet": "fd00:1::/64"}, {"subnet": "fd00:2::/64"}], "ipam[2].subnet"),
    ([{"subnet": "10.251.0.0/16"}, {"subnet": "fd00:1::/64", "gateway": "fd00:1::9"}], "ipam[1].gateway"),
    ([{"subnet": "10.251.0.0/16", "gateway": "10.251.0.9"}], "ipam[0].gateway"),
    ([{"subnet": "10.251.0.0/16", "ip_range": "10.251.1.0/24"}], "ipam[0]"),
    ([{"subnet": "10.251.0.0/16", "aux_addresses": {"x": "10.251.0.9"}}], "ipam[0]"),
])
def test_overlay_pools_are_an_ipv4_subnet_and_at_most_one_ipv6_subnet(pools, param):
    driver = OverlayDriver(OverlayDriver.validate_driver_options({}))
    with pytest.raises(errors.InvalidParameterError) as refused:
        driver.check_pools("ov", ipam.parse_pools(pools))
    assert refused.value.param == param
    driver.check_pools("ov", ipam.parse_pools([{"subnet": "10.251.0.0/16", "gateway": "10.251.0.1"}]))
    driver.check_pools("ov", ipam.parse_pools([{"subnet": "10.251.0.0/16"}, {"subnet": "fd00:1::/64"}]))


def test_an_endpoints_gateway_is_its_blocks():
    network = NetworkRecord("a" * 64, "ov", "overlay", {}, "ready",
                            pools_of([{"subnet": "10.251.0.0/16"}, {"subnet": "fd00:1::/64"}]))
    assert block_gateway(network, "10.251.7.70/16") == "10.251.7.65"
    assert block_gateway(network, "fd00:1::1:47/64") == "fd00:1::1:41"  # a /122: 64 addresses
    assert block_gateway(network, "10.251.0.2/16") == "10.251.0.1"
    assert ipaddress.ip_address(block_gateway(network, "10.251.255.255/16")) == ipaddress.ip_address("10.251.255.193")


def test_results_never_show_the_etcd_password():
    view = diff.options_view("overlay", {"cluster_store": "etcd://10.250.0.1:2379", "username": "pynet",
                                         "password": "secret", "ca_file": None})
    assert view == {"name": "overlay", "options": {"cluster_store": "etcd://10.250.0.1:2379", "username": "pynet",
                                                   "password": "********", "ca_file": None}}
