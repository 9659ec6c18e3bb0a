#!/usr/bin/python
# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pynet_endpoint
short_description: Connect sandboxes to pynet networks (veth pairs with addresses)
version_added: 0.1.0
description:
  - An endpoint is a network's connection into one sandbox; on a bridge network a veth pair whose host
    end is on the bridge and whose other end is in the sandbox with its address and a default route.
  - Declare one endpoint with O(name), or many at once with O(endpoints) (one Python start-up for all of them,
    which is much faster than C(loop)).
  - An endpoint whose O(sandbox), O(ip), O(ipv6), O(mac), O(ifname), O(ports), O(gw_priority) or O(aliases) differ from
    what is recorded is recreated; one damaged outside pynet (veth deleted, address removed) is repaired.
  - Every item is validated, and every address allocated, before the first change; in check mode the
    addresses a real run would give are returned.
author:
  - pynet developers (@pynet)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - pynet.libnetwork.common
  - pynet.libnetwork.common.attributes
options:
  name:
    description: Name of the endpoint, unique in its network. Mutually exclusive with O(endpoints).
    type: str
  network:
    description: Name of the network; with O(endpoints), the default for items that do not give one.
    type: str
  sandbox:
    description:
      - The sandbox key (a network namespace path); with O(endpoints), the default for items.
      - As O(pynet.libnetwork.pynet_sandbox#module:key), refused with a symbolic link on its path, under V(/proc),
        or when it holds the host's own network namespace.
      - V(host), the host's own namespace, is the sandbox of the endpoints of a host network, and only theirs; an
        endpoint of a host network is in no other sandbox and takes none of the options below (no O(ports), since
        it uses the host's own).
    type: path
  ip:
    description: The IPv4 address to take (default the next free one of the network's pools).
    type: str
  ipv6:
    description: The IPv6 address to take on a dual-stack network (default the next free one).
    type: str
  mac:
    description: MAC address of the interface in the sandbox (default derived from the endpoint id).
    type: str
  ifname:
    description: Name of the interface in the sandbox (default V(eth0)); unique within the sandbox.
    type: str
  ports:
    description:
      - Published ports of a bridge endpoint, reachable through the host's addresses (and 127.0.0.1) by DNAT.
      - The DNAT comes before the host's input hook, so input rules of the host's firewall (ufw, firewalld) for the
        host port do not apply, as with Docker; publish on one O(ports[].host_ip) to limit who reaches it.
      - One host port, protocol and address belongs to one endpoint; a conflict fails before any change.
      - Not on an internal network (nothing beyond its subnets reaches it), as with Docker.
    type: list
    elements: dict
    suboptions:
      container_port:
        description: The port, or a range such as V(8000-8010), in the container.
        type: raw
        required: true
      host_port:
        description:
          - The host port or range (as long as O(ports[].container_port)'s). V(0) or none picks a free port in
            49152-60999, returned in RV(endpoints[].ports).
        type: raw
      host_ip:
        description:
          - The host address to publish on (default the network's C(host_binding_ipv4), else every address).
          - It must be assigned to one of the host's interfaces; another address is refused, since publishing on it
            would take the host's own connections to that address to the container.
        type: str
      protocol:
        description: The protocol; V(sctp) only where the kernel has SCTP (module C(sctp)), else it is refused.
        type: str
        choices: [tcp, udp, sctp]
        default: tcp
  gw_priority:
    description:
      - In a sandbox on several networks, the endpoint with the highest priority gives the default route
        (per IP version); on a tie the oldest endpoint does. Default V(0).
    type: int
  aliases:
    description:
      - More DNS names of the endpoint on its network, beside its O(name), answered by the network's DNS server
        (O(pynet.libnetwork.pynet_network#module:dns_enabled)) to the sandboxes of that network only.
      - Each a DNS name (dot-separated labels of 1 to 63 letters, digits, C(-) and C(_), not starting or ending with
        C(-)); names compare without case, and are kept lower-case. An alias that other endpoints of the network
        hold too answers with all their addresses, as Docker's network aliases do.
      - The endpoint's O(name) is answered too when it is a DNS name (a reverse lookup answers it).
    type: list
    elements: str
  state:
    description: V(present) creates or repairs the endpoint; V(absent) removes it. With O(endpoints), the default for items.
    type: str
    choices: [present, absent]
    default: present
  endpoints:
    description:
      - Many endpoints in one task. Each item takes the options above; O(network), O(sandbox) and O(state) given at
        the top are the defaults for items.
    type: list
    elements: dict
    suboptions:
      name:
        description: Name of the endpoint.
        type: str
        required: true
      network:
        description: Name of the network.
        type: str
      sandbox:
        description: The sandbox key.
        type: path
      ip:
        description: The IPv4 address to take.
        type: str
      ipv6:
        description: The IPv6 address to take.
        type: str
      mac:
        description: MAC address of the interface in the sandbox.
        type: str
      ifname:
        description: Name of the interface in the sandbox.
        type: str
      ports:
        description: Published ports, as O(ports).
        type: list
        elements: dict
      gw_priority:
        description: Default route priority, as O(gw_priority).
        type: int
      aliases:
        description: More DNS names, as O(aliases).
        type: list
        elements: str
      state:
        description: V(present) or V(absent).
        type: str
        choices: [present, absent]
  purge:
    description:
      - With O(endpoints), treat the list as complete for O(network) and for each network it names, removing
        those networks' endpoints that are not listed (all of them, for an empty list). By default the list only
        adds or changes endpoints.
      - The endpoints a container runtime made through pynet's CNI plugin (C(owner) V(cni) in
        M(pynet.libnetwork.pynet_info)) are never purged; the runtime removes them (CNI DEL or GC). To remove one
        anyway, name it with O(state=absent).
    type: bool
    default: false
  prune_stale:
    description:
      - Garbage-collect stale endpoints, of every network in O(state_dir) - endpoints that this task does not
        declare and whose sandbox's network namespace no longer exists (after a reboot, or a container removed
        without pynet). Their addresses and published ports are released, their veths (if any) deleted.
      - Sandboxes then left without a namespace and without endpoints are forgotten too (see RV(pruned_sandboxes)),
        except one with a symbolic link now on its key's path, which pynet never acts through (a warning names it).
      - The endpoints a container runtime made through pynet's CNI plugin, and the runtime's network namespaces
        they are in, are left to the runtime, whose CNI GC removes those it no longer lists (as O(purge) does).
      - Run it in the last endpoint task of a play, after the tasks that re-create the declared sandboxes and
        endpoints; an endpoint that only a later task declares would be removed and then made anew.
    type: bool
    default: false
seealso:
  - module: pynet.libnetwork.pynet_network
  - module: pynet.libnetwork.pynet_sandbox
"""

EXAMPLES = r"""
- name: Connect one sandbox
  pynet.libnetwork.pynet_endpoint:
    network: web
    name: web1
    sandbox: /run/pynet/netns/web1
    ip: 10.89.10.10

- name: Publish port 80 of the container on port 8080 of the host (and pick a free port for 443)
  pynet.libnetwork.pynet_endpoint:
    network: web
    name: web1
    sandbox: /run/pynet/netns/web1
    ports:
      - host_port: 8080
        container_port: 80
      - container_port: 443

- name: A container on the host network, in the host's own namespace (nothing in the kernel changes)
  pynet.libnetwork.pynet_endpoint:
    network: hostnet
    name: monitor
    sandbox: host

- name: Connect every container of the host in one task
  vars:
    containers:
      - {name: c1, sandbox: /run/pynet/netns/c1}
      - {name: c2, sandbox: /run/pynet/netns/c2, ip: 10.89.10.20}
  pynet.libnetwork.pynet_endpoint:
    network: web
    endpoints: "{{ containers }}"

- name: After a reboot, release the addresses of endpoints whose containers are gone
  pynet.libnetwork.pynet_endpoint:
    endpoints: []
    prune_stale: true

- name: Exactly these endpoints on network web, no others
  pynet.libnetwork.pynet_endpoint:
    network: web
    purge: true
    endpoints:
      - name: web1
        sandbox: /run/pynet/netns/web1
      - name: web2
        sandbox: /run/pynet/netns/web2
"""

RETURN = r"""
endpoints:
  description: One entry per declared endpoint (and per purged or pruned one), in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The endpoint's name.
      type: str
    network:
      description: Its network.
      type: str
    sandbox:
      description: Its sandbox key.
      type: str
    id:
      description: Its id (absent in check mode for an endpoint not yet made).
      type: str
    action:
      description: What the task did (or would do) to it.
      type: str
      sample: create
      choices: [create, recreate, repair, delete, none]
    changed:
      description: Whether this endpoint changed.
      type: bool
    ports:
      description: The published ports with the host ports they hold.
      type: list
      elements: dict
      sample: [{"protocol": "tcp", "host_ip": "", "host_port": 8080, "container_port": 80}]
    sandbox_info:
      description:
        - What the container sees, as libnetwork's SandboxInfo, and the paths of the files for its runtime, rendered
          from pynet's state under O(state_dir).
        - C(default_route) and C(default_route_ipv6) tell whether the sandbox's default route of that IP version goes
          through this endpoint's gateway (of a sandbox's endpoints, the one with the highest C(gw_priority), then
          the oldest).
        - C(resolv_conf) lists as nameservers the gateways of the sandbox's networks with DNS (else the host's
          resolvers that are not loopback ones); C(hosts) holds the sandbox's own names.
        - C(netns_resolv_conf) is C(/etc/netns/NAME/resolv.conf) for a sandbox at C(/run/netns/NAME), which
          C(ip netns exec) mounts over C(/etc/resolv.conf); null for other sandboxes.
        - They are removed with the sandbox.
        - An endpoint of a host network (in the sandbox V(host)) has no interface, gateway or default route, and
          these three paths are null (its container uses the host's own files).
      type: dict
      sample: {"interfaces": [{"src_name": "pnv5f1c9a0e6b2d", "dst_name": "eth0", "address": "10.89.10.2/24",
               "address_ipv6": null, "mac": "02:5f:1c:9a:0e:6b"}], "gateway": "10.89.10.1", "gateway_ipv6": null,
               "default_route": true, "default_route_ipv6": false,
               "resolv_conf": "/var/lib/pynet/sandboxes/3f2a9c1d0b4e5f67.resolv.conf",
               "hosts": "/var/lib/pynet/sandboxes/3f2a9c1d0b4e5f67.hosts", "netns_resolv_conf": null}
pruned_sandboxes:
  description: With O(prune_stale), the keys of the sandboxes forgotten because their namespace is gone.
  returned: when O(prune_stale) is true
  type: list
  elements: str
  sample: [/run/pynet/netns/old1]
endpoint:
  description: With O(name), the one endpoint (the first entry of RV(endpoints)).
  returned: when O(name) is given
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pynet.libnetwork.plugins.module_utils import module_support
from ansible_collections.pynet.libnetwork.plugins.module_utils.converge import endpoints

ITEM_OPTIONS = dict(
    name=dict(type="str", required=True),
    network=dict(type="str"),
    sandbox=dict(type="path"),
    state=dict(type="str", choices=["present", "absent"]),
    **module_support.endpoint_option_specs(item=True)
)


def main():
    module = AnsibleModule(
        argument_spec=module_support.argument_spec(
            name=dict(type="str"),
            network=dict(type="str"),
            sandbox=dict(type="path"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            endpoints=dict(type="list", elements="dict", options=ITEM_OPTIONS),
            purge=dict(type="bool", default=False),
            prune_stale=dict(type="bool", default=False),
            **module_support.endpoint_option_specs()
        ),
        mutually_exclusive=[("name", "endpoints")],
        required_one_of=[("name", "endpoints")],
        supports_check_mode=True,
    )
    module_support.run(module, lambda controller: endpoints.ensure_endpoint_params(
        controller, module.params, module.check_mode))


if __name__ == "__main__":
    main()
