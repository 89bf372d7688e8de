"""Virtual devices for tests: started for a block of code, stopped and deleted after it whatever the
block did to them (killed, restarted on the same port), so that no idle device outlives the tests
that need it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def virtual_devices_on(adb_server, count: int = 1, profile: str = "virtual-default", **options) -> Iterator[list]:
    """`count` virtual devices registered with that adb server, for the `with` block."""
    from harness.virtual import fleet

    devices = fleet.start(count, profile, adb_server=adb_server, **options)
    try:
        yield devices
    finally:
        stop_and_delete([device.serial for device in devices])


def stop_and_delete(serials: list[str]) -> None:
    """Stop the devices with these serials (by serial: one restarted on the same port counts) and
    delete their state."""
    from harness.errors import DeviceError
    from harness.virtual import fleet

    for serial in serials:
        with contextlib.suppress(DeviceError):  # already stopped, its state deleted
            fleet.stop(serial, delete=True)
