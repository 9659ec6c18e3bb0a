"""A fork server for the crash tests: it imports pynet once and never touches the kernel itself,
then for each job (a JSON line on stdin) forks a child that carries out a declared state and
kills itself with SIGKILL at one step boundary: before its n-th kernel change (netlink request,
namespace syscall, sysctl write, nftables transaction) or store transaction (among them the records
of host settings, made before each change), or once all are done. Replies
one JSON line per job: whether the child was killed, and how many boundaries it passed.

    python crash_runner.py      (in the test's namespace; PYTHONPATH holds the collection)
"""

import json
import os
import signal
import sys

import declared
from ansible_collections.pynet.libnetwork.plugins.module_utils import store
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns, nftables, rtnl, sysctl

KERNEL_CHANGES = {
    sysctl.Sysctls: ("write",),
    rtnl.Connection: ("add_bridge", "set_alias", "set_mtu", "add_veth", "set_bridge_port", "delete_link", "set_group",
                      "delete_group", "set_up", "set_down", "add_address", "delete_address", "set_default_route"),
    # _check follows each namespace syscall (unshare, mount, umount, setns); the others come before
    # each file-system step of a sandbox: its file made, mounted on, unmounted, removed.
    netns: ("_check", "_make_placeholder", "_mount", "_unmount", "_remove_placeholder"),
    nftables: ("apply",),
}


class Boundaries:
    def __init__(self, kill_at):
        self.passed = 0
        self.kill_at = kill_at

    def cross(self):
        self.passed += 1
        if self.passed == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)


def install(boundaries):
    def before(function):
        def wrapper(*args, **kwargs):
            boundaries.cross()
            return function(*args, **kwargs)
        return wrapper

    for module, names in KERNEL_CHANGES.items():
        for name in names:
            setattr(module, name, before(getattr(module, name)))
    plain_write = store.Store.write

    def write(self):
        boundaries.cross()
        return plain_write(self)

    store.Store.write = write


def child(job, report_fd):
    boundaries = Boundaries(job["kill_at"])
    install(boundaries)
    declared.apply(job["state_dir"], job["tasks"])
    boundaries.cross()  # all done, not yet reported
    os.write(report_fd, json.dumps({"boundaries": boundaries.passed}).encode())
    os._exit(0)


def serve():
    for line in sys.stdin:
        job = json.loads(line)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            try:
                child(job, write_fd)
            except BaseException as exc:  # pylint: disable=broad-exception-caught  # reported to the test
                os.write(write_fd, json.dumps({"error": repr(exc)}).encode())
                os._exit(1)
        os.close(write_fd)
        with os.fdopen(read_fd) as pipe:
            report = json.loads(pipe.read() or "{}")
        unused_pid, status = os.waitpid(pid, 0)
        report["killed"] = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    serve()
