"""The checker of tests/cni/spec.py against good and bad samples: a checker that cannot fail guards
nothing. The good samples are the spec's own examples; each bad one breaks one rule and must be
reported with the field it breaks."""

import copy
import json

import pytest

import spec

NETNS = "/var/run/netns/blue"

# The bridge plugin's Result in the spec's appendix ("Add example"), with its cniVersion.
SPEC_RESULT = {
    "cniVersion": "1.1.0",
    "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 2}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "interfaces": [{"name": "cni0", "mac": "00:11:22:33:44:55"},
                   {"name": "veth3243", "mac": "55:44:33:22:11:11"},
                   {"name": "eth0", "mac": "99:88:77:66:55:44", "sandbox": NETNS}],
    "dns": {"nameservers": ["10.1.0.1"]},
}


def result_for(version):
    result = dict(copy.deepcopy(SPEC_RESULT), cniVersion=version)
    if version == "0.4.0":
        for ip in result["ips"]:
            ip["version"] = "4"
    return result


@pytest.mark.parametrize("version", spec.VERSIONS)
def test_the_specs_own_result_conforms(version):
    assert spec.check_result(result_for(version), version, NETNS, "eth0") == []


def test_a_full_1_1_result_conforms():
    result = result_for("1.1.0")
    result["interfaces"][2].update(mtu=1500, socketPath="/run/x.sock", pciID="0000:00:01.0")
    result["ips"].append({"address": "fd00::5/64", "gateway": "fd00::1", "interface": 2})
    result["routes"] = [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1400, "advmss": 1360, "priority": 10,
                         "table": 100, "scope": 0}, {"dst": "::/0", "gw": "fd00::1"}]
    result["dns"] = {"nameservers": ["10.1.0.1", "fd00::1"], "domain": "example", "search": ["a.example"],
                     "options": ["ndots:2"]}
    assert spec.check_result(result, "1.1.0", NETNS, "eth0") == []


def mutate(version, change):
    result = result_for(version)
    change(result)
    return result


# (name, version, how the Result is broken, words the problem must contain)
BAD_RESULTS = [
    ("version of another config", "1.0.0", lambda r: r.update(cniVersion="1.1.0"), "result.cniVersion"),
    ("no cniVersion", "1.1.0", lambda r: r.pop("cniVersion"), "result.cniVersion"),
    ("a key of no version", "1.1.0", lambda r: r.update(extra=1), "'extra'"),
    ("0.4.0 ip without version", "0.4.0", lambda r: r["ips"][0].pop("version"), "ips[0].version"),
    ("0.4.0 ip of the wrong version", "0.4.0", lambda r: r["ips"][0].update(version="6"), "ips[0].version"),
    ("1.0.0 ip with 0.4.0's version", "1.0.0", lambda r: r["ips"][0].update(version="4"), "'version'"),
    ("1.1.0 mtu in a 1.0.0 result", "1.0.0", lambda r: r["interfaces"][2].update(mtu=1500), "'mtu'"),
    ("1.1.0 route priority in 0.4.0", "0.4.0", lambda r: r["routes"][0].update(priority=1), "'priority'"),
    ("address without prefix", "1.1.0", lambda r: r["ips"][0].update(address="10.1.0.5"), "ips[0].address"),
    ("address that is no IP", "1.1.0", lambda r: r["ips"][0].update(address="10.1.0.500/16"), "ips[0].address"),
    ("gateway of the other IP version", "1.1.0", lambda r: r["ips"][0].update(gateway="fd00::1"), "ips[0].gateway"),
    ("no interface index", "1.1.0", lambda r: r["ips"][0].pop("interface"), "ips[0].interface"),
    ("index past the interfaces", "1.1.0", lambda r: r["ips"][0].update(interface=3), "ips[0].interface"),
    ("negative index", "1.1.0", lambda r: r["ips"][0].update(interface=-1), "ips[0].interface"),
    ("index as text", "1.1.0", lambda r: r["ips"][0].update(interface="2"), "ips[0].interface"),
    ("interface without name", "1.1.0", lambda r: r["interfaces"][0].pop("name"), "interfaces[0].name"),
    ("bad mac", "1.1.0", lambda r: r["interfaces"][1].update(mac="55:44:33:22:11"), "interfaces[1].mac"),
    ("mtu as text", "1.1.0", lambda r: r["interfaces"][2].update(mtu="1500"), "interfaces[2].mtu"),
    ("no container interface", "1.1.0", lambda r: r["interfaces"][2].update(sandbox=""), "CNI_IFNAME"),
    ("container interface renamed", "1.1.0", lambda r: r["interfaces"][2].update(name="eth1"), "CNI_IFNAME"),
    ("interfaces not a list", "1.1.0", lambda r: r.update(interfaces={}), "result.interfaces"),
    ("route without dst", "1.1.0", lambda r: r["routes"][0].pop("dst"), "routes[0].dst"),
    ("route gw of the other version", "1.1.0", lambda r: r["routes"][0].update(gw="fd00::1"), "routes[0].gw"),
    ("route table negative", "1.1.0", lambda r: r["routes"][0].update(table=-1), "routes[0].table"),
    ("nameserver no IP", "1.1.0", lambda r: r["dns"].update(nameservers=["ns1"]), "dns.nameservers[0]"),
    ("search not a list", "1.1.0", lambda r: r["dns"].update(search="a.example"), "dns.search"),
    ("dns key of no version", "1.1.0", lambda r: r["dns"].update(servers=[]), "'servers'"),
]


