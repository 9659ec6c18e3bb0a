"""kernel/sysctl.py: each write lands in the calling thread's namespace, through procfs instances
of its own that are replaced as they go."""

import os

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, sysctl

HOP_LIMIT = "net/ipv6/conf/lo/hop_limit"


def read(path):
    with open("/proc/sys/" + path) as knob:
        return int(knob.read())


def test_each_write_lands_in_the_namespace_the_thread_is_in(host):
    os.makedirs(host.netns_dir)
    keys = [host.sandbox_key("s%d" % number) for number in range(2 * sysctl.LOOKUPS_PER_INSTANCE + 3)]
    for key in keys:
        netns.create(key)
    own = read(HOP_LIMIT)
    with sysctl.Sysctls() as sysctls:
        for number, key in enumerate(keys):
            with netns.entered(key):
                sysctls.write(HOP_LIMIT, 10 + number)
    for number, key in enumerate(keys):
        with netns.entered(key):
            assert read(HOP_LIMIT) == 10 + number
    assert read(HOP_LIMIT) == own


def test_sysctls_are_reached_through_a_procfs_instance_other_than_proc(host):
    sys_dir = sysctl._new_procfs()  # pylint: disable=protected-access
    try:
        assert os.fstat(sys_dir).st_dev != os.stat("/proc/sys").st_dev
        assert sorted(os.listdir(sys_dir)) == sorted(os.listdir("/proc/sys"))
    finally:
        os.close(sys_dir)
