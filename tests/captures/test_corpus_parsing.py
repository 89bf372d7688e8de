"""Every parser the passport uses, on every real capture's files as they are (no device): what
each capture's expected.toml says must come out of them."""

from __future__ import annotations

import re

import pytest

from harness.device.capture import Capture, decode_text
from harness.device.connection import parse_getprop
from harness.device.passport import (
    battery_service_lines,
    is_charging,
    parse_build,
    parse_thermalservice,
    primary_abi,
    read_battery,
)

from tests.captures.support import BATTERY, CAPTURES, CORPUS, IDENTITY, THERMAL, expected, mismatches, unknown_keys


def parsed_passport(capture: Capture) -> dict:
    """The passport fields the files of a capture give, as read_passport would make them."""
    props = capture.properties() or {}
    battery = read_battery(capture.text("dumpsys-battery.txt") or "", "")
    return {
        "props": props,
        "build": parse_build(props),
        "abi": primary_abi(props),
        "battery": battery,
        "thermal": parse_thermalservice(capture.text("dumpsys-thermalservice.txt") or ""),
    }


@pytest.mark.parametrize("name", CAPTURES)
def test_every_fact_the_files_hold_is_parsed_as_expected(name):
    capture = Capture.load(CORPUS / name)
    facts = expected(name)
    assert unknown_keys(facts) == []
    groups = [THERMAL]
    if capture.properties() is not None:
        groups.append(IDENTITY)
    if capture.raw("dumpsys-battery.txt") is not None:
        groups.append(BATTERY)
    assert mismatches(parsed_passport(capture), facts, groups) == {}


@pytest.mark.parametrize("name", [n for n in CAPTURES if Capture.load(CORPUS / n).raw("dumpsys-battery.txt")])
def test_charging_is_what_the_battery_dump_says_and_unknown_when_frozen(name):
    battery = read_battery(Capture.load(CORPUS / name).text("dumpsys-battery.txt"), "")
    wanted = expected(name)["charging"]
    assert battery["charging"] == (None if wanted == "unknown" else wanted)


def test_getprop_saved_by_windows_is_utf16_with_a_bom_and_crlf():
    raw = (CORPUS / "samsung-sm-s936b-android16" / "getprop.txt").read_bytes()
    assert raw[:2] == b"\xff\xfe" and b"\r\x00\n\x00" in raw
    props = parse_getprop(decode_text(raw))
    assert props["ro.product.model"] == "SM-S936B" and props["ro.soc.model"] == "SM8750"
    assert props["persist.sys.boot.reason.history"].count("\n") == 2  # three lines, no CR left
    assert not any("\r" in value for value in props.values())


@pytest.mark.parametrize("name", ["asus-tf201-android3.2.1", "asus-tf201-android4.0.3"])
def test_getprop_through_old_adbds_pty_has_crlf_and_parses_the_same(name):
    raw = (CORPUS / name / "getprop.txt").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")
    props = parse_getprop(decode_text(raw))
    assert props["ro.product.model"] == "TF201" and not any("\r" in v for v in props.values())


@pytest.mark.parametrize("name", [n for n in CAPTURES if "multiline_props" in expected(n)])
def test_values_over_several_lines_are_whole_and_no_property_is_swallowed(name):
    text = Capture.load(CORPUS / name).text("getprop.txt")
    props = parse_getprop(text)
    for prop in expected(name)["multiline_props"]:
        assert "\n" in props[prop] and not props[prop].endswith("]")
    starts = [line for line in text.replace("\r\n", "\n").split("\n") if re.match(r"^\[[^\]]+\]: \[", line)]
    assert len(props) == len(starts)


def test_a_value_ending_in_a_bare_newline_keeps_it():
    props = Capture.load(CORPUS / "xiaomi-redmi-24094rad4g-android15").properties()
    assert props["persist.vendor.sys.pq.picmode"] == "1\n"


def test_a_shell_prompt_pasted_with_getprop_is_no_property():
    raw = (CORPUS / "fiio-m17-android10" / "raw" / "getprop").read_bytes()
    assert raw.startswith(b"sdm660_64:/ # getprop")
    assert parse_getprop(decode_text(raw)) == Capture.load(CORPUS / "fiio-m17-android10").properties()


