"""Simulated thermal throttling that really slows the virtual device down.

The power model (power.py) caps the device's clocks as it heats (`PowerReading.cap_fraction`,
published as `scaling_max_freq`). A cap on a phone makes every thread run slower; here the work
runs on the host's CPUs, so the cap is made real with a duty cycle: every `PERIOD_S` (5 ms) the
sandbox's processes (all but its PID 1, the spawner that runs adb's commands) are stopped with
SIGSTOP for the capped share of the period and continued with SIGCONT for the rest. A runner at a
cap of 0.7 gets 70% of the time it would get, so its latency rises by 1/0.7 (each inference's when
it is longer than the period, on average for shorter ones), and the CPU time the power model sees
falls with it (less power: the device settles where cap and heat balance).

This is a simulation and says so: the clocks are `squeezebench-virtual`'s, and results from a
virtual device are always flagged `virtual`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable

log = logging.getLogger("harness.virtual.throttle")

PERIOD_S = 0.005
# The set of the sandbox's processes is looked up again at most this often (a scan of /proc).
RESCAN_S = 0.25
# Below this cap the duty cycle is not worth its signals: the device runs free.
FULL_SPEED = 0.995


def namespace_members(init_host_pid: int) -> list[int]:
    """Host PIDs of the processes in the PID namespace whose PID 1 is `init_host_pid`, without it."""
    try:
        namespace = os.readlink(f"/proc/{init_host_pid}/ns/pid")
    except OSError:
        return []
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == init_host_pid:
            continue
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{name}/ns/pid") == namespace:
                members.append(int(name))
    return members


def _signal_all(pids: list[int], number: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, number)


class DutyCycle:
    """Follows the power model's cap: `follow(cap)` on every power tick, `run()` as a task."""

    def __init__(self, init_host_pid: Callable[[], int | None]):
        self._init_host_pid = init_host_pid
        self._cap = 1.0
        self._members: list[int] = []
        self._scanned_at = -RESCAN_S

    @property
    def cap(self) -> float:
        return self._cap

    def follow(self, cap_fraction: float) -> None:
        if (cap_fraction < FULL_SPEED) != (self._cap < FULL_SPEED):
            log.info("simulated throttling %s (cap %.2f)", "on" if cap_fraction < FULL_SPEED else "off", cap_fraction)
        self._cap = cap_fraction

    async def run(self) -> None:
        stopped: list[int] = []
        try:
            while True:
                cap = self._cap
                if cap >= FULL_SPEED:
                    await asyncio.sleep(PERIOD_S)
                    continue
                stopped = self._current_members()
                started = time.monotonic()
                _signal_all(stopped, signal.SIGSTOP)
                await asyncio.sleep(PERIOD_S * (1 - cap))
                _signal_all(stopped, signal.SIGCONT)
                stopped = []
                # The event loop wakes late (whole milliseconds, a busy loop): the running share
                # follows the stop that really happened, so the ratio stays the cap's.
                stopped_s = time.monotonic() - started
                await asyncio.sleep(stopped_s * cap / (1 - cap))
        finally:
            _signal_all(stopped, signal.SIGCONT)  # never leave the device stopped

    def _current_members(self) -> list[int]:
        now = time.monotonic()
        init = self._init_host_pid()
        if init is None:
            return []
        if now - self._scanned_at >= RESCAN_S:
            self._members = namespace_members(init)
            self._scanned_at = now
        return self._members
