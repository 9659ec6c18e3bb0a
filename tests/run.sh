#!/usr/bin/env bash
# Every test of the project, on a fresh Debian 12 machine as root (README "Running it", step 2;
# .ci/run calls exactly this). Sets up what it needs itself: Debian packages, the virtualenv,
# podman and the test images (through tests/ansible-test.sh).
#
#   1. kernel: the library against the real kernel (pytest; each test in a private netns)
#   2. reliability: concurrency, crashes, drift, reboot, bad input, safety (pytest, private netns);
#      ends with the table of its figures beside their goals
#   3. fleet: etcd client, cluster IPAM, the simulated fleet (pytest; tests/fleet/README.md)
#   4. cni: the CNI plugin against the spec's checks, chained with the reference plugins, and run
#      by podman (pytest; the whole stage in private mount and network namespaces)
#   5. ecosystem: what Galaxy and collection maintainers check (tests/ecosystem.sh): the built
#      tarball's contents, galaxy-importer, ansible-lint --profile production, antsibull-docs lint,
#      antsibull-changelog, ansible-builder's build context, the HTML docs site
#   6. ansible-test sanity
#   7. ansible-test units
#   8. ansible-test integration, in a privileged podman container (--docker-network none)
#
# Every stage runs even when an earlier one fails; the exit status is non-zero if any failed.
# The last line counts the test cases of all stages and the time: 'tests: N passed, N failed in M min S s'.
set -uo pipefail

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
output="$repo_root/tests/output/run"
# dnsmasq-base: tests/kernel/test_dns.py; iptables (Docker's rules), firewalld and dbus (its bus):
# tests/kernel/test_host_firewalls.py runs them in the test's namespace (apt-get starts firewalld only where systemd
# runs, which machines of this project's kind do not: they have no systemd and a policy-rc.d that starts nothing);
# etcd, sshd, openssl and ping (iputils-ping): the fleet stage
readonly KERNEL_TEST_PACKAGES=(iproute2 util-linux nftables iptables firewalld dbus dnsmasq-base etcd-server etcd-client
                              openssh-server openssl iputils-ping)
# podman's CNI backend, runc (crun fails on this kernel), the busybox of the test image, the reference
# plugins (chained after pynet, and podman's own bridge network) and the iptables portmap uses.
readonly CNI_TEST_PACKAGES=(podman runc busybox-static containernetworking-plugins iptables)

log() { echo "run.sh: $*" >&2; }

# Count test cases in a JUnit XML file: prints "passed failed".
junit_counts() {
    "$venv/bin/python" - "$@" <<'PY'
import sys
import xml.etree.ElementTree as ET
passed = failed = 0
for path in sys.argv[1:]:
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is None:
            passed += 1
print(passed, failed)
PY
}

total_passed=0
total_failed=0
status=0
stage_start=$SECONDS  # each stage's time is printed with its counts: the whole run must stay under 45 minutes

record() {  # record STAGE RC PASSED FAILED
    local stage="$1" rc="$2" passed="$3" failed="$4"
    if [[ "$rc" -ne 0 && "$failed" -eq 0 ]]; then
        failed=1  # the stage failed outside any test case (set-up, collection)
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    [[ "$rc" -eq 0 ]] || status=1
    printf 'run.sh: %-12s rc=%s  %s passed, %s failed  (%d s)\n' "$stage" "$rc" "$passed" "$failed" \
        $((SECONDS - stage_start))
    stage_start=$SECONDS
}

pytest_stage() {  # pytest_stage NAME: the pytest suite in tests/NAME
    local name="$1" rc=0 passed failed
    (cd "$repo_root" && "$venv/bin/python" -m pytest "tests/$name" -q -p no:cacheprovider \
        --junit-xml "$output/$name.xml") || rc=$?
    read -r passed failed < <(junit_counts "$output/$name.xml" 2>/dev/null || echo "0 0")
    record "$name" "$rc" "$passed" "$failed"
}

main() {
    local rc counts
    rm -rf "$output" "$repo_root/tests/output/junit"
    mkdir -p "$output"
    "$repo_root/tests/debian-packages.sh" "${KERNEL_TEST_PACKAGES[@]}" "${CNI_TEST_PACKAGES[@]}" ||
        { log "apt-get failed"; exit 1; }
    venv="$("$repo_root/tests/venv.sh")" || { log "virtualenv set-up failed"; exit 1; }

    log "set-up: $((SECONDS - stage_start)) s"
    stage_start=$SECONDS
    log "stage 1: kernel tests"
    pytest_stage kernel

    log "stage 2: reliability suite"
    pytest_stage reliability
    log "stage 3: fleet suite (etcd client, cluster IPAM, simulated fleet: tests/fleet/README.md)"
    pytest_stage fleet

    log "stage 4: CNI plugin"
    pytest_stage cni

    log "stage 5: ecosystem (galaxy-importer, ansible-lint, antsibull-docs, antsibull-changelog, ansible-builder)"
    rc=0
    "$repo_root/tests/ecosystem.sh" || rc=$?
    read -r passed failed < <(junit_counts "$repo_root/tests/output/ecosystem/ecosystem.xml" 2>/dev/null || echo "0 0")
    record ecosystem "$rc" "$passed" "$failed"

    log "stage 6: ansible-test sanity"
    rc=0
    "$repo_root/tests/ansible-test.sh" sanity --junit || rc=$?
    counts="$(find "$repo_root/tests/output/junit" -name '*sanity*.xml' 2>/dev/null)"
    if [[ -n "$counts" ]]; then
        # shellcheck disable=SC2086  # one path per word
        read -r passed failed < <(junit_counts $counts)
    else
        passed=$((rc == 0)); failed=$((rc != 0))
    fi
    record sanity "$rc" "$passed" "$failed"

    log "stage 7: ansible-test units"
    rc=0
    "$repo_root/tests/ansible-test.sh" units || rc=$?
    counts="$(find "$repo_root/tests/output/junit" -name '*units*.xml' 2>/dev/null)"
    # shellcheck disable=SC2086
    read -r passed failed < <(if [[ -n "$counts" ]]; then junit_counts $counts; else echo "0 0"; fi)
    record units "$rc" "$passed" "$failed"

    log "stage 8: ansible-test integration"
    rc=0
    "$repo_root/tests/ansible-test.sh" integration 2>&1 | tee "$output/integration.log"
    rc=${PIPESTATUS[0]}
    # Each target is a test case; on a failure ansible-test stops at the failing target.
    passed="$(grep -c '^Running .* integration test role' "$output/integration.log" || true)"
    if [[ "$rc" -ne 0 && "$passed" -gt 0 ]]; then
        passed=$((passed - 1))
    fi
    record integration "$rc" "$passed" 0

    echo "tests: $total_passed passed, $total_failed failed in $((SECONDS / 60)) min $((SECONDS % 60)) s"
    exit "$status"
}

main "$@"
