#!/usr/bin/env bash
# The benchmarks, on this machine (Debian 12, as root):
#
#   bash benchmarks/run.sh [N ...] [--skip APPROACH]... [--plot PNG]    (arguments go to endpoints.py)
#
#   1. installs the CNI reference plugins (containernetworking-plugins, the comparison), nftables,
#      iproute2, the DNS servers and load generator (dnsmasq-base, aardvark-dns, dnsperf), and podman,
#      runc and busybox-static (for cni.py's podman runs) with apt-get when they are missing;
#   2. ensures the project's virtualenv with tests/venv.sh and installs benchmarks/requirements.txt
#      (matplotlib, for the plot) into it;
#   3. runs benchmarks/endpoints.py (endpoints: pynet's library and modules, CNI, the ip -batch floor;
#      prints tables, writes benchmarks/output/endpoints.png and .json), benchmarks/growth.py (which
#      step's cost grows with N), benchmarks/sysctl.py (a sandbox's sysctl through /proc/sys and through
#      pynet's procfs instances), benchmarks/ipam.py, benchmarks/dns.py (dnsmasq as pynet runs it
#      against aardvark-dns: queries/s, latency, reloads, memory, what each answers),
#      benchmarks/dns_endpoints.py (names' cost to endpoints, DNS on and off), benchmarks/cni.py
#      (pynet's CNI plugin against the reference chain, exec'd per container, where its time goes, and
#      podman run with each) and benchmarks/firewall_ranges.py (a 10,000-port range rendered and applied by
#      the branch point's firewall.py and this one's);
#   4. with PYNET_BENCH_BASE set to a git revision, benchmarks/revisions.py: the library batch at N=1000
#      at that revision and in this checkout, alternating, side by side.
#
# Environment: PYNET_VENV, PYNET_PYTHON (as tests/venv.sh), PYNET_BENCH_BASE (a git revision, e.g. main).
set -euo pipefail

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
[[ -x /usr/lib/cni/bridge ]] || "$repo_root/tests/debian-packages.sh" containernetworking-plugins
"$repo_root/tests/debian-packages.sh" nftables iproute2 dnsmasq-base aardvark-dns dnsperf podman runc busybox-static iptables
venv="$("$repo_root/tests/venv.sh")"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$repo_root/benchmarks/requirements.txt" >&2
"$venv/bin/python" "$repo_root/benchmarks/endpoints.py" "$@"
"$venv/bin/python" "$repo_root/benchmarks/growth.py"
"$venv/bin/python" "$repo_root/benchmarks/sysctl.py"
"$venv/bin/python" "$repo_root/benchmarks/ipam.py"
"$venv/bin/python" "$repo_root/benchmarks/dns.py"
"$venv/bin/python" "$repo_root/benchmarks/dns_endpoints.py"
"$venv/bin/python" "$repo_root/benchmarks/cni.py"
"$venv/bin/python" "$repo_root/benchmarks/firewall_ranges.py"
[[ -z "${PYNET_BENCH_BASE:-}" ]] || "$venv/bin/python" "$repo_root/benchmarks/revisions.py" --base "$PYNET_BENCH_BASE"
