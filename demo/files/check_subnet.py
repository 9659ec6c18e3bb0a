# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which routes of this host overlap SUBNET, other than those on the demo's own bridge?

    python3 check_subnet.py SUBNET BRIDGE

Reads `ip -j route show table all` (changes nothing) and prints a JSON list of the routes
that overlap SUBNET, ignoring default routes and routes on BRIDGE.
"""

import ipaddress
import json
import subprocess
import sys


def main():
    subnet, bridge = ipaddress.ip_network(sys.argv[1]), sys.argv[2]
    family = "-4" if subnet.version == 4 else "-6"
    routes = json.loads(subprocess.run(["ip", "-j", family, "route", "show", "table", "all"],
                                       capture_output=True, text=True, check=True).stdout or "[]")
    clashes = []
    for route in routes:
        dst = route.get("dst", "default")
        if dst == "default" or route.get("dev") == bridge:
            continue
        try:
            network = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if network.prefixlen > 0 and network.overlaps(subnet):
            clashes.append("%s %s dev %s table %s" % (route.get("type", "unicast"), dst, route.get("dev", "-"),
                                                      route.get("table", "main")))
    print(json.dumps(clashes))


if __name__ == "__main__":
    main()
