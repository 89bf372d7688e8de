"""The device side of one ADB connection: handshake, streams, flow control.

One `Connection` per TCP connection from an adb server (a device registered with two servers
has two). Each host OPEN becomes a `Stream` served by its own asyncio task, so a slow or stuck
service never holds up the others. Flow control follows adbd: a WRTE from the device waits for
the host's OKAY before the next one on that stream; a WRTE from the host is acknowledged as soon
as it is buffered, unless the service has fallen more than `INBOX_HIGH_WATER_BYTES` behind, in
which case the OKAY waits until it catches up (that is the backpressure a host sees).

A malformed packet or a broken socket ends that connection only.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Protocol

from harness.virtual import protocol
from harness.virtual.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_VERSION,
    A_WRTE,
    AUTH_RSAPUBLICKEY,
    AUTH_SIGNATURE,
    AUTH_TOKEN,
    AUTH_TOKEN_SIZE_BYTES,
    HEADER_SIZE_BYTES,
    MAX_PAYLOAD_BYTES,
    MalformedPacket,
)

log = logging.getLogger(__name__)

# Lets the host send the next WRTE while the service is still writing the previous one
# (a pipeline of a few packets), without letting one stream buffer without bound.
INBOX_HIGH_WATER_BYTES = 4 * 1024 * 1024

ServiceHandler = Callable[["Stream"], Awaitable[None]]


class StreamClosed(Exception):
    """The stream was closed (by the host, or because its connection ended)."""


class Device(Protocol):
    """What a connection needs from the device it belongs to."""

    unauthorized: bool

    def banner(self) -> bytes: ...

    def open_service(self, name: str) -> ServiceHandler | None: ...


class Stream:
    """One service opened by the host: `send` to the host, `receive` from it."""

    def __init__(self, connection: "Connection", local_id: int, remote_id: int):
        self._connection = connection
        self.local_id = local_id
        self.remote_id = remote_id
        self._peer_ready = True  # the device may write once right after accepting the OPEN
        self._inbox: collections.deque[bytes] = collections.deque()
        self._inbox_bytes = 0
        self._okay_owed = False
        self._wakeup = asyncio.Event()
        self.closed = False

    @property
    def max_payload_bytes(self) -> int:
        return self._connection.max_payload_bytes

    async def send(self, data: bytes | bytearray | memoryview) -> None:
        """Write to the host in packets of at most the negotiated payload size."""
        view = memoryview(data)
        limit = self.max_payload_bytes
        for start in range(0, len(view), limit):
            await self._wait_until_peer_ready()
            self._peer_ready = False
            self._connection.send_packet(
                A_WRTE, self.local_id, self.remote_id, bytes(view[start : start + limit])
            )
            await self._connection.drain()

    async def receive(self) -> bytes | None:
        """The next payload the host wrote, or None once the host closed the stream."""
        while not self._inbox:
            if self.closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        data = self._inbox.popleft()
        self._inbox_bytes -= len(data)
        if self._okay_owed and self._inbox_bytes <= INBOX_HIGH_WATER_BYTES and not self.closed:
            self._okay_owed = False
            self._connection.send_packet(A_OKAY, self.local_id, self.remote_id)
        return data

    def close(self) -> None:
        """Close from the device side (the service is done)."""
        if not self.closed:
            self.closed = True
            self._connection.send_packet(A_CLSE, self.local_id, self.remote_id)
        self._connection.forget(self)
        self._wakeup.set()

    # Called by the connection for packets addressed to this stream.

    def host_wrote(self, data: bytes) -> None:
        self._inbox.append(data)
        self._inbox_bytes += len(data)
        if self._inbox_bytes <= INBOX_HIGH_WATER_BYTES:
            self._connection.send_packet(A_OKAY, self.local_id, self.remote_id)
        else:
            self._okay_owed = True
        self._wakeup.set()

    def host_ready(self) -> None:
        self._peer_ready = True
        self._wakeup.set()

    def host_closed(self) -> None:
        self.closed = True
        self._wakeup.set()

    async def _wait_until_peer_ready(self) -> None:
        while not self._peer_ready:
            if self.closed:
                raise StreamClosed()
            self._wakeup.clear()
            await self._wakeup.wait()
        if self.closed:
            raise StreamClosed()


class Connection:
    """One TCP connection from an adb server."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, device: Device
    ):
        self._reader = reader
        self._writer = writer
        self._device = device
        self.peer = writer.get_extra_info("peername")
        self.version = protocol.A_VERSION_MIN
        self.max_payload_bytes = protocol.MAX_PAYLOAD_V1_BYTES
        self._online = False
        self._next_local_id = 1
        self._streams: dict[int, Stream] = {}
        self._tasks: dict[int, asyncio.Task] = {}

    async def serve(self) -> None:
        try:
            while True:
                await self._handle_one_packet()
        except (asyncio.IncompleteReadError, ConnectionError):
            log.info("connection from %s ended", self.peer)
        except MalformedPacket as e:
            log.warning("closing connection from %s: %s", self.peer, e)
        finally:
            await self._shut_down()

    def send_packet(self, command: int, arg0: int, arg1: int, payload: bytes = b"") -> None:
        if not self._writer.is_closing():
            # Header and payload as two writes (no copy of a large payload); nothing can come
            # between them, as no other task runs until this one awaits.
            self._writer.write(protocol.encode_header(command, arg0, arg1, payload, version=self.version))
            if payload:
                self._writer.write(payload)

    async def drain(self) -> None:
        try:
            await self._writer.drain()
        except ConnectionError:
            raise StreamClosed() from None

    def forget(self, stream: Stream) -> None:
        self._streams.pop(stream.local_id, None)

    async def _handle_one_packet(self) -> None:
        limit = self.max_payload_bytes if self._online else MAX_PAYLOAD_BYTES
        raw = await self._reader.readexactly(HEADER_SIZE_BYTES)
        header = protocol.decode_header(raw, limit)
        payload = await self._reader.readexactly(header.data_length) if header.data_length else b""
        if not protocol.checksum_matches(header, payload, self.version):
            raise MalformedPacket(f"{protocol.command_name(header.command)}: checksum mismatch")
        handler = {
            A_CNXN: self._on_connect,
            A_AUTH: self._on_auth,
            A_OPEN: self._on_open,
            A_OKAY: self._on_okay,
            A_WRTE: self._on_write,
            A_CLSE: self._on_close,
        }.get(header.command)
        if handler is not None:
            handler(header, payload)

    def _on_connect(self, header: protocol.PacketHeader, payload: bytes) -> None:
        if self._online:
            # A second CNXN means the host restarted its side: drop what it had open.
            self._cancel_all_streams()
        self.version = min(header.arg0, A_VERSION)
        self.max_payload_bytes = max(
            protocol.MAX_PAYLOAD_V1_BYTES, min(header.arg1, MAX_PAYLOAD_BYTES)
        )
        log.info(
            "CNXN from %s: version 0x%08x, max payload %d, %r",
            self.peer, header.arg0, header.arg1, payload[:200],
        )
        if self._device.unauthorized:
            self._send_auth_token()
            return
        self._online = True
        self.send_packet(A_CNXN, A_VERSION, self.max_payload_bytes, self._device.banner())

    def _on_auth(self, header: protocol.PacketHeader, payload: bytes) -> None:
        # An unauthorized device: every signature is refused with a fresh token, and a public
        # key is "waiting for the user to accept it", forever. The host shows `unauthorized`.
        if header.arg0 == AUTH_SIGNATURE:
            self._send_auth_token()
        elif header.arg0 == AUTH_RSAPUBLICKEY:
            log.info("%s offered its public key; this device never accepts it", self.peer)

    def _send_auth_token(self) -> None:
        token = os.urandom(AUTH_TOKEN_SIZE_BYTES)
        self.send_packet(A_AUTH, AUTH_TOKEN, 0, token)

    def _on_open(self, header: protocol.PacketHeader, payload: bytes) -> None:
        if not self._online:
            return
        remote_id = header.arg0
        name = protocol.service_name(payload)
        handler = self._device.open_service(name)
        if handler is None:
            log.info("refusing service %r", name)
            self.send_packet(A_CLSE, 0, remote_id)
            return
        local_id = self._next_local_id
        self._next_local_id += 1
        stream = Stream(self, local_id, remote_id)
        self._streams[local_id] = stream
        self.send_packet(A_OKAY, local_id, remote_id)
        task = asyncio.create_task(self._run_service(handler, stream, name))
        self._tasks[local_id] = task

    async def _run_service(self, handler: ServiceHandler, stream: Stream, name: str) -> None:
        try:
            await handler(stream)
        except StreamClosed:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("service %r failed", name)
        finally:
            self._tasks.pop(stream.local_id, None)
            stream.close()

    def _on_okay(self, header: protocol.PacketHeader, payload: bytes) -> None:
        stream = self._streams.get(header.arg1)
        if stream is not None:
            stream.host_ready()

    def _on_write(self, header: protocol.PacketHeader, payload: bytes) -> None:
        stream = self._streams.get(header.arg1)
        if stream is not None and not stream.closed:
            stream.host_wrote(payload)

    def _on_close(self, header: protocol.PacketHeader, payload: bytes) -> None:
        stream = self._streams.pop(header.arg1, None)
        if stream is None:
            return
        stream.host_closed()
        task = self._tasks.pop(header.arg1, None)
        if task is not None:
            task.cancel()

    def _cancel_all_streams(self) -> list[asyncio.Task]:
        tasks = list(self._tasks.values())
        for stream in list(self._streams.values()):
            stream.host_closed()
        for task in tasks:
            task.cancel()
        self._streams.clear()
        self._tasks.clear()
        return tasks

    async def _shut_down(self) -> None:
        tasks = self._cancel_all_streams()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass
