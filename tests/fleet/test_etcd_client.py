"""The etcd client against Debian's etcd 3.4 on a test underlay: the v3 JSON gateway's key, txn and
lease calls, several endpoints with failover, TLS, token authentication, and one error type
(ClusterStoreError, param cluster_store) that names the endpoint for every way it can fail."""

import http.server
import socket
import threading
import time

import pytest

import rig
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import etcd
from ansible_collections.pynet.libnetwork.plugins.module_utils.errors import ClusterStoreError

CLOSED_PORT = "etcd://%s:2399" % rig.CONTROL_ADDRESS  # the control node, where nothing listens


def store_error(cluster_store, **options):
    """The ClusterStoreError that one read raises."""
    with pytest.raises(ClusterStoreError) as caught:
        with etcd.EtcdClient(cluster_store, **options) as client:
            client.get("/pynet/v1/x")
    assert caught.value.param == "cluster_store"
    return str(caught.value)


def test_keys_round_trip(client, etcd_cluster):
    revision = client.put("/pynet/test/a", "ä value")
    client.put("/pynet/test/b", "")  # proto3 leaves an empty value out of the JSON
    client.put("/pynet/tesu", "outside the prefix")
    got = client.get("/pynet/test/a")
    assert (got.key, got.value, got.create_revision, got.mod_revision, got.version) == (
        "/pynet/test/a", "ä value", revision, revision, 1)
    assert client.get("/pynet/test/b").value == ""
    assert client.get("/pynet/test/none") is None
    assert [kv.key for kv in client.get_prefix("/pynet/test/")] == ["/pynet/test/a", "/pynet/test/b"]
    assert [kv.value for kv in client.get_prefix("/pynet/test/", keys_only=True)] == ["", ""]
    assert client.delete("/pynet/test/", prefix=True) == 2
    assert client.delete("/pynet/test/a") == 0
    # What etcd itself holds, read with etcdctl rather than through the client.
    assert etcd_cluster.etcdctl("get", "--prefix", "/pynet/").split() == ["/pynet/tesu", "outside", "the", "prefix"]


def test_txn_compare_and_swap(client):
    create = ([etcd.compare_absent("/pynet/k")], [etcd.put_request("/pynet/k", "first")],
              [etcd.get_request("/pynet/k")])
    made = client.txn(*create)
    assert made.succeeded and made.responses == [None]
    again = client.txn(*create)  # the failed txn's JSON has no 'succeeded' at all
    assert not again.succeeded
    assert [kv.value for kv in again.responses[0]] == ["first"]
    current = client.get("/pynet/k")
    assert client.txn([etcd.compare_value("/pynet/k", "first"), etcd.compare_present("/pynet/k"),
                       etcd.compare_created("/pynet/k", current.create_revision),
                       etcd.compare_modified("/pynet/k", current.mod_revision)],
                      [etcd.delete_request("/pynet/k")]).responses == [1]
    assert not client.txn([etcd.compare_present("/pynet/k")], []).succeeded


def test_lease_expires_its_keys(client):
    lease = client.lease_grant(1)
    assert lease.ttl >= 1
    client.put("/pynet/leased", "", lease=lease.id)
    assert client.get("/pynet/leased").lease == lease.id
    assert client.lease_keepalive(lease.id) >= 1
    deadline = time.monotonic() + 10
    while client.get("/pynet/leased") is not None:
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.1)
    assert client.lease_keepalive(lease.id) == 0


def test_unreachable_endpoint_named(underlay, etcd_cluster):
    with underlay.entered():
        message = store_error(CLOSED_PORT)
    assert message == ("cluster_store: etcd at %s: connection refused: check that etcd listens on this address and "
                       "port (its --listen-client-urls)" % CLOSED_PORT)


def test_timeout_names_endpoint(underlay, etcd_cluster):
    with underlay.entered():
        silent = socket.create_server((rig.CONTROL_ADDRESS, 2398))  # accepts connections, never answers
        try:
            started = time.monotonic()
            message = store_error("etcd://%s:2398" % rig.CONTROL_ADDRESS, timeout=0.5)
            took = time.monotonic() - started
        finally:
            silent.close()
    assert "etcd://10.250.255.254:2398: no answer within 0.5 s" in message
    assert 0.5 <= took < 2


