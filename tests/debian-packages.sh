#!/usr/bin/env bash
# Install the Debian packages given as arguments that are not installed yet (apt-get, as root);
# quick when all are. Used by tests/run.sh, tests/ansible-test.sh and demo/run.sh.
set -euo pipefail

missing=()
for package in "$@"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)" != "install ok installed" ]]; then
        missing+=("$package")
    fi
done
[[ ${#missing[@]} -gt 0 ]] || exit 0
echo "debian-packages.sh: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
