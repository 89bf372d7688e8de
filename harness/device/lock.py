"""One benchmark at a time per device, across processes on this host.

An advisory `flock` per device under the state directory: the kernel releases it when the holder
dies, even by SIGKILL, so a crashed squeezebench never leaves a device locked. The holder writes
who it is into the lock file so that a waiting process can say who holds the device.
Limit: two hosts driving devices through one shared remote adb server do not see each other's
locks (each host should own its devices).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import DeviceError
from harness.paths import state_dir

POLL_INTERVAL_S = 0.2


def lock_path(server: str, serial: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{server}__{serial}")
    return state_dir() / "locks" / f"{safe}.lock"


def describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0)))
    return f"pid {holder.get('pid')} ({holder.get('command', '?')}) since {since}"


@contextmanager
def device_lock(
    server: str,
    serial: str,
    *,
    wait_s: float | None = None,
    purpose: str = "",
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the device for the duration of the block.

    wait_s: None waits as long as it takes; otherwise give up after wait_s seconds with an error
    naming the holder. on_wait is told who holds the device, once, if it has to wait.
    """
    path = lock_path(server, serial)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, serial, wait_s, on_wait)
        holder = {"pid": os.getpid(), "command": purpose or " ".join(sys.argv[:3]), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(fd: int, path: Path, serial: str, wait_s: float | None, on_wait) -> None:
    deadline = None if wait_s is None else time.monotonic() + wait_s
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                raise DeviceError(
                    f"device is busy: held by {describe_holder(path)}",
                    "wait for that benchmark to finish, or pick another device",
                    serial=serial,
                ) from None
            if on_wait and not told:
                on_wait(describe_holder(path))
                told = True
            time.sleep(POLL_INTERVAL_S)
