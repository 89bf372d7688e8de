"""One connected Android device, reached through an adb server: shell, push, pull, properties.

Every command sent to the device shell is built here from an argv list with POSIX quoting, so a
file name with spaces, quotes, `;`, `$(...)`, backticks or newlines is passed as data and never
evaluated by the device's shell (mksh on Android).
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import shlex
import stat
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from harness.device.adb import AdbServerAddress, client, device_states, translated_errors
from harness.digests import sha256_file
from harness.errors import DeviceError

SHELL_TIMEOUT_S = 60.0
# adb's sync protocol carries at most 64 KiB per DATA packet.
SYNC_DATA_MAX_BYTES = 64 * 1024
# Output of `getprop` with no argument: "[ro.product.model]: [Pixel 8]", one per line; a value
# holding newlines goes on over the next lines up to the one that ends with "]".
_GETPROP_START = re.compile(r"^\[(?P<name>[^\]]+)\]: \[(?P<value>.*)$")
# Old adbd (no shell_v2: Android 6 and older, some vendor builds) gives one stream and no exit
# status, and runs `shell:` under a pty that turns every LF into CRLF. The script then prints its
# status after this marker, as adbutils and adb itself do for such devices.
_V1_EXIT_MARKER = b"squeezebench-exit-status:"
# Beside every file push_if_changed pushes: "SHA256 SIZE MTIME", the content's digest and the
# size and mtime the device reported for the file after the push. One `cat` and one sync STAT
# then tell that the file is still the one pushed, where hashing it on the device takes
# 100-200 ms for 14 MB (virtual device) and more on a phone's slow storage. A file removed or
# truncated since has another size or no STAT at all; one rewritten since has the device's
# clock as its mtime, not the local file's that the push gave it (as `adb push` does): it is
# pushed again.
DIGEST_NOTE_SUFFIX = ".sha256"
_DIGEST_NOTE = re.compile(r"(?P<sha256>[0-9a-f]{64}) (?P<size>\d+) (?P<mtime>\d+)")
# `stat -c '%f %s %Y'`: the mode in hex, the size and the mtime, as adb's sync STAT has them.
_TOYBOX_STAT = re.compile(r"(?P<mode>[0-9a-f]+) (?P<size>\d+) (?P<mtime>\d+)")
_HELD_SECTION = "--squeezebench-held--"


@dataclass(frozen=True)
class RemoteStat:
    """What adb's sync STAT says about a device path: a missing path has mode 0."""

    mode: int
    size_bytes: int
    mtime_s: int

    @property
    def exists(self) -> bool:
        return self.mode != 0


@dataclass(frozen=True)
class HeldFile:
    """A device file as push_if_changed finds it: its digest note (sha256, size, mtime) if any."""

    note: tuple[str, int, int] | None
    stat: RemoteStat


@dataclass(frozen=True)
class RawShellResult:
    """A shell command's output as the device sent it. Without shell_v2, `stdout` holds stdout
    and stderr merged, with the pty's CRLF line endings if the device's adbd used one."""

    command: str
    exit_code: int
    stdout: bytes
    stderr: bytes
    shell_v2: bool


@dataclass(frozen=True)
class ShellResult:
    command: str
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class SyncRefused(Exception):
    """The device answered a file transfer with FAIL; the message is the device's."""


def _pull_tree(connection, remote: str, local: Path) -> int:
    local.mkdir(parents=True, exist_ok=True)
    size_bytes = 0
    for name, mode in _sync_list(connection, remote):
        if stat.S_ISDIR(mode):
            size_bytes += _pull_tree(connection, f"{remote}/{name}", local / name)
        elif stat.S_ISREG(mode):
            with open(local / name, "wb") as target:
                size_bytes += _sync_recv(connection, f"{remote}/{name}", target)
    return size_bytes


def _sync_request(connection, request_id: bytes, path: str) -> None:
    encoded = path.encode("utf-8", "surrogateescape")  # a listed name that was not UTF-8 goes back as it came
    connection.conn.sendall(request_id + struct.pack("<I", len(encoded)) + encoded)


def _sync_list(connection, remote: str) -> list[tuple[str, int]]:
    """(name, mode) of a directory's entries, without . and .. (sync LIST, v1)."""
    _sync_request(connection, b"LIST", remote)
    entries = []
    while True:
        entry_id, mode, _size, _mtime, name_length = struct.unpack("<4sIIII", connection.read_exact(20))
        if entry_id == b"DONE":
            return entries
        if entry_id != b"DENT":
            raise SyncRefused(f"listing {remote}: unexpected sync answer {entry_id!r}")
        name = connection.read_exact(name_length).decode("utf-8", "surrogateescape")
        if name not in (".", ".."):
            entries.append((name, mode))


