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


def tcp_connect_from(client_ns, server_ns, listen_ip, connect_ip, connect_port, listen_port, timeout=3.0):
    """Connect from client_ns (None: the caller's namespace) to connect_ip:connect_port while a listener
    in server_ns waits on listen_ip:listen_port (they differ across a DNAT); return the peer address the
    server saw, or None when the connection did not get through."""
    family = socket.AF_INET6 if ":" in listen_ip else socket.AF_INET
    with _maybe_entered(server_ns):
        listener = socket.socket(family, socket.SOCK_STREAM)
    with listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((listen_ip, listen_port))
        listener.listen(1)
        listener.settimeout(timeout)
        with _maybe_entered(client_ns):
            client = socket.socket(socket.AF_INET6 if ":" in connect_ip else socket.AF_INET, socket.SOCK_STREAM)
        with client:
            client.settimeout(timeout)
            try:
                client.connect((connect_ip, connect_port))
                conn, peer = listener.accept()
            except OSError:
                return None
            with conn:
                client.sendall(b"hello")
                return peer[0] if conn.recv(16) == b"hello" else None


def udp_roundtrip(client_ns, server_ns, listen_ip, connect_ip, connect_port, listen_port, timeout=3.0):
    """Send a datagram to connect_ip:connect_port, echoed by a socket in server_ns; True when the echo returns."""
    family = socket.AF_INET6 if ":" in listen_ip else socket.AF_INET
    with _maybe_entered(server_ns):
        server = socket.socket(family, socket.SOCK_DGRAM)
    with server:
        server.bind((listen_ip, listen_port))
        server.settimeout(timeout)
        with _maybe_entered(client_ns):
            client = socket.socket(family, socket.SOCK_DGRAM)
        with client:
            client.settimeout(timeout)
            client.sendto(b"ping", (connect_ip, connect_port))
            try:
                data, peer = server.recvfrom(16)
                server.sendto(data, peer)
                return client.recvfrom(16)[0] == b"ping"
            except OSError:
                return False


def _maybe_entered(path):
    import contextlib
    return netns.entered(path) if path else contextlib.nullcontext()