@pytest.mark.parametrize("name,version,change,words", BAD_RESULTS, ids=[case[0] for case in BAD_RESULTS])
def test_a_broken_result_is_reported(name, version, change, words):
    problems = spec.check_result(mutate(version, change), version, NETNS, "eth0")
    assert problems and words in problems[0], problems


GOOD_ERRORS = [
    ("ADD", {"cniVersion": "1.1.0", "code": 7, "msg": "Invalid Configuration",
             "details": "Network 192.168.0.0/31 too small to allocate from."}),  # the spec's example
    ("ADD", {"cniVersion": "0.4.0", "code": 11, "msg": "try again later"}),
    ("DEL", {"cniVersion": "1.0.0", "code": 4, "msg": "CNI_CONTAINERID: missing"}),
    ("STATUS", {"cniVersion": "1.1.0", "code": 50, "msg": "pool exhausted"}),
    ("ADD", {"cniVersion": "0.4.0", "code": 107, "msg": "plugin specific"}),
]


@pytest.mark.parametrize("verb,error", GOOD_ERRORS)
def test_a_conforming_error_passes(verb, error):
    assert spec.check_error(error, verb) == []


BAD_ERRORS = [
    ("ADD", {"code": 7, "msg": "no version"}, "error.cniVersion"),
    ("ADD", {"cniVersion": "2.0.0", "code": 7, "msg": "unknown version"}, "error.cniVersion"),
    ("ADD", {"cniVersion": "1.1.0", "code": 0, "msg": "code 0 is success"}, "error.code"),
    ("ADD", {"cniVersion": "1.1.0", "code": "7", "msg": "code as text"}, "error.code"),
    ("ADD", {"cniVersion": "1.1.0", "code": 8, "msg": "reserved, undefined"}, "error.code: 8"),
    ("ADD", {"cniVersion": "0.4.0", "code": 7, "msg": "7 is 1.0.0's"}, "error.code: 7"),
    ("ADD", {"cniVersion": "1.1.0", "code": 50, "msg": "STATUS only"}, "error.code: 50"),
    ("ADD", {"cniVersion": "1.1.0", "code": 7}, "error.msg"),
    ("ADD", {"cniVersion": "1.1.0", "code": 7, "msg": ""}, "error.msg"),
    ("ADD", {"cniVersion": "1.1.0", "code": 7, "msg": "m", "details": 3}, "error.details"),
    ("ADD", {"cniVersion": "1.1.0", "code": 7, "msg": "m", "error": "x"}, "'error'"),
]


@pytest.mark.parametrize("verb,error,words", BAD_ERRORS)
def test_a_broken_error_is_reported(verb, error, words):
    problems = spec.check_error(error, verb)
    assert len(problems) == 1 and words in problems[0], problems


def test_version_results():
    good = {"cniVersion": "1.0.0", "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"]}
    assert spec.check_version_result(good, "1.0.0") == []  # the spec's example
    for bad, words in [(dict(good, cniVersion="1.1.0"), "as on input"),
                       (dict(good, supportedVersions=[]), "supportedVersions"),
                       (dict(good, supportedVersions=["1.0"]), "'1.0'"),
                       (dict(good, extra=1), "'extra'")]:
        problems = spec.check_version_result(bad, "1.0.0")
        assert len(problems) == 1 and words in problems[0], problems


def test_gc_requests():
    good = {"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "eth0"}]}
    assert spec.check_gc_request(good) == []
    assert spec.check_gc_request({"cni.dev/valid-attachments": []}) == []
    for bad in [{}, {"cni.dev/valid-attachments": [{"containerID": "c1"}]},
                {"cni.dev/valid-attachments": [{"containerID": "-c1", "ifname": "eth0"}]},
                {"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": ""}]}]:
        assert len(spec.check_gc_request(bad)) == 1, bad


def test_outcomes():
    result = json.dumps(result_for("1.0.0"))
    assert spec.check_outcome("ADD", "1.0.0", 0, result, NETNS, "eth0")[0] == []
    assert spec.check_outcome("DEL", "1.0.0", 0, "")[0] == []
    assert spec.check_outcome("GC", "1.1.0", 0, "\n")[0] == []
    error = json.dumps({"cniVersion": "1.1.0", "code": 50, "msg": "exhausted"})
    assert spec.check_outcome("STATUS", "1.1.0", 1, error)[0] == []
    for verb, code, out, words in [("ADD", 1, "", "without an error object"),
                                   ("ADD", 1, "Traceback (most recent call last)", "without an error object"),
                                   ("ADD", 0, "", "without a JSON object"),
                                   ("DEL", 0, result, "prints nothing"),
                                   ("STATUS", 1, json.dumps({"cniVersion": "1.1.0", "code": 50}), "error.msg")]:
        problems = spec.check_outcome(verb, "1.0.0", code, out)[0]
        assert len(problems) == 1 and words in problems[0], (verb, problems)
