#!/usr/bin/env bash
# The checks that Galaxy and collection maintainers run on pynet.libnetwork (stage 5 of tests/run.sh):
#
#   build         ansible-galaxy collection build in this checkout: the tarball holds only what users
#                 get (ALLOWED below); anything else is named, to go into galaxy.yml's build_ignore
#   importer      galaxy-importer, the validator Galaxy and Automation Hub run on every upload, on a
#                 build whose galaxy.yml says 1.0.0 in a temporary copy (REQUIRE_V1_OR_GREATER wants
#                 >= 1.0.0 and galaxy.yml holds a pre-release until the release), with RUN_ANSIBLE_LINT,
#                 RUN_FLAKE8, CHECK_CHANGELOG, CHECK_REQUIRED_TAGS and REQUIRE_V1_OR_GREATER on: no
#                 WARNING or ERROR
#   ansible-lint  --profile production on the whole tree: no finding, no warning
#   docs-lint     antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all
#                 --check-extra-docs-refs: no finding
#   changelog     antsibull-changelog lint and lint-changelog-yaml; CHANGELOG.rst is what `generate`
#                 makes of changelogs/changelog.yaml; a release of the fragments, rehearsed in a copy,
#                 succeeds without a warning
#   ee            ansible-builder create: the build context of an execution environment with the built
#                 collection; the context's own introspection (what an image build runs) finds the
#                 collection's dependencies, and bindep reads them (building the image needs a registry)
#   docs          antsibull-docs sphinx-init, then the build.sh it writes: the collection's HTML docs,
#                 Sphinx warnings as errors (tests/output/ecosystem/docs/build/html/index.html)
#
#   tests/ecosystem.sh [CHECK...]      # all checks, or the ones named
#
# Each finding is printed as 'ecosystem: CHECK: <where>: <what>', with what to do after the check's
# findings; each tool's whole output is in tests/output/ecosystem/CHECK.log. Writes
# tests/output/ecosystem/ecosystem.xml (JUnit, a test case per check). Exit status 1 if a check failed.
#
# The checkers are pinned (below) and installed with pip, each group into a virtualenv of its own
# under <repo>/.cache/ecosystem/ (they pull dependencies that conflict with each other and with the
# project's virtualenv); nothing is fetched but packages from PyPI. Environment: PYNET_PYTHON.
set -uo pipefail

repo_root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
output="$repo_root/tests/output/ecosystem"
venvs="$repo_root/.cache/ecosystem"
readonly ANSIBLE_CORE="ansible-core>=2.19,<2.20"
# galaxy-importer runs ansible-lint itself; both checks use this one pinned ansible-lint.
readonly GALAXY_REQUIREMENTS=("galaxy-importer==0.4.44" "ansible-lint==26.10.1" "$ANSIBLE_CORE")
readonly ANTSIBULL_REQUIREMENTS=("antsibull-docs==2.28.0" "antsibull-changelog==0.36.0" "sphinx==9.0.4"
    "sphinx-ansible-theme==0.10.4" "$ANSIBLE_CORE")
readonly BUILDER_REQUIREMENTS=("ansible-builder==3.2.0" "bindep==2.14.0")
readonly ALL_CHECKS=(build importer ansible-lint docs-lint changelog ee docs)

# What a built tarball may hold (Python regular expressions on its paths): the rest of the checkout is
# development tooling, kept out by galaxy.yml's build_ignore.
readonly ALLOWED='^(MANIFEST\.json|FILES\.json|README\.md|LICENSE|CHANGELOG\.rst|bindep\.txt'\
'|meta/.*|plugins/.*|roles/.*|docs/.*|changelogs/|changelogs/(changelog\.yaml|config\.yaml|fragments/.*)'\
'|demo/|demo/(?!run\.sh$).*|tests/|tests/(unit|integration)/.*)$'

