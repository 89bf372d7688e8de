"""adb servers that tests start for themselves (the session's, private ones, a stand-in remote).

The adb bundled in the adbutils wheel (36.x) waits 3 s for its first USB scan at every server
start on a machine without USB when it uses its libusb backend, the default; with its native Linux
backend (ADB_LIBUSB=0) it answers in 20 ms. Only servers a test starts get it: a server that
squeezebench starts or restarts by itself runs with the session's environment, as a user's would.
"""

from __future__ import annotations

import os
from unittest import mock

QUICK_START_ENV = {"ADB_LIBUSB": "0"}


def start_adb_server(address) -> None:
    """A local adb server at `address`, started now unless one answers there."""
    from harness.device import adb

    with mock.patch.dict(os.environ, QUICK_START_ENV):
        adb.ensure_server(address)


def adb_server_environment(**changes: str) -> dict[str, str]:
    """The environment for an adb server a test runs itself (`adb nodaemon server`)."""
    return {**os.environ, **QUICK_START_ENV, **changes}
