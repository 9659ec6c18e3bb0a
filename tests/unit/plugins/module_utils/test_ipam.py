"""IPAM over the store: pure logic, no kernel."""

from __future__ import annotations

import ipaddress
import time

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors, ipam
from ansible_collections.pynet.libnetwork.plugins.module_utils.store import Store


@pytest.fixture
def store(tmp_path):
    store = Store(str(tmp_path / "state"))
    yield store
    store.close()


def make_network(store, name, pools):
    specs = ipam.parse_pools(pools)
    with store.write() as tx:
        tx.execute("INSERT INTO networks(id, name, type, options, state) VALUES (?, ?, 'bridge', '{}', 'ready')",
                   (name + "-id", name))
        ipam.add_pools(tx, name + "-id", specs)
    return name + "-id"


def allocate(store, network_id, owner, version=4, requested=None):
    with store.write() as tx:
        return ipam.allocate(tx, "net", network_id, version, owner, requested)


def test_lowest_free_first_then_round_robin(store):
    net = make_network(store, "n", [{"subnet": "10.1.0.0/29"}])
    got = [allocate(store, net, "e%d" % i) for i in range(3)]
    assert got == ["10.1.0.2/29", "10.1.0.3/29", "10.1.0.4/29"]
    with store.write() as tx:
        ipam.release(tx, "e0")
    # .2 was just released: the next allocation goes on from the last one handed out.
    assert allocate(store, net, "e3") == "10.1.0.5/29"
    assert allocate(store, net, "e4") == "10.1.0.6/29"
    # Wraps round to the released address once the end is reached.
    assert allocate(store, net, "e5") == "10.1.0.2/29"
    with pytest.raises(errors.NoAvailableIPsError):
        allocate(store, net, "e6")


def test_gateway_aux_and_range(store):
    net = make_network(store, "n", [{"subnet": "10.2.0.0/24", "gateway": "10.2.0.254", "ip_range": "10.2.0.0/30",
                                     "aux_addresses": {"router": "10.2.0.1"}}])
    # 10.2.0.0 is the network address, .1 aux, so the range's only free address is .2 and .3.
    assert allocate(store, net, "a") == "10.2.0.2/24"
    assert allocate(store, net, "b") == "10.2.0.3/24"
    with pytest.raises(errors.NoAvailableIPsError):
        allocate(store, net, "c")
    # A requested address outside ip_range but inside the subnet is fine; gateway and aux are not.
    assert allocate(store, net, "d", requested="10.2.0.100") == "10.2.0.100/24"
    for taken in ("10.2.0.254", "10.2.0.1", "10.2.0.100"):
        with pytest.raises(errors.IPAlreadyAllocatedError):
            allocate(store, net, "x", requested=taken)
    with pytest.raises(errors.IPOutOfRangeError):
        allocate(store, net, "x", requested="10.3.0.1")


def test_ipv6_and_dual_stack(store):
    net = make_network(store, "n", [{"subnet": "10.3.0.0/24"}, {"subnet": "fd00:3::/64"}])
    assert allocate(store, net, "a", 4) == "10.3.0.2/24"
    assert allocate(store, net, "a", 6) == "fd00:3::2/64"
    assert allocate(store, net, "b", 6, requested="fd00:3::beef") == "fd00:3::beef/64"
    v4only = make_network(store, "m", [{"subnet": "10.4.0.0/24"}])
    assert allocate(store, v4only, "c", 6) is None


def test_a_slash_8_is_not_enumerated(store):
    net = make_network(store, "big", [{"subnet": "10.0.0.0/8"}])
    start = time.perf_counter()
    got = [allocate(store, net, "e%d" % i) for i in range(200)]
    elapsed = time.perf_counter() - start
    assert got[0] == "10.0.0.2/8" and got[-1] == "10.0.0.201/8"
    assert len(set(got)) == 200
    assert elapsed < 5  # generous bound; enumerating 16M addresses would take far longer


