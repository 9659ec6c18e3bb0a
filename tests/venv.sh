#!/usr/bin/env bash
# Ensure a virtualenv and print its path.
#
#   tests/venv.sh                      # the project's: ansible-core 2.19, pytest, and two oracles the
#                                      # tests check pynet against (targets need neither): pyroute2
#                                      # decodes pynet's netlink requests, netaddr checks addresses and
#                                      # blocks that pynet computes with the standard library's ipaddress
#   tests/venv.sh DIR REQUIREMENT...   # one of its own for a tool whose dependencies must not meet the
#                                      # project's (tests/ecosystem.sh's checkers)
#
# Quick when already done (a stamp records what was installed, so pip is skipped).
#
# Environment: PYNET_VENV (the project's, default <repo>/.venv), PYNET_PYTHON (interpreter for a new
# venv, default python3).
set -euo pipefail

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
if [[ $# -gt 0 ]]; then
    venv="$1"
    shift
    requirements=("$@")
else
    venv="${PYNET_VENV:-$repo_root/.venv}"
    requirements=("ansible-core>=2.19,<2.20" "pyroute2" "netaddr" "pytest")
fi

stamp="$venv/.pynet-requirements"
want="$(printf '%s\n' "${requirements[@]}")"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "venv.sh: creating virtualenv $venv" >&2
        existed=0
        [[ ! -e "$venv" ]] || existed=1
        if ! "${PYNET_PYTHON:-python3}" -m venv "$venv" 2>/dev/null; then
            # Debian's own python3 needs python3-venv (ensurepip); a failed attempt leaves a
            # virtualenv without pip, removed here only if this script made it.
            [[ $existed == 1 ]] || rm -rf "$venv"
            "$repo_root/tests/debian-packages.sh" python3-venv
            "${PYNET_PYTHON:-python3}" -m venv "$venv"
        fi
    fi
    echo "venv.sh: installing ${requirements[*]} into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}" >&2
    echo "$want" > "$stamp"
fi
echo "$venv"
