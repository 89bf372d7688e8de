"""`squeezebench bench` end to end: real converter, real adb server, virtual device, bundled runner."""

import json
import statistics
import time

import numpy as np
import pytest

from harness.device.workdir import CHARGING_NOTE
from harness.convert import convert_model
from harness.device.connection import Device


def in_process_median_us(model_path, threads: int, runs: int = 50, min_s: float = 1.0) -> float:
    """A tight LiteRT invoke() loop on the host, at least `runs` runs and `min_s` seconds (as the
    runner measures): what the pipeline's number should match."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(detail["dtype"], np.integer):
        info = np.iinfo(detail["dtype"])
        data = rng.integers(info.min, info.max, size=detail["shape"], dtype=detail["dtype"])
    else:
        data = rng.random(detail["shape"], dtype=np.float32)
    interpreter.set_tensor(detail["index"], data)
    for _ in range(5):
        interpreter.invoke()
    times = []
    deadline = time.perf_counter() + min_s
    while len(times) < runs or time.perf_counter() < deadline:
        start = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - start) / 1000)
    return statistics.median(times)


def bench(cli, model, serial, out, *extra):
    done = cli("bench", model, "--device", serial, "--json", "--out", out, "--idle-baseline", "1.25", *extra)
    assert done.returncode in (0, 3), done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def mobilenet_v2(tmp_path_factory):
    out = tmp_path_factory.mktemp("mobilenet_v2")
    document = convert_model("mobilenet_v2", "fp32,int8", out)
    return {entry["level"]: out / entry["file"] for entry in document["levels"] if entry["status"] == "ok"}


@pytest.fixture(scope="module")
def device(virtual_devices):
    [device] = virtual_devices(1)
    return device


@pytest.mark.parametrize("level", ["fp32", "int8"])
def test_mobilenet_latency_matches_litert_in_process(cli, mobilenet_v2, device, tmp_path, level):
    """Interleaved host loops and device benches; other load on a shared machine only ever adds
    time, so the fastest median of each side is the one to compare."""
    model = mobilenet_v2[level]
    host_medians = [in_process_median_us(model, threads=2)]
    documents = []
    for round_ in range(3):
        documents.append(bench(cli, model, device.serial, tmp_path / f"b{round_}", "--threads", "2", "--runs", "30"))
        host_medians.append(in_process_median_us(model, threads=2))
    for document in documents:
        assert document["status"] == "ok", document["reason"]
    reference = min(host_medians)
    median = min(d["latency_us"]["median"] for d in documents)
    assert abs(median / reference - 1) < 0.10, f"device {median:.0f} µs vs in-process {reference:.0f} µs"
    document = documents[0]
    assert document["latency_us"]["source"] == "samples" and document["latency_us"]["count"] >= 30
    lo, hi = document["latency_us"]["ci95_median"]
    assert lo <= document["latency_us"]["median"] <= hi
    assert document["energy"]["method"] == "simulated"
    assert document["energy"]["validity"] == "valid" and document["energy"]["energy_per_inference_mj"] > 0
    assert "virtual" in document["flags"]
    assert document["device"]["flags"]["virtual"] is True
    assert document["memory_mb"]["peak"] > 0
    assert document["runner"]["kind"] == "bundled-litert-python"


def test_charging_makes_energy_invalid_and_suspending_it_makes_it_valid(cli, tiny_tflite, device, tmp_path):
    charging = bench(cli, tiny_tflite, device.serial, tmp_path / "charging", "--no-suspend-charging", "--runs", "20")
    assert charging["status"] == "ok"
    assert charging["energy"]["validity"].startswith("invalid: charging")
    assert "charging" in charging["flags"]
    suspended = bench(cli, tiny_tflite, device.serial, tmp_path / "suspended", "--runs", "20")
    assert suspended["energy"]["validity"] == "valid"
    assert suspended["energy"]["energy_per_inference_mj"] > 0 and suspended["energy"]["net_power_mw"] > 0
    assert suspended["energy"]["idle_source"] == "this cell"  # `bench` always measures its own
    assert "charging" not in suspended["flags"]
    # Put back after the benchmark, leaving no note behind.
    handle = Device(device.adb_server, device.serial)
    assert handle.shell(["getprop", "power.battery_input.suspended"]).stdout.strip() == "false"
    assert not handle.shell(["ls", CHARGING_NOTE], check=False).ok


def test_a_hot_device_is_waited_for_with_cooldown_and_flagged_without(cli, virtual_devices, tiny_tflite, tmp_path):
    [hot] = virtual_devices(1, "virtual-hot")
    device = Device(hot.adb_server, hot.serial)

    def heat():
        # 4 s of one busy core: 2 s left the skin barely above status 1's 30 °C, and on a loaded
        # host (less than a core, a slower start of the benchmark) it had cooled back below it.
        device.shell_script('timeout 4 sh -c "while :; do :; done"', check=False)

    heat()
    flagged = bench(cli, tiny_tflite, hot.serial, tmp_path / "flagged", "--runs", "20")
    assert flagged["thermal"]["status_before"] > 0
    assert "throttled" in flagged["flags"]
    heat()
    waited = bench(cli, tiny_tflite, hot.serial, tmp_path / "waited", "--runs", "20", "--cooldown", "3")
    cooldown = waited["thermal"]["cooldown"]
    assert cooldown["result"] in ("cool", "timeout") and cooldown["waited_s"] >= 1
    assert cooldown["thermal_status_at_start"] > 0
    if cooldown["result"] == "timeout":
        assert "throttled" in waited["flags"]


def test_delegates_the_device_lacks_are_unsupported_not_crashes(cli, tiny_tflite, device, tmp_path):
    document = bench(cli, tiny_tflite, device.serial, tmp_path / "gpu", "--delegate", "gpu", "--runs", "5")
    assert document["status"] == "unsupported", document
    assert "GPU" in document["reason"]
    assert document["latency_us"] is None  # never a number from a run that did not happen
