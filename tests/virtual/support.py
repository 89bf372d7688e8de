"""Helpers for the virtual device tests: the three clients behind one interface, files."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.device import adb
from tests.support.polling import wait_for

DEBIAN_ADB = "/usr/bin/adb"
CLIENTS = ("adbutils", "bundled-cli", "debian-cli")


def bundled_adb() -> str:
    import adbutils

    return str(Path(adbutils.__file__).parent / "binaries" / "adb")


def wait_for_state(address: adb.AdbServerAddress, serial: str, wanted: str, timeout_s: float = 20.0) -> None:
    wait_for(lambda: adb.device_states(address).get(serial) == wanted, f"{serial} to become {wanted} on {address}",
             timeout_s=timeout_s)


@dataclass
class Shell:
    stdout: bytes
    stderr: bytes
    exit_code: int


class Client:
    """One way of driving a device: the same few operations through adbutils or an adb CLI."""

    def __init__(self, kind: str, address: adb.AdbServerAddress, serial: str, binary: str | None = None):
        self.kind = kind
        self.address = address
        self.serial = serial
        self.binary = binary

    def adb(self, *args: str, input: bytes | None = None, timeout_s: float = 120) -> subprocess.CompletedProcess:
        # Always -P: a CLI must never reach for the default server on 5037.
        return subprocess.run(
            [self.binary, "-P", str(self.address.port), "-s", self.serial, *args],
            input=input, capture_output=True, timeout=timeout_s,
        )

    def device_handle(self):
        return adb.client(self.address).device(self.serial)

    def shell(self, command: str) -> Shell:
        """Shell protocol v2: stdout, stderr and the exit code separately."""
        if self.kind == "adbutils":
            result = self.device_handle().shell2(command, encoding=None, v2=True)
            return Shell(result.stdout, result.stderr, result.returncode)
        done = self.adb("shell", command)
        return Shell(done.stdout, done.stderr, done.returncode)

    def shell_v1(self, command: str) -> bytes:
        """Shell protocol v1: one merged output stream, no exit code."""
        if self.kind == "adbutils":
            return self.device_handle().shell(command, encoding=None)
        done = self.adb("shell", "-x", command)  # -x: do not use the shell protocol
        return done.stdout

    def push(self, local: Path, remote: str) -> None:
        if self.kind == "adbutils":
            self.device_handle().sync.push(str(local), remote)
            return
        done = self.adb("push", str(local), remote)
        assert done.returncode == 0, done.stderr

    def pull(self, remote: str, local: Path) -> None:
        if self.kind == "adbutils":
            self.device_handle().sync.pull(remote, str(local))
            return
        done = self.adb("pull", remote, str(local))
        assert done.returncode == 0, done.stderr


def random_file(path: Path, size_bytes: int) -> Path:
    with open(path, "wb") as f:
        remaining = size_bytes
        while remaining:
            chunk = os.urandom(min(remaining, 1 << 20))
            f.write(chunk)
            remaining -= len(chunk)
    return path


def binary_manifest(package: str, utf8: bool = False) -> bytes:
    """A minimal AndroidManifest.xml in Android's binary XML: <manifest package="...">."""
    import struct

    strings = ["manifest", "package", package]
    encoded = []
    for text in strings:
        if utf8:
            raw = text.encode("utf-8")
            encoded.append(bytes([len(text), len(raw)]) + raw + b"\0")
        else:
            encoded.append(struct.pack("<H", len(text)) + text.encode("utf-16-le") + b"\0\0")
    offsets, position = [], 0
    for entry in encoded:
        offsets.append(position)
        position += len(entry)
    body = b"".join(encoded)
    body += b"\0" * (-len(body) % 4)
    header_size = 28
    strings_start = header_size + 4 * len(strings)
    pool = struct.pack("<HHIIIIII", 0x0001, header_size, strings_start + len(body), len(strings), 0,
                       0x100 if utf8 else 0, strings_start, 0)
    pool += struct.pack(f"<{len(strings)}I", *offsets) + body
    attribute = struct.pack("<IIIHBBI", 0xFFFFFFFF, 1, 2, 8, 0, 3, 2)
    element = struct.pack("<IIHHHHHH", 0xFFFFFFFF, 0, 20, 20, 1, 0, 0, 0) + attribute
    start = struct.pack("<HHIII", 0x0102, 16, 16 + len(element), 1, 0xFFFFFFFF) + element
    content = pool + start
    return struct.pack("<HHI", 0x0003, 8, 8 + len(content)) + content


def write_apk(path: Path, package: str) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as apk:
        apk.writestr("AndroidManifest.xml", binary_manifest(package))
        apk.writestr("classes.dex", b"dex\n035\0")
    return path
