# Copyright (c) pynet developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Method calls on the D-Bus system bus, over its socket, with the standard library only.

What pynet asks of services that are reached only through D-Bus (firewalld): a connection
(SASL EXTERNAL as the caller's uid), then method calls with their arguments marshalled as the
D-Bus specification says (little-endian); signals the bus sends meanwhile are skipped. Nothing is
given to a command line. Refusals are OSError: a missing bus is ENOENT as its socket says, an error
reply is Error, with the D-Bus error name.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

SYSTEM_BUS = "/run/dbus/system_bus_socket"
TIMEOUT = 60  # seconds for a reply (TimeoutError after): firewalld's reload takes seconds on a busy host
BUS_NAME = "org.freedesktop.DBus"
METHOD_CALL, METHOD_RETURN, ERROR = 1, 2, 3
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SIGNATURE = 1, 2, 3, 4, 5, 6, 8
_FIXED = {"y": ("B", 1), "b": ("I", 4), "n": ("h", 2), "q": ("H", 2), "i": ("i", 4), "u": ("I", 4),
          "x": ("q", 8), "t": ("Q", 8), "d": ("d", 8)}
_ALIGN = dict({code: size for code, (_fmt, size) in _FIXED.items()}, s=4, o=4, g=1, v=1, a=4)


class Error(OSError):
    """An error reply: `name` is its D-Bus error name (org.freedesktop.DBus.Error.ServiceUnknown, ...)."""

    def __init__(self, name: str, message: str):
        super().__init__(errno.EIO, "%s: %s" % (name, message))
        self.name = name
        self.message = message


def system_bus_path() -> str:
    """The system bus's socket: DBUS_SYSTEM_BUS_ADDRESS's unix:path= when it names one, else the usual."""
    address = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "")
    for part in address.split(";")[0].partition(":")[2].split(","):
        key, _sep, value = part.partition("=")
        if address.startswith("unix:") and key == "path":
            return value
    return SYSTEM_BUS


def _split(signature: str) -> list[str]:
    """The complete types of a signature: 'sa{sv}' -> ['s', 'a{sv}']."""
    types, index = [], 0
    while index < len(signature):
        end = _type_end(signature, index)
        types.append(signature[index:end])
        index = end
    return types


def _type_end(signature: str, index: int) -> int:
    code = signature[index]
    if code == "a":
        return _type_end(signature, index + 1)
    if code in "({":
        depth, end = 0, index
        while True:
            depth += signature[end] in "({"
            depth -= signature[end] in ")}"
            end += 1
            if depth == 0:
                return end
    return index + 1


def _alignment(kind: str) -> int:
    return 8 if kind[0] in "({" else _ALIGN[kind[0]]


class _Writer:
    def __init__(self):
        self.data = bytearray()

    def pad(self, alignment: int) -> None:
        self.data.extend(b"\0" * (-len(self.data) % alignment))

    def write(self, kind: str, value: object) -> None:
        self.pad(_alignment(kind))
        code = kind[0]
        if code in _FIXED:
            self.data.extend(struct.pack("<" + _FIXED[code][0], value))
        elif code in "so":
            raw = value.encode()
            self.data.extend(struct.pack("<I", len(raw)) + raw + b"\0")
        elif code == "g":
            raw = value.encode()
            self.data.extend(struct.pack("<B", len(raw)) + raw + b"\0")
        elif code == "v":  # value: (signature, value)
            self.write("g", value[0])
            self.write(value[0], value[1])
        elif code == "a":
            element = kind[1:]
            at = len(self.data)
            self.data.extend(b"\0\0\0\0")
            self.pad(_alignment(element))
            start = len(self.data)
            items = value.items() if element[0] == "{" else value
            for item in items:
                self.write(element, item)
            struct.pack_into("<I", self.data, at, len(self.data) - start)
        else:  # a struct or a dict entry: a tuple of values
            for member, item in zip(_split(kind[1:-1]), value):
                self.write(member, item)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.offset = 0

    def read(self, kind: str) -> object:
        self.offset += -self.offset % _alignment(kind)
        code = kind[0]
        if code in _FIXED:
            fmt, size = _FIXED[code]
            value = struct.unpack_from("<" + fmt, self.data, self.offset)[0]
            self.offset += size
            return bool(value) if code == "b" else value
        if code in "sog":
            length = self.read("y" if code == "g" else "u")
            value = self.data[self.offset:self.offset + length].decode()
            self.offset += length + 1
            return value
        if code == "v":
            return self.read(self.read("g"))
        if code == "a":
            length = self.read("u")
            self.offset += -self.offset % _alignment(kind[1:])
            end = self.offset + length
            items = []
            while self.offset < end:
                items.append(self.read(kind[1:]))
            return dict(items) if kind[1] == "{" else items
        return tuple(self.read(member) for member in _split(kind[1:-1]))


class Connection:
    """A connection to the system bus, authenticated and named (Hello); a context manager."""

    def __init__(self, path: str | None = None):
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._socket.settimeout(TIMEOUT)
        self._serial = 0
        self._buffer = b""
        try:
            self._socket.connect(path or system_bus_path())
            self._socket.sendall(b"\0AUTH EXTERNAL %s\r\n" % str(os.getuid()).encode().hex().encode())
            if not self._line().startswith(b"OK "):
                raise OSError(errno.EACCES, "the D-Bus system bus refused pynet's authentication")
            self._socket.sendall(b"BEGIN\r\n")
            self.call(BUS_NAME, "/org/freedesktop/DBus", BUS_NAME, "Hello")
        except BaseException:
            self._socket.close()
            raise

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    def _line(self) -> bytes:
        while b"\r\n" not in self._buffer:
            self._receive()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _receive(self) -> None:
        chunk = self._socket.recv(65536)
        if not chunk:
            raise OSError(errno.ECONNRESET, "the D-Bus system bus closed the connection")
        self._buffer += chunk

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._receive()
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def call(self, destination: str, path: str, interface: str, member: str, signature: str = "",
             *args: object) -> list:
        """Call a method and return its reply's values (a list); an error reply raises Error."""
        self._serial += 1
        body = _Writer()
        for kind, value in zip(_split(signature), args):
            body.write(kind, value)
        fields = [(PATH, ("o", path)), (INTERFACE, ("s", interface)), (MEMBER, ("s", member)),
                  (DESTINATION, ("s", destination))]
        if signature:
            fields.append((SIGNATURE, ("g", signature)))
        header = _Writer()
        header.write("(yyyyuua(yv))", (ord("l"), METHOD_CALL, 0, 1, len(body.data), self._serial, fields))
        header.pad(8)
        self._socket.sendall(bytes(header.data + body.data))
        while True:
            kind, fields, reply = self._message()
            if fields.get(REPLY_SERIAL) != self._serial:
                continue  # a signal, or a reply to another call
            values = _Reader(reply)
            values = [values.read(each) for each in _split(fields.get(SIGNATURE, ""))]
            if kind == ERROR:
                raise Error(fields.get(ERROR_NAME, ""), values[0] if values else "")
            return values

    def _message(self) -> tuple[int, dict, bytes]:
        fixed = self._exactly(16)
        if fixed[:1] != b"l":
            raise OSError(errno.EPROTO, "the D-Bus system bus sent a big-endian message")
        body_length, fields_length = struct.unpack_from("<I", fixed, 4)[0], struct.unpack_from("<I", fixed, 12)[0]
        rest = self._exactly(fields_length + (-(16 + fields_length) % 8) + body_length)
        fields = dict(_Reader(fixed + rest).read("(yyyyuua(yv))")[6])
        return fixed[1], fields, rest[len(rest) - body_length:]
