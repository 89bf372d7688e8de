"""A virtual device answering as a captured phone (harness/virtual/replay*.py): first the
replay's own logic on corpus captures without a daemon, then through the real adb server."""

from __future__ import annotations

import json
import re
import shutil
from contextlib import contextmanager

import pytest

from harness.device.capture import Capture
from harness.device.connection import Device
from harness.device.passport import read_passport
from harness.device.profiles import load_virtual_profile
from harness.virtual.power import PowerModel
from harness.virtual.replay import Replay

from tests.captures.support import CAPTURES, CORPUS, replayed
from tests.support.cli import one_line_error, run_cli
from tests.support.devices import session_ports

PROFILE = load_virtual_profile("virtual-default")


def replay_of(capture_dir) -> tuple[Replay, PowerModel]:
    replay = Replay(Capture.load(capture_dir), PROFILE)
    power = PowerModel(PROFILE, replay.power_start())
    replay.attach(power)
    return replay, power


def busy_and_off_the_charger(power: PowerModel) -> None:
    power.charging_suspended = True
    for _ in range(8):
        power.step(0.25, 0.5)  # two busy cores


# Without a daemon --------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n in CAPTURES if (CORPUS / n / "dumpsys-battery.txt").exists()])
def test_at_the_start_the_battery_dump_is_the_captured_text(name):
    replay, power = replay_of(CORPUS / name)
    service = replay.battery_service(power)
    assert service.dump() == replay.command_text("dumpsys-battery.txt")


@pytest.mark.parametrize("name", [n for n in CAPTURES if (CORPUS / n / "dumpsys-thermalservice.txt").exists()])
def test_at_the_start_the_thermal_and_power_dumps_are_the_captured_text(name):
    replay, power = replay_of(CORPUS / name)
    assert replay.thermal_service(power).dump() == replay.command_text("dumpsys-thermalservice.txt")
    if (CORPUS / name / "dumpsys-power.txt").exists():
        render, wakefulness = replay.power_service_start()
        assert render(power.last, wakefulness, 0) == replay.command_text("dumpsys-power.txt")


def test_the_gauge_continues_from_the_captured_values_in_microamps_negative_discharging():
    replay, power = replay_of(CORPUS / "google-pixel11pro-grizzly-android17")  # held at a charge limit
    assert replay.power_start().held_status == "Not charging"
    at_start = replay.sysfs.battery_value("current_now", power.last, "")
    assert (at_start, replay.sysfs.battery_value("voltage_now", power.last, "")) == ("-11718", "4446015")
    # capture.toml: this phone echoes power.battery_input.suspended and stays on its charger, whose
    # current carries the load while the battery rests (issue 13, item 4).
    assert replay.power_start().suspension_works is False
    busy_and_off_the_charger(power)
    assert abs(int(replay.sysfs.battery_value("current_now", power.last, "")) + 11718) < 50_000


def test_a_phone_that_acts_on_the_suspension_discharges_from_the_captured_values(tmp_path):
    capture = tmp_path / "cap"
    shutil.copytree(CORPUS / "google-pixel11pro-grizzly-android17", capture)
    toml = capture / "capture.toml"
    toml.write_text(toml.read_text().replace("charging_suspend_works = false", "charging_suspend_works = true"))
    replay, power = replay_of(capture)
    busy_and_off_the_charger(power)
    assert int(replay.sysfs.battery_value("current_now", power.last, "")) < -11718 - 300_000


def test_a_gauge_in_milliamps_positive_while_discharging_stays_so(tmp_path):
    capture = tmp_path / "cap"
    node = capture / "sys" / "class" / "power_supply" / "battery"
    node.mkdir(parents=True)
    (node / "current_now").write_text("350\n")
    (node / "status").write_text("Discharging\n")
    (capture / "capture.toml").write_text('schema_version = 1\ncurrent_unit = "mA"\ncurrent_sign = "positive-discharging"\n')
    replay, power = replay_of(capture)
    assert replay.power_start().charger_online is False
    assert replay.sysfs.battery_value("current_now", power.last, "") == "350"
    busy_and_off_the_charger(power)
    assert 600 < int(replay.sysfs.battery_value("current_now", power.last, "")) < 2000  # more load, more mA


