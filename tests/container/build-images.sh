#!/usr/bin/env bash
# Build (or reuse) the two local images that `ansible-test integration` needs here,
# where no container registry is reachable:
#
#   1. quay.io/ansible/ansible-test-utility-container:3.2.0 - a busybox stand-in.
#      ansible-test always runs this image for host probes and skips the pull when an
#      image of that name exists locally.
#   2. localhost/pynet-libnetwork-test:KEY - Debian bookworm made with debootstrap,
#      with ansible-test's controller requirements and tests/integration/requirements.txt
#      pre-installed, so the tests can run with `--docker-network none`.
#
# Images are rebuilt only when their cache key (a hash of their inputs) changes.
# Caches other than images live under $PYNET_CACHE_DIR (default /var/cache/pynet-test).
#
# Usage: build-images.sh REPO_ROOT ANSIBLE_TEST_DIR
#   prints the test image name on the last line of stdout; progress goes to stderr.
# Needs root, podman (through tests/container/bin/podman), debootstrap, busybox-static.
set -euo pipefail

readonly UTILITY_IMAGE="quay.io/ansible/ansible-test-utility-container:3.2.0"
readonly BASE_REPO="localhost/pynet-libnetwork-base"
readonly TEST_REPO="localhost/pynet-libnetwork-test"
readonly SUITE="bookworm"
readonly PACKAGES="python3,python3-pip,python3-venv,iproute2,nftables,dnsmasq-base,iputils-ping,procps,ca-certificates,locales"
# Label put on every image made here, so that we only ever replace or remove our own.
readonly OWNER_LABEL="org.pynet.libnetwork.test-image"

script_path="$(readlink -f "${BASH_SOURCE[0]}")"
cache_dir="${PYNET_CACHE_DIR:-/var/cache/pynet-test}"

log() { echo "build-images: $*" >&2; }

hash_stdin() { sha256sum | cut -c1-16; }

# The Debian mirror debootstrap uses: $PYNET_DEBIAN_MIRROR, else the first URI that
# the host's apt sources use for the suite (deb822 .sources first, then one-line lists).
debian_mirror() {
    if [[ -n "${PYNET_DEBIAN_MIRROR:-}" ]]; then
        echo "$PYNET_DEBIAN_MIRROR"
        return
    fi
    local mirror
    mirror="$(awk -v suite="$SUITE" '
        /^[[:space:]]*$/ { uri = ""; suites = ""; next }
        /^URIs:/ { uri = $2 }
        /^Suites:/ { suites = " " substr($0, 8) " " }
        uri != "" && suites ~ (" " suite " ") { print uri; exit }
    ' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
    if [[ -z "$mirror" ]]; then
        # one-line format: deb [options] URI SUITE COMPONENTS...
        mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -E 's/\[[^]]*\]//' \
            | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' || true)"
    fi
    if [[ -z "$mirror" ]]; then
        log "no Debian mirror for '$SUITE' found in /etc/apt/sources.list*; set PYNET_DEBIAN_MIRROR"
        return 1
    fi
    echo "$mirror"
}

# Host CA certificates that the image must trust (the egress proxy re-signs TLS).
host_ca_certs() {
    find /usr/local/share/ca-certificates -type f -name '*.crt' 2>/dev/null | sort
}

image_label() { # IMAGE -> value of our owner label, empty when absent
    podman image inspect --format "{{ index .Labels \"$OWNER_LABEL\" }}" "$1" 2>/dev/null || true
}

