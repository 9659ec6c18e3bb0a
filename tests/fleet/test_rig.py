"""The simulated fleet itself: Ansible reaches each host by ssh as it reaches real hosts, each host
has namespaces of its own, VXLAN carries traffic between two hosts over the underlay, and nothing
of the rig is left afterwards."""

import json
import os
import subprocess
import time

import rig
import traffic

PLAY = """
- hosts: fleet
  gather_facts: false
  tasks:
    - name: The host's addresses, as iproute2 reports them
      ansible.builtin.command: ip -j addr show
      register: addresses
      changed_when: false
    - name: The host's namespaces (net, mnt, uts) and name
      ansible.builtin.command: readlink /proc/self/ns/net /proc/self/ns/mnt /proc/self/ns/uts
      register: namespaces
      changed_when: false
    - ansible.builtin.command: hostname
      register: hostname
      changed_when: false
    - ansible.builtin.file:
        path: /var/lib/pynet
        state: directory
        mode: "0700"
    - name: A file of the host's own in its state directory
      ansible.builtin.copy:
        dest: /var/lib/pynet/whoami
        content: "{{ inventory_hostname }}"
        mode: "0600"
    - name: The host's view of /var/lib/pynet
      ansible.builtin.find:
        paths: /var/lib/pynet
      register: state
    - name: etcd answers on the underlay
      ansible.builtin.uri:
        url: http://10.250.0.1:2379/health
        return_content: true
      register: health
    - name: What the host saw, back on the control node
      ansible.builtin.copy:
        dest: "{{ report_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'addresses': addresses.stdout | from_json, 'namespaces': namespaces.stdout_lines,
                      'hostname': hostname.stdout, 'state': state.files | map(attribute='path') | list,
                      'health': health.content | from_json} | to_json }}"
        mode: "0600"
      delegate_to: localhost
"""


def own_namespaces():
    return [os.readlink("/proc/self/ns/" + kind) for kind in ("net", "mnt", "uts")]


def test_ansible_reaches_five_hosts_each_with_namespaces_of_its_own(fleet, tmp_path):
    playbook, report_dir = tmp_path / "gather.yml", tmp_path / "report"
    playbook.write_text(PLAY)
    report_dir.mkdir()
    started = time.monotonic()
    run = fleet.ansible("ansible-playbook", "--forks", "10", "-e", "report_dir=%s" % report_dir, str(playbook))
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    seen = {host.name: json.loads((report_dir / (host.name + ".json")).read_text()) for host in fleet.hosts}
    for host in fleet.hosts:
        view = seen[host.name]
        assert view["hostname"] == host.name
        assert view["state"] == ["/var/lib/pynet/whoami"]
        assert view["health"] == {"health": "true"}
        addresses = {(link["ifname"], info["local"]) for link in view["addresses"] for info in link["addr_info"]
                     if info["family"] == "inet"}
        assert addresses == {("lo", "127.0.0.1"), ("eth0", host.address)}
    for kind in range(3):  # net, mnt, uts: five of each, none of them the machine's
        ids = {seen[host.name]["namespaces"][kind] for host in fleet.hosts}
        assert len(ids) == 5 and own_namespaces()[kind] not in ids
    # Each host's /var/lib/pynet is its own layer under the test's tmp dir, not the machine's.
    for host in fleet.hosts:
        with open(os.path.join(host.dir, "var-lib", "upper", "pynet", "whoami")) as handle:
            assert handle.read() == host.name
    assert not os.path.exists("/var/lib/pynet/whoami")
    print("play over 5 hosts with forks 10: %.1f s" % took)


def vxlan(host, peer, overlay_address):
    """A vxlan device with a static peer, made with iproute2 in the host's namespaces."""
    subprocess.run(host.nsenter("ip", "-batch", "-"), check=True, text=True, input=(
        "link add pnvx0 type vxlan id 4242 local %s remote %s dstport 4789 dev eth0\n"
        "addr add %s/24 dev pnvx0\nlink set pnvx0 up\n" % (host.address, peer.address, overlay_address)))


def test_vxlan_carries_traffic_between_two_hosts(underlay, tmp_path):
    fleet = rig.Fleet(underlay, tmp_path, 2)
    try:
        first, second = fleet.start().hosts
        vxlan(first, second, "10.251.0.1")
        vxlan(second, first, "10.251.0.2")
        link = json.loads(subprocess.run(first.nsenter("ip", "-j", "-d", "link", "show", "pnvx0"), check=True,
                                         capture_output=True, text=True).stdout)[0]
        assert (link["mtu"], link["linkinfo"]["info_data"]["id"]) == (1450, 4242)  # the underlay's 1500 - 50
        assert traffic.tcp_exchange(second.netns, "10.251.0.2", first.netns) == (
            b"ping from client", b"pong from server", "10.251.0.1")
        # The overlay's traffic goes over the underlay: without it, nothing gets across.
        subprocess.run(second.nsenter("ip", "link", "set", "eth0", "down"), check=True)
        assert not traffic.tcp_reachable(second.netns, "10.251.0.2", first.netns)
    finally:
        fleet.close()
