"""The plugin exec'd as a runtime execs it, for every verb, each output checked against the spec
(spec.py) and its effect against the kernel and the store: the cases of issue 15 and the spec's
rules for DEL (idempotent), errors (codes, the field named, non-zero exit) and concurrency."""

import concurrent.futures
import errno
import os
import shutil
import subprocess

import pynet_testing
import pytest
import runtime
import spec
import traffic

from ansible_collections.pynet.libnetwork.plugins.module_utils.controller import Controller
from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns

NETWORK = "pncni"
SUBNET = "10.89.40.0/24"


@pytest.fixture
def rig(host):
    made = runtime.Rig(host, NETWORK, SUBNET)
    yield made
    made.controller.close()


def conforming(outcome):
    assert outcome.problems == [], outcome
    return outcome


def succeeded(outcome):
    assert outcome.problems == [] and outcome.ok, outcome
    return outcome


def container_address(result, ifname="eth0"):
    index = next(i for i, item in enumerate(result["interfaces"]) if item["name"] == ifname and item.get("sandbox"))
    return next(ip["address"] for ip in result["ips"] if ip["interface"] == index)


def kernel_addresses(key, ifname="eth0"):
    return ["%s/%s" % (item["local"], item["prefixlen"])
            for link in pynet_testing.ip_json("addr", "show", key=key) if link["ifname"] == ifname
            for item in link["addr_info"] if item["family"] == "inet"]


# --- VERSION -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0", "0.3.1"])
def test_version_echoes_the_version_asked_and_lists_the_supported_ones(version):
    outcome = succeeded(runtime.module_plugin().execute("VERSION", {"cniVersion": version}))
    assert outcome.output["cniVersion"] == version
    assert {"0.4.0", "1.0.0", "1.1.0"} <= set(outcome.output["supportedVersions"])


def test_version_loads_nothing_of_pynets_library():
    outcome = runtime.module_plugin().execute("VERSION", {"cniVersion": "1.1.0"}, python_flags=["-X", "importtime"])
    succeeded(outcome)
    loaded = [line.split("|")[-1].strip() for line in outcome.stderr.splitlines() if line.startswith("import time:")]
    assert "ansible_collections.pynet.libnetwork.plugins.module_utils.cni_plugin.protocol" in loaded
    assert not [name for name in loaded if name.endswith(("controller", "verbs", "store")) or name == "netaddr"], loaded


def test_add_and_del_on_a_bridge_network_load_no_http_tls_threads_or_signals(rig):
    # What only a cluster store (etcd's client), making a namespace or stopping dnsmasq needs: each
    # costs every container's ADD and DEL 1-20 ms of imports.
    key = rig.netns("c1")
    for command in ("ADD", "DEL"):
        outcome = rig.plugin.execute(command, rig.config("1.1.0"), "c1", key, "eth0", python_flags=["-X", "importtime"])
        succeeded(outcome)
        loaded = {line.split("|")[-1].strip() for line in outcome.stderr.splitlines()
                  if line.startswith("import time:")}
        assert not loaded & {"http.client", "ssl", "urllib.parse", "email", "threading", "signal"}, (command, loaded)


# --- ADD and DEL ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0"])
def test_add_gives_a_pool_address_in_the_runtimes_netns_and_del_releases_it(rig, version):
    key = rig.netns("c1")
    added = succeeded(rig.add("c1", key, version))
    address = container_address(added.output)
    assert address.startswith("10.89.40.") and address.endswith("/24")
    assert kernel_addresses(key) == [address]
    assert added.output["routes"] == [{"dst": "0.0.0.0/0", "gw": "10.89.40.1"}]
    assert added.output["interfaces"][0]["name"] == rig.network.options["bridge_name"]
    endpoint = rig.endpoints()["cni.c1.eth0"]
    assert endpoint.sandbox_info()["interfaces"][0]["address"] == address
    succeeded(rig.delete("c1", key, version))
    assert rig.endpoints() == {}
    assert kernel_addresses(key) == []
    # The runtime's netns stays (the runtime removes it), and pynet has forgotten it.
    assert netns.is_netns(key) and key not in rig.sandbox_keys()