def _sync_recv(connection, remote: str, target: BinaryIO) -> int:
    _sync_request(connection, b"RECV", remote)
    size_bytes = 0
    while True:
        message_id, length = struct.unpack("<4sI", connection.read_exact(8))
        if message_id == b"DONE":
            return size_bytes
        if message_id == b"FAIL":
            raise SyncRefused(f"{remote}: {connection.read_exact(length).decode('utf-8', 'replace')}")
        if message_id != b"DATA":
            raise SyncRefused(f"{remote}: unexpected sync answer {message_id!r}")
        target.write(connection.read_exact(length))
        size_bytes += length


def quote_command(argv: Sequence[str]) -> str:
    """A `/system/bin/sh -c` command line that runs exactly `argv`, whatever the arguments hold."""
    if not argv:
        raise ValueError("empty command")
    return " ".join(shlex.quote(str(arg)) for arg in argv)


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop`'s listing as name -> value. Takes it as real phones give it: CRLF or CR CR LF
    line ends (old adbd's pty, Windows), values over several lines, lines that are no property
    (a shell prompt pasted with it) skipped."""
    props: dict[str, str] = {}
    name, value_lines = None, []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.rstrip("\r")
        match = _GETPROP_START.match(line)
        if match:
            name, value_lines = match["name"], [match["value"]]
        elif name is not None:
            value_lines.append(line)
        else:
            continue
        if value_lines[-1].endswith("]"):
            props[name] = "\n".join(value_lines)[:-1]
            name = None
    return props


def v1_shell_script(script: str) -> str:
    """`script` for a shell without exit status: in a subshell (so that its own `exit` still
    reports), then its status after the marker."""
    return f'({script}\n); echo "{_V1_EXIT_MARKER.decode()}$?"'


def split_v1_exit_status(output: bytes) -> tuple[int, bytes] | None:
    """(exit status, the script's own output) from v1_shell_script's output, None when the
    marker is missing (the shell ended before printing it)."""
    index = output.rfind(_V1_EXIT_MARKER)
    if index < 0:
        return None
    status_text = output[index + len(_V1_EXIT_MARKER):].strip()
    if not status_text.isdigit():
        return None
    return int(status_text), output[:index]


def undo_pty_newlines(output: bytes) -> bytes:
    """A pty writes LF as CRLF (and CRLF as CR CRLF): this is the exact inverse."""
    return output.replace(b"\r\n", b"\n")


def check_device_path(path: str) -> str:
    """Device paths the harness writes are absolute and never climb out with `..`."""
    normalized = posixpath.normpath(path)
    if not posixpath.isabs(path) or normalized != path.rstrip("/") or "\0" in path:
        raise ValueError(f"unsafe device path {path!r}")
    return normalized


def held_files_script(remotes: Sequence[str]) -> str:
    """The shell of Device.held_files. It names the paths relative to their common directory, so
    that a `pkill -f` of the tools by their full paths (harness/bench/agent.py) may run meanwhile."""
    base = posixpath.commonpath([posixpath.dirname(check_device_path(remote)) for remote in remotes])
    lines = [f"cd {shlex.quote(base)} || exit 0"]
    for remote in remotes:
        relative = shlex.quote(posixpath.relpath(remote, base))
        lines.append(f"cat {relative}{DIGEST_NOTE_SUFFIX} 2>/dev/null; echo; echo {_HELD_SECTION}; "
                     f"stat -c '%f %s %Y' {relative} 2>/dev/null; echo {_HELD_SECTION}")
    return "; ".join(lines)


class Device:
    """A device known to an adb server, addressed by serial."""

    def __init__(self, server: AdbServerAddress, serial: str):
        self.server = server
        self.serial = serial
        self._adb_device = client(server).device(serial)
        self._shell_v2: bool | None = None

    def __repr__(self) -> str:
        return f"Device({self.serial!r} via {self.server})"

    def _translated_errors(self, action: str):
        return translated_errors(action, self.server, self.serial, self.is_reachable)

    def is_reachable(self) -> bool:
        """The adb server answers and lists this device as ready."""
        try:
            return device_states(self.server).get(self.serial) == "device"
        except DeviceError:
            return False

    def shell(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = SHELL_TIMEOUT_S,
        check: bool = True,
    ) -> ShellResult:
        """Run argv on the device (shell v2 when the device has it: separate stderr, exit code)."""
        command = quote_command(argv)
        return self.shell_script(command, timeout_s=timeout_s, check=check)

    @property
    def has_shell_v2(self) -> bool:
        """Whether the device's adbd offers the shell protocol (asked once: the adb server's
        `host-serial:SERIAL:features`)."""
        if self._shell_v2 is None:
            with self._translated_errors("features"):
                self._shell_v2 = "shell_v2" in self._adb_device.get_features().split(",")
        return self._shell_v2

    def shell_script_raw(self, script: str, *, timeout_s: float = SHELL_TIMEOUT_S) -> RawShellResult:
        """Run a script and keep its output as the device sent it (shell v2 when offered, else
        the v1 shell with its status after a marker)."""
        with self._translated_errors(f"shell {script[:80]!r}"):
            if self.has_shell_v2:
                raw = self._adb_device.shell2(script, timeout=timeout_s, encoding=None, v2=True)
                return RawShellResult(script, raw.returncode, raw.stdout, raw.stderr, shell_v2=True)
            output = self._adb_device.shell(v1_shell_script(script), timeout=timeout_s, encoding=None, rstrip=False)
            split = split_v1_exit_status(output)
            if split is None:
                # The stream ended before the status line: the device or its shell went away.
                raise EOFError("the shell's output ended before its exit status")
        return RawShellResult(script, split[0], split[1], b"", shell_v2=False)

    def shell_script(self, script: str, *, timeout_s: float = SHELL_TIMEOUT_S, check: bool = True) -> ShellResult:
        """Run a shell script written by the harness. Never pass user-controlled text here
        without quoting it through `quote_command`."""
        raw = self.shell_script_raw(script, timeout_s=timeout_s)
        stdout = raw.stdout if raw.shell_v2 else undo_pty_newlines(raw.stdout)
        result = ShellResult(
            command=script,
            exit_code=raw.exit_code,
            stdout=stdout.decode("utf-8", "replace"),
            stderr=raw.stderr.decode("utf-8", "replace"),
        )
        if check and not result.ok:
            raise DeviceError(
                f"command failed with exit code {result.exit_code}: "
                f"{(result.stderr or result.stdout).strip()[-300:]}",
                serial=self.serial,
                cmd=script,
                returncode=result.exit_code,
                stderr=result.stderr,
            )
        return result

    def push(self, local: Path, remote: str, mode: int = 0o644) -> int:
        """Push a file; on failure the device's reason is kept and the partial file removed."""
        remote = check_device_path(remote)
        name = Path(local).name
        try:
            with open(local, "rb") as source, self._translated_errors(f"push {name} to {remote}"):
                return self._sync_send(source, remote, mode, mtime_s=int(os.fstat(source.fileno()).st_mtime))
        except SyncRefused as e:
            self.shell(["rm", "-f", remote], check=False)
            raise DeviceError(
                f"push of {name} to {remote} failed: the device says {str(e)!r}",
                "free space on the device (/data/local/tmp) and run again" if "space" in str(e).lower()
                else "check that /data/local/tmp is writable on the device",
                serial=self.serial,
            ) from None

    def _sync_send(self, source: BinaryIO, remote: str, mode: int, *, mtime_s: int | None = None) -> int:
        """adb's sync SEND; the file gets `mtime_s` (default: now). adbutils' own push drops the
        device's reason for a refusal (it raises a bare "FAIL"); this one reads it, e.g.
        "write failed: No space left on device"."""
        size_bytes = 0
        target = f"{remote},{stat.S_IFREG | mode}".encode()
        with self._adb_device.open_transport() as connection:
            connection.send_command("sync:")
            connection.check_okay()
            connection.conn.sendall(b"SEND" + struct.pack("<I", len(target)) + target)
            # adbd keeps reading after a failed write, so the whole file goes before the answer.
            for chunk in iter(lambda: source.read(SYNC_DATA_MAX_BYTES), b""):
                connection.conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                size_bytes += len(chunk)
            connection.conn.sendall(b"DONE" + struct.pack("<I", int(time.time()) if mtime_s is None else mtime_s))
            answer = connection.read_exact(4)
            if answer == b"FAIL":
                (length,) = struct.unpack("<I", connection.read_exact(4))
                raise SyncRefused(connection.read_exact(length).decode("utf-8", "replace"))
            if answer != b"OKAY":
                raise SyncRefused(f"unexpected sync answer {answer!r}")
        return size_bytes

    def pull(self, remote: str, local: Path) -> int:
        with self._translated_errors(f"pull {remote}"):
            return self._adb_device.sync.pull_file(remote, Path(local))

    def pull_dir(self, remote: str, local: Path) -> int:
        """A device directory with its subdirectories into `local`; returns the bytes pulled.
        Everything goes over one sync connection (adbutils opens one per file and per listing:
        each a few round trips to the adb server, a third of a cell's pull)."""
        with self._translated_errors(f"pull {remote}/"), self._adb_device.open_transport() as connection:
            connection.send_command("sync:")
            connection.check_okay()
            try:
                size_bytes = _pull_tree(connection, check_device_path(remote), Path(local))
            except SyncRefused as e:
                raise DeviceError(f"pull {remote}/: the device says {str(e)!r}", serial=self.serial) from None
            connection.conn.sendall(b"QUIT" + struct.pack("<I", 0))
        return size_bytes

    def read_text(self, remote: str) -> str:
        with self._translated_errors(f"read {remote}"):
            return self._adb_device.sync.read_text(remote)

    def remote_sha256(self, remote: str) -> str | None:
        """sha256 of a device file (toybox sha256sum), None when the file is missing."""
        result = self.shell(["sha256sum", remote], check=False)
        digest = result.stdout.split(" ", 1)[0].strip()
        if result.ok and re.fullmatch(r"[0-9a-f]{64}", digest):
            return digest
        return None

    def stat(self, remote: str) -> RemoteStat:
        """adb's sync STAT of a device path (one request, nothing run on the device)."""
        path = check_device_path(remote).encode()
        with self._translated_errors(f"stat {remote}"), self._adb_device.open_transport() as connection:
            connection.send_command("sync:")
            connection.check_okay()
            connection.conn.sendall(b"STAT" + struct.pack("<I", len(path)) + path)
            answer = connection.read_exact(16)
        if answer[:4] != b"STAT":
            raise DeviceError(f"stat {remote}: unexpected sync answer {answer[:4]!r}", serial=self.serial)
        return RemoteStat(*struct.unpack("<III", answer[4:]))

    def push_if_changed(self, local: Path, remote: str, *, sha256: str | None = None, mode: int = 0o644,
                        held: "HeldFile | None" = None) -> bool:
        """Push unless the device already holds a file with the same content. True if pushed.
        `held`: what held_files() said of `remote`, when asked for several files at once.

        The content is known by the digest note beside the file (DIGEST_NOTE_SUFFIX); a file
        without one (pushed by an older squeezebench) is hashed on the device once, then noted."""
        digest = sha256 or sha256_file(local)
        size_bytes = Path(local).stat().st_size
        held = held or self.held_files([remote])[remote]
        on_device = held.stat
        if held.note is not None:
            if held.note == (digest, on_device.size_bytes, on_device.mtime_s) and on_device.size_bytes == size_bytes:
                return False
        elif on_device.exists and on_device.size_bytes == size_bytes and self.remote_sha256(remote) == digest:
            self._write_digest_note(remote, digest, on_device)
            return False
        self.push(local, remote, mode=mode)
        pushed = self.stat(remote)
        if pushed.size_bytes != size_bytes:
            raise DeviceError(
                f"push of {Path(local).name} to {remote}: the device holds {pushed.size_bytes} bytes of {size_bytes}",
                "check the device's storage and run again", serial=self.serial,
            )
        self._write_digest_note(remote, digest, pushed)
        return True

    def held_files(self, remotes: Sequence[str]) -> dict[str, "HeldFile"]:
        """The digest notes and stats of device files, all in one shell round trip (a quick bench
        checks agent, runner and model: one round trip where six took 30 ms). toybox's `stat`
        gives what adb's sync STAT does; a path it says nothing of (missing, or a device without
        toybox) is asked by sync STAT."""
        if not remotes:
            return {}
        sections = self.shell_script(held_files_script(remotes), check=False).stdout.split(_HELD_SECTION)
        held = {}
        for index, remote in enumerate(remotes):
            note_text, stat_text = (sections[2 * index: 2 * index + 2] + ["", ""])[:2]
            note = _DIGEST_NOTE.fullmatch(note_text.strip())
            stat_match = _TOYBOX_STAT.fullmatch(stat_text.strip())
            on_device = (RemoteStat(int(stat_match["mode"], 16), int(stat_match["size"]), int(stat_match["mtime"]))
                         if stat_match else self.stat(remote))
            held[remote] = HeldFile((note["sha256"], int(note["size"]), int(note["mtime"])) if note else None,
                                    on_device)
        return held

    def _write_digest_note(self, remote: str, digest: str, on_device: RemoteStat) -> None:
        note = f"{digest} {on_device.size_bytes} {on_device.mtime_s}\n".encode()
        try:
            with self._translated_errors(f"push {remote}{DIGEST_NOTE_SUFFIX}"):
                self._sync_send(io.BytesIO(note), remote + DIGEST_NOTE_SUFFIX, 0o644)
        except SyncRefused:
            pass  # no note (a full device): the next check hashes the file on the device instead