# Remove images of REPO made by this script, except the tag KEEP.
remove_old_images() {
    local repo="$1" keep="$2" ref
    for ref in $(podman images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$repo" 2>/dev/null); do
        [[ "$ref" == "$keep" || -z "$(image_label "$ref")" ]] && continue
        log "removing outdated image $ref"
        podman rmi "$ref" >/dev/null || true
    done
}

# --- utility image -----------------------------------------------------------

build_utility_image() {
    local key label
    key="$( { cat "$script_path"; sha256sum /bin/busybox; } | hash_stdin)"
    if podman image exists "$UTILITY_IMAGE"; then
        label="$(image_label "$UTILITY_IMAGE")"
        if [[ -z "$label" ]]; then
            log "using existing $UTILITY_IMAGE (not made here)"
            return
        fi
        if [[ "$label" == "utility-$key" ]]; then
            log "utility image up to date ($UTILITY_IMAGE)"
            return
        fi
    fi
    log "building busybox stand-in for $UTILITY_IMAGE"
    local rootfs
    rootfs="$(mktemp -d "$cache_dir/work/utility.XXXXXX")"
    mkdir -p "$rootfs/bin" "$rootfs/usr/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/probe"
    cp /bin/busybox "$rootfs/bin/busybox"
    local applet
    for applet in $("$rootfs/bin/busybox" --list); do
        [[ -e "$rootfs/bin/$applet" ]] || ln -s busybox "$rootfs/bin/$applet"
    done
    # The host probe runs `audit-status`; "9 EBADF" means "audit unavailable", which is
    # fine because the test container runs with audit=none.
    printf '#!/bin/sh\necho "9 EBADF"\n' > "$rootfs/usr/bin/audit-status"
    chmod 0755 "$rootfs/usr/bin/audit-status"
    local old_id
    old_id="$(podman image inspect --format '{{.Id}}' "$UTILITY_IMAGE" 2>/dev/null || true)"
    tar -C "$rootfs" -c . | podman import --quiet \
        --change 'ENV PATH=/usr/bin:/bin' \
        --change 'CMD ["/bin/sh"]' \
        --change "LABEL $OWNER_LABEL=utility-$key" \
        - "$UTILITY_IMAGE" >/dev/null
    rm -rf "$rootfs"
    # The retagged old stand-in (ours, checked above) is now dangling.
    if [[ -n "$old_id" ]]; then
        podman rmi "$old_id" >/dev/null 2>&1 || true
    fi
}

# --- base image: debootstrap'ed bookworm ---------------------------------------

base_key() { # MIRROR
    { cat "$script_path"; echo "$1"; host_ca_certs | xargs -r cat; } | hash_stdin
}

build_base_image() { # MIRROR KEY
    local mirror="$1" key="$2" image="$BASE_REPO:$2"
    if podman image exists "$image"; then
        log "base image up to date ($image)"
        return
    fi
    log "debootstrap $SUITE from $mirror (about a minute)"
    local rootfs
    rootfs="$(mktemp -d "$cache_dir/work/rootfs.XXXXXX")"
    # debootstrap keeps its downloaded .debs here, which makes a rebuild cheaper.
    mkdir -p "$cache_dir/debs"
    if ! debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$cache_dir/debs" \
            "$SUITE" "$rootfs" "$mirror" >"$cache_dir/work/debootstrap.log" 2>&1; then
        log "debootstrap failed; last lines of $cache_dir/work/debootstrap.log:"
        tail -n 20 "$cache_dir/work/debootstrap.log" >&2
        rm -rf "$rootfs"
        return 1
    fi
    customize_rootfs "$rootfs" "$mirror"
    tar -C "$rootfs" --numeric-owner -c . | podman import --quiet \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=en_US.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL $OWNER_LABEL=base-$key" \
        - "$image" >/dev/null
    rm -rf "$rootfs"
}

customize_rootfs() { # ROOTFS MIRROR
    local rootfs="$1" mirror="$2" cert
    # Trust the host's CAs, or pip fails with CERTIFICATE_VERIFY_FAILED behind the proxy.
    while read -r cert; do
        cp "$cert" "$rootfs/usr/local/share/ca-certificates/"
    done < <(host_ca_certs)
    # (openssl's rehash always warns about the bundle file itself: drop that line only)
    chroot "$rootfs" update-ca-certificates 2>&1 >/dev/null \
        | { grep -v 'skipping ca-certificates.crt' >&2 || true; }
    # ansible-test runs the delegated controller with LC_ALL=en_US.UTF-8.
    echo 'en_US.UTF-8 UTF-8' > "$rootfs/etc/locale.gen"
    chroot "$rootfs" locale-gen >/dev/null
    # pip installs into the system Python of this throw-away image (ansible-test does too).
    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    echo "deb $mirror $SUITE main" > "$rootfs/etc/apt/sources.list"
    # Keep the image small: package lists and downloaded .debs are not needed.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
}

# --- test image: base + Python requirements ------------------------------------

build_test_image() { # REPO_ROOT ANSIBLE_TEST_DIR BASE_IMAGE KEY
    local repo="$1" at_dir="$2" base="$3" key="$4" image="$TEST_REPO:$4"
    if podman image exists "$image"; then
        log "test image up to date ($image)"
        echo "$image"
        return
    fi
    log "building $image (pip installs from the package index)"
    local ctx
    ctx="$(mktemp -d "$cache_dir/work/context.XXXXXX")"
    cp "$at_dir/_data/requirements/ansible.txt" "$ctx/ansible.txt"
    cp "$at_dir/_data/requirements/constraints.txt" "$ctx/constraints.txt"
    cp "$repo/tests/integration/requirements.txt" "$ctx/integration.txt"
    # Network is only used here, at build time; the tests run with --network none.
    cat > "$ctx/Containerfile" <<EOF
FROM $base
COPY ansible.txt constraints.txt integration.txt /tmp/requirements/
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check \\
        -c /tmp/requirements/constraints.txt \\
        -r /tmp/requirements/ansible.txt -r /tmp/requirements/integration.txt \\
    && rm -rf /tmp/requirements \\
    && python3 -c 'import jinja2, yaml, cryptography' \\
    && ! python3 -c 'import netaddr' 2>/dev/null
LABEL $OWNER_LABEL=test-$key
EOF
    if ! podman build --network host --pull=never --layers=false -t "$image" "$ctx" >"$cache_dir/work/build.log" 2>&1; then
        log "podman build failed; last lines of $cache_dir/work/build.log:"
        tail -n 30 "$cache_dir/work/build.log" >&2
        rm -rf "$ctx"
        return 1
    fi
    rm -rf "$ctx"
    echo "$image"
}

test_key() { # REPO_ROOT ANSIBLE_TEST_DIR BASE_KEY
    {
        echo "$3"
        cat "$1/tests/integration/requirements.txt"
        cat "$2/_data/requirements/ansible.txt" "$2/_data/requirements/constraints.txt"
    } | hash_stdin
}

main() {
    local repo="$1" at_dir="$2"
    mkdir -p "$cache_dir/work"
    # One build at a time: a second run waits here instead of racing the first.
    exec 9>"$cache_dir/build.lock"
    flock 9

    build_utility_image

    local mirror bkey tkey
    mirror="$(debian_mirror)"
    bkey="$(base_key "$mirror")"
    build_base_image "$mirror" "$bkey"
    tkey="$(test_key "$repo" "$at_dir" "$bkey")"
    build_test_image "$repo" "$at_dir" "$BASE_REPO:$bkey" "$tkey"

    # Outdated images of ours: test images first, they are children of base images.
    remove_old_images "$TEST_REPO" "$TEST_REPO:$tkey"
    remove_old_images "$BASE_REPO" "$BASE_REPO:$bkey"
}

main "$@"
