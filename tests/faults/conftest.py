"""Fixtures for the fault and bad-input tests: a private adb server, which a test may kill, and one
device for a module's tests (`virtual_devices(..., adb_server=private_adb)` puts devices on the
private server)."""

from __future__ import annotations

import pytest

from harness.device import adb
from tests.support.adb_servers import start_adb_server


@pytest.fixture(scope="module")
def device(module_device):
    """One virtual device on the session's adb server for the module's tests."""
    return module_device


@pytest.fixture
def private_adb(unused_port):
    """An adb server of this test alone (never 5037): the test may kill it."""
    address = adb.AdbServerAddress("127.0.0.1", unused_port())
    start_adb_server(address)
    yield address
    adb.kill_server(address)

