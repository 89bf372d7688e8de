"""Passport pieces parsed from Android's real output formats."""

from harness.device.passport import (
    compute_flags,
    parse_dumpsys_battery,
    parse_governors,
    parse_meminfo_total_kb,
    parse_thermal_status,
)

# Android 14's BatteryService dump (frameworks/base BatteryService.dumpInternal).
DUMPSYS_BATTERY = """Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Dock powered: false
  Max charging current: 500000
  Max charging voltage: 5000000
  Charge counter: 2500000
  status: 2
  health: 2
  present: true
  level: 85
  scale: 100
  voltage: 4200
  temperature: 250
  technology: Li-ion
  Charging state: 1
  Charging policy: 1
"""

THERMAL = """IsStatusOverride: false
ThermalEventListeners:
	callbacks: 1
ThermalStatusListeners:
	callbacks: 1
Thermal Status: 2
Cached temperatures:
	Temperature{mValue=38.5, mType=3, mName=skin, mStatus=2}
HAL Ready: true
"""


def test_dumpsys_battery_gives_level_status_temperature_and_plug():
    battery = parse_dumpsys_battery(DUMPSYS_BATTERY)
    assert battery["level_pct"] == 85
    assert battery["status"] == "charging"
    assert battery["temperature_c"] == 25.0
    assert battery["voltage_mv"] == 4200
    assert battery["charge_counter_uah"] == 2500000
    assert battery["plugged"] == ["USB"]


def test_missing_battery_fields_are_none_not_guesses():
    battery = parse_dumpsys_battery("Current Battery Service state:\n  level: 40\n")
    assert battery["level_pct"] == 40
    assert battery["temperature_c"] is None
    assert battery["status"] == "unknown"


def test_thermal_status_and_its_absence():
    assert parse_thermal_status(THERMAL) == 2
    assert parse_thermal_status("Can't find service: thermalservice") is None


def test_governors_and_memory():
    text = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor schedutil\n/sys/devices/system/cpu/cpu7/cpufreq/scaling_governor performance\n"
    assert parse_governors(text) == {"cpu0": "schedutil", "cpu7": "performance"}
    assert parse_meminfo_total_kb("MemTotal:        3884408 kB\nMemFree: 1 kB\n") == 3884408


def test_flags_follow_the_conditions():
    charging = parse_dumpsys_battery(DUMPSYS_BATTERY)
    flags = compute_flags({"ro.kernel.qemu": "1", "ro.build.type": "userdebug"}, charging, 2)
    assert flags == {"virtual": False, "emulator": True, "charging": True, "throttled": True,
                     "low_battery": False, "debuggable": True, "battery_overridden": False}
    suspended = compute_flags({"power.battery_input.suspended": "true", "ro.squeezebench.virtual": "1"},
                              {**charging, "level_pct": 20}, 0)
    assert suspended["charging"] is False and suspended["virtual"] and suspended["low_battery"]
