"""DNS on the wire, for tests and benchmarks: queries built and answers read with the standard library
only (RFC 1035, AAAA from RFC 3596), a client over UDP and TCP from inside a namespace, and a stand-in
upstream resolver that answers every name with one fixed address and counts what it was asked.

Not pynet's code: pynet renders a real server's configuration; this only talks to it."""

from __future__ import annotations

import ipaddress
import random
import socket
import struct
import threading
import time

TYPES = {"A": 1, "PTR": 12, "AAAA": 28}
TYPE_NAMES = {number: name for name, number in TYPES.items()}
RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
_HEADER = struct.Struct("!HHHHHH")
_RR = struct.Struct("!HHIH")


def encode_name(name):
    labels = [label for label in name.rstrip(".").split(".") if label]
    return b"".join(bytes([len(label)]) + label.encode("ascii") for label in labels) + b"\0"


def query(name, rtype="A", ident=None):
    """The bytes of one query with recursion desired."""
    ident = random.getrandbits(16) if ident is None else ident
    return (_HEADER.pack(ident, 0x0100, 1, 0, 0, 0) + encode_name(name)
            + struct.pack("!HH", TYPES[rtype], 1))


def reverse_name(address):
    return ipaddress.ip_address(address).reverse_pointer


def _read_name(message, offset):
    """(name, offset after it), following compression pointers."""
    labels, end = [], None
    for _hop in range(128):  # a loop of pointers ends here
        length = message[offset]
        if length & 0xC0 == 0xC0:
            end = offset + 2 if end is None else end
            offset = ((length & 0x3F) << 8) | message[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), (offset + 1 if end is None else end)
        labels.append(message[offset + 1:offset + 1 + length].decode("ascii"))
        offset += 1 + length
    raise ValueError("a name with a loop of compression pointers")


class Answer:
    """What a server said: rcode name and the answer records (type name, value)."""

    def __init__(self, ident, rcode, records, authoritative):
        self.ident, self.rcode, self.records, self.authoritative = ident, rcode, records, authoritative

    def values(self, rtype):
        return sorted(value for kind, value in self.records if kind == rtype)

    def __repr__(self):
        return "Answer(%s, %s)" % (self.rcode, self.records)


def parse(message):
    ident, flags, questions, answers = _HEADER.unpack_from(message)[:4]
    offset = _HEADER.size
    for _question in range(questions):
        offset = _read_name(message, offset)[1] + 4
    records = []
    for _answer in range(answers):
        offset = _read_name(message, offset)[1]
        fields = _RR.unpack_from(message, offset)
        rtype, length = fields[0], fields[3]
        offset += _RR.size
        data = message[offset:offset + length]
        if rtype == TYPES["A"]:
            records.append(("A", str(ipaddress.IPv4Address(data))))
        elif rtype == TYPES["AAAA"]:
            records.append(("AAAA", str(ipaddress.IPv6Address(data))))
        elif rtype == TYPES["PTR"]:
            records.append(("PTR", _read_name(message, offset)[0]))
        offset += length
    return Answer(ident, RCODES.get(flags & 0xF, str(flags & 0xF)), records, bool(flags & 0x0400))


def _family(server):
    return socket.AF_INET6 if ipaddress.ip_address(server).version == 6 else socket.AF_INET


def ask(server, name, rtype="A", tcp=False, timeout=1.0, port=53):
    """One query to server:port from the caller's namespace; the Answer, or None on a timeout or an
    ICMP error (no server there)."""
    if rtype == "PTR" and not name.endswith(".arpa"):
        name = reverse_name(name)
    request = query(name, rtype)
    with socket.socket(_family(server), socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((server, port))
            if tcp:
                sock.sendall(struct.pack("!H", len(request)) + request)
                length = struct.unpack("!H", _recv_exactly(sock, 2))[0]
                return parse(_recv_exactly(sock, length))
            sock.send(request)
            while True:
                reply = sock.recv(4096)
                if reply[:2] == request[:2]:
                    return parse(reply)
        except OSError:
            return None


def _recv_exactly(sock, count):
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        data += chunk
    return data


class StandInResolver:
    """An upstream resolver on address:53 (UDP), in the caller's namespace when started: every A
    question is answered with `address_for_all`; `asked` lists the names it was asked, in order."""

    def __init__(self, address, address_for_all="192.0.2.53"):
        self.asked = []
        self._answer = ipaddress.IPv4Address(address_for_all).packed
        self._sock = socket.socket(_family(address), socket.SOCK_DGRAM)
        self._sock.bind((address, 53))
        self._sock.settimeout(0.1)
        self._running = True
        self._thread = threading.Thread(target=self._serve, name="pn-standin-resolver", daemon=True)
        self._thread.start()

    def _serve(self):
        while self._running:
            try:
                message, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            ident = _HEADER.unpack_from(message)[0]
            name, end = _read_name(message, _HEADER.size)
            rtype = struct.unpack_from("!H", message, end)[0]
            self.asked.append(name)
            question = message[_HEADER.size:end + 4]
            answer = b""
            if rtype == TYPES["A"]:
                answer = b"\xc0\x0c" + _RR.pack(TYPES["A"], 1, 0, 4) + self._answer
            self._sock.sendto(_HEADER.pack(ident, 0x8180, 1, 1 if answer else 0, 0, 0) + question + answer, peer)

    def close(self):
        self._running = False
        self._thread.join()
        self._sock.close()


def wait_for(check, seconds=0.5):
    """Seconds until check() held (polled without pause), or None when it did not within `seconds`
    (0.5: the issue's bound for a change of names to be answered)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
    return None
