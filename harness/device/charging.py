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
from collections.abc import Callable

from harness.background import alongside
from harness.device.connection import Device
from harness.device.passport import read_battery
from harness.device.workdir import CHARGING_NOTE

SUSPEND_PROPERTY = "power.battery_input.suspended"
BATTERY_STATUS_FILE = "/sys/class/power_supply/battery/status"
BATTERY_CAPACITY_FILE = "/sys/class/power_supply/battery/capacity"
BATTERY_CURRENT_FILE = "/sys/class/power_supply/battery/current_now"
_SECTION = "--squeezebench-battery--"
# The fuel gauge and BatteryService notice a suspended charger on their next tick (~1 s); a gauge
# updating every 1 s has given two readings after the switch within 2-3 s.
SETTLE_TIMEOUT_S = 3.0
GAUGE_UPDATES_TO_SETTLE = 2
SETTLE_POLL_S = 0.25

# A shell fragment that puts charging back from a dead squeezebench's note, if there is one.
RESTORE_FROM_NOTE_SCRIPT = (
    f'if [ -f {CHARGING_NOTE} ]; then setprop {SUSPEND_PROPERTY} "$(cat {CHARGING_NOTE})"; '
    f"rm -f {CHARGING_NOTE}; fi"
)


def suspend_charging(device: Device, *, while_settling: Callable[[], object] | None = None) -> str | None:
    """Stop battery charging where the device supports it, and wait until the battery reports
    it, so that an idle baseline is not taken while charging. A device that keeps charging is
    measured anyway (its energy then says so). Returns the value to restore, None when charging
    was suspended already (by its owner). `while_settling`: host work done during the wait (and
    waited for)."""
    previous = device.shell(["getprop", SUSPEND_PROPERTY], check=False).stdout.strip() or "false"
    if previous == "true":
        return None
    # The note first: without it, charging is not suspended (the energy then says so).
    device.shell_script(
        f"printf %s {shlex.quote(previous)} >{CHARGING_NOTE} && setprop {SUSPEND_PROPERTY} true", check=False
    )
    with alongside(while_settling):
        _wait_for_discharge_readings(device)
    return previous


def _wait_for_discharge_readings(device: Device) -> None:
    """Until the battery no longer reports Charging/Full and its gauge has given GAUGE_UPDATES_TO_SETTLE
    new current readings: a gauge's reading averages the period before it (0.25-1 s), so the
    first one after the switch can still carry charging current. At most SETTLE_TIMEOUT_S."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last_current, updates = None, -1
    while time.monotonic() < deadline:
        status, _, current = device.shell_script(
            f"cat {BATTERY_STATUS_FILE}; echo; cat {BATTERY_CURRENT_FILE}", check=False
        ).stdout.strip().partition("\n")
        if current.strip() != last_current:
            last_current, updates = current.strip(), updates + 1
        if status.strip() not in ("", "Charging", "Full") and updates >= GAUGE_UPDATES_TO_SETTLE:
            return
        time.sleep(SETTLE_POLL_S)


def restore_script(previous: str | None) -> str:
    """The shell that puts charging back to `previous` (what suspend_charging returned); "" when
    there is nothing to put back (it was None)."""
    if previous is None:
        return ""
    return f"setprop {SUSPEND_PROPERTY} {shlex.quote(previous)}; rm -f {CHARGING_NOTE}"


def battery_level_pct(device: Device) -> int | None:
    """The battery's level: BatteryService's, else (frozen by `dumpsys battery unplug`, or no dump)
    the gauge's capacity node; None when neither says."""
    output = device.shell_script(
        f"echo capacity $(cat {BATTERY_CAPACITY_FILE} 2>/dev/null); echo {_SECTION}; dumpsys battery 2>/dev/null",
        check=False,
    ).stdout
    gauge_text, _, dumpsys_text = output.partition(_SECTION + "\n")
    return read_battery(dumpsys_text, gauge_text)["level_pct"]


def charge_to(device: Device, level_pct: float, *, timeout_s: float, poll_s: float = 2.0,
              stop=lambda: False) -> int | None:
    """Wait (charging restored by the caller) until the battery is at `level_pct` or above, at most
    `timeout_s` or until `stop()`; returns the last level read."""
    deadline = time.monotonic() + timeout_s
    level = battery_level_pct(device)
    while (level is None or level < level_pct) and time.monotonic() < deadline and not stop():
        time.sleep(poll_s)
        level = battery_level_pct(device)
    return level
