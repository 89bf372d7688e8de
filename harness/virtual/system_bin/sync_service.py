"""The device side of `adb push/pull/ls` (AOSP adb/SYNC.TXT, daemon/file_sync_service.cpp).

Runs inside the sandbox, in a process forked by the spawner for each `sync:` stream, so paths,
permissions, read-only mounts and symlinks are exactly what shell commands see. Requests arrive
as the raw byte stream the host wrote; replies leave as frames `u32 length + bytes`, one frame
per ADB packet, so that a reply a client reads with a single recv() (adbutils does) is never
split across packets.

Behaviour copied from adbd where clients can tell the difference: a pushed file's group/other
permissions copy the user's, missing parent directories are created (0775), a failed push
deletes the partial file, sends FAIL at once, drains the rest of the file and ends the service.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

SYNC_DATA_MAX_BYTES = 64 * 1024
SYNC_PATH_MAX_BYTES = 1024

REQUEST = struct.Struct("<4sI")
STAT_V1 = struct.Struct("<4sIII")
STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
DENT_V1 = struct.Struct("<4sIIII")
DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")
FRAME_LENGTH = struct.Struct("<I")


class SyncFailure(Exception):
    """A request that fails the way adbd fails it: FAIL + message, then the service ends."""


class SocketReader:
    """Exact-length reads from a stream socket through one reusable buffer."""

    def __init__(self, sock_fd: int, buffer_bytes: int = 1024 * 1024):
        self._fd = sock_fd
        self._buffer = bytearray(buffer_bytes)
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0

    def read_exact(self, count: int) -> memoryview | None:
        """`count` bytes (valid until the next read), or None at a clean EOF before any byte."""
        if count > len(self._buffer):
            raise SyncFailure("oversize data message")
        if self._end - self._start < count:
            self._compact()
            while self._end - self._start < count:
                received = os.readv(self._fd, [self._view[self._end :]])
                if received == 0:
                    if self._end == self._start:
                        return None
                    raise EOFError("sync stream ended inside a message")
                self._end += received
        chunk = self._view[self._start : self._start + count]
        self._start += count
        return chunk

    def _compact(self) -> None:
        pending = self._end - self._start
        if pending and self._start:
            self._buffer[:pending] = self._buffer[self._start : self._end]
        self._start, self._end = 0, pending


class StorageQuota:
    """`--storage-mb`: /data (which also backs /sdcard) holds at most `limit_bytes` of files."""

    def __init__(self, limit_bytes: int, data_root: str = "/data"):
        self.limit_bytes = limit_bytes
        self.data_root = data_root

    def covers(self, path: str) -> bool:
        real = os.path.realpath(_posix_dirname(path))
        return any(real == root or real.startswith(root + "/") for root in (self.data_root, "/storage"))

    def free_bytes(self) -> int:
        return max(0, self.limit_bytes - self._used_bytes())

    def _used_bytes(self) -> int:
        used = 0
        for directory, _dirs, files in os.walk(self.data_root):
            for name in files:
                try:
                    st = os.lstat(os.path.join(directory, name))
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    used += st.st_size
        return used


class SyncService:
    def __init__(self, sock_fd: int, max_frame_bytes: int, quota: StorageQuota | None = None):
        self._fd = sock_fd
        self._reader = SocketReader(sock_fd)
        self._max_frame_bytes = max_frame_bytes
        self._data_chunk_bytes = min(SYNC_DATA_MAX_BYTES, max_frame_bytes - 8)
        self._quota = quota
        self._frame = bytearray()

    def serve(self) -> None:
        try:
            while self._handle_request():
                pass
        except SyncFailure as e:
            self._fail(str(e))
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass

    # Framing ------------------------------------------------------------------------------

    def _emit(self, message: bytes) -> None:
        if len(self._frame) + len(message) > self._max_frame_bytes:
            self._flush()
        self._frame += message

    def _flush(self) -> None:
        if self._frame:
            data = FRAME_LENGTH.pack(len(self._frame)) + self._frame
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            self._frame = bytearray()

    def _fail(self, message: str) -> None:
        encoded = message.encode("utf-8", errors="surrogateescape")
        self._emit(b"FAIL" + struct.pack("<I", len(encoded)) + encoded)
        self._flush()

    # Requests -----------------------------------------------------------------------------

    def _handle_request(self) -> bool:
        header = self._reader.read_exact(REQUEST.size)
        if header is None:
            return False
        request_id, length = REQUEST.unpack(header)
        if length > SYNC_PATH_MAX_BYTES:
            raise SyncFailure("path too long")
        raw_path = self._reader.read_exact(length) if length else memoryview(b"")
        if raw_path is None:
            return False
        path = bytes(raw_path).decode("utf-8", errors="surrogateescape")
        handlers = {
            b"STAT": self._stat_v1,
            b"STA2": self._stat_v2,
            b"LST2": self._stat_v2,
            b"LIST": self._list,
            b"LIS2": self._list,
            b"SEND": self._send,
            b"RECV": self._recv,
        }
        if request_id == b"QUIT":
            return False
        handler = handlers.get(bytes(request_id))
        if handler is None:
            raise SyncFailure(f"unknown command {int.from_bytes(request_id, 'little'):08x}")
        return handler(bytes(request_id), path)

    def _stat_v1(self, _request_id: bytes, path: str) -> bool:
        try:
            st = os.lstat(path)
            reply = STAT_V1.pack(b"STAT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF)
        except OSError:
            reply = STAT_V1.pack(b"STAT", 0, 0, 0)
        self._emit(reply)
        self._flush()
        return True

    def _stat_v2(self, request_id: bytes, path: str) -> bool:
        follow = request_id == b"STA2"
        try:
            st = os.stat(path) if follow else os.lstat(path)
            reply = _stat_v2_fields(request_id, 0, st)
        except OSError as e:
            reply = STAT_V2.pack(request_id, e.errno or errno.EIO, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        self._emit(reply)
        self._flush()
        return True

    def _list(self, request_id: bytes, path: str) -> bool:
        v2 = request_id == b"LIS2"
        try:
            names = [".", ".."] + os.listdir(path)
        except OSError:
            names = []
        for name in names:
            encoded = name.encode("utf-8", errors="surrogateescape")
            try:
                st = os.lstat(os.path.join(path, name))
            except OSError as e:
                if v2:
                    self._emit(DENT_V2.pack(b"DNT2", e.errno or errno.EIO, *([0] * 10), len(encoded)) + encoded)
                continue
            if v2:
                fields = _stat_v2_fields(b"DNT2", 0, st)
                self._emit(fields + struct.pack("<I", len(encoded)) + encoded)
            else:
                entry = DENT_V1.pack(b"DENT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF, len(encoded))
                self._emit(entry + encoded)
        # The terminating DONE is padded to a full entry: a short one hangs older clients.
        self._emit(b"DONE" + bytes((DENT_V2.size if v2 else DENT_V1.size) - 4))
        self._flush()
        return True

    def _recv(self, _request_id: bytes, path: str) -> bool:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise SyncFailure(f"open failed: {os.strerror(e.errno)}") from None
        try:
            while True:
                try:
                    chunk = os.read(fd, self._data_chunk_bytes)
                except OSError as e:
                    raise SyncFailure(f"read failed: {os.strerror(e.errno)}") from None
                if not chunk:
                    break
                self._emit(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        finally:
            os.close(fd)
        self._emit(b"DONE" + bytes(4))
        self._flush()
        return True

    def _send(self, _request_id: bytes, spec: str) -> bool:
        path, comma, mode_text = spec.rpartition(",")
        if not comma:
            raise SyncFailure("missing , in ID_SEND_V1")
        try:
            mode = _parse_c_integer(mode_text)
        except ValueError:
            raise SyncFailure("bad mode") from None
        if stat.S_ISLNK(mode):
            return self._send_symlink(path)
        try:
            st = os.lstat(path)
            do_unlink = stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)
        except OSError:
            do_unlink = True
        if do_unlink:
            _unlink_quietly(path)
        try:
            self._receive_file(path, _pushed_file_mode(mode))
        except SyncFailure as e:
            # adbd deletes the partial file after draining; deleting it first means that no
            # client ever sees it, even one that looks right after reading the FAIL.
            if do_unlink:
                _unlink_quietly(path)
            self._fail(str(e))
            self._drain_until_done()
            return False
        return True

    def _receive_file(self, path: str, mode: int) -> None:
        fd = _create_file(path, mode)
        budget_bytes = None
        if self._quota is not None and self._quota.covers(path):
            budget_bytes = self._quota.free_bytes()
        written_bytes = 0
        try:
            while True:
                message_id, size = self._read_data_header()
                if message_id == b"DONE":
                    mtime = size
                    break
                if message_id != b"DATA":
                    raise SyncFailure("invalid data message")
                if size > SYNC_DATA_MAX_BYTES:
                    raise SyncFailure("oversize data message")
                data = self._reader.read_exact(size)
                if data is None:
                    raise EOFError()
                if budget_bytes is not None and written_bytes + size > budget_bytes:
                    raise SyncFailure(f"write failed: {os.strerror(errno.ENOSPC)}")
                _write_all(fd, data)
                written_bytes += size
        finally:
            os.close(fd)
        os.utime(path, (mtime, mtime), follow_symlinks=False)
        self._emit(b"OKAY" + bytes(4))
        self._flush()

    def _send_symlink(self, path: str) -> bool:
        message_id, size = self._read_data_header()
        if message_id != b"DATA":
            raise SyncFailure("invalid data message: expected ID_DATA")
        if size > SYNC_DATA_MAX_BYTES:
            raise SyncFailure("oversize data message")
        raw_target = self._reader.read_exact(size)
        if raw_target is None:
            raise EOFError()
        target = bytes(raw_target).rstrip(b"\0").decode("utf-8", errors="surrogateescape")
        try:
            if not (os.path.islink(path) and os.readlink(path) == target):
                _unlink_quietly(path)
                try:
                    os.symlink(target, path)
                except FileNotFoundError:
                    _make_parent_dirs(_posix_dirname(path))
                    os.symlink(target, path)
        except OSError as e:
            raise SyncFailure(f"symlink failed: {os.strerror(e.errno)}") from None
        message_id, mtime = self._read_data_header()
        if message_id != b"DONE":
            raise SyncFailure("invalid data message: expected ID_DONE")
        self._emit(b"OKAY" + bytes(4))
        self._flush()
        return True

    def _read_data_header(self) -> tuple[bytes, int]:
        raw = self._reader.read_exact(8)
        if raw is None:
            raise EOFError()
        message_id, size = REQUEST.unpack(raw)
        return bytes(message_id), size

    def _drain_until_done(self) -> None:
        # As adbd: old clients keep writing until they notice the FAIL; read and drop the rest.
        try:
            while True:
                message_id, size = self._read_data_header()
                if message_id != b"DATA" or size > SYNC_DATA_MAX_BYTES:
                    return
                if self._reader.read_exact(size) is None:
                    return
        except (EOFError, OSError, SyncFailure):
            return


def _stat_v2_fields(request_id: bytes, error: int, st: os.stat_result) -> bytes:
    return STAT_V2.pack(
        request_id, error, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
        st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime),
    )


def _parse_c_integer(text: str) -> int:
    """strtoul(text, NULL, 0): 0x.. hex, 0.. octal, else decimal."""
    text = text.strip()
    if text.lower().startswith("0x"):
        return int(text[2:], 16)
    if text.startswith("0") and len(text) > 1:
        return int(text[1:], 8)
    return int(text, 10)


def _pushed_file_mode(mode: int) -> int:
    """adbd's rule: keep the permission bits, and copy the user's to group and other."""
    mode &= 0o777
    mode |= (mode >> 3) & 0o070
    mode |= (mode >> 3) & 0o007
    return mode


def _create_file(path: str, mode: int) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        try:
            fd = os.open(path, flags, mode)
        except FileNotFoundError:
            try:
                _make_parent_dirs(_posix_dirname(path))
            except OSError as e:
                raise SyncFailure(f"secure_mkdirs failed: {os.strerror(e.errno)}") from None
            fd = os.open(path, flags, mode)
    except FileExistsError:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except OSError as e:
            raise SyncFailure(f"couldn't create file: {os.strerror(e.errno)}") from None
    except OSError as e:
        raise SyncFailure(f"couldn't create file: {os.strerror(e.errno)}") from None
    os.fchmod(fd, mode)
    return fd


def _posix_dirname(path: str) -> str:
    """dirname(3), which adbd uses: a trailing slash does not make "a/b/" a directory of "a/b"."""
    return os.path.dirname(path.rstrip("/")) or "/"


def _make_parent_dirs(directory: str) -> None:
    partial = ""
    for component in directory.split("/"):
        if not component:
            continue
        partial += "/" + component
        try:
            os.mkdir(partial)
        except FileExistsError:
            continue
        os.chmod(partial, 0o775)  # adbd's mode for the directories it creates, whatever the umask


def _write_all(fd: int, data: memoryview) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError as e:
        raise SyncFailure(f"write failed: {os.strerror(e.errno)}") from None


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def serve(sock_fd: int, max_frame_bytes: int, storage_limit_bytes: int | None) -> None:
    quota = StorageQuota(storage_limit_bytes) if storage_limit_bytes is not None else None
    SyncService(sock_fd, max_frame_bytes, quota).serve()
