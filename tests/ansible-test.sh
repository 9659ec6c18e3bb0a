#!/usr/bin/env bash
# Run ansible-test for the pynet.libnetwork collection on this kind of machine
# (Debian 12, root, no Docker engine, no container registry; only the Python
# package index and the Debian mirror are reachable).
#
#   tests/ansible-test.sh sanity [ARGS...]       # --venv --python 3.11 by default
#   tests/ansible-test.sh units [ARGS...]        # --venv --python 3.11 by default
#   tests/ansible-test.sh integration [ARGS...]  # in a local privileged podman container
#   tests/ansible-test.sh OTHER [ARGS...]        # passed to ansible-test as given
#
# Default environment options are added only when ARGS choose none themselves
# (--venv, --docker, --controller, --python, ...).
#
# What it does, each step idempotent and quick when already done:
#   1. ensures the virtualenv with tests/venv.sh ($PYNET_VENV, default <repo>/.venv);
#   2. copies the checkout (tracked plus untracked, non-ignored files) to
#      <tmp>/ansible_collections/pynet/libnetwork/, the layout ansible-test requires;
#   3. for integration: installs podman & co. with apt-get, builds or reuses the local
#      images (tests/container/build-images.sh) and puts tests/container/bin/podman
#      first on PATH for this run only;
#   4. runs ansible-test there, copies tests/output/ back and exits with its exit code.
#
# Environment: PYNET_VENV, PYNET_PYTHON (interpreter for a new venv, default python3),
# PYNET_CACHE_DIR (image build caches, default /var/cache/pynet-test),
# PYNET_DEBIAN_MIRROR (default: from /etc/apt/sources.list*), TMPDIR.
set -euo pipefail

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
container_dir="$repo_root/tests/container"
readonly COLLECTION_NAMESPACE="pynet" COLLECTION_NAME="libnetwork"
readonly TEST_PYTHON="3.11"
# Debian packages for integration: podman with runc (crun fails on this kernel),
# debootstrap for the test image and busybox-static for the utility-container stand-in.
readonly INTEGRATION_PACKAGES=(podman runc debootstrap busybox-static)
# Debian packages for sanity: without shellcheck, ansible-test skips that test with only a warning.
readonly SANITY_PACKAGES=(shellcheck)

log() { echo "ansible-test.sh: $*" >&2; }

usage() { # EXIT_CODE
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit "$1"
}

# --- 1. virtualenv ----------------------------------------------------------------

ensure_venv() {
    venv="$("$repo_root/tests/venv.sh")"
}

ansible_test_dir() {
    "$venv/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))'
}

# --- 2. staging -------------------------------------------------------------------

stage_root=""
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    if [[ -n "$stage_root" ]]; then
        rm -rf "$stage_root"
    fi
}
trap cleanup EXIT

# Tracked and untracked-but-not-ignored files only (so .venv, tests/output and other ignored
# files stay out).
stage_collection() {
    stage_root="$(mktemp -d "${TMPDIR:-/tmp}/pynet-ansible-test.XXXXXX")"
    collection_dir="$stage_root/ansible_collections/$COLLECTION_NAMESPACE/$COLLECTION_NAME"
    "$repo_root/tests/copy-checkout.sh" "$collection_dir"
}

# ansible-test writes results (junit, coverage, ...) under tests/output/ of the staged
# copy; keep them in the checkout (git-ignored). .tmp holds virtualenvs: not copied.
copy_output_back() {
    local out="$collection_dir/tests/output"
    [[ -d "$out" ]] || return 0
    mkdir -p "$repo_root/tests/output"
    tar -C "$out" --exclude=./.tmp -cf - . | tar -xf - -C "$repo_root/tests/output"
}

# --- 3. per-command preparation ---------------------------------------------------

# True when the user chose an environment for ansible-test themselves.
has_environment_option() {
    local arg
    for arg in "$@"; do
        case "$arg" in
            --venv|--venv-system-site-packages|--docker|--docker=*|--remote|--remote=*|--local|\
            --controller|--controller=*|--target|--target=*|--target-posix|--target-posix=*|\
            --python|--python=*|--python-interpreter|--python-interpreter=*)
                return 0 ;;
        esac
    done
    return 1
}

# With --venv, ansible-test bootstraps pip into its virtualenvs with get-pip.py from a
# host that is unreachable here; seed its cache with a stand-in that uses the pip wheel
# bundled with Python (tests/container/get_pip_standin.py). A real cached copy is kept.
seed_get_pip() {
    local at_dir="$1" pip_version cache
    pip_version="$(sed -n "s/^ *pip='\([0-9.]*\)',.*/\1/p" "$at_dir/_internal/python_requirements.py" | head -n 1)"
    if [[ -z "$pip_version" ]]; then
        log "warning: could not find ansible-test's pip version; --venv may try to download get-pip.py"
        return
    fi
    cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
    if [[ ! -f "$cache" ]] || grep -q "^# Stand-in for get-pip.py" "$cache"; then  # ours: kept up to date
        mkdir -p "$(dirname "$cache")"
        cp "$container_dir/get_pip_standin.py" "$cache"
    fi
}

ensure_debian_packages() {
    "$repo_root/tests/debian-packages.sh" "$@"
}

# --- 4. run -----------------------------------------------------------------------

run_ansible_test() {
    local rc=0
    log "running: ansible-test $*"
    (cd "$collection_dir" && "$venv/bin/ansible-test" "$@") || rc=$?
    copy_output_back
    return "$rc"
}

main() {
    [[ $# -ge 1 ]] || usage 2
    [[ "$1" != "-h" && "$1" != "--help" ]] || usage 0
    local command="$1"
    shift

    ensure_venv
    local at_dir
    at_dir="$(ansible_test_dir)"
    stage_collection

    local defaults=()
    case "$command" in
        sanity|units)
            if ! has_environment_option "$@"; then
                defaults=(--venv --python "$TEST_PYTHON")
            fi
            if [[ "$command" == "sanity" ]]; then
                ensure_debian_packages "${SANITY_PACKAGES[@]}"
            fi
            seed_get_pip "$at_dir"
            ;;
        integration)
            ensure_debian_packages "${INTEGRATION_PACKAGES[@]}"
            # Our podman wrapper (runc, cgroupfs, ulimits) first on PATH, for this run only.
            export PATH="$container_dir/bin:$PATH"
            local image
            image="$("$container_dir/build-images.sh" "$repo_root" "$at_dir" | tail -n 1)"
            export ANSIBLE_TEST_PREFER_PODMAN=1
            if ! has_environment_option "$@"; then
                defaults=(
                    --controller "docker:$image,python=$TEST_PYTHON,cgroup=none,audit=none,privileged=yes"
                    --docker-network none
                    --docker-terminate always
                )
            fi
            ;;
    esac

    local rc=0
    run_ansible_test "$command" "${defaults[@]}" "$@" || rc=$?
    exit "$rc"
}

main "$@"