def test_two_containers_talk_tcp(rig):
    keys = [rig.netns("c%d" % i) for i in (1, 2)]
    addresses = [container_address(succeeded(rig.add("c%d" % i, key)).output).split("/")[0]
                 for i, key in zip((1, 2), keys)]
    assert addresses[0] != addresses[1]
    got_server, got_client, peer = traffic.tcp_exchange(keys[1], addresses[1], keys[0])
    assert (got_server, got_client, peer) == (b"ping from client", b"pong from server", addresses[0])


def test_add_on_a_macvlan_network_gives_the_container_interface_only(rig):
    """A macvlan endpoint has no bridge and no host end: the Result lists the container's interface alone."""
    peer = rig.netns("l2peer")
    subprocess.run(["ip", "link", "add", "pnt-par", "type", "veth", "peer", "name", "eth0", "netns", peer], check=True)
    subprocess.run(["ip", "link", "set", "pnt-par", "up"], check=True)
    for argv in (["ip", "addr", "add", "10.88.0.1/24", "dev", "eth0"], ["ip", "link", "set", "eth0", "up"]):
        subprocess.run(["nsenter", "--net=" + peer] + argv, check=True)
    rig.controller.new_network(rig.controller.new_network_driver("macvlan", {}), "pnmacvlan",
                               {"parent": "pnt-par", "ipam": [{"subnet": "10.88.0.0/24"}]})
    key = rig.netns("c1")
    added = succeeded(rig.add("c1", key, name="pnmacvlan"))
    assert [item["name"] for item in added.output["interfaces"]] == ["eth0"]
    address = container_address(added.output)
    assert added.output["ips"][0]["interface"] == 0 and kernel_addresses(key) == [address]
    assert traffic.tcp_exchange(peer, "10.88.0.1", key)[2] == address.split("/")[0]
    succeeded(rig.delete("c1", key, name="pnmacvlan"))
    assert kernel_addresses(key) == []


def test_del_of_a_container_never_added_succeeds(rig):
    succeeded(rig.delete("never-added", rig.netns("c1")))
    succeeded(rig.delete("never-added"))  # and without CNI_NETNS


def test_del_without_cni_netns_releases_the_address(rig):
    key = rig.netns("c1")
    succeeded(rig.add("c1", key))
    succeeded(rig.delete("c1", key=None))
    assert rig.endpoints() == {}


def test_del_after_the_netns_is_gone_and_twice_succeeds(rig):
    key = rig.netns("c1")
    succeeded(rig.add("c1", key))
    netns.destroy(key)
    succeeded(rig.delete("c1", key))
    succeeded(rig.delete("c1", key))
    assert rig.endpoints() == {} and key not in rig.sandbox_keys()


def test_del_of_another_network_name_or_store_succeeds(rig, tmp_path):
    succeeded(rig.plugin.execute("DEL", rig.config(name="pnnone"), "c1", None, "eth0"))
    succeeded(rig.plugin.execute("DEL", rig.config(state_dir=str(tmp_path / "nothing")), "c1", None, "eth0"))
    assert not os.path.exists(tmp_path / "nothing")  # DEL makes no store


def test_add_twice_fails_and_leaves_the_first(rig):
    key = rig.netns("c1")
    first = succeeded(rig.add("c1", key))
    again = conforming(rig.add("c1", key))
    assert again.returncode != 0 and again.code == 100 and "CNI_CONTAINERID" in again.msg
    assert kernel_addresses(key) == [container_address(first.output)]
    assert list(rig.endpoints()) == ["cni.c1.eth0"]


def test_add_where_the_interface_name_is_taken_fails_and_leaves_nothing(rig):
    """"If an interface of the requested name already exists in the container, the CNI plugin MUST
    return with an error" (here one another plugin made)."""
    key = rig.netns("c1")
    subprocess.run(["nsenter", "--net=" + key, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "pnx"],
                   check=True)
    before = unchanged(rig, key)
    taken = conforming(rig.add("c1", key))
    assert taken.code == 4 and taken.msg.startswith("CNI_IFNAME: ") and os.strerror(errno.EEXIST) in taken.msg, taken
    assert unchanged(rig, key) == before
    assert not [link for link in pynet_testing.ip_json("link", "show") if link["ifname"].startswith("pnv")]


