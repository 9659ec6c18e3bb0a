"""The cluster's pure parts: key components and where blocks and addresses are picked. The parts
that talk to etcd are tested against a real etcd in tests/fleet."""

from __future__ import annotations

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import allocation, layout


@pytest.mark.parametrize("value", ["", "a/b", "..", "a b", "x" * 254, 7])
def test_key_components_refused(value):
    with pytest.raises(errors.InvalidParameterError, match="host: .* cannot name a host"):
        layout.host_key(value)


def test_block_keys_round_trip():
    key = layout.block_key("n1", "fd00::40/122")
    assert key == "/pynet/v1/blocks/n1/fd00::40-122"
    assert (layout.network_of_block(key), layout.block_of(key)) == ("n1", "fd00::40/122")
    index_key = layout.host_block_key("h1", "n1", "10.0.0.64/26")
    assert (layout.network_of_block(index_key), layout.block_of(index_key)) == ("n1", "10.0.0.64/26")


def test_first_free_wraps_and_skips():
    assert allocation.first_free(4, 6, set()) == 2
    assert allocation.first_free(4, 3, {3, 0}) == 1
    assert allocation.first_free(2, 0, {0, 1}) is None


def test_blocks_by_index():
    assert allocation.block_prefixlen("10.0.0.0/16") == 26
    assert allocation.block_prefixlen("10.0.0.0/28") == 28  # smaller than a block: the subnet is one
    assert allocation.block_prefixlen("fd00::/64") == 122
    assert allocation.block_at("10.0.0.0/16", 26, 3) == "10.0.0.192/26"
    assert allocation.index_of("10.0.0.0/16", 26, "10.0.0.192/26") == 3
    assert allocation.index_of("10.0.0.0/16", 26, "10.1.0.0/26") is None
    assert allocation.index_of("10.0.0.0/16", 26, "10.0.0.0/27") is None
    assert allocation.indexes_of("10.0.0.0/16", 26, ["10.0.0.64/26", "fd00::/122", "10.0.0.0/26"]) == {0, 1}
    with pytest.raises(errors.InvalidParameterError, match="block_prefixlen: must be a prefix length from 16"):
        allocation.block_prefixlen("10.0.0.0/16", 8)


def test_free_addresses_in_block_order():
    assert allocation.free_addresses(["10.0.0.4/30", "10.0.0.0/30"], ["10.0.0.5"], 4, ["10.0.0.4"]) == [
        "10.0.0.6", "10.0.0.7", "10.0.0.0", "10.0.0.1"]
    assert allocation.free_addresses(["10.0.0.0/31"], [], 5) == ["10.0.0.0", "10.0.0.1"]
    assert allocation.free_addresses(["10.0.0.0/31"], [], 0) == []
