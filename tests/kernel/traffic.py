"""Real traffic between namespaces: TCP with Python sockets opened inside each namespace."""

import socket

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import netns


def tcp_exchange(server_ns, server_ip, client_ns, port=5201, timeout=3.0):
    """Open a listener in server_ns, connect from client_ns, send both ways; return what each side got."""
    family = socket.AF_INET6 if ":" in server_ip else socket.AF_INET
    with netns.entered(server_ns):
        listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((server_ip, port))
        listener.listen(1)
        listener.settimeout(timeout)
        with netns.entered(client_ns):
            client = socket.socket(family, socket.SOCK_STREAM)
        with client:
            client.settimeout(timeout)
            client.connect((server_ip, port))
            conn, peer = listener.accept()
            with conn:
                conn.settimeout(timeout)
                client.sendall(b"ping from client")
                got_server = conn.recv(64)
                conn.sendall(b"pong from server")
                got_client = client.recv(64)
        return got_server, got_client, peer[0]
    finally:
        listener.close()


def tcp_reachable(server_ns, server_ip, client_ns, port=5202, timeout=1.0):
    try:
        tcp_exchange(server_ns, server_ip, client_ns, port=port, timeout=timeout)
    except OSError:
        return False
    return True
