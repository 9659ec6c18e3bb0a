#!/usr/bin/env bash
# Copy this checkout's tracked and untracked-but-not-ignored files to DEST (so .venv, tests/output
# and other ignored files stay out); tracked files deleted in the work tree are skipped.
# Used by tests/ansible-test.sh and tests/ecosystem.sh.
#
#   tests/copy-checkout.sh DEST
set -euo pipefail

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
dest="$1"
mkdir -p "$dest"
cd "$repo_root"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' path; do
    if [[ -e "$path" || -L "$path" ]]; then
        printf '%s\0' "$path"
    fi
done | tar --null --no-recursion -T - -cf - | tar -xf - -C "$dest"
