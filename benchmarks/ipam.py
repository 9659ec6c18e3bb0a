"""IPAM in a /8 through the store: allocate and release 100,000 addresses.

    python benchmarks/ipam.py [COUNT]

Prints microseconds per operation, one write transaction per operation (as endpoints are
made one by one) and all in one transaction (as a batch makes them), with the store's size
next to the pool's: what is stored grows with what is allocated, not with the pool.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time

import common


def store_bytes(state_dir):
    return sum(os.path.getsize(os.path.join(state_dir, name)) for name in os.listdir(state_dir))


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    sys.path.insert(0, common.collection_path())
    from ansible_collections.pynet.libnetwork.plugins.module_utils import ipam
    from ansible_collections.pynet.libnetwork.plugins.module_utils.store import Store

    def run(one_transaction_each):
        state_dir = tempfile.mkdtemp(prefix="pynet-ipam-")
        store = Store(state_dir)
        with store.write() as tx:
            tx.execute("INSERT INTO networks(id, name, type, options, state) VALUES ('n', 'big', 'bridge', '{}', "
                       "'ready')")
            ipam.add_pools(tx, "n", ipam.parse_pools([{"subnet": "10.0.0.0/8"}]))
        empty = store_bytes(state_dir)
        figures = {}
        for phase in ("allocate", "release"):
            start = time.perf_counter()
            last = time.perf_counter()
            # One transaction per operation, or every operation inside one outer transaction.
            with contextlib.nullcontext() if one_transaction_each else store.write() as shared:
                for index in range(count):
                    with store.write() if one_transaction_each else contextlib.nullcontext(shared) as tx:
                        if phase == "allocate":
                            ipam.allocate(tx, "big", "n", 4, "e%d" % index)
                        else:
                            ipam.release(tx, "e%d" % index)
                    if index == count - 1000:
                        last = time.perf_counter()
            end = time.perf_counter()
            figures[phase] = (1e6 * (end - start) / count, 1e6 * (end - last) / 1000)
            if phase == "allocate":
                figures["size"] = store_bytes(state_dir)
        store.close()
        return empty, figures

    print("IPAM, pool 10.0.0.0/8 (%d addresses), %d allocations then %d releases" % (2 ** 24, count, count))
    columns = ("mode", "alloc us/op", "alloc us (last 1k)", "release us/op", "store empty", "store full")
    print("%-28s %14s %18s %14s %12s %12s" % columns)
    for label, each in (("one transaction per op", True), ("one transaction for all", False)):
        empty, figures = run(each)
        print("%-28s %14.1f %18.1f %14.1f %11dK %11dK" % (label, figures["allocate"][0], figures["allocate"][1],
                                                          figures["release"][0], empty // 1024,
                                                          figures["size"] // 1024))


if __name__ == "__main__":
    main()
