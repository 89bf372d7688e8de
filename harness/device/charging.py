"""Charging control: a phone on its charger feeds the load from the cable, and its battery gauge
then misses it. squeezebench suspends charging around benchmarks where the phone supports it
(Jetpack Macrobenchmark's method, `power.battery_input.suspended`) and always puts it back.

Whenever it suspends charging it first writes the value to put back into a note on the device
(CHARGING_NOTE), and removes the note when it puts it back. A squeezebench killed in between
(even within a sweep, which keeps charging suspended for a device's whole queue) leaves the note
behind; the next benchmark on the device, holding the device lock and no suspension of its own,
restores charging from it, so a dead run cannot leave a phone off its charger for good.
"""

from __future__ import annotations

import shlex
import time

from harness.device.connection import Device
from harness.device.workdir import CHARGING_NOTE
from harness.errors import DeviceError

SUSPEND_PROPERTY = "power.battery_input.suspended"
BATTERY_STATUS_FILE = "/sys/class/power_supply/battery/status"
# The fuel gauge and BatteryService notice a suspended charger on their next tick (~1 s).
SETTLE_TIMEOUT_S = 3.0
SETTLE_POLL_S = 0.25

# A shell fragment that puts charging back from a dead squeezebench's note, if there is one.
RESTORE_FROM_NOTE_SCRIPT = (
    f'if [ -f {CHARGING_NOTE} ]; then setprop {SUSPEND_PROPERTY} "$(cat {CHARGING_NOTE})"; '
    f"rm -f {CHARGING_NOTE}; fi"
)


def suspend_charging(device: Device) -> str | None:
    """Stop battery charging where the device supports it, and wait until the battery reports
    it, so that an idle baseline is not taken while charging. A device that keeps charging is
    measured anyway (its energy then says so). Returns the value to restore, None when charging
    was suspended already (by its owner)."""
    previous = device.shell(["getprop", SUSPEND_PROPERTY], check=False).stdout.strip() or "false"
    if previous == "true":
        return None
    # The note first: without it, charging is not suspended (the energy then says so).
    device.shell_script(
        f"printf %s {shlex.quote(previous)} >{CHARGING_NOTE} && setprop {SUSPEND_PROPERTY} true", check=False
    )
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        status = device.shell(["cat", BATTERY_STATUS_FILE], check=False).stdout.strip()
        if status and status not in ("Charging", "Full"):
            break
        time.sleep(SETTLE_POLL_S)
    return previous


def restore_charging(device: Device, previous: str | None) -> None:
    """Charging back to `previous` (what suspend_charging returned); nothing when it was None."""
    if previous is None:
        return
    try:
        device.shell_script(f"setprop {SUSPEND_PROPERTY} {shlex.quote(previous)}; rm -f {CHARGING_NOTE}", check=False)
    except DeviceError:
        pass  # the device is gone; the note makes the next session on it restore charging