def test_samsungs_current_now_line_moves_in_milliamps():
    replay, power = replay_of(CORPUS / "samsung-sm-s9110-android16")
    service = replay.battery_service(power)
    busy_and_off_the_charger(power)
    text = service.dump()
    assert "  status: 3" in text and "  USB powered: false" in text
    current_ma = int(text.split("  current now: ")[1].split("\n")[0])
    assert -2000 < current_ma < 559 - 300  # from +559 (charging) down by what the load now draws
    assert text.split("FEATURE_WIRELESS_FAST_CHARGER_CONTROL")[1] == \
        replay.command_text("dumpsys-battery.txt").split("FEATURE_WIRELESS_FAST_CHARGER_CONTROL")[1]


def test_a_frozen_battery_dump_stays_frozen_until_reset():
    replay, power = replay_of(CORPUS / "honor-hwcol-emui-unknown-release")
    service = replay.battery_service(power)
    busy_and_off_the_charger(power)
    assert service.dump() == replay.command_text("dumpsys-battery.txt")  # values the phone was told
    service.command(["reset"])
    assert "UPDATES STOPPED" not in service.dump() and "  status: 3" in service.dump()
    service.command(["set", "level", "5"])
    assert "UPDATES STOPPED" in service.dump() and "  level: 5" in service.dump()


def test_thermal_status_and_temperatures_move_but_battery_limits_stay():
    replay, power = replay_of(CORPUS / "xiaomi-aurora-custom-android16")
    service = replay.thermal_service(power)
    captured = service.dump()
    for _ in range(4000):  # a long busy stretch, until the simulated skin crosses the first threshold
        if power.step(0.25, 2.0).thermal_status:
            break
    moved = service.dump()
    assert "Thermal Status: 0" in captured and "Thermal Status: 0" not in moved
    for line in ("mValue=-1.125, mType=7, mName=ibat", "mValue=3.936, mType=6, mName=vbat", "mValue=53.0, mType=8"):
        assert line in moved
    assert "mValue=35.4, mType=0, mName=CPU0" in captured and "mValue=35.4, mType=0, mName=CPU0" not in moved
    assert moved.split("HAL Ready")[0].split("Cached temperatures:")[1] == \
        captured.split("HAL Ready")[0].split("Cached temperatures:")[1]  # the cache is the HAL's past


@pytest.mark.parametrize("name, cores, big_khz", [
    ("google-pixel11pro-grizzly-android17", 7, 4109000),
    ("samsung-sm-s9110-android16", 8, 3360000),
])
def test_the_captured_cores_and_clocks_are_the_devices(name, cores, big_khz):
    replay, _power = replay_of(CORPUS / name)
    clocks = replay.sysfs.clocks(PROFILE.cpu)
    assert len(clocks) == cores and clocks[-1].max_khz == big_khz


def test_parts_the_capture_lacks_are_said_to_be_simulated():
    replay, _power = replay_of(CORPUS / "google-pixel3a-android9")  # battery nodes only
    assert replay.parts["properties"] == "simulated" and replay.parts["power_supply"] == "partial"
    assert "power_supply(partial)" in replay.simulated and "battery" in replay.simulated
    props = replay.properties({"ro.product.model": "Virtual Device"})
    assert props["ro.squeezebench.virtual"] == "1" and props["ro.squeezebench.capture"] == "google-pixel3a-android9"
    assert "battery" in props["ro.squeezebench.simulated"].split(",")


def test_captured_properties_are_the_only_ones_besides_the_markers():
    replay, _power = replay_of(CORPUS / "asus-tf201-android3.2.1")
    props = replay.properties({"ro.soc.model": "Virtual x86_64", "ro.product.cpu.abi": "x86_64"})
    assert "ro.soc.model" not in props and props["ro.product.cpu.abi"] == "armeabi-v7a"


# Through the adb server --------------------------------------------------------------------


@contextmanager
def replayed_device(adb_server, capture):
    with replayed(adb_server, capture) as started:
        yield started, Device(adb_server, started.serial)