@pytest.mark.parametrize("pools, param, message", [
    ([{"subnet": "10.0.0.1/24"}], "ipam[0].subnet", "host bits set"),
    ([{"subnet": "banana"}], "ipam[0].subnet", "not a CIDR"),
    ([{"subnet": "10.0.0.0"}], "ipam[0].subnet", "no prefix length"),
    ([{"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}], "ipam[0].gateway", "not inside subnet"),
    ([{"subnet": "10.0.0.0/24", "gateway": "10.0.0.255"}], "ipam[0].gateway", "broadcast"),
    ([{"subnet": "10.0.0.0/24", "ip_range": "10.0.1.0/28"}], "ipam[0].ip_range", "not inside subnet"),
    ([{"subnet": "10.0.0.0/24", "aux_addresses": {"r": "10.9.0.1"}}], "ipam[0].aux_addresses.r", "not inside"),
    ([{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.128/25"}], "ipam[1].subnet", "overlaps"),
    ([{"gateway": "10.0.0.1"}], "ipam[0].subnet", "is required"),
    ([{"subnet": "10.0.0.0/24", "colour": "red"}], "ipam[0]", "unknown key"),
    ("10.0.0.0/24", "ipam", "must be a list"),
    ([{"subnet": "10.0.0.0/31"}], "ipam[0].subnet", "too small"),
])
def test_bad_pools_name_the_parameter(pools, param, message):
    with pytest.raises(errors.PynetError) as raised:
        ipam.parse_pools(pools)
    assert raised.value.param == param
    assert message in str(raised.value)
    assert str(raised.value).startswith(param) or param in str(raised.value)


def test_default_subnet_skips_taken_networks(store):
    make_network(store, "n", [{"subnet": "10.89.0.0/24"}])
    tx = store.snapshot()
    bases = [(ipaddress.ip_network("10.89.0.0/23"), 24), (ipaddress.ip_network("10.89.0.0/16"), 24)]
    chosen = ipam.choose_default_subnet(tx, bases, [ipaddress.ip_network("10.89.1.0/24")], "the test's pools")
    assert str(chosen) == "10.89.2.0/24"  # the first base is full: the next one's first free subnet


def test_default_subnet_error_names_where_the_pools_come_from(store):
    with pytest.raises(errors.InvalidParameterError, match=r"ipam: no free subnet is left in the test's pools "
                       r"\(/24 of 10.89.0.0/24\)"):
        ipam.choose_default_subnet(store.snapshot(), [(ipaddress.ip_network("10.89.0.0/24"), 24)],
                                   [ipaddress.ip_network("10.89.0.0/16")], "the test's pools")


@pytest.mark.parametrize("value, param, message", [
    ([{"base": "10.0.0.0/8", "size": 16}, {"base": "fd00::/16", "size": 64}], None, None),
    ([{"base": "10.0.0.0/8"}], "options.p[0]", "needs base"),
    ([{"base": "10.0.0.0/8", "size": 7}], "options.p[0].size", "allowed 8 to 30"),
    ([{"base": "10.0.0.0/8", "size": 24}, {"base": "10.0.0.0/16", "size": 24}], "options.p[1].base", "overlaps"),
])
def test_check_default_pools(value, param, message):
    if param is None:
        assert ipam.check_default_pools("options.p", value) == [{"base": "10.0.0.0/8", "size": 16},
                                                                {"base": "fd00::/16", "size": 64}]
        return
    with pytest.raises(errors.InvalidParameterError, match=message) as caught:
        ipam.check_default_pools("options.p", value)
    assert caught.value.param == param


def test_free_count_and_ranges_of_block_pools(store):
    """An overlay host's pools: the network's subnet with one claimed block each as its range."""
    subnet = ipaddress.ip_network("10.251.0.0/16")
    with store.write() as tx:
        tx.execute("INSERT INTO networks(id, name, type, options, state) VALUES ('ov-id', 'ov', 'overlay', '{}', "
                   "'ready')")
        ipam.add_pools(tx, "ov-id", [ipam.PoolSpec(subnet, ipaddress.ip_address("10.251.7.1"),
                                                   ipaddress.ip_network("10.251.7.0/26"), {}),
                                     ipam.PoolSpec(subnet, ipaddress.ip_address("10.251.0.1"),
                                                   ipaddress.ip_network("10.251.0.0/26"), {})])
    snapshot = store.snapshot()
    assert ipam.pool_ranges(snapshot, "ov-id") == ["10.251.7.0/26", "10.251.0.0/26"]
    # 128 addresses; the gateways and the subnet's own network address (in the second block) are reserved.
    assert ipam.free_count(snapshot, "ov-id", 4) == 128 - 3
    assert ipam.free_count(snapshot, "ov-id", 6) == 0
    first = allocate(store, "ov-id", "ep1")
    assert first == "10.251.7.0/16"  # the network's prefix length, from the block
    assert ipam.free_count(store.snapshot(), "ov-id", 4) == 128 - 4
