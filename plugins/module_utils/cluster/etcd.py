# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A client of etcd's v3 API through its JSON gateway (etcd 3.4 and later), on Python's standard
library alone (http.client, ssl, json, base64).

http.client, ssl and urllib.parse are imported by the functions that talk to etcd, not here: they
cost 15-20 ms, which every process that imports the drivers (the CNI plugin, exec'd per container,
on a bridge network) would pay without a cluster store.

Why not gRPC or a client library: importing this module costs a few milliseconds, where grpcio and
protobuf cost a process (an Ansible task, a CNI plugin call) a large share of its start; and the
Python etcd v3 clients are unmaintained (python-etcd3's last release is 0.12.0 of March 2020).

`cluster_store` names one endpoint, `etcd://host[:port]` (plain HTTP) or `etcds://host[:port]`
(TLS; `ca_file`, and `cert_file` with `key_file` when etcd asks for a client certificate), or
several members of one etcd cluster: a list of such URLs or one string of them separated by commas,
all of one scheme. The port defaults to 2379. The client talks to one endpoint at a time and moves
on to the next when it cannot connect, gets no answer within `timeout` seconds, or the member says
it cannot serve (no leader, stopping); when none can be used, ClusterStoreError names each endpoint
and what went wrong there. `username`/`password` use etcd's token authentication; a token that
expired or came from another member is renewed once per request.

A request that timed out may still have been applied: writes above this layer are compare-and-swap
transactions that recognise their own earlier success. Keys and values are str (UTF-8); revisions
and lease ids are int (the gateway sends int64 as strings, and leaves out every field at its zero
value: a failed txn has no `succeeded`, an empty range no `kvs`). A client keeps one connection
open and is not thread-safe: use one per thread.
"""

from __future__ import annotations

import base64
import collections
import json
import socket

from ansible_collections.pynet.libnetwork.plugins.module_utils import errors
from ansible_collections.pynet.libnetwork.plugins.module_utils.errors import ClusterStoreError

DEFAULT_PORT = 2379
DEFAULT_TIMEOUT = 5.0
SCHEMES = {"etcd": False, "etcds": True}  # scheme: TLS
FORMS = "etcd://host[:port] or etcds://host[:port] (several: a list, or one string separated by commas)"

# gRPC status codes that etcd's gateway puts in its error answers.
_PERMISSION_DENIED = 7
_FAILED_PRECONDITION = 9  # to /v3/auth/authenticate: etcd's authentication is off
_UNAVAILABLE = 14  # no leader, leader changed, request timed out, member stopping: try another
_UNAUTHENTICATED = 16  # the token expired or was issued by another member


# Records as named tuples (typing.NamedTuple would cost an import of typing). Endpoint.url is as
# given, with the default port added; TxnResult.responses has one item per request of the branch
# that ran: [KeyValue] for a range, the number of keys deleted for a delete, None for a put.
Endpoint = collections.namedtuple("Endpoint", "url host port tls")
KeyValue = collections.namedtuple("KeyValue", "key value create_revision mod_revision version lease")
TxnResult = collections.namedtuple("TxnResult", "succeeded revision responses")
Lease = collections.namedtuple("Lease", "id ttl")


class _TryNext(Exception):
    """This endpoint cannot be used now (the reason is the message): try the next one."""


def parse_cluster_store(cluster_store):
    """The endpoints of `cluster_store`; InvalidParameterError before anything is sent."""
    if isinstance(cluster_store, str):
        items = cluster_store.split(",")
    elif isinstance(cluster_store, (list, tuple)) and cluster_store:
        items = list(cluster_store)
    else:
        raise errors.InvalidParameterError("cluster_store", "must be %s" % FORMS)
    endpoints = [_parse_url(item) for item in items]
    if len({endpoint.tls for endpoint in endpoints}) > 1:
        raise errors.InvalidParameterError("cluster_store", "mixes etcd:// and etcds://: the members of one etcd "
                                           "cluster are all reached with TLS (etcds://) or all without")
    return endpoints


def _parse_url(item):
    from urllib.parse import urlsplit  # pylint: disable=import-outside-toplevel  # see the module's docstring
    text = item.strip() if isinstance(item, str) else ""
    parts = urlsplit(text)
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        port = None
    if any((parts.scheme not in SCHEMES, not parts.hostname, port is None, parts.username is not None,
            parts.path not in ("", "/"), parts.query, parts.fragment)):
        raise errors.InvalidParameterError("cluster_store", "%r is not %s; username and password are options of "
                                           "their own, not part of the URL" % (item, FORMS))
    netloc = parts.netloc if parts.port else "%s:%d" % (parts.netloc, port)
    return Endpoint("%s://%s" % (parts.scheme, netloc), parts.hostname, port, SCHEMES[parts.scheme])


def _tls_context(tls, ca_file, cert_file, key_file):
    if not tls:
        for name, value in (("ca_file", ca_file), ("cert_file", cert_file), ("key_file", key_file)):
            if value:
                raise errors.InvalidParameterError(name, "is for etcds:// (TLS) endpoints; cluster_store uses etcd://")
        return None
    if bool(cert_file) != bool(key_file):
        raise errors.InvalidParameterError("key_file" if cert_file else "cert_file",
                                           "cert_file and key_file go together (a client certificate and its key)")
    import ssl  # pylint: disable=import-outside-toplevel  # see the module's docstring
    try:
        context = ssl.create_default_context(cafile=ca_file or None)  # None: the system's CAs
    except OSError as exc:
        raise errors.InvalidParameterError("ca_file", "cannot load CA certificates from %r: %s" % (ca_file, exc))
    if cert_file:
        try:
            context.load_cert_chain(cert_file, key_file)
        except OSError as exc:
            raise errors.InvalidParameterError("cert_file", "cannot load the client certificate %r with the key %r: "
                                               "%s" % (cert_file, key_file, exc))
    return context


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _text(field):
    return base64.b64decode(field).decode() if field else ""


def _prefix_end(prefix):
    """The smallest key after every key that starts with `prefix` (etcd's range_end for a prefix)."""
    raw = bytearray(prefix.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return "AA=="  # "\0": every key
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


def _key_value(kv):
    return KeyValue(_text(kv.get("key")), _text(kv.get("value")), int(kv.get("create_revision", 0)),
                    int(kv.get("mod_revision", 0)), int(kv.get("version", 0)), int(kv.get("lease", 0)))


def _range_request(key, prefix=False, keys_only=False, created_after=0):
    request = {"key": _b64(key)}
    if prefix:
        request["range_end"] = _prefix_end(key)
    if keys_only:
        request["keys_only"] = True
    if created_after:
        request["min_create_revision"] = str(created_after + 1)
    return request


# The parts of a transaction. Compares:

def compare_absent(key):
    """True when the key does not exist."""
    return {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}


def compare_present(key):
    """True when the key exists."""
    return {"key": _b64(key), "target": "CREATE", "result": "GREATER", "create_revision": "0"}


def compare_none_under(prefix):
    """True when no key starts with `prefix` (a compare over a range: etcd 3.3 and later)."""
    return {"key": _b64(prefix), "range_end": _prefix_end(prefix), "target": "CREATE", "result": "EQUAL",
            "create_revision": "0"}


def compare_unchanged_under(prefix, revision):
    """True when no key that starts with `prefix` was written after `revision`."""
    return {"key": _b64(prefix), "range_end": _prefix_end(prefix), "target": "MOD", "result": "LESS",
            "mod_revision": str(revision + 1)}


def compare_created(key, revision):
    """True when the key exists and was created at `revision` (it is still the same incarnation)."""
    return {"key": _b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": str(revision)}


def compare_modified(key, revision):
    """True when the key was last written at `revision`."""
    return {"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}


def compare_value(key, value):
    """True when the key exists with exactly this value."""
    return {"key": _b64(key), "target": "VALUE", "result": "EQUAL", "value": _b64(value)}


# Requests:

def put_request(key, value, lease=0):
    request = {"key": _b64(key), "value": _b64(value)}
    if lease:
        request["lease"] = str(lease)
    return {"request_put": request}


def delete_request(key, prefix=False):
    return {"request_delete_range": _range_request(key, prefix)}


def get_request(key, prefix=False, keys_only=False, created_after=0):
    """A range; `created_after` (a revision) leaves out the keys created at it or before."""
    return {"request_range": _range_request(key, prefix, keys_only, created_after)}


class EtcdClient:
    """etcd's v3 API over HTTP/1.1 and JSON; see the module's docstring."""

    def __init__(self, cluster_store, ca_file=None, cert_file=None, key_file=None, username=None, password=None,
                 timeout=DEFAULT_TIMEOUT):
        self.endpoints = parse_cluster_store(cluster_store)
        self._context = _tls_context(self.endpoints[0].tls, ca_file, cert_file, key_file)
        if bool(username) != bool(password):
            raise errors.InvalidParameterError("password" if username else "username",
                                               "username and password go together (etcd's token authentication)")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise errors.InvalidParameterError("timeout", "must be a number of seconds above 0, not %r" % (timeout,))
        self._credentials = {"name": username, "password": password} if username else None
        self._timeout = float(timeout)
        self._current = 0
        self._connection = None
        self._token = None  # "" once etcd said its authentication is off

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # Keys.

    def get(self, key):
        """The KeyValue of `key`, or None."""
        kvs = self._range(_range_request(key))
        return kvs[0] if kvs else None

    def get_prefix(self, prefix, keys_only=False):
        """Every KeyValue whose key starts with `prefix`, in key order (values empty if keys_only)."""
        return self._range(_range_request(prefix, prefix=True, keys_only=keys_only))

    def put(self, key, value, lease=0):
        """Write `key`; returns the store's revision after the write."""
        return int(self._call("/v3/kv/put", put_request(key, value, lease)["request_put"])["header"]["revision"])

    def delete(self, key, prefix=False):
        """Delete `key` (or every key under the prefix); returns how many were deleted."""
        return int(self._call("/v3/kv/deleterange", _range_request(key, prefix)).get("deleted", 0))

    def txn(self, compare, success, failure=()):
        """One transaction: if every compare holds, the success requests run, else the failure ones."""
        answer = self._call("/v3/kv/txn", {"compare": list(compare), "success": list(success),
                                           "failure": list(failure)})
        responses = []
        for response in answer.get("responses", []):
            if "response_range" in response:
                responses.append([_key_value(kv) for kv in response["response_range"].get("kvs", [])])
            elif "response_delete_range" in response:
                responses.append(int(response["response_delete_range"].get("deleted", 0)))
            else:
                responses.append(None)
        return TxnResult(bool(answer.get("succeeded", False)), int(answer["header"]["revision"]), responses)

    # Leases.

    def lease_grant(self, ttl):
        """A new lease of `ttl` seconds (etcd may raise it to its minimum)."""
        answer = self._call("/v3/lease/grant", {"TTL": str(int(ttl))})
        return Lease(int(answer["ID"]), int(answer["TTL"]))

    def lease_keepalive(self, lease_id):
        """Renew the lease; returns its TTL, 0 when it has expired or never existed."""
        answer = self._call("/v3/lease/keepalive", {"ID": str(lease_id)}, stream=True)
        return int(answer.get("TTL", 0))

    # The wire.

    def _range(self, request):
        return [_key_value(kv) for kv in self._call("/v3/kv/range", request).get("kvs", [])]

    def _call(self, path, body, stream=False):
        """POST `body` to the current endpoint, moving on to the next ones while it cannot be used."""
        failures = []
        for _endpoint in self.endpoints:
            endpoint = self.endpoints[self._current]
            try:
                return self._call_endpoint(endpoint, path, body, stream)
            except _TryNext as exc:
                failures.append("%s: %s" % (endpoint.url, exc))
                self.close()
                self._token = None  # etcd's simple tokens are known only to the member that issued them
                self._current = (self._current + 1) % len(self.endpoints)
        if len(failures) == 1:
            raise ClusterStoreError("etcd at " + failures[0])
        raise ClusterStoreError("no etcd endpoint could be used: " + "; ".join(failures))

    def _call_endpoint(self, endpoint, path, body, stream):
        if self._credentials and self._token is None:
            self._authenticate(endpoint)
        status, answer = self._post(endpoint, path, body, stream)
        if status != 200 and answer.get("code") == _UNAUTHENTICATED and self._credentials:
            self._authenticate(endpoint)  # the token expired (etcd's --auth-token-ttl): once more with a new one
            status, answer = self._post(endpoint, path, body, stream)
        if status != 200:
            self._refuse(endpoint, status, answer)
        if stream:  # a streaming call answers {"result": ...} per message; one message was sent
            answer = answer.get("result")
        if not isinstance(answer, dict) or "header" not in answer:
            raise _TryNext("answered HTTP %d without etcd's response header: check that this is etcd's client URL"
                           % status)
        return answer

    def _authenticate(self, endpoint):
        self._token = None  # etcd refuses to authenticate a request that carries an expired token
        status, answer = self._post(endpoint, "/v3/auth/authenticate", self._credentials, False)
        if status == 200 and answer.get("token"):
            self._token = answer["token"]
        elif answer.get("code") == _FAILED_PRECONDITION:
            self._token = ""  # etcd's authentication is off: requests go without a token
        else:
            self._refuse(endpoint, status, answer)

    def _refuse(self, endpoint, status, answer):
        """Raise for an answer other than 200: _TryNext where another member may do, else ClusterStoreError."""
        code, message = answer.get("code"), answer.get("message") or answer.get("error")
        if code is None or not isinstance(message, str):
            raise _TryNext("answered HTTP %d, which is not an answer of etcd's v3 gateway: check that this is "
                           "etcd's client URL (etcd 3.4 or later)" % status)
        if code == _UNAVAILABLE:
            raise _TryNext("%s (the member cannot serve now: check etcd's health and its quorum)" % message)
        user = self._credentials["name"] if self._credentials else None
        if "user name is empty" in message:
            hint = "etcd's authentication is on: set username and password"
        elif code in (_UNAUTHENTICATED, _FAILED_PRECONDITION) or "authentication failed" in message:
            hint = "check username (%s) and password" % user
        elif code == _PERMISSION_DENIED:
            hint = "etcd's user %s needs a role with readwrite permission on the keys under /pynet/" % user
        else:
            hint = "etcd refused the request"
        raise ClusterStoreError("etcd at %s answered: %s; %s" % (endpoint.url, message, hint))

    def _post(self, endpoint, path, body, stream):
        """(HTTP status, decoded JSON answer) of one POST; _TryNext when the endpoint cannot be used."""
        import http.client  # pylint: disable=import-outside-toplevel  # see the module's docstring
        import ssl  # pylint: disable=import-outside-toplevel
        payload = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = self._token
        for reused in (self._connection is not None, False):
            try:
                connection = self._connect(endpoint)
                connection.request("POST", path, payload, headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if reused and not isinstance(exc, (TimeoutError, ssl.SSLError)):
                    continue  # etcd closed the idle connection: once more on a new one
                raise _TryNext(self._explain(endpoint, exc)) from None
        if stream:
            data = data.split(b"\n", 1)[0]
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise _TryNext("answered HTTP %d with %r, not etcd's JSON: check that this is etcd's client URL and its "
                           "scheme (etcds:// for TLS)" % (response.status, data[:60]))
        return response.status, answer

    def _connect(self, endpoint):
        import http.client  # pylint: disable=import-outside-toplevel  # see the module's docstring
        if self._connection is None:
            if endpoint.tls:
                self._connection = http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=self._timeout,
                                                               context=self._context)
            else:
                self._connection = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=self._timeout)
        return self._connection

    def _explain(self, endpoint, exc):
        import http.client  # pylint: disable=import-outside-toplevel  # see the module's docstring
        import ssl  # pylint: disable=import-outside-toplevel
        if isinstance(exc, TimeoutError):
            return ("no answer within %g s: check the address, that etcd runs there, and the network in between"
                    % self._timeout)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return ("TLS: certificate verify failed (%s): check ca_file (the CA that signed etcd's certificate) and "
                    "that etcd's certificate names %s" % (exc.verify_message, endpoint.host))
        if isinstance(exc, ssl.SSLError):
            return ("TLS: %s: check that etcd serves TLS on this port (etcd:// if it does not), and cert_file and "
                    "key_file if etcd asks for a client certificate" % (exc.reason or exc))
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused: check that etcd listens on this address and port (its --listen-client-urls)"
        if isinstance(exc, ConnectionError) and endpoint.tls:
            # A plain HTTP server answers a TLS hello with an error and closes: the client sees that, or a reset.
            return ("TLS: the connection was closed during the exchange: check that etcd serves TLS on this port "
                    "(etcd:// if it does not), and cert_file and key_file if etcd asks for a client certificate")
        if isinstance(exc, ConnectionError):  # reset, aborted, broken pipe; RemoteDisconnected is one too
            return ("closed the connection without an answer: check that this is etcd's client URL, its scheme "
                    "(etcds:// for TLS) and that etcd runs")
        if isinstance(exc, http.client.HTTPException):
            return ("answered something that is not HTTP (%r): check that this is etcd's client URL, and its scheme "
                    "(etcds:// for TLS)" % exc)
        if isinstance(exc, socket.gaierror):
            return "cannot resolve %s: %s" % (endpoint.host, exc.strerror)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else repr(exc)
        return "%s: check the address and that etcd runs there" % reason