def test_denied_nodes_and_services_are_refused_as_on_the_phone(adb_server, tmp_path):
    capture = tmp_path / "both"
    shutil.copytree(CORPUS / "samsung-sm-s9110-android16", capture)
    # The S23's capture with the service the Realme 7 denied (realme-7-android11) denied too.
    (capture / "capture.toml").write_text((capture / "capture.toml").read_text().replace(
        'denied = ["', 'denied = ["dumpsys batterystats", "'))
    with replayed_device(adb_server, capture) as (_started, device):
        node = device.shell(["cat", "/sys/class/power_supply/battery/charge_full_design"], check=False)
        assert node.exit_code == 1 and "Permission denied" in node.stderr
        assert device.shell(["cat", "/sys/class/power_supply/battery/capacity"]).stdout == "44\n"
        stats = device.shell(["dumpsys", "batterystats"], check=False).stdout
        assert stats.startswith("Permission Denial: can't dump batterystats")


def test_missing_commands_and_paths_are_missing(adb_server, tmp_path):
    capture = tmp_path / "cap"
    capture.mkdir()
    (capture / "getprop.txt").write_text("[ro.product.model]: [Old Phone]\n")
    (capture / "capture.toml").write_text(
        'schema_version = 1\nmissing = ["dumpsys thermalservice", "toybox --version", "/sys/class/thermal"]\n')
    with replayed_device(adb_server, capture) as (started, device):
        thermal = device.shell(["dumpsys", "thermalservice"], check=False)
        assert "Can't find service: thermalservice" in thermal.stderr and "Thermal Status" not in thermal.stdout
        assert device.shell(["toybox", "--version"], check=False).exit_code == 127
        assert device.shell(["ls", "/sys/class/thermal"], check=False).exit_code != 0
        assert device.shell(["ls", "/data/local/tmp"]).exit_code == 0  # applets still work
        assert started.parts["thermalservice"] == "missing"


@pytest.mark.parametrize("denied, missing", [("battery", "power"), ("power", "battery")])
def test_refused_or_absent_services_answer_as_the_phone_did_where_dumpsys_is_served_fast(
        adb_server, tmp_path, denied, missing):
    """`dumpsys battery|thermalservice|power` are served from published dumps (no Python): a
    service the capture shows refused or absent gets none, and the full stand-in says so."""
    capture = tmp_path / "cap"
    capture.mkdir()
    (capture / "getprop.txt").write_text("[ro.product.model]: [Old Phone]\n")
    (capture / "capture.toml").write_text(
        f'schema_version = 1\ndenied = ["dumpsys {denied}"]\nmissing = ["dumpsys {missing}"]\n')
    with replayed_device(adb_server, capture) as (_started, device):
        refused = device.shell(["dumpsys", denied], check=False)
        assert refused.stdout.startswith(f"Permission Denial: can't dump {denied}"), refused
        absent = device.shell(["dumpsys", missing], check=False)
        assert f"Can't find service: {missing}" in absent.stderr and absent.stdout == "", absent
        assert re.search(r"^Thermal Status: [0-6]$", device.shell(["dumpsys", "thermalservice"]).stdout, re.M)


def test_a_captured_dump_the_device_cannot_render_fails_alone(adb_server, tmp_path):
    """Every served dump is rendered after every command: one that cannot be (here a battery
    temperature that is not a number) must fail its own `dumpsys`, as it always did, and leave
    every other command answering."""
    capture = tmp_path / "cap"
    shutil.copytree(CORPUS / "samsung-sm-s9110-android16", capture)
    battery = capture / "dumpsys-battery.txt"
    battery.write_text(battery.read_text().replace("  temperature: 422\n", "  temperature: nan\n"))
    with replayed_device(adb_server, capture) as (_started, device):
        assert device.shell(["getprop", "ro.product.model"]).stdout == "SM-S9110\n"
        assert device.shell(["dumpsys", "battery"], check=False).exit_code != 0
        assert "mWakefulness=" in device.shell(["dumpsys", "power"]).stdout


