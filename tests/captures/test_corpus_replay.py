"""Every real capture replayed as a virtual device through the real adb server: `squeezebench
devices --json` shows that phone as its expected.toml says; what the capture lacks is said to be
simulated, never passed off as the phone's. The full `bench` on each is in test_corpus_bench.py."""

from __future__ import annotations

import json
import re

import pytest

from harness.device.connection import Device

from tests.captures.support import BATTERY, CAPTURES, IDENTITY, THERMAL, expected, mismatches, replayed, unknown_keys
from tests.support.cli import run_cli

# What a device itself answers, for facts no passport field holds.
DEVICE_FACTS = {
    "wakefulness": lambda d: re.search(r"mWakefulness=(\w+)", d.shell(["dumpsys", "power"]).stdout)[1],
    "is_powered": lambda d: "mIsPowered=true" in d.shell(["dumpsys", "power"]).stdout,
    "dumpsys_batterystats_denied": lambda d: d.shell(["dumpsys", "batterystats"], check=False).stdout.startswith(
        "Permission Denial"),
    "battery_sysfs_readable": lambda d: d.shell(
        ["cat", "/sys/class/power_supply/battery/charge_full_design"], check=False).exit_code == 0,
}
VOLTAGE_TOLERANCE_MV = 20  # the captured voltage moves with the simulated charge and load


def devices_json(adb_server, serial: str) -> dict:
    done = run_cli("devices", "--json", "--adb-server", str(adb_server))
    assert done.returncode == 0, done.stderr
    [status] = [s for s in json.loads(done.stdout) if s["serial"] == serial]
    return status


def groups_to_check(parts: dict) -> list[dict]:
    """The facts the replay answers from the capture (a simulated part says the profile's)."""
    groups = []
    if parts["properties"] in ("captured", "partial"):
        groups.append(IDENTITY)
    if parts["battery"] == "captured" or parts["power_supply"] in ("captured", "partial"):
        groups.append(BATTERY)
    if parts["thermalservice"] == "captured":
        groups.append(THERMAL)
    return groups


def charging_came_from_the_simulation(passport: dict, parts: dict) -> bool:
    source = passport["battery"]["source"]
    if source == "dumpsys":
        return parts["battery"] == "simulated"
    return source == "sysfs" and parts["power_supply"] != "captured"


@pytest.mark.parametrize("name", CAPTURES)
def test_devices_shows_the_captured_phone(adb_server, name):
    facts = expected(name)
    assert unknown_keys(facts) == []
    with replayed(adb_server, name) as started:
        status = devices_json(adb_server, started.serial)
        passport = status["passport"]
        parts = started.parts
        assert status["ready"] and status["runner"] == "bundled", status  # claims its ABI, runs ours
        assert passport["flags"]["virtual"] and passport["props"]["ro.squeezebench.capture"] == name
        assert passport["props"]["ro.squeezebench.simulated"].split(",") == (started.simulated or ["none"])
        assert mismatches(passport, facts, groups_to_check(parts)) == {}
        if parts["properties"] == "simulated":
            assert passport["props"]["ro.product.model"] == "Virtual Device"  # the profile's, said so
        if facts["charging"] == "unknown":
            assert passport["battery"]["charging"] is None or charging_came_from_the_simulation(passport, parts)
        else:
            assert passport["battery"]["charging"] is facts["charging"]
        if "battery_voltage_mv" in facts:
            assert abs(passport["battery"]["voltage_mv"] - facts["battery_voltage_mv"]) <= VOLTAGE_TOLERANCE_MV
        device = Device(adb_server, started.serial)
        for key, read in DEVICE_FACTS.items():
            if key in facts:
                assert read(device) == facts[key], key
