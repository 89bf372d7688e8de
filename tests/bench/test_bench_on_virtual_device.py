"""`squeezebench bench` end to end: real converter, real adb server, virtual device, bundled runner.

How close the pipeline's latency comes to LiteRT in this process is a speed ratio, measured by
benchmarks/fidelity.py (mobilenet_v2 fp32 and int8), not asserted here: on a shared machine it
depends on the load. What the tests check is what load cannot change: the latency reported is the
runner's own, sample for sample."""

import json
import re
import statistics
import threading

import pytest

from harness.device.workdir import CHARGING_NOTE, STAY_AWAKE_NOTE
from harness.store.cell_files import parse_latency_samples
from harness.device.connection import Device
from tests.support.cli import run_cli, run_cli_in_process
from tests.support.energy import assert_energy_as_recorded, recorded_samples
from tests.support.fast import FAST_ARGS
from tests.support.polling import wait_for


def thermal_status(device: Device) -> int:
    return int(re.search(r"Thermal Status: (\d)", device.shell(["dumpsys", "thermalservice"]).stdout).group(1))


def bench(model, serial, out, *extra):
    done = run_cli("bench", model, "--device", serial, "--json", "--out", out, "--idle-baseline", "2.5", *extra)
    assert done.returncode in (0, 3), done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def device(module_device):
    return module_device


@pytest.mark.slow  # an idle baseline, a measuring window long enough for the gauge, and a memory pass
def test_the_latency_reported_is_the_runners_own_samples(tiny_tflite, device, tmp_path):
    document = bench(tiny_tflite, device.serial, tmp_path / "b", "--threads", "2", "--runs", "30", "--peak-memory")

    assert document["status"] == "ok", document["reason"]
    latency = document["latency_us"]
    samples = parse_latency_samples((tmp_path / "b" / "latencies.txt").read_text())  # pulled from the device as it was
    assert latency["source"] == "samples" and latency["count"] == len(samples) >= 30
    assert latency["median"] == statistics.median(samples)
    # The runner's own summary line in its log, from the same timings in whole µs (as
    # benchmark_model prints them).
    logged = document["parsed"]["latency_us"]
    assert (logged["count"], logged["min"], logged["max"]) == (len(samples), int(min(samples)), int(max(samples)))
    lo, hi = latency["ci95_median"]
    assert lo <= latency["median"] <= hi
    assert document["energy"]["method"] == "simulated"
    assert_energy_as_recorded(document["energy"], recorded_samples(tmp_path / "b"))
    assert "virtual" in document["flags"]
    assert document["device"]["flags"]["virtual"] is True
    # Peak memory from a pass of its own: the timed runner never had the memory monitor's thread.
    assert document["memory_mb"]["peak"] > 0 and document["memory_peak_label"] == "CPU-side RSS, own pass"
    assert "--report_peak_memory_footprint=true" not in document["runner"]["argv"]
    assert "--report_peak_memory_footprint=true" in document["runner"]["memory_pass_argv"]
    assert document["runner"]["kind"] == "bundled-litert-python"


def test_no_energy_leaves_charging_alone_and_puts_the_screen_setting_back(tiny_tflite, device, tmp_path):
    handle = Device(device.adb_server, device.serial)
    handle.shell(["settings", "put", "global", "stay_on_while_plugged_in", "3"])  # the user's own choice
    try:
        document = bench(tiny_tflite, device.serial, tmp_path / "b", "--no-energy", "--idle-baseline", "0",
                         "--runs", "20", "--min-secs", "0")
        after = handle.shell(["settings", "get", "global", "stay_on_while_plugged_in"]).stdout.strip()
    finally:
        handle.shell(["settings", "put", "global", "stay_on_while_plugged_in", "0"])

    assert document["status"] == "ok", document["reason"]
    energy = document["energy"]
    assert (energy["validity"], energy["energy_per_inference_j"]) == ("not measured", None)
    assert "--no-energy" in energy["reason"] and "charging" not in document["flags"]
    assert document["settings"]["suspend_charging"] is False and document["settings"]["idle_baseline_s"] == 0
    agent = document["agent"]
    # Charging never suspended: the property unset (a fresh device) or false (put back earlier).
    assert agent["before"]["battery"]["input_suspended"] in (None, False)
    assert agent["energy"]["idle_s"] == 0 and not agent["energy"]["rails_hal"]  # no idle phase, no HAL probe
    # The screen was kept on for the run, then the setting put back as the user had it.
    assert agent["before"]["wakefulness"] == "Awake"
    assert after == "3"
    assert not handle.shell(["ls", STAY_AWAKE_NOTE], check=False).ok


def test_a_new_bench_knows_the_files_on_the_device_by_their_notes(tiny_tflite, device, tmp_path, monkeypatch):
    # The check of agent, runner and model runs beside nothing that could end it: the reaping of
    # a dead squeezebench's agents, done while files are pushed, matches its command line.
    argv = ["bench", tiny_tflite, "--device", device.serial, "--json", *FAST_ARGS]
    run_cli_in_process(*argv, "--out", tmp_path / "first", check=True)
    monkeypatch.setattr(Device, "remote_sha256", lambda *_: pytest.fail("hashed on the device"))
    monkeypatch.setattr(Device, "push", lambda *_, **__: pytest.fail("pushed again"))

    document = json.loads(run_cli_in_process(*argv, "--out", tmp_path / "second", check=True).stdout)

    assert document["status"] == "ok", document["reason"]


