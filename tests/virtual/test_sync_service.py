"""Unit tests of the sync service (push/pull/ls) on real files, driven over a socketpair the way
the daemon drives it: raw requests in, length-framed replies out."""

from __future__ import annotations

import os
import socket
import stat
import struct
import threading

import pytest

from harness.virtual.system_bin import sync_service


class SyncPeer:
    def __init__(self, max_frame_bytes: int = 1 << 20, quota=None):
        self.sock, theirs = socket.socketpair()
        service = sync_service.SyncService(theirs.fileno(), max_frame_bytes, quota)
        self.frames: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, args=(service, theirs), daemon=True)
        self._thread.start()
        self._buffer = b""

    @staticmethod
    def _serve(service, theirs):
        service.serve()
        theirs.close()

    def request(self, request_id: bytes, path: str) -> None:
        encoded = path.encode()
        self.sock.sendall(request_id + struct.pack("<I", len(encoded)) + encoded)

    def send_file(self, path: str, mode: int, data: bytes, mtime: int = 1_700_000_000, chunk: int = 65536):
        self.request(b"SEND", f"{path},{mode}")
        for start in range(0, len(data), chunk):
            piece = data[start : start + chunk]
            self.sock.sendall(b"DATA" + struct.pack("<I", len(piece)) + piece)
        self.sock.sendall(b"DONE" + struct.pack("<I", mtime))

    def read(self, count: int) -> bytes:
        while len(self._buffer) < count:
            frame = self._next_frame()
            if frame is None:
                raise EOFError
            self._buffer += frame
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def _next_frame(self) -> bytes | None:
        header = self._exact(4)
        if header is None:
            return None
        frame = self._exact(struct.unpack("<I", header)[0])
        self.frames.append(frame)
        return frame

    def _exact(self, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def status(self) -> tuple[bytes, bytes]:
        reply_id, length = struct.unpack("<4sI", self.read(8))
        return reply_id, self.read(length) if reply_id == b"FAIL" else b""

    def ended(self) -> bool:
        self._thread.join(timeout=10)
        return not self._thread.is_alive()


def test_push_writes_the_file_with_adbd_modes_and_mtime(tmp_path):
    peer = SyncPeer()
    target = tmp_path / "new dir" / "f ü.bin"
    data = os.urandom(200_000)
    peer.send_file(str(target), stat.S_IFREG | 0o755, data)
    assert peer.status() == (b"OKAY", b"")
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o777  # owner bits copied to group and other
    assert target.stat().st_mtime == 1_700_000_000
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o775


def test_stat_and_list_use_the_wire_formats(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"abc")
    peer = SyncPeer()
    peer.request(b"STAT", str(tmp_path / "a.txt"))
    reply_id, mode, size, _mtime = struct.unpack("<4sIII", peer.read(16))
    assert (reply_id, stat.S_ISREG(mode), size) == (b"STAT", True, 3)
    peer.request(b"STAT", str(tmp_path / "missing"))
    assert peer.read(16) == b"STAT" + bytes(12)
    peer.request(b"LST2", str(tmp_path / "missing"))
    reply = struct.unpack("<4sIQQIIIIQqqq", peer.read(72))
    assert reply[:2] == (b"LST2", 2)  # ENOENT
    peer.request(b"LIST", str(tmp_path))
    names = []
    while True:
        reply_id, mode, size, _mtime, name_length = struct.unpack("<4sIIII", peer.read(20))
        if reply_id == b"DONE":
            break
        names.append(peer.read(name_length).decode())
    assert sorted(names) == [".", "..", "a.txt"]


def test_every_list_entry_stays_whole_within_one_frame(tmp_path):
    for i in range(300):
        (tmp_path / f"file-with-a-longish-name-{i:04d}").touch()
    peer = SyncPeer(max_frame_bytes=4096)
    peer.request(b"LIS2", str(tmp_path))
    count = 0
    while True:
        header = peer.read(76)
        if header[:4] == b"DONE":
            break
        peer.read(struct.unpack_from("<I", header, 72)[0])
        count += 1
    assert count == 302
    assert all(len(frame) <= 4096 for frame in peer.frames)
    assert len(peer.frames) > 1


def test_pull_streams_data_chunks_then_done(tmp_path):
    data = os.urandom(300_000)
    (tmp_path / "p.bin").write_bytes(data)
    peer = SyncPeer(max_frame_bytes=4096)
    peer.request(b"RECV", str(tmp_path / "p.bin"))
    received = b""
    while True:
        reply_id, length = struct.unpack("<4sI", peer.read(8))
        if reply_id == b"DONE":
            break
        assert reply_id == b"DATA" and length <= 4096 - 8
        received += peer.read(length)
    assert received == data


def test_pull_of_a_missing_file_fails_and_ends_the_service(tmp_path):
    peer = SyncPeer()
    peer.request(b"RECV", str(tmp_path / "missing"))
    assert peer.status() == (b"FAIL", b"open failed: No such file or directory")
    assert peer.ended()


def test_push_beyond_the_quota_fails_with_enospc_and_leaves_no_file(tmp_path):
    data_root = tmp_path / "data"
    data_root.mkdir()
    (data_root / "existing").write_bytes(b"x" * 600)
    quota = sync_service.StorageQuota(1000, data_root=str(data_root))
    peer = SyncPeer(quota=quota)
    peer.send_file(str(data_root / "big.bin"), 0o100644, b"y" * 500, chunk=100)
    assert peer.status() == (b"FAIL", b"write failed: No space left on device")
    assert not (data_root / "big.bin").exists()
    assert peer.ended()


@pytest.mark.parametrize("request_id, path, message", [
    (b"LIST", "x" * 1025, b"path too long"),
    (b"XXXX", "/", b"unknown command"),
    (b"SEND", "/no-comma", b"missing , in ID_SEND_V1"),
])
def test_bad_requests_fail_and_end_the_service(request_id, path, message):
    peer = SyncPeer()
    peer.request(request_id, path)
    reply_id, text = peer.status()
    assert reply_id == b"FAIL" and text.startswith(message)
    assert peer.ended()


def test_symlink_push_creates_the_link(tmp_path):
    peer = SyncPeer()
    link = tmp_path / "link"
    peer.request(b"SEND", f"{link},{stat.S_IFLNK | 0o777}")
    peer.sock.sendall(b"DATA" + struct.pack("<I", 7) + b"target\0" + b"DONE" + struct.pack("<I", 0))
    assert peer.status() == (b"OKAY", b"")
    assert os.readlink(link) == "target"


def test_quit_ends_the_service():
    peer = SyncPeer()
    peer.request(b"QUIT", "")
    assert peer.ended()


def test_quota_covers_data_and_storage_paths_only(tmp_path):
    quota = sync_service.StorageQuota(10, data_root=str(tmp_path))
    assert quota.covers(str(tmp_path / "a" / "b"))
    assert quota.covers("/storage/emulated/0/x")
    assert not quota.covers("/system/bin/x")
    assert not quota.covers(str(tmp_path) + "-other/x")  # a sibling sharing its name's prefix
