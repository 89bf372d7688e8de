"""`squeezebench capture` of a device, replayed, is that device again: the same passport, the same
properties, the same refusals, the same shell."""

from __future__ import annotations

import json
import time
import tomllib

import pytest

from harness.device.capture import Capture, decode_text
from harness.device.connection import Device, parse_getprop
from harness.device.passport import read_passport
from harness.device.profiles import load_virtual_profile
from tests.captures.support import CORPUS, replayed
from tests.support.cli import one_line_error, run_cli

REPLAY_MARKERS = ("ro.squeezebench.capture", "ro.squeezebench.simulated")
# What the simulation moves on between two readings (load changes the current, hence the voltage).
DRIFT = {"temperature_c": 0.3, "voltage_mv": 30, "charge_counter_uah": 500}


def capture_cli(serial: str, directory, adb_server) -> dict:
    done = run_cli("capture", directory, "--device", serial, "--adb-server", str(adb_server), "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def comparable(passport: dict) -> dict:
    """A passport without what names the device rather than describes it (its serial, the replay's
    markers), temperatures rounded to what drifts between two readings."""
    props = {k: v for k, v in passport["props"].items() if k not in REPLAY_MARKERS}
    thermal = dict(passport["thermal"])
    temperatures = thermal.pop("temperatures_c")
    thermal.pop("hottest_c")
    battery = {k: v for k, v in passport["battery"].items() if k not in DRIFT}
    rest = {k: v for k, v in passport.items() if k not in ("serial", "props", "thermal", "battery")}
    return {"props": props, "thermal": thermal, "sensors": sorted(temperatures), "battery": battery, **rest}


def test_a_captured_virtual_device_replays_with_the_same_passport(virtual_devices, adb_server, tmp_path):
    [original] = virtual_devices(1)
    began_s = time.monotonic()
    before = read_passport(Device(adb_server, original.serial)).to_dict()
    report = capture_cli(original.serial, tmp_path / "cap", adb_server)
    assert report["shell_v2"] and report["nodes"] > 20 and not report["denied"] and not report["missing"]
    with replayed(adb_server, tmp_path / "cap") as started:
        assert started.simulated == []
        after = read_passport(Device(adb_server, started.serial)).to_dict()
    between_s = time.monotonic() - began_s
    assert comparable(after) == comparable(before)
    for sensor, value in before["thermal"]["temperatures_c"].items():
        assert abs(after["thermal"]["temperatures_c"][sensor] - value) <= DRIFT["temperature_c"]
    # The battery charges on between the two reads (the capture, then the replay, carries it on),
    # however long a loaded host takes over them: at most the charger's current for that time.
    charger_uah_per_s = load_virtual_profile("virtual-default").battery.charge_current_ma * 1000 / 3600
    allowed = DRIFT | {"charge_counter_uah": DRIFT["charge_counter_uah"] + charger_uah_per_s * between_s}
    for key, drift in allowed.items():
        assert abs(after["battery"][key] - before["battery"][key]) <= drift, key


@pytest.mark.parametrize("name", ["mediatek-tb8168p1-axxs-android13", "samsung-sm-s936b-android16"])
def test_a_replayed_phone_captured_again_has_its_properties_and_dumps(adb_server, tmp_path, name):
    with replayed(adb_server, name) as started:
        capture_cli(started.serial, tmp_path / "again", adb_server)
    again = Capture.load(tmp_path / "again")
    original = Capture.load(CORPUS / name)
    replayed_props = {k: v for k, v in again.properties().items() if not k.startswith("ro.squeezebench.")}
    assert replayed_props == original.properties()
    if original.raw("dumpsys-thermalservice.txt"):  # the status and layout as captured at the start
        assert again.text("dumpsys-thermalservice.txt").splitlines()[:11] == \
            original.text("dumpsys-thermalservice.txt").splitlines()[:11]


def test_refused_nodes_are_recorded_with_the_devices_words(adb_server, tmp_path):
    with replayed(adb_server, "samsung-sm-s9110-android16") as started:
        report = capture_cli(started.serial, tmp_path / "again", adb_server)
    denied = "/sys/class/power_supply/battery/charge_full_design"
    assert "Permission denied" in report["denied"][denied]
    info = tomllib.loads((tmp_path / "again" / "capture.toml").read_text())
    assert denied in info["denied"] and "Permission denied" in info["errors"][denied]
    assert not (tmp_path / "again" / "sys" / denied[len("/sys/"):]).exists()


def test_an_old_phone_is_captured_as_it_answers_crlf_and_no_shell_v2(adb_server, tmp_path):
    with replayed(adb_server, "asus-tf201-android3.2.1") as started:
        report = capture_cli(started.serial, tmp_path / "again", adb_server)
    assert report["shell_v2"] is False
    raw = (tmp_path / "again" / "getprop.txt").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n") > 100  # through the pty, as the corpus file is
    assert parse_getprop(decode_text(raw))["ro.product.model"] == "TF201"
    node = (tmp_path / "again" / "sys" / "class" / "power_supply" / "battery" / "capacity").read_bytes()
    assert node.endswith(b"\n") and not node.endswith(b"\r\n")  # a node's value, not the pty's
    assert tomllib.loads((tmp_path / "again" / "capture.toml").read_text())["shell_v2"] is False
    with replayed(adb_server, tmp_path / "again") as again:
        assert Device(adb_server, again.serial).has_shell_v2 is False


def test_capture_refuses_a_directory_in_use_and_says_what_it_collected(virtual_devices, adb_server, tmp_path):
    [device] = virtual_devices(1)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    done = run_cli("capture", tmp_path / "used", "--device", device.serial, "--adb-server", str(adb_server))
    one_line_error(done.returncode, done.stderr, 5, "is not empty")
    done = run_cli("capture", tmp_path / "new", "--device", device.serial, "--adb-server", str(adb_server))
    assert done.returncode == 0 and "getprop.txt" in done.stdout and "virtual start --capture" in done.stdout
