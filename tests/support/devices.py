"""Virtual devices for tests: started for a block of code, stopped and deleted after it whatever the
block did to them (killed, restarted on the same port), so that no idle device outlives the tests
that need it."""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator

# Other test suites on this machine start their virtual devices from 6520 up, as users do. A test
# that kills a device and brings it back on the same port needs that port to stay free meanwhile,
# so this session takes its ports from a block of its own: below the kernel's ephemeral ports
# (32768 and up), at a random place in 10000-30000.
_next_port = random.randrange(10_000, 30_000, 100)


def session_ports(count: int = 1) -> int:
    """The first of `count` consecutive ports, free now, that no other device of this session got."""
    global _next_port
    while True:
        first, _next_port = _next_port, _next_port + count
        if all(_bindable(port) for port in range(first, first + count)):
            return first


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the device daemon binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def virtual_devices_on(adb_server, count: int = 1, profile: str = "virtual-default", **options) -> Iterator[list]:
    """`count` virtual devices registered with that adb server, for the `with` block, on ports of
    this session."""
    from harness.virtual import fleet

    options.setdefault("port", session_ports(count))
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