def test_uname_cpuinfo_and_multiline_properties_are_the_captured_ones(adb_server):
    fiio = CORPUS / "fiio-m17-android10"
    with replayed_device(adb_server, fiio) as (_started, device):
        assert device.shell(["uname", "-a"]).stdout.strip() == (fiio / "uname.txt").read_text().strip()
        assert device.shell(["uname", "-r"]).stdout == "4.14.156-perf\n"
        assert device.shell(["uname", "-m"]).stdout == "aarch64\n"
        assert device.shell(["cat", "/proc/cpuinfo"]).stdout == (fiio / "proc-cpuinfo.txt").read_text()
    with replayed_device(adb_server, CORPUS / "motorola-edge20-android13") as (_started, device):
        history = device.shell(["getprop", "persist.sys.boot.reason.history"]).stdout
        assert history.count("\n") == 4 and history.startswith("reboot,hardware_reset,")


def test_dumpsys_power_and_the_sysfs_tree_of_the_capture(adb_server):
    with replayed_device(adb_server, CORPUS / "mediatek-tb8168p1-axxs-android13") as (_started, device):
        assert "mWakefulness=Asleep" in device.shell(["dumpsys", "power"]).stdout
        stats = device.shell(["cat", "/sys/devices/system/cpu/cpu0/cpufreq/stats/time_in_state"]).stdout
        assert stats.startswith("850000 87848\n")


def test_virtual_list_says_what_is_simulated(adb_server):
    with replayed_device(adb_server, CORPUS / "google-pixel3a-android9") as (started, device):
        listed = json.loads(run_cli("virtual", "list", "--json").stdout)
        [mine] = [d for d in listed if d["serial"] == started.serial]
        assert mine["capture"].endswith("google-pixel3a-android9") and "properties" in mine["simulated"]
        assert "power_supply(partial)" in run_cli("virtual", "list").stdout
        marked = device.shell(["getprop", "ro.squeezebench.simulated"]).stdout.strip().split(",")
        assert marked == mine["simulated"]


def test_a_capture_that_is_none_is_refused_in_one_line(tmp_path, adb_server):
    (tmp_path / "empty").mkdir()
    for target, problem in ((tmp_path / "absent", "is not a directory"), (tmp_path / "empty", "holds no capture")):
        done = run_cli("virtual", "start", "--capture", target, "--adb-server", str(adb_server))
        one_line_error(done.returncode, done.stderr, 5, problem)


def test_raw_bytes_that_are_no_utf8_pass_through_and_are_captured_as_they_are(adb_server, tmp_path):
    capture = tmp_path / "cap"
    cpufreq = capture / "sys" / "devices" / "system" / "cpu" / "cpu0" / "cpufreq"
    cpufreq.mkdir(parents=True)
    (cpufreq / "scaling_governor").write_bytes(b"sched\xffutil\n")
    battery = capture / "sys" / "class" / "power_supply" / "battery"
    battery.mkdir(parents=True)
    (battery / "technology").write_bytes(b"Li-\xb0ion\n")
    with replayed_device(adb_server, capture) as (started, device):
        passport = read_passport(device)  # no failure: replacement characters
        assert passport.governors["cpu0"] == "sched\ufffdutil"
        done = run_cli("capture", tmp_path / "again", "--device", started.serial, "--adb-server", str(adb_server))
        assert done.returncode == 0, done.stderr
    again = tmp_path / "again" / "sys"
    assert (again / "class" / "power_supply" / "battery" / "technology").read_bytes() == b"Li-\xb0ion\n"
    assert (again / "devices" / "system" / "cpu" / "cpu0" / "cpufreq" / "scaling_governor").read_bytes() == \
        b"sched\xffutil\n"


def test_capture_combines_with_profile_and_port(adb_server):
    port = session_ports()
    done = run_cli("virtual", "start", "--capture", CORPUS / "honor-bkl-l09-android8.0.0", "--profile",
                   "virtual-midrange", "--port", str(port), "--adb-server", str(adb_server))
    assert done.returncode == 0, done.stderr
    try:
        assert done.stdout.startswith(f"127.0.0.1:{port}\tvirtual-midrange\tdevice")
        assert "answers as" in done.stdout and "honor-bkl-l09-android8.0.0" in done.stdout
        device = Device(adb_server, f"127.0.0.1:{port}")
        assert device.shell(["getprop", "ro.squeezebench.profile"]).stdout == "virtual-midrange\n"
        assert device.shell(["getprop", "ro.product.model"]).stdout == "BKL-L09\n"
    finally:
        run_cli("virtual", "stop", "--delete", f"127.0.0.1:{port}")