def test_a_second_interface_of_one_container_routes_nothing_by_default(rig):
    key = rig.netns("c1")
    succeeded(rig.add("c1", key))
    second = succeeded(rig.add("c1", key, ifname="eth1"))
    assert "routes" not in second.output  # the default route stays with eth0, the older attachment
    assert len(kernel_addresses(key, "eth1")) == 1


def test_ips_mac_and_ports_from_runtime_config(rig):
    key = rig.netns("c1")
    runtime_config = {"ips": ["10.89.40.77/24"], "mac": "02:42:ac:11:00:07",
                      "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": ""}]}
    added = succeeded(rig.add("c1", key, runtimeConfig=runtime_config))
    assert container_address(added.output) == "10.89.40.77/24"
    assert added.output["interfaces"][2]["mac"] == "02:42:ac:11:00:07"
    assert pynet_testing.ip_json("link", "show", "eth0", key=key)[0]["address"] == "02:42:ac:11:00:07"
    assert rig.endpoints()["cni.c1.eth0"].ports() == [
        {"protocol": "tcp", "host_ip": "", "host_port": 8080, "container_port": 80}]
    assert "dnat ip to 10.89.40.77:80" in nft_table(rig)
    succeeded(rig.delete("c1", key))
    assert "dnat" not in nft_table(rig)


def test_ip_and_mac_from_cni_args_as_podman_passes_them(rig):
    key = rig.netns("c1")
    outcome = rig.plugin.execute("ADD", rig.config(), "c1", key, "eth0",
                                 cni_args="IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.89.40.78;MAC=02:42:ac:11:00:08")
    succeeded(outcome)
    assert container_address(outcome.output) == "10.89.40.78/24"
    assert outcome.output["interfaces"][2]["mac"] == "02:42:ac:11:00:08"


def test_dns_of_the_config_is_in_the_result_after_the_networks_own_server(rig):
    dns = {"nameservers": ["192.0.2.53"], "search": ["example.test"]}
    added = succeeded(rig.add("c1", rig.netns("c1"), dns=dns))
    gateway = rig.network.pools()[0].gateway
    assert added.output["dns"] == {"nameservers": [gateway, "192.0.2.53"], "search": ["example.test"]}
    assert succeeded(rig.add("c2", rig.netns("c2"))).output["dns"] == {"nameservers": [gateway]}
    rig.network.set_dns(False, [])
    assert "dns" not in succeeded(rig.add("c3", rig.netns("c3"))).output


def test_after_another_plugins_result_pynet_appends_its_own(rig):
    prev = {"cniVersion": "1.0.0", "interfaces": [{"name": "tap0", "mac": "02:00:00:00:00:01"}],
            "ips": [{"address": "192.0.2.5/24", "interface": 0}]}
    added = succeeded(rig.add("c1", rig.netns("c1"), "1.0.0", prevResult=prev))
    assert added.output["interfaces"][0] == prev["interfaces"][0] and len(added.output["interfaces"]) == 4
    assert added.output["ips"][0] == prev["ips"][0] and added.output["ips"][1]["interface"] == 3


def nft_table(rig):
    done = subprocess.run(["nft", "list", "table", "inet", rig.controller.firewall_table], capture_output=True,
                          text=True, check=False)
    return done.stdout


# --- errors ----------------------------------------------------------------------------------------------


def unchanged(rig, key):
    """The store's endpoints and the netns' links, to compare before and after a refused call."""
    links = pynet_testing.ip_json("link", "show", key=key) if key and netns.is_netns(key) else []
    return sorted(rig.endpoints()), sorted(link["ifname"] for link in links), sorted(rig.sandbox_keys())


