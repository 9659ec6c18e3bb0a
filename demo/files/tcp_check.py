# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TCP between two sandboxes: a listener in one, a client in the other, each entered with nsenter.

    python3 tcp_check.py SERVER_NETNS SERVER_ADDRESS CLIENT_NETNS

The listener binds SERVER_ADDRESS (a free port) inside SERVER_NETNS only; the client connects
to it from inside CLIENT_NETNS. No traffic leaves those two network namespaces. Prints one
JSON object (what each side saw) and exits 0 when a message went each way.
"""

import json
import subprocess
import sys
import time

TIMEOUT = 10

SERVER = r"""
import json, socket, sys
address = sys.argv[1]
with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
    listener.bind((address, 0))
    listener.listen(1)
    listener.settimeout(%(timeout)d)
    print(listener.getsockname()[1], flush=True)
    conn, peer = listener.accept()
    with conn:
        conn.settimeout(%(timeout)d)
        request = conn.recv(200).decode()
        reply = "hello %%s, this is %%s" %% (peer[0], address)
        conn.sendall(reply.encode())
print(json.dumps({"listened_on": "%%s" %% address, "accepted_from": peer[0], "received": request}), flush=True)
""" % {"timeout": TIMEOUT}

CLIENT = r"""
import json, socket, sys
address, port = sys.argv[1], int(sys.argv[2])
with socket.create_connection((address, port), timeout=%(timeout)d) as conn:
    local = conn.getsockname()[0]
    conn.sendall(("hello %%s, this is %%s" %% (address, local)).encode())
    conn.shutdown(socket.SHUT_WR)
    reply = conn.recv(200).decode()
print(json.dumps({"connected_from": local, "connected_to": "%%s:%%d" %% (address, port), "received": reply}))
""" % {"timeout": TIMEOUT}


def in_netns(netns, script, *args):
    return ["nsenter", "--net=" + netns, sys.executable, "-c", script] + list(args)


def main():
    server_netns, server_address, client_netns = sys.argv[1:4]
    started = time.monotonic()
    server = subprocess.Popen(in_netns(server_netns, SERVER, server_address),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = server.stdout.readline().strip()
        if not port.isdigit():
            server.wait(TIMEOUT)
            sys.exit("the listener in %s did not start: %s" % (server_netns, server.stderr.read().strip()))
        client = subprocess.run(in_netns(client_netns, CLIENT, server_address, port),
                                capture_output=True, text=True, timeout=TIMEOUT * 2, check=False)
        if client.returncode != 0:
            sys.exit("the client in %s could not talk to %s:%s: %s"
                     % (client_netns, server_address, port, client.stderr.strip()))
        out, err = server.communicate(timeout=TIMEOUT * 2)
        if server.returncode != 0:
            sys.exit("the listener in %s failed: %s" % (server_netns, err.strip()))
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    result = {
        "server": dict(json.loads(out), netns=server_netns),
        "client": dict(json.loads(client.stdout), netns=client_netns),
        "milliseconds": round((time.monotonic() - started) * 1000),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
