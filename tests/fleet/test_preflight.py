"""The role fleet_network's pre-flight probe (roles/fleet_network/vars/main.yml), run alone with the
machine's Python in a network namespace of the test's own, where `lo` holds the advertise address."""

import os
import subprocess

import pytest
import yaml

from rig import SYSTEM_PYTHON

ROLE_VARS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles", "fleet_network", "vars",
                         "main.yml")
UNREACHABLE_STORE = "etcd://127.0.0.1:9"  # the namespace's own loopback, where nothing listens


def preflight(address, prefix, link_mtu, min_mtu):
    with open(ROLE_VARS) as handle:
        probe = yaml.safe_load(handle)["fleet_network_preflight_probe"]
    # unshare gives the run a network namespace of its own, gone with it.
    setup = ("import subprocess, sys\n"
             "for argv in (['ip', 'link', 'set', 'lo', 'mtu', sys.argv[3], 'up'],\n"
             "             ['ip', 'addr', 'add', sys.argv[1] + '/' + sys.argv[2], 'dev', 'lo']):\n"
             "    subprocess.run(argv, check=True)\n"
             "sys.exit(subprocess.run([sys.executable, '-c', sys.argv[4]] + sys.argv[5:]).returncode)\n")
    return subprocess.run(["unshare", "--net", SYSTEM_PYTHON, "-c", setup, address, str(prefix), str(link_mtu), probe,
                           UNREACHABLE_STORE, address, str(min_mtu), "", "", ""],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("address, prefix, overlay_mtu", [("10.250.9.1", 32, 1290), ("fd00:250::9:1", 128, 1270)])
def test_the_overlay_mtu_is_the_links_less_vxlans_headers_over_ipv4_or_ipv6(address, prefix, overlay_mtu):
    """VXLAN costs 50 bytes of an IPv4 underlay's MTU and 70 of an IPv6 one's, as the overlay driver counts."""
    run = preflight(address, prefix, 1340, overlay_mtu)
    assert run.returncode != 0 and "cluster_store %s" % UNREACHABLE_STORE in run.stderr, run.stderr
    assert "MTU" not in run.stderr, run.stderr
    run = preflight(address, prefix, 1340, overlay_mtu + 1)
    assert ("advertise_address %s: its link lo has MTU 1340, which leaves the overlay %d, below fleet_network_min_mtu %d"
            % (address, overlay_mtu, overlay_mtu + 1)) in run.stderr, run.stderr
