"""The Python example of README.md, run exactly as written (as libnetwork's cmd/readme_test does).

It runs as root with its default paths (/var/lib/pynet, /run/pynet), so it runs in a child
with private mount and network namespaces in which /var/lib and /run are empty tmpfs: the
host's files and network are never touched.
"""

import os
import re
import subprocess
import sys

README = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "README.md")

# The child: private mounts and network, fresh /run and /var/lib, then the example.
ISOLATE = """
import ctypes, os, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
CLONE_NEWNS, CLONE_NEWNET, MS_REC, MS_PRIVATE = 0x00020000, 0x40000000, 0x4000, 0x40000
def check(result, what):
    if result != 0:
        raise OSError(ctypes.get_errno(), what)
check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
for path in (b"/run", b"/var/lib"):
    check(libc.mount(b"pynet-readme", path, b"tmpfs", 0, None), "tmpfs")
exec(compile(sys.argv[1], "README.md", "exec"))
"""


def readme_example():
    text = open(README).read()
    blocks = re.findall(r"<!-- readme-example -->\s*```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "README.md must hold exactly one python block marked <!-- readme-example -->"
    return blocks[0]


def test_readme_example_runs_as_written():
    example = readme_example()
    for name in ("Controller()", 'new_network_driver("bridge"', "new_sandbox(", "create_endpoint(",
                 "sandbox_info()", "endpoints()", "ep.delete()", "network.delete()", "sandbox.destroy()"):
        assert name in example
    env = dict(os.environ, PYTHONPATH=os.environ["PYNET_COLLECTIONS_PATH"])
    done = subprocess.run([sys.executable, "-c", ISOLATE, example], capture_output=True, text=True, env=env,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "'address': '10.89.0.2/24'" in lines[0] and "'gateway': '10.89.0.1'" in lines[0]
    assert lines[1] == "network network1 has active endpoints: Endpoint1; delete them first"
    assert lines[2] == "['Endpoint1']"
