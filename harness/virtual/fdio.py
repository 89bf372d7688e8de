"""Non-blocking reads and writes on raw file descriptors (pty masters, socketpairs) in asyncio."""

from __future__ import annotations

import asyncio
import errno
import os


def make_nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


async def read_some(fd: int, max_bytes: int) -> bytes:
    """Up to `max_bytes`, waiting until some are available; b"" at end of file.

    A pty master reports EIO once every slave fd is closed: that is its end of file.
    """
    loop = asyncio.get_running_loop()
    while True:
        try:
            return os.read(fd, max_bytes)
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno in (errno.EIO, errno.ECONNRESET):
                return b""
            raise
        await _wait(loop, fd, loop.add_reader, loop.remove_reader)


async def read_batch(fd: int, max_bytes: int) -> bytes:
    """Like read_some, then whatever else is already there, up to `max_bytes`: a pty hands
    out at most a few KiB per read, and one packet per read would cost a round trip each."""
    data = await read_some(fd, max_bytes)
    if not data:
        return data
    chunks = [data]
    size = len(data)
    while size < max_bytes:
        try:
            more = os.read(fd, max_bytes - size)
        except (BlockingIOError, OSError):
            break
        if not more:
            break
        chunks.append(more)
        size += len(more)
    return b"".join(chunks)


async def write_all(fd: int, data: bytes | memoryview) -> bool:
    """Write everything; False if the reader went away (EPIPE) before it was all written."""
    loop = asyncio.get_running_loop()
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
            continue
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            return False
        except OSError as e:
            if e.errno == errno.EIO:
                return False
            raise
        await _wait(loop, fd, loop.add_writer, loop.remove_writer)
    return True


async def _wait(loop, fd, add, remove) -> None:
    ready = loop.create_future()
    add(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        remove(fd)
