"""D-Bus marshalling (kernel/dbus.py) against encodings worked out from the specification."""

from __future__ import annotations

import struct

from ansible_collections.pynet.libnetwork.plugins.module_utils.kernel import dbus


def marshal(signature, *values):
    writer = dbus._Writer()
    for kind, value in zip(dbus._split(signature), values):
        writer.write(kind, value)
    return bytes(writer.data)


def test_signatures_split_into_complete_types():
    assert dbus._split("sa{sv}") == ["s", "a{sv}"]
    assert dbus._split("(yyyyuua(yv))") == ["(yyyyuua(yv))"]
    assert dbus._split("aasu") == ["aas", "u"]


def test_strings_and_a_dict_of_variants_as_the_specification_lays_them_out():
    data = marshal("sa{sv}", "ab", {"t": ("s", "x")})
    assert data == (struct.pack("<I", 2) + b"ab\0" + b"\0"  # string, padded to 4 for the array's length
                    + struct.pack("<I", 18) + b"\0" * 4  # the array's length, padded to 8 for the dict entry
                    + struct.pack("<I", 1) + b"t\0" + b"\x01s\0" + b"\0" * 3 + struct.pack("<I", 1) + b"x\0")


def test_what_is_written_reads_back():
    values = ["pynet", {"target": ("s", "ACCEPT"), "forward": ("b", True)}, ["a", "bc"], 7]
    data = marshal("sa{sv}asu", *values)
    reader = dbus._Reader(data)
    assert [reader.read(kind) for kind in dbus._split("sa{sv}asu")] == [
        "pynet", {"target": "ACCEPT", "forward": True}, ["a", "bc"], 7]


def test_the_system_bus_path_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/tmp/pnt/bus")
    assert dbus.system_bus_path() == "/tmp/pnt/bus"
    monkeypatch.delenv("DBUS_SYSTEM_BUS_ADDRESS")
    assert dbus.system_bus_path() == "/run/dbus/system_bus_socket"