# (case, how the call is made: config changes, CNI variables, unset variables, raw stdin; the code; words of msg)
ERRORS = [
    ("bad JSON on stdin", {}, {}, (), b'{"cniVersion": "1.1.0", "name": ', 6, "stdin"),
    ("stdin not an object", {}, {}, (), b'["pynet"]', 6, "stdin"),
    ("an unknown cniVersion", {"cniVersion": "9.9.9"}, {}, (), None, 1, "cniVersion: 9.9.9"),
    ("no cniVersion", {"cniVersion": None}, {}, (), None, 7, "cniVersion"),
    ("a missing CNI_NETNS", {}, {}, ("CNI_NETNS",), None, 4, "CNI_NETNS"),
    ("a missing CNI_CONTAINERID and CNI_IFNAME", {}, {}, ("CNI_CONTAINERID", "CNI_IFNAME"), None, 4,
     "CNI_CONTAINERID, CNI_IFNAME"),
    ("a container id that is no id", {}, {"container_id": "-bad/id"}, (), None, 4, "CNI_CONTAINERID"),
    ("CNI_NETNS a regular file", {}, {"netns": "FILE"}, (), None, 4, "CNI_NETNS"),
    ("CNI_NETNS a directory", {}, {"netns": "DIR"}, (), None, 4, "CNI_NETNS"),
    ("CNI_NETNS missing", {}, {"netns": "MISSING"}, (), None, 4, "CNI_NETNS"),
    ("CNI_NETNS relative", {}, {"netns": "run/netns/x"}, (), None, 4, "CNI_NETNS"),
    ("CNI_NETNS host, the key of the host's own namespace", {}, {"netns": "host"}, (), None, 4, "CNI_NETNS"),
    ("an unknown pynet network", {"name": "pnnope"}, {}, (), None, 7, "name: no pynet network pnnope"),
    ("a name that is no name", {"name": "-x"}, {}, (), None, 7, "name"),
    ("a relative state_dir", {"state_dir": "var/lib/pynet"}, {}, (), None, 7, "state_dir"),
    ("ipam, which pynet does not take", {"ipam": {"type": "host-local"}}, {}, (), None, 2,
     'ipam: {"type": "host-local"}'),
    ("an unknown verb", {}, {"command": "UP"}, (), None, 4, "CNI_COMMAND"),
    ("no verb", {}, {}, ("CNI_COMMAND",), None, 4, "CNI_COMMAND"),
    ("GC of a 1.0.0 config", {"cniVersion": "1.0.0", "cni.dev/valid-attachments": []}, {"command": "GC"}, (),
     None, 1, "GC"),
    ("an interface name too long", {}, {"ifname": "eth0123456789abc"}, (), None, 4, "CNI_IFNAME"),
    ("a requested IP outside the pool", {"runtimeConfig": {"ips": ["10.99.0.5/24"]}}, {}, (), None, 7,
     "runtimeConfig.ips"),
    ("a requested IP with another prefix", {"runtimeConfig": {"ips": ["10.89.40.9/16"]}}, {}, (), None, 7,
     "runtimeConfig.ips"),
    ("two requested IPv4 addresses", {"runtimeConfig": {"ips": ["10.89.40.9", "10.89.40.10"]}}, {}, (), None, 7,
     "runtimeConfig.ips"),
    ("a MAC that is multicast", {"runtimeConfig": {"mac": "03:00:00:00:00:01"}}, {}, (), None, 7,
     "runtimeConfig.mac"),
    ("a bad IP in CNI_ARGS", {}, {"cni_args": "IP=10.89.40.300"}, (), None, 4, "CNI_ARGS IP"),
    ("CNI_ARGS that are no pairs", {}, {"cni_args": "IgnoreUnknown"}, (), None, 4, "CNI_ARGS"),
    ("a port out of range", {"runtimeConfig": {"portMappings": [{"hostPort": 70000, "containerPort": 80}]}}, {}, (),
     None, 7, "runtimeConfig.portMappings[0].hostPort"),
    ("a port that is text", {"runtimeConfig": {"portMappings": [{"hostPort": "80", "containerPort": 80}]}}, {}, (),
     None, 7, "runtimeConfig.portMappings[0].hostPort"),
    ("sctp", {"runtimeConfig": {"portMappings": [{"hostPort": 80, "containerPort": 80, "protocol": "sctp"}]}}, {},
     (), None, 7, "runtimeConfig.portMappings[0].protocol"),
    ("a nameserver that is no address", {"dns": {"nameservers": ["ns1"]}}, {}, (), None, 7, "dns.nameservers[0]"),
]