class NotEtcd(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.send_response(404)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<html>not here</html>")

    def log_message(self, *args):
        pass


def test_answers_that_are_not_etcds(underlay, etcd_cluster):
    with underlay.entered():
        web = http.server.HTTPServer((rig.CONTROL_ADDRESS, 2397), NotEtcd)
        garbage = socket.create_server((rig.CONTROL_ADDRESS, 2396))
    threading.Thread(target=web.serve_forever, daemon=True).start()

    def babble():
        connection, _peer = garbage.accept()
        connection.recv(65536)
        connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        connection.close()

    threading.Thread(target=babble, daemon=True).start()
    try:
        with underlay.entered():
            web_message = store_error("etcd://%s:2397" % rig.CONTROL_ADDRESS)
            garbage_message = store_error("etcd://%s:2396" % rig.CONTROL_ADDRESS)
    finally:
        web.shutdown()
        web.server_close()
        garbage.close()
    assert "etcd at etcd://10.250.255.254:2397: answered HTTP 404 with b'<html>not here</html>', not etcd's JSON" \
        in web_message
    assert "etcd at etcd://10.250.255.254:2396: answered something that is not HTTP" in garbage_message


def test_failover_to_the_next_endpoint(underlay, etcd_cluster):
    with underlay.entered():
        with etcd.EtcdClient([CLOSED_PORT, etcd_cluster.urls[0]]) as client:
            client.put("/pynet/failover", "done")
            assert client.get("/pynet/failover").value == "done"


def test_cluster_member_stopped_then_quorum_lost(underlay, tmp_path):
    cluster = rig.EtcdCluster(underlay, tmp_path / "three", size=3)
    try:
        cluster.start()
        with underlay.entered():
            with etcd.EtcdClient(cluster.cluster_store, timeout=2) as client:
                client.put("/pynet/ha", "1")  # on member 1, the first endpoint
                cluster.stop_member(1)
                assert client.get("/pynet/ha").value == "1"  # another member answers
                client.put("/pynet/ha", "2")
                cluster.stop_member(2)  # one of three left: no quorum, no answer
                with pytest.raises(ClusterStoreError) as caught:
                    client.get("/pynet/ha")
    finally:
        cluster.close()
    message = str(caught.value)
    assert message.startswith("cluster_store: no etcd endpoint could be used: ")
    for url in cluster.urls:
        assert url in message


def test_tls_with_client_certificates(underlay, tmp_path):
    pki = rig.Pki(tmp_path)
    cluster = rig.EtcdCluster(underlay, tmp_path, pki=pki, client_cert_auth=True)
    try:
        cluster.start()
        url = cluster.urls[0]
        with underlay.entered():
            with etcd.EtcdClient(url, **cluster.client_options()) as client:
                client.put("/pynet/tls", "yes")
                assert client.get("/pynet/tls").value == "yes"
            wrong_ca = store_error(url, ca_file=rig.Pki(tmp_path, "other").ca_file)
            no_client_cert = store_error(url, ca_file=pki.ca_file)
            plain_to_tls = store_error(url.replace("etcds://", "etcd://"))
    finally:
        cluster.close()
    assert "etcd at %s: TLS: certificate verify failed" % url in wrong_ca
    assert "check ca_file" in wrong_ca
    assert "etcd at %s: TLS: " % url in no_client_cert
    assert "cert_file and key_file" in no_client_cert
    assert "etcd at %s: closed the connection without an answer" % url.replace("etcds://", "etcd://") in plain_to_tls
    assert "etcds:// for TLS" in plain_to_tls


def test_tls_to_a_plain_endpoint(underlay, etcd_cluster, tmp_path):
    url = etcd_cluster.urls[0].replace("etcd://", "etcds://")
    with underlay.entered():
        message = store_error(url, ca_file=rig.Pki(tmp_path).ca_file)
    assert "etcd at %s: TLS: " % url in message
    assert "check that etcd serves TLS on this port (etcd:// if it does not)" in message


def test_token_authentication(underlay, tmp_path):
    # Tokens live 1 s here (etcd's default is 5 minutes): the client renews an expired one.
    cluster = rig.EtcdCluster(underlay, tmp_path, extra_args=["--auth-token-ttl", "1"])
    try:
        cluster.start()
        cluster.enable_auth("pynet", "s3cret")
        url = cluster.urls[0]
        with underlay.entered():
            with etcd.EtcdClient(url, username="pynet", password="s3cret") as client:
                client.put("/pynet/auth", "ok")
                time.sleep(2.5)
                assert client.get("/pynet/auth").value == "ok"
                with pytest.raises(ClusterStoreError) as denied:
                    client.put("/elsewhere", "no")
            wrong_password = store_error(url, username="pynet", password="wrong")
            no_credentials = store_error(url)
    finally:
        cluster.close()
    assert str(denied.value) == (
        "cluster_store: etcd at %s answered: etcdserver: permission denied; etcd's user pynet needs a role with "
        "readwrite permission on the keys under /pynet/" % url)
    assert wrong_password == ("cluster_store: etcd at %s answered: etcdserver: authentication failed, invalid user ID "
                              "or password; check username (pynet) and password" % url)
    assert no_credentials == ("cluster_store: etcd at %s answered: etcdserver: user name is empty; etcd's "
                              "authentication is on: set username and password" % url)


def test_etcd_restarted_then_back(underlay, etcd_cluster):
    with underlay.entered():
        with etcd.EtcdClient(etcd_cluster.cluster_store, timeout=2) as client:
            client.put("/pynet/restart", "before")
            etcd_cluster.stop_member(1)
            with pytest.raises(ClusterStoreError) as caught:
                client.get("/pynet/restart")
            etcd_cluster.start()
            assert client.get("/pynet/restart").value == "before"  # the same client, on a new connection
    assert str(caught.value).startswith("cluster_store: etcd at %s: connection refused" % etcd_cluster.urls[0])
