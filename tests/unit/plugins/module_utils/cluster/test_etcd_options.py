"""The etcd client's options, checked before anything is sent: cluster_store's forms, TLS files,
credentials, timeout. What it does with etcd is tested against a real etcd in tests/fleet."""

from __future__ import annotations

import pytest

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.cluster import etcd


@pytest.mark.parametrize("value, urls", [
    ("etcd://10.250.0.1:2379", ["etcd://10.250.0.1:2379"]),
    ("etcd://10.250.0.1", ["etcd://10.250.0.1:2379"]),
    ("etcds://a.example:1, etcds://[fd00::1]:2379", ["etcds://a.example:1", "etcds://[fd00::1]:2379"]),
    (["etcd://h1", "etcd://h2:2381"], ["etcd://h1:2379", "etcd://h2:2381"]),
])
def test_cluster_store_forms(value, urls):
    endpoints = etcd.parse_cluster_store(value)
    assert [endpoint.url for endpoint in endpoints] == urls
    assert endpoints[-1].port == int(urls[-1].rsplit(":", 1)[1])


@pytest.mark.parametrize("value", [
    "", "10.250.0.1:2379", "http://10.250.0.1:2379", "etcd://", "etcd://h:notaport", "etcd://h:2379/v3",
    "etcd://user:pw@h:2379", "etcd://h1,", [], ["etcd://h1", 7], 7, None,
])
def test_cluster_store_refused(value):
    with pytest.raises(errors.InvalidParameterError) as raised:
        etcd.parse_cluster_store(value)
    assert raised.value.param == "cluster_store"
    assert "etcd://host[:port] or etcds://host[:port]" in str(raised.value)


def test_one_scheme_per_cluster():
    with pytest.raises(errors.InvalidParameterError, match="mixes etcd:// and etcds://"):
        etcd.parse_cluster_store("etcd://h1,etcds://h2")


@pytest.mark.parametrize("options, param", [
    ({"ca_file": "/ca.pem"}, "ca_file"),  # TLS files with etcd://
    ({"username": "u"}, "password"),
    ({"password": "p"}, "username"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": "5"}, "timeout"),
])
def test_client_options_refused_before_anything_is_sent(options, param):
    with pytest.raises(errors.InvalidParameterError) as raised:
        etcd.EtcdClient("etcd://10.250.0.1", **options)
    assert raised.value.param == param


def test_tls_files_checked_when_the_client_is_made(tmp_path):
    with pytest.raises(errors.InvalidParameterError) as raised:
        etcd.EtcdClient("etcds://10.250.0.1", ca_file=str(tmp_path / "missing.pem"))
    assert raised.value.param == "ca_file"
    with pytest.raises(errors.InvalidParameterError) as raised:
        etcd.EtcdClient("etcds://10.250.0.1", cert_file=str(tmp_path / "c.pem"))
    assert raised.value.param == "key_file"
