"""Fixtures for the fault and bad-input tests: private adb servers and virtual devices on them,
both of which a test may kill."""

from __future__ import annotations

import pytest

from harness.device import adb


@pytest.fixture(scope="module")
def device(virtual_devices):
    """One virtual device on the session's adb server for the module's tests."""
    [device] = virtual_devices(1)
    return device


@pytest.fixture
def private_adb(unused_port):
    """An adb server of this test alone (never 5037): the test may kill it."""
    address = adb.AdbServerAddress("127.0.0.1", unused_port())
    adb.ensure_server(address)
    yield address
    adb.kill_server(address)


@pytest.fixture
def devices_on():
    """devices_on(server, count, **options): virtual devices on that server, stopped and deleted
    after the test whatever the test did to them (killed, restarted on the same port)."""
    from harness.virtual import fleet

    serials: list[str] = []

    def start(server, count: int = 1, **options):
        devices = fleet.start(count, adb_server=server, **options)
        serials.extend(d.serial for d in devices)
        return devices

    yield start
    for serial in serials:
        try:
            fleet.stop(serial, delete=True)
        except Exception:  # noqa: BLE001 - already gone with its state: nothing to clean
            pass
