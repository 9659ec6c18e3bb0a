"""A host's run that dies mid-allocation (for the GC tests):

    python claim_worker.py CLUSTER_STORE HOST ADDRESS NETWORK SUBNET LIVENESS_TTL   (PYTHONPATH holds the collection)

joins HOST, claims a block of SUBNET, prints it, and waits, as if about to record its addresses,
until the test kills it with SIGKILL.
"""

import sys
import time

from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import allocation, etcd, members


def main(cluster_store, host, address, network, subnet, liveness_ttl):
    client = etcd.EtcdClient(cluster_store)
    members.join(client, host, address, int(liveness_ttl))
    print(allocation.claim_block(client, network, subnet, host).block, flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main(*sys.argv[1:])
