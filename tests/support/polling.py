"""Waiting in tests for something another process does, with a message that says what never came."""

from __future__ import annotations

import time


def wait_for(predicate, what: str, timeout_s: float = 120.0, interval_s: float = 0.1):
    """The first truthy value of `predicate()`, polled every `interval_s`; AssertionError naming
    `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}")
