"""The deeper measurements of `squeezebench bench` end to end on a virtual device: the op-profiling
pass, outputs checked on the device, repeated runs, validity presets and sustained runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.support.cli import one_line_error, run_cli
from tests.support.fast import fast_args

from harness.device.connection import Device
from harness.device.workdir import CELLS_DIR
from harness.errors import ExitCode
from harness.store.cell_files import parse_latency_samples


def bench(model, serial, out, *extra):
    done = run_cli("bench", model, "--device", serial, "--json", "--out", out, "--idle-baseline", "0", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def device(module_device):
    return module_device


@pytest.fixture(scope="module")
def check_inputs(tmp_path_factory):
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("inputs") / "inputs.npz"
    np.savez(path, x_eval=rng.random((12, 32, 32, 3), dtype=np.float32), y_eval=rng.integers(0, 10, 12))
    return path


def test_op_profile_repeats_and_a_preset(tiny_tflite, device, adb_server, tmp_path):
    document = bench(tiny_tflite, device.serial, tmp_path / "b", "--op-profile", "--repeat", "3",
                     "--preset", "quick", "--peak-memory")
    measured = document
    profile = measured["op_profile"]
    # Real per-node times from LiteRT's profiler in the bundled runner: XNNPACK's own operators.
    assert profile["available"] and profile["nodes"] >= 3 and profile["total_us"] > 0
    assert any(row["delegated"] and "Convolution" in row["node_type"] for row in profile["node_types"])
    assert document["passes"]["op_profile"]["runs"]["by_node_type"]
    # The cell's latency is the normal pass's: three runner processes of the preset's 10 runs.
    repeats = measured["repeats"]
    assert repeats["count"] == 3 and len(repeats["medians_us"]) == 3 and repeats["spread"] >= 0
    assert measured["latency_us"]["count"] >= 30 and measured["latency_us"]["source"] == "samples"
    assert measured["preset"] == {"name": "quick", "met": True, "reasons": [], "headline": "median",
                                  "headline_us": measured["latency_us"]["median"]}
    assert document["settings"]["runs"] == 10 and document["settings"]["idle_baseline_s"] == 0
    assert {"run_2", "run_3", "op_profile"} <= set(document["raw"])
    assert (tmp_path / "b" / "op_profile" / "runner.log").is_file()
    # Every pass's directory on the device (measured, memory, op profile) was pulled, then removed.
    assert (tmp_path / "b" / "memory-pass" / "runner.log").is_file()
    left = Device(adb_server, device.serial).shell(["ls", "-A", CELLS_DIR], check=False)
    assert left.stdout.strip() == "", left



@pytest.mark.slow  # an idle baseline and two measuring windows long enough for the gauge
def test_energy_of_repeated_runs_is_the_last_runs_measured_runs(tiny_tflite, device, tmp_path):
    done = run_cli("bench", tiny_tflite, "--device", device.serial, "--json", "--out", tmp_path / "r", "--repeat", "2",
                   "--runs", "20", "--min-secs", "2.5", "--idle-baseline", "2.5")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    energy = document["energy"]
    assert energy["validity"] == "valid", energy["reason"]
    last_run = parse_latency_samples((tmp_path / "r" / "run_2" / "latencies.txt").read_text())
    # Divided over the last process's measured runs alone, not the pooled count of both.
    assert energy["n_inferences"] == len(last_run) < document["latency_us"]["count"]
    assert energy["startup_energy_j"] is None  # the first process is not the last one's start-up
    run_2 = next(run for run in document["agent"]["runs"] if run["index"] == 2)
    assert energy["measured_s"] <= run_2["end_uptime_s"] - run_2["start_uptime_s"]

def test_outputs_checked_on_the_device_and_a_perturbing_runner_is_flagged(tiny_tflite, device, check_inputs,
                                                                           tmp_path):
    # Quick measuring settings: the outputs are checked in a pass of their own.
    quick = fast_args(check_outputs=True)
    good = bench(tiny_tflite, device.serial, tmp_path / "good", "--inputs", check_inputs, *quick)
    check = good["output_check"]
    assert check["available"] and check["samples"] == 12 and check["top1_agreement_level"] == 1.0
    assert check["device_accuracy"] == check["host_accuracy"] and not check["numerics"]
    assert "numerics" not in good["flags"]
    assert good["passes"]["output_check"]["vs_host_level"]["top1_agreement"] == 1.0

    # The bundled runner's test switch moves the dumped outputs: the device now disagrees.
    broken = bench(tiny_tflite, device.serial, tmp_path / "broken", "--inputs", check_inputs, *quick,
                   "--runner-arg=--squeezebench_output_noise=0.5")
    check = broken["output_check"]
    assert check["numerics"] and "numerics" in broken["flags"]
    assert 0 <= check["worst_index"] < 12 and check["max_rel_error"] > check["tolerance"]["relative"]


def test_check_outputs_on_a_lone_tflite_needs_inputs(tiny_tflite, device, tmp_path):
    done = run_cli("bench", tiny_tflite, "--device", device.serial, "--check-outputs", "--out", tmp_path / "x")
    one_line_error(done.returncode, done.stderr, ExitCode.USAGE, "--check-outputs needs real inputs", "--inputs")


@pytest.mark.slow  # a device of its own and a 6 s sustained run
def test_a_short_sustained_run_has_a_row_per_interval(tiny_tflite, virtual_devices, tmp_path):
    [hot] = virtual_devices(1, "virtual-hot")
    document = bench(tiny_tflite, hot.serial, tmp_path / "s", "--sustained", "6s", "--sustained-interval", "2s")
    sustained = document["sustained"]
    rows = sustained["intervals"]
    assert [row["index"] for row in rows] == [1, 2, 3]
    assert all(row["inferences"] > 0 and row["median_us"] > 0 and row["p90_us"] >= row["median_us"] for row in rows)
    # Temperatures from the kept thermal dumps, clocks from cpufreq, both of the device after each interval.
    assert all(row["skin_temp_c"] > 20 and row["cpu_temp_c"] > 20 and row["cpu_max_khz"] > 0 for row in rows)
    assert rows[0]["start_s"] == 0 and rows[-1]["end_s"] >= 6
    assert sustained["p90_us"] > 0 and sustained["clocks"].startswith("simulated")
    assert sustained["throttled"] == (sustained["began_interval"] is not None)


def test_a_check_made_before_on_the_same_build_is_compared_again_not_run_again(tiny_tflite, device, tmp_path):
    rng = np.random.default_rng(17)  # inputs no other test checks with: the first check here runs
    inputs = tmp_path / "inputs.npz"
    np.savez(inputs, x_eval=rng.random((9, 32, 32, 3), dtype=np.float32), y_eval=rng.integers(0, 10, 9))
    quick = [*fast_args(check_outputs=True), "--inputs", inputs]

    def checked(name, *extra):
        document = bench(tiny_tflite, device.serial, tmp_path / name, *quick, *extra)
        runner_logs = sorted(p.name for p in (tmp_path / name / "outputs").glob("runner_*.log"))
        return document["output_check"], document["passes"]["output_check"], runner_logs

    first, first_pass, first_logs = checked("first")
    assert first["device_outputs_from"] is None and first_logs and "reused" not in first["verdict"]

    again, again_pass, again_logs = checked("again")
    assert again_logs == []  # no runner process on the device
    origin = again["device_outputs_from"]
    assert origin["serial"] == device.serial and origin["cell"] == str(tmp_path / "first")
    assert again["verdict"].endswith(f"computed at {origin['computed_utc']} and reused")
    assert again_pass["device_outputs_from"] == origin
    # The stored outputs are compared exactly as the fresh ones were.
    assert {k: v for k, v in again_pass.items() if k != "device_outputs_from"} == \
           {k: v for k, v in first_pass.items() if k != "device_outputs_from"}

    forced, _, forced_logs = checked("forced", "--recheck-outputs")
    assert forced["device_outputs_from"] is None and forced_logs == first_logs

    # Other threads may compute otherwise: checked on the device.
    threads, _, threads_logs = checked("threads", "--threads", "1")
    assert threads["device_outputs_from"] is None and threads_logs