# Sphinx labels of docs.ansible.com that the docs site links to: Sphinx takes them from this list,
# as an intersphinx inventory, instead of fetching the real one (only PyPI and Debian are reachable).
# A new reference outside this collection (a seealso to another collection's module, say) needs a
# line here: label, then its page and anchor under ANSIBLE_DOCS_URL.
readonly ANSIBLE_DOCS_URL="https://docs.ansible.com/projects/ansible/devel/"
readonly ANSIBLE_DOCS_LABELS="\
common_return_values reference_appendices/common_return_values.html#common-return-values
ansible_configuration_settings reference_appendices/config.html#ansible-configuration-settings
ansible_collections.community.docker.docker_network_module collections/community/docker/docker_network_module.html#ansible-collections-community-docker-docker-network-module"

log() { echo "ecosystem: $*" >&2; }

# --- helpers ------------------------------------------------------------------------------------

results="" # lines 'CHECK STATUS SECONDS'
findings_total=0

# finding CHECK TEXT: print one finding of CHECK (and count it)
finding() {
    echo "ecosystem: $1: $2"
    findings_total=$((findings_total + 1))
    echo "$2" >> "$output/$1.findings"
}

# hint CHECK TEXT: what to do about CHECK's findings, printed after them when there are any
hint() {
    if [[ -s "$output/$1.findings" ]]; then
        echo "ecosystem: $1: -> $2"
    fi
}

# findings_from CHECK FILE REGEX: each line of FILE that matches REGEX is a finding of CHECK
findings_from() {
    local line
    while IFS= read -r line; do
        finding "$1" "$line"
    done < <(grep -E "$3" "$2" || true)
}

ensure_venv() { # ensure_venv NAME REQUIREMENT...: prints the virtualenv's path
    local name="$1"
    shift
    "$repo_root/tests/venv.sh" "$venvs/$name" "$@"
}

# A directory to put on ANSIBLE_COLLECTIONS_PATH in which this checkout is pynet.libnetwork.
collections_path() {
    local dir="$output/collections"
    mkdir -p "$dir/ansible_collections/pynet"
    ln -sfn "$repo_root" "$dir/ansible_collections/pynet/libnetwork"
    echo "$dir"
}

# The version galaxy-importer sees: galaxy.yml's without a pre-release part, at least 1.0.0.
release_version() {
    "$galaxy_venv/bin/python" - "$repo_root/galaxy.yml" <<'PY'
import sys
import yaml
from packaging.version import Version
version = Version(str(yaml.safe_load(open(sys.argv[1]))["version"]).split("-")[0].split("+")[0])
print(max(version, Version("1.0.0")))
PY
}

# A copy of the checkout whose galaxy.yml says VERSION: prints the copy's path (a collection root).
# Outside the checkout, where git would see no file of it (antsibull-changelog copies what git tracks).
copy_with_version() { # copy_with_version NAME VERSION
    local dir="$work/$1/ansible_collections/pynet/libnetwork"
    "$repo_root/tests/copy-checkout.sh" "$dir"
    sed -i "s/^version: .*/version: $2/" "$dir/galaxy.yml"
    echo "$dir"
}

# --- the checks (each returns 0 when it passed) ---------------------------------------------------