def test_the_device_is_prepared_once_for_a_bench_and_put_back(tiny_tflite, device, tmp_path, monkeypatch):
    # Prepared while the passport is read (which waits here until the preparation has begun), and
    # then not again by the benchmark itself.
    scripts, preparing = [], threading.Event()
    real = Device.shell_script_raw

    def traced(self, script, **kw):
        scripts.append(script)
        if "stayon true" in script:
            preparing.set()
        if "uname -r" in script:
            assert preparing.wait(30), "the passport was read before the device was being prepared"
        return real(self, script, **kw)

    monkeypatch.setattr(Device, "shell_script_raw", traced)

    done = run_cli_in_process("bench", tiny_tflite, "--device", device.serial, "--json", *FAST_ARGS,
                              "--out", tmp_path / "b", check=True)

    assert json.loads(done.stdout)["status"] == "ok"
    assert [("pkill -f" in s, "stayon true" in s) for s in scripts if "pkill -f" in s or "stayon" in s] == [(True, True)]
    handle = Device(device.adb_server, device.serial)
    assert handle.shell(["settings", "get", "global", "stay_on_while_plugged_in"]).stdout.strip() in ("0", "null")
    assert not handle.shell(["ls", STAY_AWAKE_NOTE], check=False).ok


def test_a_bench_refused_on_the_device_puts_the_screen_setting_back(tiny_tflite, device, tmp_path):
    handle = Device(device.adb_server, device.serial)
    before = handle.shell(["settings", "get", "global", "stay_on_while_plugged_in"]).stdout.strip()

    done = run_cli("bench", tiny_tflite, "--device", device.serial, "--json", "--out", tmp_path / "b",
                   *FAST_ARGS, "--taskset", "80000000")

    assert done.returncode != 0
    document = json.loads(done.stdout)
    assert document["status"] == "failed" and "--taskset 80000000" in document["reason"]
    assert handle.shell(["settings", "get", "global", "stay_on_while_plugged_in"]).stdout.strip() == before
    assert not handle.shell(["ls", STAY_AWAKE_NOTE], check=False).ok


@pytest.mark.slow  # two benchmarks with energy
def test_charging_makes_energy_invalid_and_suspending_it_makes_it_valid(tiny_tflite, device, tmp_path):
    charging = bench(tiny_tflite, device.serial, tmp_path / "charging", "--no-suspend-charging", "--runs", "20")
    assert charging["status"] == "ok"
    assert charging["energy"]["validity"].startswith("invalid: charging")
    assert "charging" in charging["flags"]
    suspended = bench(tiny_tflite, device.serial, tmp_path / "suspended", "--runs", "20")
    assert_energy_as_recorded(suspended["energy"], recorded_samples(tmp_path / "suspended"))
    assert suspended["energy"]["idle_source"] == "this cell"  # `bench` always measures its own
    assert "charging" not in suspended["flags"]
    # Put back after the benchmark, leaving no note behind.
    handle = Device(device.adb_server, device.serial)
    assert handle.shell(["getprop", "power.battery_input.suspended"]).stdout.strip() == "false"
    assert not handle.shell(["ls", CHARGING_NOTE], check=False).ok


@pytest.mark.slow  # heats a device twice, benchmarks twice, cools down
def test_a_hot_device_is_waited_for_with_cooldown_and_flagged_without(virtual_devices, tiny_tflite, tmp_path):
    [hot] = virtual_devices(1, "virtual-hot")
    device = Device(hot.adb_server, hot.serial)

    def heat():
        # One busy core until status 2 (32 °C skin), however long a loaded host takes to give it
        # the CPU time: at status 1 the skin was barely above 30 °C, and cooled back below it
        # while a loaded host started the benchmark.
        device.shell_script('timeout 60 sh -c "while :; do :; done" </dev/null >/dev/null 2>&1 &', check=False)
        try:
            wait_for(lambda: thermal_status(device) >= 2, "the device to heat to status 2", timeout_s=60)
        finally:
            device.shell_script("pkill -f 'while :; do :; done'", check=False)

    heat()
    flagged = bench(tiny_tflite, hot.serial, tmp_path / "flagged", "--runs", "20")
    assert flagged["thermal"]["status_before"] > 0
    assert "throttled" in flagged["flags"]
    heat()
    waited = bench(tiny_tflite, hot.serial, tmp_path / "waited", "--runs", "20", "--cooldown", "3")
    cooldown = waited["thermal"]["cooldown"]
    assert cooldown["result"] in ("cool", "timeout") and cooldown["waited_s"] >= 1
    assert cooldown["thermal_status_at_start"] > 0
    if cooldown["result"] == "timeout":
        assert "throttled" in waited["flags"]


def test_delegates_the_device_lacks_are_unsupported_not_crashes(tiny_tflite, device, tmp_path):
    # Quick settings (no idle baseline): the delegate is refused before anything is measured.
    document = bench(tiny_tflite, device.serial, tmp_path / "gpu", "--delegate", "gpu", *FAST_ARGS)
    assert document["status"] == "unsupported", document
    assert "GPU" in document["reason"]
    assert document["latency_us"] is None  # never a number from a run that did not happen
