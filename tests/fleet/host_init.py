"""Become a simulated host, then run its daemon:

    nsenter --net=NETNS python3 -I -S host_init.py NAME ROOT -- COMMAND [ARG...]

The process gets a mount and a UTS namespace of its own: hostname NAME, a tmpfs on /run, an empty
/root/.bashrc (the machine's may start pyenv, which bash would then run for every ssh command: a
real host's does not), and /etc, /var/lib and /var/cache as overlays whose upper layers are under ROOT
(the host sees the machine's files, and what it writes there stays its own: /var/lib/pynet, /etc/netns,
/var/cache/pynet). Then
it execs COMMAND, which keeps the process id, so the rig stops the host by that pid; the namespaces
end with the last process in them, and their mounts with them.
"""

import ctypes
import os
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

BASHRC = "/root/.bashrc"

libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, "%s: %s" % (what, os.strerror(code)))


def mount(source, target, fstype, flags=0, data=None):
    check(libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                     data.encode() if data else None), "mount %s on %s" % (fstype or source, target))


def main(name, root, command):
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare")
    mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates back to the machine
    check(libc.sethostname(name.encode(), len(name.encode())), "sethostname")
    mount("tmpfs", "/run", "tmpfs", 0, "mode=0755")
    if os.path.isfile(BASHRC):
        mount("/dev/null", BASHRC, None, MS_BIND)
    for directory in ("/etc", "/var/lib", "/var/cache"):
        layer = os.path.join(root, directory.strip("/").replace("/", "-"))
        upper, work = os.path.join(layer, "upper"), os.path.join(layer, "work")
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        mount("overlay", directory, "overlay", 0, "lowerdir=%s,upperdir=%s,workdir=%s" % (directory, upper, work))
    os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege separation directory
    os.execv(command[0], command)


if __name__ == "__main__":
    separator = sys.argv.index("--")
    main(sys.argv[1], sys.argv[2], sys.argv[separator + 1:])
