"""Fixtures for the virtual device: real daemons, a real adb server per adb CLI version, and one
client abstraction over the three clients the issue names (adbutils, the adb CLI bundled in the
adbutils wheel, Debian's adb), each speaking to its own server on a private port."""

from __future__ import annotations

import os

import pytest

from harness.device import adb
from harness.virtual import fleet
from tests.virtual.support import CLIENTS, DEBIAN_ADB, Client, bundled_adb, wait_for_state


@pytest.fixture(scope="session")
def device(adb_server):
    """One virtual device for the session (default profile), deleted at the end."""
    [started] = fleet.start(1, adb_server=adb_server)
    yield started
    fleet.stop(started, delete=True)


@pytest.fixture(scope="session")
def debian_server(device, unused_port):
    """Debian's adb (29.x) as a server of its own, with the session device registered."""
    if not os.access(DEBIAN_ADB, os.X_OK):
        pytest.skip("Debian's adb is not installed (scripts/setup --test installs it)")
    address = adb.AdbServerAddress("127.0.0.1", unused_port())
    adb.start_local_server(address.port, adb_path=DEBIAN_ADB)
    adb.connect(address, device.serial)
    wait_for_state(address, device.serial, "device")
    yield address
    adb.kill_server(address)


def _client(kind: str, request, adb_server, device) -> Client:
    if kind == "adbutils":
        return Client("adbutils", adb_server, device.serial)
    if kind == "bundled-cli":
        return Client("bundled-cli", adb_server, device.serial, bundled_adb())
    return Client("debian-cli", request.getfixturevalue("debian_server"), device.serial, DEBIAN_ADB)


@pytest.fixture(params=CLIENTS)
def client(request, adb_server, device) -> Client:
    return _client(request.param, request, adb_server, device)


@pytest.fixture(params=[c for c in CLIENTS if c != "adbutils"])
def cli_client(request, adb_server, device) -> Client:
    """The two adb command-line clients (adbutils has no stdin for shell commands)."""
    return _client(request.param, request, adb_server, device)


@pytest.fixture
def bundled(adb_server, device) -> Client:
    return Client("bundled-cli", adb_server, device.serial, bundled_adb())


@pytest.fixture
def device_tmp(bundled, request) -> str:
    """A fresh directory on the device for one test, removed afterwards."""
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]
    path = f"/data/local/tmp/t_{name}"
    bundled.shell(f"rm -rf {path}; mkdir -p {path}")
    yield path
    bundled.shell(f"rm -rf {path}")
