#!/usr/bin/env bash
# The pynet demo, on this machine (Debian 12, as root):
#
#   bash demo/run.sh            # the demo
#   bash demo/run.sh cleanup    # only demo/cleanup.yml (after PYNET_DEMO_KEEP=1)
#
#   1. ensures the project's virtualenv with tests/venv.sh ($PYNET_VENV, default <repo>/.venv):
#      ansible-core 2.19 (and the tests' oracles; a stamp file makes reruns skip pip);
#   2. installs nftables and iproute2 with apt-get when they are missing;
#   3. builds the collection from this checkout (ansible-galaxy collection build) and installs it
#      into <repo>/.cache/collections, which only this script uses;
#   4. runs demo/playbook.yml on localhost twice (a network, two sandboxes with an endpoint each,
#      TCP between them) and checks that the second run reports changed=0;
#   5. runs demo/cleanup.yml, which removes everything the demo made; also after a failure.
#
# Environment: PYNET_DEMO_KEEP=1 keeps what the demo made (remove it later with
# `bash demo/run.sh cleanup`); PYNET_DEMO_ARGS: more ansible-playbook arguments for both playbooks
# (e.g. '-e pynet_demo_subnet=10.89.201.0/24 -e pynet_demo_ip_b=10.89.201.20'); PYNET_VENV;
# PYNET_PYTHON (interpreter for a new virtualenv, default python3).
#
# The demo touches only objects with its own names (demo/vars.yml): network pynet-demo on bridge
# pnd-br0, sandboxes /run/pynet-demo/netns/{a,b}, state in /var/lib/pynet-demo; its traffic stays
# between its two sandboxes.
set -euo pipefail

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
venv="${PYNET_VENV:-$repo_root/.venv}"
cache_dir="$repo_root/.cache"
collections_dir="$cache_dir/collections"
readonly DEBIAN_PACKAGES=(nftables iproute2)

log() { echo "demo/run.sh: $*" >&2; }
step_started=0
step() { step_started=$SECONDS; log "$*"; }
step_done() { log "  done in $((SECONDS - step_started)) s"; }

usage() { # EXIT_CODE
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit "$1"
}

# --- 1. virtualenv ------------------------------------------------------------------------------

ensure_venv() {
    step "virtualenv"
    venv="$(PYNET_VENV="$venv" "$repo_root/tests/venv.sh")"
    step_done
}

# --- 2. Debian packages -------------------------------------------------------------------------

ensure_debian_packages() {
    "$repo_root/tests/debian-packages.sh" "$@"
}

# --- 3. the collection --------------------------------------------------------------------------

install_collection() {
    step "building the collection and installing it into $collections_dir"
    local build_dir="$cache_dir/build"
    rm -rf "$build_dir"
    mkdir -p "$build_dir" "$collections_dir"
    "$venv/bin/ansible-galaxy" collection build --force --output-path "$build_dir" "$repo_root" >/dev/null
    local tarball
    tarball="$(find "$build_dir" -maxdepth 1 -name 'pynet-libnetwork-*.tar.gz' | head -n 1)"
    "$venv/bin/ansible-galaxy" collection install --force --no-deps \
        --collections-path "$collections_dir" "$tarball" >/dev/null
    step_done
}

# --- 4. and 5. the playbooks --------------------------------------------------------------------

export ANSIBLE_CONFIG="$repo_root/demo/ansible.cfg"   # not an ansible.cfg of the working directory
export ANSIBLE_COLLECTIONS_PATH="$collections_dir"

extra_args=()
if [[ -n "${PYNET_DEMO_ARGS:-}" ]]; then
    read -r -a extra_args <<< "$PYNET_DEMO_ARGS"
fi

# Runs a playbook of demo/ on localhost, showing its output; sets `changed` from its recap.
changed=""
run_playbook() { # PLAYBOOK
    local output="$cache_dir/demo-last-run.log"
    "$venv/bin/ansible-playbook" -i localhost, "${extra_args[@]}" "$repo_root/demo/$1" | tee "$output"
    changed="$(sed -n -E 's/^localhost +:.* changed=([0-9]+) .*/\1/p' "$output" | tail -n 1)"
    if [[ -z "$changed" ]]; then
        log "no PLAY RECAP for localhost in the output of $1"
        return 1
    fi
}

cleanup_pending=0
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    local rc=$?
    if [[ "$cleanup_pending" == 1 ]]; then
        cleanup_pending=0
        if [[ "${PYNET_DEMO_KEEP:-0}" == 1 ]]; then
            log "PYNET_DEMO_KEEP=1: keeping what the demo made; remove it with: bash demo/run.sh cleanup"
        else
            step "cleaning up: demo/cleanup.yml"
            run_playbook cleanup.yml || rc=1
            step_done
        fi
    fi
    if [[ $rc == 0 ]]; then
        log "demo finished in $SECONDS s"
    else
        log "demo FAILED (exit code $rc) after $SECONDS s"
    fi
    exit "$rc"
}

main() {
    local command="${1:-demo}"
    case "$command" in
        -h|--help) usage 0 ;;
        demo|cleanup) [[ $# -le 1 ]] || usage 2 ;;
        *) usage 2 ;;
    esac
    if [[ $EUID -ne 0 ]]; then
        log "the demo makes bridges, veths and network namespaces: run it as root"
        exit 1
    fi
    ensure_debian_packages "${DEBIAN_PACKAGES[@]}"
    ensure_venv
    install_collection

    if [[ "$command" == cleanup ]]; then
        step "cleaning up: demo/cleanup.yml"
        run_playbook cleanup.yml
        step_done
        return
    fi
    trap cleanup EXIT
    cleanup_pending=1
    step "first run of demo/playbook.yml"
    run_playbook playbook.yml
    step_done
    step "second run of demo/playbook.yml: it must change nothing"
    run_playbook playbook.yml
    step_done
    if [[ "$changed" != 0 ]]; then
        log "the second run reported changed=$changed, not changed=0"
        exit 1
    fi
    log "second run: changed=0"
}

main "$@"
