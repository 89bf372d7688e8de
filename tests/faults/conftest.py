"""Fixtures for the fault and bad-input tests: private adb servers and virtual devices on them,
both of which a test may kill."""

from __future__ import annotations

import contextlib

import pytest

from harness.device import adb
from tests.support.adb_servers import start_adb_server
from tests.support.devices import virtual_devices_on


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


@pytest.fixture
def devices_on():
    """devices_on(server, count, **options): virtual devices on that server, stopped and deleted
    after the test whatever the test did to them (killed, restarted on the same port)."""
    with contextlib.ExitStack() as started:
        yield lambda server, count=1, **options: started.enter_context(virtual_devices_on(server, count, **options))