def test_fingerprint_and_release_disagreeing_keeps_both_and_the_release_wins():
    build = parse_build(Capture.load(CORPUS / "poco-f6-24069pc21i-lineage22-android15").properties())
    assert (build["release"], build["fingerprint_release"], build["release_disagrees"]) == ("15", "14", True)


@pytest.mark.parametrize("name, source", [
    ("asus-tf201-android3.2.1", "ro.board.platform"),  # Android 3: no ro.soc.*
    ("huawei-g700-u20-miui-android4.4.2", "ro.hardware"),  # ro.board.platform is empty
    ("motorola-edge20-android13", "ro.soc.model"),
])
def test_the_soc_falls_back_and_says_where_it_came_from(name, source):
    build = parse_build(Capture.load(CORPUS / name).properties())
    assert build["soc_source"] == source and build["soc"] == expected(name)["soc"]


def test_samsung_battery_sections_after_the_state_are_not_the_state():
    text = Capture.load(CORPUS / "samsung-sm-a266b-android16").text("dumpsys-battery.txt")
    lines = battery_service_lines(text)
    assert lines[-1].strip() == "Super Fast Charging Settings: false"  # FEATURE_... starts the vendor's part
    assert "level:100" in text.split("[SleepChargingManager]")[1].replace("mBatteryLevel:100", "level:100")
    battery = read_battery(text, "")
    assert battery["current_now_ma"] == 0 and battery["level_pct"] == 100 and battery["status"] == "full"


def test_samsung_current_now_is_read_in_ma():
    battery = read_battery(Capture.load(CORPUS / "samsung-sm-s9110-android16").text("dumpsys-battery.txt"), "")
    assert battery["current_now_ma"] == expected("samsung-sm-s9110-android16")["current_now_ma"]


def test_an_empty_vendor_value_is_no_value():
    lines = battery_service_lines("Current Battery Service state:\n  level: \n  status: 2\n")
    battery = read_battery("\n".join(["Current Battery Service state:"] + lines), "")
    assert battery["level_pct"] is None and battery["status"] == "charging"


def test_updates_stopped_values_are_kept_apart_and_the_gauge_is_asked_instead():
    text = Capture.load(CORPUS / "honor-hwcol-emui-unknown-release").text("dumpsys-battery.txt")
    frozen = read_battery(text, "")
    assert frozen["updates_stopped"] and frozen["overridden"]["level_pct"] == 100
    assert frozen["level_pct"] is None and frozen["charging"] is None and frozen["source"] is None
    from_gauge = read_battery(text, "capacity 63\nstatus Discharging\n")
    assert (from_gauge["level_pct"], from_gauge["status"], from_gauge["source"]) == (63, "discharging", "sysfs")
    assert from_gauge["charging"] is False


def test_thermal_hal_battery_current_and_voltage_are_never_temperatures():
    thermal = parse_thermalservice(Capture.load(CORPUS / "xiaomi-aurora-custom-android16").text("dumpsys-thermalservice.txt"))
    assert not {"ibat", "vbat", "socd"} & thermal["temperatures_c"].keys()
    assert thermal["not_temperatures"]["ibat"]["unit"] == "A" and thermal["not_temperatures"]["vbat"]["unit"] == "V"
    # The HAL's current readings, not the stale cache (CPU 79-89 °C there).
    assert thermal["temperatures_from"] == "hal" and 33 < thermal["hottest_c"] < 37


def test_hidl_and_aidl_layouts_give_status_and_temperatures():
    hidl = parse_thermalservice(Capture.load(CORPUS / "mediatek-tb8168p1-axxs-android13").text("dumpsys-thermalservice.txt"))
    assert (hidl["hal"], hidl["hal_version"], hidl["status"]) == ("hidl", "2.0", 0)
    assert hidl["temperatures_c"] == {"CPU": 45.3, "GPU": 45.3, "SKIN": 35.0, "NPU": 45.3}


def test_is_charging_is_about_the_battery_not_the_charger():
    assert is_charging({"status": "full"}) is False and is_charging({"status": "not-charging"}) is False
    assert is_charging({"status": "charging"}) is True and is_charging({"status": "unknown"}) is None
