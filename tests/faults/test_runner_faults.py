"""The runner crashes (segfault, abort, non-zero exit, truncated output) or hangs, through the
bundled runner's fault switches: each is recorded with its status and the output tail, a hung one
is killed after the timeout derived from the settings, and the device is left clean (no process
of the benchmark, nothing under its cells directory)."""

import json

import pytest

from harness.bench.settings import BenchSettings
from harness.errors import ExitCode
from tests.faults.support import device_leftovers
from tests.support.cli import run_cli
from tests.support.fast import FAST_ARGS


def bench_with_fault(model, device, out, fault, *extra):
    done = run_cli("bench", model, "--device", device.serial, "--json", "--out", out, *FAST_ARGS,
               f"--runner-arg=--squeezebench_fault={fault}", *extra)  # fmt: skip
    assert done.returncode == ExitCode.NOTHING_RAN, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        ("segfault", "crashed", "runner killed by signal 11"),
        ("abort", "crashed", "runner killed by signal 6"),
        ("exit:3", "failed", "runner exited with code 3"),
        ("truncate", "failed", "runner output is incomplete or unparseable"),
    ],
)
def test_a_crashing_runner_is_recorded_with_its_output_tail(tiny_tflite, device, tmp_path, fault, status, reason):
    document = bench_with_fault(tiny_tflite, device, tmp_path / "b", fault)
    assert document["status"] == status and reason in document["reason"]
    if fault != "exit:3":  # the runner's last words are in the reason
        assert "Running benchmark for at least 5 iterations" in document["reason"]
    assert document["latency_us"] is None  # no number from a run that did not finish
    assert (tmp_path / "b" / "runner.log").read_text().startswith("INFO: STARTING!")
    assert device_leftovers(device.adb_server, device.serial) == ([], [])


def test_a_hung_runner_is_killed_after_the_timeout_and_leaves_nothing_behind(tiny_tflite, device, tmp_path):
    document = bench_with_fault(tiny_tflite, device, tmp_path / "b", "hang", "--timeout", "2")
    assert document["status"] == "timeout"
    assert document["reason"].startswith("runner hung and was killed after 2")
    assert "Running benchmark for at least 5 iterations" in document["reason"]
    assert document["agent"]["runner"]["timeout_s"] == 2
    assert document["settings"]["derived_timeout_s"] == 2
    assert device_leftovers(device.adb_server, device.serial) == ([], [])


def test_the_timeout_follows_the_measurement_bounds():
    """Without --timeout the runner may take its init allowance plus twice both phases' --max-secs."""
    # Each second more of --max-secs bounds the warm-up and the measured phase, and counts twice.
    assert BenchSettings(max_secs=10).derived_timeout_s - BenchSettings(max_secs=5).derived_timeout_s == 4 * 5
    assert BenchSettings(max_secs=0).derived_timeout_s > 0  # the init allowance: loading a model takes time
    assert BenchSettings(max_secs=1, timeout_s=3).derived_timeout_s == 3
