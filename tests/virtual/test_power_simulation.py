"""The battery and thermal simulation on a running device, driven by real CPU work inside it."""

from __future__ import annotations

import re
import time

import pytest

from harness.virtual import fleet
from tests.support.polling import wait_for
from tests.virtual.support import Client, bundled_adb

pytestmark = pytest.mark.slow  # seconds of simulated time, idle and busy, on running devices

HEAT_LIMIT_S = 60
BUSY_CPU_S = 3
IDLE_S = 3
BATTERY = "/sys/class/power_supply/battery"


def battery_and_cpu_temperature(client: Client) -> tuple[int, int, float]:
    """(charge_counter µAh, battery temp in tenths °C, SoC temperature °C) read on the device."""
    result = client.shell(f"cat {BATTERY}/charge_counter {BATTERY}/temp; dumpsys thermalservice")
    assert result.exit_code == 0, result
    text = result.stdout.decode()
    counter, temp = (int(v) for v in text.split()[:2])
    soc = float(re.search(r"Temperature\{mValue=([\d.]+), mType=0, mName=cpu", text).group(1))
    return counter, temp, soc


def thermal_status(client: Client) -> int:
    return int(re.search(rb"Thermal Status: (\d)", client.shell("dumpsys thermalservice").stdout).group(1))


def battery_status_becomes(client: Client, status: bytes) -> None:
    """The fuel gauge follows a change of the charger input on its next tick, as on a phone."""
    wait_for(lambda: client.shell(f"cat {BATTERY}/status").stdout == status + b"\n", f"the battery to be {status}",
             timeout_s=30)


def test_cpu_work_drains_and_heats_while_idle_barely_changes(bundled):
    bundled.shell("setprop power.battery_input.suspended true")
    try:
        battery_status_becomes(bundled, b"Discharging")
        # Negative = discharging, once the fuel gauge (which averages the 0.25-1 s before each reading,
        # as a phone's does) has a reading from after the switch.
        wait_for(lambda: int(bundled.shell(f"cat {BATTERY}/current_now").stdout) < 0, "a discharging gauge reading",
                 timeout_s=5)
        idle_start = battery_and_cpu_temperature(bundled)
        idle_began = time.monotonic()
        bundled.shell(f"sleep {IDLE_S}")
        idle_end = battery_and_cpu_temperature(bundled)
        busy_began = time.monotonic()
        # Bounded by CPU time, not wall time, so that a loaded host cannot make it do less work.
        bundled.shell(f"python3 -c 'import time\nwhile time.process_time() < {BUSY_CPU_S}: pass'")
        busy_end = battery_and_cpu_temperature(bundled)
        busy_wall_s = time.monotonic() - busy_began
        idle_wall_s = busy_began - idle_began
    finally:
        bundled.shell("setprop power.battery_input.suspended false")
    idle_drain_uah = idle_start[0] - idle_end[0]
    assert idle_drain_uah > 0  # idle power still comes out of the battery
    work_drain_uah = (idle_end[0] - busy_end[0]) - idle_drain_uah / idle_wall_s * busy_wall_s
    # The profile's 1.2 W per busy core for BUSY_CPU_S seconds, at about 3.9 V: ~250 µAh.
    assert work_drain_uah > 120
    busy_heating_c = busy_end[2] - idle_end[2]
    assert busy_heating_c > 0.15
    assert abs(idle_end[2] - idle_start[2]) < busy_heating_c / 2
    assert busy_end[1] >= idle_end[1]  # the battery warms far slower than the SoC, but not less
    battery_status_becomes(bundled, b"Charging")


def test_thermal_status_rises_through_android_levels_under_load(adb_server):
    [device] = fleet.start(1, "virtual-hot", adb_server=adb_server)
    try:
        hot = Client("bundled-cli", adb_server, device.serial, bundled_adb())
        assert thermal_status(hot) == 0
        # Busy until the status rises, however long a loaded host takes to give the loop the CPU
        # time it needs (about 3 s of it on an idle host); never longer than HEAT_LIMIT_S.
        hot.shell(f"timeout {HEAT_LIMIT_S} sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &")
        try:
            wait_for(lambda: thermal_status(hot) >= 1, "the thermal status to rise under load", timeout_s=HEAT_LIMIT_S)
        finally:
            hot.shell("pkill -f 'while :; do :; done'")
        assert re.search(rb"W ThermalManager: thermal status 0 -> [1-6]", hot.shell("logcat -d").stdout)
    finally:
        fleet.stop(device, delete=True)
