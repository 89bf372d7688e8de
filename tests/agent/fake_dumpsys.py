"""A stand-in for Android's `dumpsys`, printing the real formats from a scripted device state.

Formats follow AOSP: ThermalManagerService.dump (`Thermal Status: N`), BatteryService.dumpInternal
(`  level: 87`, numeric status), and the power-stats AIDL HAL default implementation
(hardware/interfaces/power/stats/aidl/default/PowerStats.cpp: `  %32s   %14.2f mWs`, values
printed from a float). The state lives in $FAKE_DEVICE/device.json (written by the tests):

  thermal_status: list of statuses, one per call (the last repeats); null = no thermalservice
  battery: dict for `dumpsys battery`; null = no battery service
  rails: {"idle_mw": {rail: mW}, "active_mw": {rail: mW}}; null = no power-stats HAL
Every call appends its service name to $FAKE_DEVICE/dumpsys_calls, one per line.
Rail counters integrate idle power since boot plus the extra active power over the windows the
fake runner appends to $FAKE_DEVICE/activity ("start end" uptimes, end missing while running).
"""

from __future__ import annotations

import json
import os
import struct
import sys
from pathlib import Path

DEVICE = Path(os.environ["FAKE_DEVICE"])
POWER_STATS = "android.hardware.power.stats.IPowerStats/default"


def main(argv: list[str]) -> int:
    state = json.loads((DEVICE / "device.json").read_text())
    service = argv[0] if argv else ""
    with open(DEVICE / "dumpsys_calls", "a") as calls:
        calls.write(service + "\n")
    if service == "thermalservice" and state.get("thermal_status") is not None:
        print(thermal_dump(next_thermal_status(state["thermal_status"])), end="")
    elif service == "battery" and state.get("battery") is not None:
        print(battery_dump(state["battery"]), end="")
    elif service == POWER_STATS and state.get("rails") is not None:
        print(power_stats_dump(state["rails"]), end="")
    else:
        # What dumpsys says for a service the device does not have.
        print(f"Can't find service: {service}", file=sys.stderr)
        return 0
    return 0


def next_thermal_status(statuses: list[int]) -> int:
    calls_file = DEVICE / "thermal_calls"
    calls = int(calls_file.read_text()) if calls_file.exists() else 0
    calls_file.write_text(str(calls + 1))
    return statuses[min(calls, len(statuses) - 1)]


def thermal_dump(status: int) -> str:
    listeners = "\tcallbacks: 1\n\tkilled: false\n\tbroadcasts count: -1\n"
    temperature = f"\tTemperature{{mValue=31.2, mType=3, mName=skin, mStatus={status}}}\n"
    return (
        "IsStatusOverride: false\n"
        f"ThermalEventListeners:\n{listeners}ThermalStatusListeners:\n{listeners}"
        f"Thermal Status: {status}\n"
        f"Cached temperatures:\n{temperature}"
        "HAL Ready: true\nHAL connection:\n\tThermalHAL 2.0 connected: yes\n"
        f"Current temperatures from HAL:\n{temperature}"
        "Current cooling devices from HAL:\n"
    )


def battery_dump(battery: dict) -> str:
    lines = ["Current Battery Service state:"]
    if battery.get("updates_stopped"):
        lines.append("  (UPDATES STOPPED -- use 'reset' to restart)")
    lines += [
        f"  AC powered: {str(battery.get('ac', False)).lower()}",
        f"  USB powered: {str(battery.get('usb', False)).lower()}",
        f"  Wireless powered: {str(battery.get('wireless', False)).lower()}",
        "  Max charging current: 500000",
        "  Max charging voltage: 5000000",
        f"  Charge counter: {battery.get('charge_counter', 2787000)}",
        f"  status: {battery['status']}",
        "  health: 2",
        "  present: true",
        f"  level: {battery['level']}",
        "  scale: 100",
        f"  voltage: {battery.get('voltage_mv', 4279)}",
        f"  temperature: {battery['temperature']}",
        "  technology: Li-ion",
    ]
    return "\n".join(lines) + "\n"


def power_stats_dump(rails: dict) -> str:
    now_s = float(Path("/proc/uptime").read_text().split()[0])
    active_s = active_seconds(now_s)
    out = ["", "============= PowerStats HAL 2.0 state residencies ==============",
           "  %16s   %18s   %16s   %15s   %17s"
           % ("Entity", "State", "Total time", "Total entries", "Last entry tstamp"),
           "  %16s   %18s   %13d ms   %15d   %14d ms" % ("SoC", "SLEEP", 1000, 3, 900),
           "========== End of PowerStats HAL 2.0 state residencies ==========",
           "", "============= PowerStats HAL 2.0 energy consumers ==============",
           "%-12s : %14.2f mWs" % ("CPU_CLUSTER", 123456.0),
           "  %10d - %14.2f mWs" % (10123, 1000.0),
           "========== End of PowerStats HAL 2.0 energy consumers ==========",
           "", "============= PowerStats HAL 2.0 energy meter ==============",
           "  %32s   %18s" % ("Channel", "Cumulative Energy")]
    for rail, idle_mw in rails["idle_mw"].items():
        extra_mw = rails["active_mw"][rail] - idle_mw
        energy_uws = (idle_mw * now_s + extra_mw * active_s) * 1000
        out.append("  %32s   %14.2f mWs" % (rail, as_float32(energy_uws) / 1000.0))
    out.append("========== End of PowerStats HAL 2.0 energy meter ==========")
    return "\n".join(out) + "\n"


def active_seconds(now_s: float) -> float:
    activity = DEVICE / "activity"
    total = 0.0
    for line in activity.read_text().splitlines() if activity.exists() else []:
        fields = line.split()
        if fields:
            start = float(fields[0])
            end = float(fields[1]) if len(fields) > 1 else now_s
            total += max(0.0, min(end, now_s) - start)
    return total


def as_float32(value: float) -> float:
    # The HAL converts the µWs counter to float before printing it.
    return struct.unpack("f", struct.pack("f", value))[0]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