@pytest.mark.parametrize("case,config,variables,unset,stdin,code,words", ERRORS, ids=[case[0] for case in ERRORS])
def test_a_bad_call_is_the_specs_error_naming_the_field_and_changes_nothing(
        rig, tmp_path, case, config, variables, unset, stdin, code, words):
    key = rig.netns("c1")
    targets = {"FILE": tmp_path / "file", "DIR": tmp_path / "dir", "MISSING": str(tmp_path / "missing")}
    (tmp_path / "file").write_text("")
    (tmp_path / "dir").mkdir()
    request = {k: v for k, v in dict(rig.config(), **config).items() if v is not None}
    call = {"command": "ADD", "container_id": "c1", "netns": key, "ifname": "eth0"}
    call.update(variables)
    call["netns"] = str(targets.get(call["netns"], call["netns"]))
    before = unchanged(rig, key)
    outcome = rig.plugin.execute(call.pop("command"), request, stdin=stdin, unset=unset, **call)
    conforming(outcome)
    assert outcome.returncode != 0 and outcome.code == code and words in outcome.msg, outcome
    assert "Traceback" not in outcome.stderr
    assert unchanged(rig, key) == before


def test_no_add_puts_an_interface_into_the_hosts_namespace(rig):
    """CNI_NETNS `host` (the sandbox key of host networks) is no way into the host's namespace: ADD to the
    bridge network is refused naming CNI_NETNS, and ADD to a host network (whose endpoints have no
    interface) naming the network; neither changes the host's links, addresses or routes, nor the store."""
    rig.controller.new_network(rig.controller.driver("host"), "pnhost")
    host_view = pynet_testing.netns_view()
    before = unchanged(rig, None)
    for name, code, words in ((NETWORK, 4, "CNI_NETNS: host"), ("pnhost", 7, "name: network pnhost is a host network")):
        outcome = conforming(rig.plugin.execute("ADD", rig.config(name=name), "c1", "host", "eth0"))
        assert outcome.returncode != 0 and outcome.code == code and outcome.msg.startswith(words), outcome
    assert unchanged(rig, None) == before and pynet_testing.netns_view() == host_view
    assert rig.controller.network_by_name("pnhost").endpoints() == []


# --- CHECK -----------------------------------------------------------------------------------------------


def test_check_passes_after_add_and_reports_drift_with_the_specs_codes(rig):
    key = rig.netns("c1")
    added = succeeded(rig.add("c1", key))
    check = dict(rig.config(), prevResult=added.output)
    succeeded(rig.plugin.execute("CHECK", check, "c1", key, "eth0"))
    subprocess.run(["nsenter", "--net=" + key, "ip", "addr", "flush", "dev", "eth0"], check=True)
    drifted = conforming(rig.plugin.execute("CHECK", check, "c1", key, "eth0"))
    assert drifted.code == 101 and "lacks address" in drifted.msg
    unknown = conforming(rig.plugin.execute("CHECK", check, "c2", key, "eth0"))
    assert unknown.code == 3 and "CNI_CONTAINERID" in unknown.msg
    no_prev = conforming(rig.plugin.execute("CHECK", rig.config(), "c1", key, "eth0"))
    assert no_prev.code == 7 and "prevResult" in no_prev.msg
    other = dict(added.output, ips=[dict(added.output["ips"][0], address="10.89.40.200/24")])
    wrong_prev = conforming(rig.plugin.execute("CHECK", dict(rig.config(), prevResult=other), "c1", key, "eth0"))
    assert wrong_prev.code == 101 and "prevResult lists 10.89.40.200/24" in wrong_prev.msg


# --- GC and STATUS -------------------------------------------------------------------------------------


def test_gc_removes_the_attachments_not_listed_and_nothing_else(rig):
    keys = {name: rig.netns(name) for name in ("c1", "c2", "c3")}
    for name, key in keys.items():
        succeeded(rig.add(name, key))
    # An endpoint a playbook made on the same network is not the runtime's: GC leaves it.
    own = rig.controller.new_sandbox(rig.paths.sandbox_key("mine"))
    rig.network.create_endpoint("mine", own.key)
    request = dict(rig.config(), **{"cni.dev/valid-attachments": [{"containerID": "c2", "ifname": "eth0"}]})
    assert spec.check_gc_request(request) == []
    succeeded(rig.plugin.execute("GC", request))
    assert sorted(rig.endpoints()) == ["cni.c2.eth0", "mine"]
    assert kernel_addresses(keys["c1"]) == [] and len(kernel_addresses(keys["c2"])) == 1
    assert own.key in rig.sandbox_keys() and keys["c1"] not in rig.sandbox_keys()
    # The name the 1.1.0 tag's text gives the list (libcni sends both).
    succeeded(rig.plugin.execute("GC", dict(rig.config(), **{"cni.dev/attachments": []})))
    assert sorted(rig.endpoints()) == ["mine"]


