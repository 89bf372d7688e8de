"""The services a host can OPEN on a virtual device (AOSP adb/daemon/services.cpp):

- `shell[,args]:CMD`  args: `v2` (the shell protocol: separate stdout/stderr, stdin packets,
  exit code), `raw` / `pty`, `TERM=...`. Without a command: an interactive login shell on a pty.
  Without `v2`, like adbd, a "raw" command still gets a pty (in raw mode), so that closing the
  stream hangs it up. A device replaying an old phone (`v1_pty`) runs it on a pty in the
  terminal's usual mode, as adbd did before the shell protocol: output lines end in CRLF.
- `exec:CMD`          raw bytes both ways (a raw pty), no protocol.
- `sync:`             push/pull/ls: relayed to system_bin/sync_service.py inside the sandbox.
- `root:` / `unroot:` answer as a user build's adbd does.

Every process runs inside the device's sandbox as `/system/bin/sh -c CMD`.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import signal
import socket
import struct
import termios

from harness.virtual import fdio
from harness.virtual.sandbox import Job, Sandbox, SandboxLost
from harness.virtual.transport import ServiceHandler, Stream, StreamClosed

log = logging.getLogger(__name__)

# Shell protocol packet ids (adb/shell_protocol.h).
ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW_SIZE = range(6)
SHELL_PACKET_HEADER = struct.Struct("<BI")
SYNC_FRAME_LENGTH = struct.Struct("<I")
RAW_READ_BYTES = 64 * 1024
FAILED_TO_START_EXIT_CODE = 126  # what adbd reports when it cannot start the shell


class Services:
    def __init__(self, sandbox: Sandbox, *, v1_pty: bool = False):
        self._sandbox = sandbox
        self._v1_pty = v1_pty

    def open(self, name: str) -> ServiceHandler | None:
        if name.startswith("shell"):
            arguments, colon, command = name[len("shell"):].partition(":")
            if not colon or (arguments and not arguments.startswith(",")):
                return None
            return self._shell_handler(arguments.split(","), command)
        if name.startswith("exec:"):
            command = name[len("exec:"):]
            return lambda stream: self._run_raw(stream, command, "raw-pty", None)
        if name.startswith("sync:"):
            return self._run_sync
        if name in ("root:", "unroot:"):
            message = ("adbd cannot run as root in production builds\n" if name == "root:"
                       else "adbd not running as root\n")
            return lambda stream: stream.send(message.encode())
        return None

    def _shell_handler(self, arguments: list[str], command: str) -> ServiceHandler:
        # adbd's defaults: a pty for an interactive shell, raw for a command, TERM=dumb.
        terminal = "raw" if command else "pty"
        v2 = False
        term = "dumb"
        for argument in arguments:
            if argument == "raw":
                terminal = "raw"
            elif argument == "pty":
                terminal = "pty"
            elif argument == "v2":
                v2 = True
            elif argument.startswith("TERM="):
                term = argument[len("TERM="):]
        if v2:
            return lambda stream: self._run_v2(stream, command, terminal, term)
        if terminal == "raw":
            terminal = "pty" if self._v1_pty else "raw-pty"
        return lambda stream: self._run_raw(stream, command, terminal, term)

    async def _start(self, stream: Stream, command: str, terminal: str, term: str | None,
                     shell_protocol: bool = False) -> Job | None:
        """Start the command, or tell the host why not (as adbd: `error: ...`, exit 126)."""
        try:
            return await self._sandbox.start_shell(command, terminal, term)
        except (OSError, SandboxLost) as e:
            message = f"error: {e}\n".encode()
            if shell_protocol:
                await stream.send(_shell_packet(ID_STDERR, message))
                await stream.send(_shell_packet(ID_EXIT, bytes([FAILED_TO_START_EXIT_CODE])))
            else:
                await stream.send(message)
            return None

    async def _run_raw(self, stream: Stream, command: str, terminal: str, term: str | None) -> None:
        """No protocol: the pty's bytes both ways; the stream ends when the pty's output does."""
        job = await self._start(stream, command, terminal, term)
        if job is None:
            return
        master = job.fds[0]
        fdio.make_nonblocking(master)
        feeder = asyncio.create_task(_feed_raw_input(stream, master))
        try:
            while data := await fdio.read_batch(master, min(RAW_READ_BYTES, stream.max_payload_bytes)):
                await stream.send(data)
        finally:
            feeder.cancel()
            self._hang_up(job)

    async def _run_v2(self, stream: Stream, command: str, terminal: str, term: str) -> None:
        job = await self._start(stream, command, terminal, term, shell_protocol=True)
        if job is None:
            return
        for fd in job.fds:
            fdio.make_nonblocking(fd)
        io_fd = job.fds[0]
        chunk_bytes = min(RAW_READ_BYTES, stream.max_payload_bytes - SHELL_PACKET_HEADER.size)
        outputs = [_pump_shell_output(stream, io_fd, ID_STDOUT, chunk_bytes)]
        if len(job.fds) > 1:
            outputs.append(_pump_shell_output(stream, job.fds[1], ID_STDERR, chunk_bytes))
        feeder = asyncio.create_task(_feed_shell_input(stream, io_fd, is_pty=terminal == "pty"))
        try:
            await asyncio.gather(*outputs)
            exit_code = await job.exit_code
            await stream.send(_shell_packet(ID_EXIT, bytes([exit_code & 0xFF])))
        finally:
            feeder.cancel()
            self._hang_up(job)

    def _hang_up(self, job: Job) -> None:
        """As adbd when its end closes: SIGHUP to a process still running, then let go of it."""
        if not job.exit_code.done():
            try:
                self._sandbox.kill(job.pid, signal.SIGHUP)
            except SandboxLost:
                pass
        for fd in job.fds:
            os.close(fd)
        job.fds.clear()

    async def _run_sync(self, stream: Stream) -> None:
        try:
            job = await self._sandbox.start_sync(stream.max_payload_bytes)
        except (OSError, SandboxLost) as e:
            log.warning("sync service could not start: %s", e)
            return
        sock = socket.socket(fileno=job.fds.pop())
        reader, writer = await asyncio.open_connection(sock=sock, limit=2 * stream.max_payload_bytes)
        feeder = asyncio.create_task(_feed_sync_requests(stream, writer))
        try:
            while True:
                try:
                    header = await reader.readexactly(SYNC_FRAME_LENGTH.size)
                except asyncio.IncompleteReadError:
                    break  # the sync service ended (QUIT, an error, or the host went away)
                (length,) = SYNC_FRAME_LENGTH.unpack(header)
                await stream.send(await reader.readexactly(length))
        finally:
            feeder.cancel()
            writer.close()
            self._hang_up(job)


def _shell_packet(packet_id: int, data: bytes) -> bytes:
    return SHELL_PACKET_HEADER.pack(packet_id, len(data)) + data


async def _pump_shell_output(stream: Stream, fd: int, packet_id: int, chunk_bytes: int) -> None:
    while data := await fdio.read_batch(fd, chunk_bytes):
        await stream.send(_shell_packet(packet_id, data))


async def _feed_raw_input(stream: Stream, fd: int) -> None:
    while (data := await stream.receive()) is not None:
        if not await fdio.write_all(fd, data):
            return


async def _feed_shell_input(stream: Stream, fd: int, is_pty: bool) -> None:
    """Shell protocol from the host: stdin data, close-stdin, window size changes."""
    buffer = bytearray()
    stdin_open = True
    while (data := await stream.receive()) is not None:
        buffer += data
        while len(buffer) >= SHELL_PACKET_HEADER.size:
            packet_id, length = SHELL_PACKET_HEADER.unpack_from(buffer)
            end = SHELL_PACKET_HEADER.size + length
            if len(buffer) < end:
                break
            payload = bytes(buffer[SHELL_PACKET_HEADER.size:end])
            del buffer[:end]
            if packet_id == ID_STDIN and stdin_open:
                stdin_open = await fdio.write_all(fd, payload)
            elif packet_id == ID_CLOSE_STDIN and not is_pty and stdin_open:
                # A pty cannot close just its input; like adbd, leave it open.
                _shutdown_write(fd)
                stdin_open = False
            elif packet_id == ID_WINDOW_SIZE and is_pty:
                _set_window_size(fd, payload)


async def _feed_sync_requests(stream: Stream, writer: asyncio.StreamWriter) -> None:
    try:
        while (data := await stream.receive()) is not None:
            writer.write(data)
            await writer.drain()
        writer.write_eof()
    except (ConnectionError, StreamClosed):
        pass


def _shutdown_write(fd: int) -> None:
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _set_window_size(fd: int, payload: bytes) -> None:
    """`ROWSxCOLS,XPIXELSxYPIXELS`, as the adb client sends it."""
    try:
        size, _, pixels = payload.decode("ascii").rstrip("\0").partition(",")
        rows, cols = (int(v) for v in size.split("x"))
        x_pixels, y_pixels = (int(v) for v in pixels.split("x"))
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, x_pixels, y_pixels))
    except (ValueError, OSError):
        pass