check_build() {
    rm -rf "$output/build"
    mkdir -p "$output/build"
    "$galaxy_venv/bin/ansible-galaxy" collection build --force --output-path "$output/build" "$repo_root" \
        >> "$output/build.log" 2>&1 || { finding build "ansible-galaxy collection build failed (build.log)"; return 1; }
    tarball="$(find "$output/build" -maxdepth 1 -name 'pynet-libnetwork-*.tar.gz' | head -n 1)"
    tar -tzf "$tarball" | sort > "$output/build/files.txt"
    log "build: $(basename "$tarball"): $(stat -c %s "$tarball") bytes, $(wc -l < "$output/build/files.txt") entries" \
        "(list in tests/output/ecosystem/build/files.txt)"
    local path
    while IFS= read -r path; do
        finding build "$path: ships in the tarball"
    done < <("$galaxy_venv/bin/python" -c '
import re, sys
allowed = re.compile(sys.argv[1])
for line in open(sys.argv[2]):
    if not allowed.match(line.rstrip("\n")):
        print(line.rstrip("\n"))' "$ALLOWED" "$output/build/files.txt")
    hint build "add it to build_ignore in galaxy.yml, or to ALLOWED in tests/ecosystem.sh if users need it"
    [[ ! -s "$output/build.findings" ]]
}

check_importer() {
    local version collection_dir
    version="$(release_version)"
    # REQUIRE_V1_OR_GREATER: the temporary copy says $version; galaxy.yml itself keeps its pre-release.
    collection_dir="$(copy_with_version importer "$version")"
    "$galaxy_venv/bin/ansible-galaxy" collection build --output-path "$work/importer" "$collection_dir" \
        >> "$output/importer.log" 2>&1 || { finding importer "ansible-galaxy collection build failed (importer.log)"; return 1; }
    local rc=0
    # galaxy-importer runs ansible-lint, flake8 and ansible-doc from PATH.
    (cd "$work/importer" && env PATH="$galaxy_venv/bin:$PATH" \
        GALAXY_IMPORTER_RUN_ANSIBLE_LINT=true GALAXY_IMPORTER_RUN_FLAKE8=true \
        GALAXY_IMPORTER_CHECK_CHANGELOG=true GALAXY_IMPORTER_CHECK_REQUIRED_TAGS=true \
        GALAXY_IMPORTER_REQUIRE_V1_OR_GREATER=true GALAXY_IMPORTER_TMP_ROOT_DIR="$work/importer" \
        "$galaxy_venv/bin/python" -m galaxy_importer.main "pynet-libnetwork-$version.tar.gz") \
        >> "$output/importer.log" 2>&1 || rc=$?
    findings_from importer "$output/importer.log" '^(WARNING|ERROR|CRITICAL)'
    if [[ $rc -ne 0 && ! -s "$output/importer.findings" ]]; then
        finding importer "galaxy-importer failed with status $rc (importer.log)"
    fi
    hint importer "paths are inside the collection; the lines above are what Galaxy would show on upload"
    [[ $rc -eq 0 && ! -s "$output/importer.findings" ]]
}

check_ansible_lint() {
    local rc=0
    # --offline: no version check or dependency install over the network; the collection is
    # found through ANSIBLE_COLLECTIONS_PATH instead.
    (cd "$repo_root" && env PATH="$galaxy_venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$(collections_path)" \
        "$galaxy_venv/bin/ansible-lint" --profile production --offline --format pep8 --nocolor) \
        > "$output/ansible-lint.out" 2> "$output/ansible-lint.log" || rc=$?
    cat "$output/ansible-lint.out" >> "$output/ansible-lint.log"
    findings_from ansible-lint "$output/ansible-lint.out" '.'
    # warnings of ansible-lint and of Ansible's YAML loader (duplicate keys, ...); not its summary
    grep -E '^(WARNING|\[WARNING\]|ERROR|\[ERROR\]|CRITICAL)' "$output/ansible-lint.log" |
        grep -v -E 'Listing [0-9]+ violation' > "$output/ansible-lint.warnings"
    findings_from ansible-lint "$output/ansible-lint.warnings" '.'
    if [[ $rc -ne 0 && ! -s "$output/ansible-lint.findings" ]]; then
        finding ansible-lint "ansible-lint failed with status $rc (ansible-lint.log)"
    fi
    hint ansible-lint "fix each (rules: https://docs.ansible.com/projects/lint/rules/); a skip or noqa needs a reason a reviewer accepts"
    [[ $rc -eq 0 && ! -s "$output/ansible-lint.findings" ]]
}

check_docs_lint() {
    local rc=0
    (cd "$(collections_path)/ansible_collections/pynet/libnetwork" && env PATH="$antsibull_venv/bin:$PATH" \
        "$antsibull_venv/bin/antsibull-docs" lint-collection-docs --plugin-docs \
        --validate-collection-refs all --check-extra-docs-refs .) > "$output/docs-lint.log" 2>&1 || rc=$?
    findings_from docs-lint "$output/docs-lint.log" '.'
    hint docs-lint "the markup is https://docs.ansible.com/projects/ansible/devel/dev_guide/ansible_markup.html"
    [[ $rc -eq 0 && ! -s "$output/docs-lint.findings" ]]
}

check_changelog() {
    local failed=0 collection_dir
    (cd "$repo_root" && "$antsibull_venv/bin/antsibull-changelog" lint && \
        "$antsibull_venv/bin/antsibull-changelog" lint-changelog-yaml changelogs/changelog.yaml) \
        > "$output/changelog.lint" 2>&1 || failed=1
    cat "$output/changelog.lint" >> "$output/changelog.log"
    findings_from changelog "$output/changelog.lint" '.'
    if [[ $failed -ne 0 && ! -s "$output/changelog.findings" ]]; then
        finding changelog "antsibull-changelog lint failed (changelog.log)"
    fi

    # A rehearsal in a copy: generate (CHANGELOG.rst must not change), then release the fragments.
    collection_dir="$(copy_with_version changelog "$(release_version)")"
    (cd "$collection_dir" && env PATH="$antsibull_venv/bin:$PATH" antsibull-changelog generate) \
        > "$output/changelog.generate" 2>&1 || failed=1
    cat "$output/changelog.generate" >> "$output/changelog.log"
    findings_from changelog "$output/changelog.generate" '.'
    if ! diff -u "$repo_root/CHANGELOG.rst" "$collection_dir/CHANGELOG.rst" >> "$output/changelog.log"; then
        failed=1
        finding changelog "CHANGELOG.rst: not what 'antsibull-changelog generate' makes of changelogs/changelog.yaml (diff in changelog.log)"
    fi
    # the release summary is written at release time
    printf 'release_summary: A rehearsal.\n' > "$collection_dir/changelogs/fragments/rehearsal.yml"
    (cd "$collection_dir" && env PATH="$antsibull_venv/bin:$PATH" antsibull-changelog release) \
        > "$output/changelog.release" 2>&1 || failed=1
    cat "$output/changelog.release" >> "$output/changelog.log"
    findings_from changelog "$output/changelog.release" '.'
    if [[ $failed -ne 0 && ! -s "$output/changelog.findings" ]]; then
        finding changelog "antsibull-changelog release failed (changelog.log)"
    fi
    cp "$collection_dir/CHANGELOG.rst" "$output/CHANGELOG-rehearsal.rst"
    hint changelog "fragments: https://docs.ansible.com/projects/antsibull-changelog/changelogs/ (the rehearsed release: tests/output/ecosystem/CHANGELOG-rehearsal.rst)"
    [[ $failed -eq 0 && ! -s "$output/changelog.findings" ]]
}

check_ee() {
    [[ -n "${tarball:-}" ]] || { finding ee "no tarball: the build check failed or did not run"; return 1; }
    local dir="$output/ee" name
    name="$(basename "$tarball")"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$tarball" "$dir/"
    # A user's definition: the collection from the tarball, on a Fedora base (rpm names in bindep.txt).
    cat > "$dir/execution-environment.yml" <<EOF
---
version: 3
images:
  base_image:
    name: quay.io/fedora/fedora:42
dependencies:
  python_interpreter:
    package_system: python3
    python_path: /usr/bin/python3
  ansible_core:
    package_pip: $ANSIBLE_CORE
  ansible_runner:
    package_pip: ansible-runner
  galaxy:
    collections:
      - name: /build/collections/$name
        type: file
additional_build_files:
  - src: $name
    dest: collections
additional_build_steps:
  prepend_galaxy:
    - COPY _build/collections/ /build/collections/
EOF
    if ! (cd "$dir" && "$builder_venv/bin/ansible-builder" create --file execution-environment.yml \
            --context context -v 3) >> "$output/ee.log" 2>&1; then
        finding ee "ansible-builder create failed (ee.log)"
        return 1
    fi
    local file
    for file in Containerfile _build/requirements.yml "_build/collections/$name" _build/scripts/introspect.py \
            _build/scripts/assemble _build/scripts/install-from-bindep; do
        [[ -s "$dir/context/$file" ]] || finding ee "context/$file: missing from the build context"
    done
    # What the image build's builder stage does with the installed collection.
    "$galaxy_venv/bin/ansible-galaxy" collection install --no-deps --collections-path "$dir/collections" \
        "$tarball" >> "$output/ee.log" 2>&1 || finding ee "ansible-galaxy collection install of $name failed (ee.log)"
    if ! "$builder_venv/bin/python" "$dir/context/_build/scripts/introspect.py" introspect \
            --write-bindep "$dir/bindep.txt" --write-pip "$dir/requirements.txt" "$dir/collections" \
            >> "$output/ee.log" 2>&1; then
        finding ee "the build context's introspect.py failed on the collection (ee.log)"
    elif [[ ! -s "$dir/bindep.txt" ]]; then
        finding ee "introspection found no system packages: meta/execution-environment.yml or bindep.txt is not read"
    elif ! "$builder_venv/bin/bindep" --file "$dir/bindep.txt" --list_all newline > "$dir/debian-packages.txt" \
            2>> "$output/ee.log"; then
        finding ee "bindep cannot read bindep.txt (ee.log)"
    else
        local package
        for package in iproute2 nftables; do
            grep -qx "$package" "$dir/debian-packages.txt" ||
                finding ee "bindep.txt: $package is not among the packages bindep lists for Debian"
        done
    fi
    if [[ -s "$dir/requirements.txt" ]]; then
        log "ee: Python requirements of the collection: $(tr '\n' ' ' < "$dir/requirements.txt")"
    fi
    hint ee "meta/execution-environment.yml and bindep.txt: https://docs.ansible.com/projects/builder/en/latest/collection_metadata/"
    [[ ! -s "$output/ee.findings" ]]
}

check_docs() {
    local dir="$output/docs" rc=0 collections
    collections="$(collections_path)"
    rm -rf "$dir"
    mkdir -m 0755 "$dir"  # antsibull-docs wants a directory only its owner may write
    if ! env PATH="$antsibull_venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$collections" \
            "$antsibull_venv/bin/antsibull-docs" sphinx-init --use-current --fail-on-error --dest-dir "$dir" \
            --project pynet.libnetwork --copyright "pynet developers" --title "pynet.libnetwork" \
            --html-short-title "pynet.libnetwork" pynet.libnetwork >> "$output/docs.log" 2>&1; then
        finding docs "antsibull-docs sphinx-init failed (docs.log)"
        return 1
    fi
    # docs.ansible.com's labels from ANSIBLE_DOCS_LABELS (no other intersphinx inventory: nothing
    # else is reachable, and the collection's docs link to nothing else).
    "$antsibull_venv/bin/python" - "$dir/ansible_devel.inv" "$ANSIBLE_DOCS_LABELS" <<'PY'
import sys
import zlib
path, labels = sys.argv[1], sys.argv[2]
body = "".join("%s std:label -1 %s -\n" % tuple(line.split()) for line in labels.splitlines() if line.strip())
with open(path, "wb") as inventory:
    inventory.write(b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
                    b"# The remainder of this file is compressed using zlib.\n")
    inventory.write(zlib.compress(body.encode()))
PY
    printf '\nintersphinx_mapping = {"ansible_devel": ("%s", "%s")}\n' "$ANSIBLE_DOCS_URL" "$dir/ansible_devel.inv" \
        >> "$dir/conf.py"
    env PATH="$antsibull_venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$collections" bash "$dir/build.sh" \
        > "$output/docs.build" 2>&1 || rc=$?
    cat "$output/docs.build" >> "$output/docs.log"
    findings_from docs "$output/docs.build" '(WARNING|ERROR|CRITICAL)'
    if [[ $rc -ne 0 && ! -s "$output/docs.findings" ]]; then
        finding docs "the docs build failed with status $rc (docs.log)"
    fi
    if [[ ! -s "$dir/build/html/index.html" ]]; then
        finding docs "no build/html/index.html"
    fi
    hint docs "rst paths are under tests/output/ecosystem/docs/rst, made from the plugins' documentation; an 'undefined label' outside this collection goes into ANSIBLE_DOCS_LABELS in tests/ecosystem.sh"
    [[ $rc -eq 0 && ! -s "$output/docs.findings" ]]
}

# --- main ---------------------------------------------------------------------------------------

run_check() {
    case "$1" in
        build) check_build ;;
        importer) check_importer ;;
        ansible-lint) check_ansible_lint ;;
        docs-lint) check_docs_lint ;;
        changelog) check_changelog ;;
        ee) check_ee ;;
        docs) check_docs ;;
    esac
}