def test_gc_without_the_list_removes_nothing(rig):
    succeeded(rig.add("c1", rig.netns("c1")))
    outcome = conforming(rig.plugin.execute("GC", rig.config()))
    assert outcome.code == 7 and "cni.dev/valid-attachments" in outcome.msg
    assert list(rig.endpoints()) == ["cni.c1.eth0"]


def test_status_is_ready_then_50_when_the_pool_is_exhausted(host):
    controller = Controller(state_dir=host.state_dir)
    controller.new_network(controller.new_network_driver("bridge", {}), "pntiny",
                           {"ipam": [{"subnet": "10.89.41.0/30"}]})  # one address left after the gateway
    plugin = runtime.module_plugin()
    config = {"cniVersion": "1.1.0", "name": "pntiny", "type": "pynet", "state_dir": host.state_dir}
    succeeded(plugin.execute("STATUS", config))
    key = host.sandbox_key("c1")
    os.makedirs(os.path.dirname(key))
    netns.create(key)
    succeeded(plugin.execute("ADD", config, "c1", key, "eth0"))
    exhausted = conforming(plugin.execute("STATUS", config))
    assert exhausted.code == 50 and "exhausted" in exhausted.msg
    full = conforming(plugin.execute("ADD", config, "c2", key, "eth1"))
    assert full.code == 11 and "no available" in full.msg
    succeeded(plugin.execute("DEL", config, "c1", key, "eth0"))
    succeeded(plugin.execute("STATUS", config))
    controller.close()


def test_status_is_50_for_an_unusable_store_or_a_missing_network(rig, tmp_path):
    missing = conforming(rig.plugin.execute("STATUS", rig.config(name="pnnone")))
    assert missing.code == 50 and "name" in missing.msg
    a_file = tmp_path / "state-file"
    a_file.write_text("")
    assert conforming(rig.plugin.execute("STATUS", rig.config(state_dir=str(a_file)))).code == 50
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir(mode=0o700)
    (corrupt / "pynet.db").write_bytes(b"this is not sqlite" * 100)
    outcome = conforming(rig.plugin.execute("STATUS", rig.config(state_dir=str(corrupt))))
    assert outcome.code == 50 and "state_dir" in outcome.msg


# --- concurrency ---------------------------------------------------------------------------------------


def test_16_concurrent_adds_get_16_addresses_and_16_dels_release_them(rig):
    keys = {"c%02d" % i: rig.netns("c%02d" % i) for i in range(16)}
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        added = dict(zip(keys, pool.map(lambda name: rig.add(name, keys[name]), keys)))
    for outcome in added.values():
        succeeded(outcome)
    addresses = {name: container_address(outcome.output) for name, outcome in added.items()}
    assert len(set(addresses.values())) == 16
    for name, key in keys.items():
        assert kernel_addresses(key) == [addresses[name]]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        deleted = list(pool.map(lambda name: rig.delete(name, keys[name]), keys))
    for outcome in deleted:
        succeeded(outcome)
    assert rig.endpoints() == {} and not [key for key in keys.values() if key in rig.sandbox_keys()]


# --- one executable -------------------------------------------------------------------------------------


def test_the_zipapp_runs_without_the_collection(rig, tmp_path):
    target = tmp_path / "bin" / "pynet"
    subprocess.run([runtime.sys.executable, "-m", runtime.ZIPAPP_MODULE, str(target)],
                   env=dict(os.environ, PYTHONPATH=pynet_testing.COLLECTIONS), check=True)
    assert os.access(target, os.X_OK)
    with open(target, "rb") as handle:
        assert handle.readline() == ("#!%s -IS\n" % runtime.sys.executable).encode()
    plugin = runtime.Plugin([str(target)], {})  # no PYTHONPATH, and -I ignores it anyway
    succeeded(plugin.execute("VERSION", {"cniVersion": "1.0.0"}))
    key = rig.netns("c1")
    added = succeeded(plugin.execute("ADD", rig.config(), "c1", key, "eth0"))
    assert kernel_addresses(key) == [container_address(added.output)]
    succeeded(plugin.execute("DEL", rig.config(), "c1", key, "eth0"))
    assert rig.endpoints() == {}
    shutil.rmtree(tmp_path / "bin")