write_junit() {
    "$galaxy_venv/bin/python" - "$output/ecosystem.xml" "$output" "$results" <<'PY'
import os
import sys
import xml.etree.ElementTree as ET
path, output, results = sys.argv[1:]
suite = ET.Element("testsuite", name="ecosystem")
for line in results.split("\n"):
    if not line.strip():
        continue
    check, status, seconds = line.split()
    case = ET.SubElement(suite, "testcase", classname="ecosystem", name=check, time=seconds)
    if status != "passed":
        findings = os.path.join(output, check + ".findings")
        text = open(findings).read() if os.path.exists(findings) else ""
        ET.SubElement(case, "failure", message="%s failed; see tests/output/ecosystem/%s.log" % (check, check)).text = text
ET.ElementTree(suite).write(path, encoding="unicode")
PY
}

main() {
    local checks=("$@") check started status failed=0
    [[ ${#checks[@]} -gt 0 ]] || checks=("${ALL_CHECKS[@]}")
    for check in "${checks[@]}"; do
        [[ " ${ALL_CHECKS[*]} " == *" $check "* ]] || { log "unknown check $check (${ALL_CHECKS[*]})"; exit 2; }
    done
    rm -rf "$output"
    mkdir -p "$output" "$venvs"
    work="$(mktemp -d "${TMPDIR:-/tmp}/pynet-ecosystem.XXXXXX")"
    trap 'rm -rf "$work"' EXIT

    started=$SECONDS
    galaxy_venv="$(ensure_venv galaxy "${GALAXY_REQUIREMENTS[@]}")" || { log "virtualenv set-up failed"; exit 1; }
    antsibull_venv="$(ensure_venv antsibull "${ANTSIBULL_REQUIREMENTS[@]}")" || { log "virtualenv set-up failed"; exit 1; }
    builder_venv="$(ensure_venv builder "${BUILDER_REQUIREMENTS[@]}")" || { log "virtualenv set-up failed"; exit 1; }
    log "checkers ready in $((SECONDS - started)) s"

    tarball=""
    if [[ " ${checks[*]} " == *" ee "* && " ${checks[*]} " != *" build "* ]]; then
        checks=(build "${checks[@]}")  # ee uses the tarball of build
    fi
    for check in "${checks[@]}"; do
        started=$SECONDS
        log "$check ..."
        status=passed
        run_check "$check" || { status=failed; failed=1; }
        log "$check: $status in $((SECONDS - started)) s"
        results+="$check $status $((SECONDS - started))"$'\n'
    done
    write_junit
    log "$findings_total findings"
    echo "ecosystem: $(grep -c ' passed ' <<< "$results") passed, $(grep -c ' failed ' <<< "$results") failed"
    exit "$failed"
}

main "$@"
