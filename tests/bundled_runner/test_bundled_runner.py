"""The bundled runner end to end: real LiteRT inference on a real .tflite, run as a subprocess
the way devices run it, its output read back with the parser."""

from __future__ import annotations

import ast
import functools
import importlib.util
import select
import signal
import statistics
import subprocess
import sys
import time

import numpy as np
import pytest

from harness.bench.logparse import CUT_OUTPUT_ERROR, parse_benchmark_log
from harness.bench.ondevice import read_latency_samples
from harness.bundled_runner import RUNNER_PATH, RUNNER_VERSION

# Fast phases: the minimum run counts decide, not the minimum durations.
QUICK = ("--warmup_runs=2", "--warmup_min_secs=0", "--num_runs=20", "--min_secs=0")


@functools.cache
def load_runner_module():
    """The runner file as a module, for unit tests of its functions (it is never a package
    module: devices run it as a script)."""
    spec = importlib.util.spec_from_file_location("bundled_benchmark_model", RUNNER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it is executed
    spec.loader.exec_module(module)
    return module


def read_warmup(path) -> list[float]:
    """The warm-up latencies of the runner's --squeezebench_latencies_file (the host reads only
    the measured ones: harness.bench.ondevice.read_latency_samples)."""
    return [float(line.split()[1]) for line in path.read_text().splitlines() if line.startswith("warmup ")]


def count_nodes(model) -> int:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    plain = Interpreter(model_path=str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return len(plain._get_ops_details())


# --- the file itself -----------------------------------------------------------------------


def test_the_runner_is_one_file_that_imports_only_stdlib_numpy_and_litert():
    source = RUNNER_PATH.read_text()
    assert source.startswith("#!/system/bin/python3\n")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) - {"__future__"} <= {"numpy", "ai_edge_litert"}
    assert load_runner_module().RUNNER_VERSION == RUNNER_VERSION


# --- a normal run ----------------------------------------------------------------------------


def test_a_run_is_complete_and_its_numbers_are_those_of_its_samples_file(run_runner, small_model, tmp_path):
    samples_file = tmp_path / "latencies.txt"
    run = run_runner(f"--graph={small_model}", "--num_threads=2", *QUICK,
                     f"--squeezebench_latencies_file={samples_file}")
    parsed = run.parsed
    assert run.returncode == 0, run.output
    assert parsed.complete and parsed.errors == ()
    assert parsed.runner_version.startswith(f"squeezebench-litert-runner {RUNNER_VERSION} (LiteRT ")
    assert parsed.settings["Num threads"] == "2" and parsed.settings["Graph"] == str(small_model)

    warmup, measured = read_warmup(samples_file), read_latency_samples(samples_file)
    # --num_runs / --warmup_runs with zero minimum durations: exactly that many runs.
    assert (parsed.warmup_us.count, parsed.latency_us.count) == (2, 20) == (len(warmup), len(measured))
    # The printed statistics are the tool's: whole µs, nth-element percentiles, population std.
    whole_us = sorted(int(v) for v in measured)
    latency = parsed.latency_us
    assert (latency.first, latency.curr) == (int(measured[0]), int(measured[-1]))
    assert (latency.min, latency.max) == (whole_us[0], whole_us[-1])
    assert (latency.p5, latency.median, latency.p95) == (whole_us[1], whole_us[10], whole_us[19])
    assert latency.mean == pytest.approx(statistics.fmean(whole_us), rel=1e-5)
    assert latency.std == int(np.sqrt(int(np.var(whole_us))))
    assert parsed.first_inference_us == int(warmup[0])

    assert parsed.init_us > 0 and parsed.model_size_mb == pytest.approx(small_model.stat().st_size / 1e6, rel=1e-5)
    assert parsed.memory_mb.overall is not None and parsed.memory_mb.peak is None  # peak only when asked
    # XNNPACK is LiteRT's default and takes every node of this model.
    assert parsed.delegation.delegate == "XNNPACK"
    assert parsed.delegation.nodes_delegated == parsed.delegation.nodes_total == count_nodes(small_model)
    assert parsed.delegation.partitions == 1 and parsed.delegation.fully_delegated is True


def test_min_secs_keeps_running_past_num_runs(run_runner, small_model):
    run = run_runner(f"--graph={small_model}", "--warmup_runs=1", "--warmup_min_secs=0",
                     "--num_runs=1", "--min_secs=0.3", "--run_delay=0.05")
    count = run.parsed.latency_us.count
    # Each run is followed by a 50 ms delay: 0.3 s allows at most 7 runs, and far more than 1.
    assert run.returncode == 0 and 2 <= count <= 7


def test_max_secs_stops_a_run_long_before_num_runs(run_runner, small_model):
    run = run_runner(f"--graph={small_model}", "--warmup_min_secs=0", "--num_runs=10000000",
                     "--min_secs=0", "--max_secs=0.3")
    assert run.returncode == 0 and run.parsed.complete
    assert 1 <= run.parsed.latency_us.count < 10_000_000


def test_peak_memory_is_sampled_when_asked(run_runner, small_model):
    run = run_runner(f"--graph={small_model}", *QUICK, "--report_peak_memory_footprint=true",
                     "--memory_footprint_check_interval_ms=5")
    memory = run.parsed.memory_mb
    assert run.returncode == 0 and memory.peak > 0 and memory.overall >= 0 and memory.init >= 0


def test_input_values_from_a_file(run_runner, small_model, tmp_path):
    name = "serving_default_keras_tensor:0".replace(":", "::")  # ':' in a name is escaped as '::'
    values = tmp_path / "input.bin"
    values.write_bytes(np.zeros((1, 64, 64, 3), np.float32).tobytes())
    flags = (f"--graph={small_model}", *QUICK, f"--input_layer=serving_default_keras_tensor:0",
             "--input_layer_shape=1,64,64,3")
    ok = run_runner(*flags, f"--input_layer_value_files={name}:{values}")
    assert ok.returncode == 0 and ok.parsed.complete, ok.output

    values.write_bytes(b"\0" * 12)  # the wrong size: the real tool's FATAL, an abort
    bad = run_runner(*flags, f"--input_layer_value_files={name}:{values}")
    assert bad.returncode == -signal.SIGABRT
    assert any("should be 49152 bytes" in error for error in bad.parsed.errors)


# --- delegates ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flag, name", [("--use_gpu=true", "GPU"), ("--use_nnapi=true", "NNAPI")])
def test_a_delegate_it_cannot_provide_fails_like_the_real_tool_never_a_cpu_run(run_runner, small_model, flag, name):
    run = run_runner(f"--graph={small_model}", *QUICK, flag)
    parsed = run.parsed
    assert run.returncode == 1
    assert f"{name} acceleration is unsupported on this platform." in parsed.warnings
    assert f"Failed to apply {name} delegate." in parsed.errors and parsed.errors[-1] == "Benchmarking failed."
    assert not parsed.complete and parsed.warmup_us.count is None and parsed.latency_us.count is None


@pytest.mark.parametrize("flag, delegate, fully", [("--use_xnnpack=true", "XNNPACK", True),
                                                   ("--use_xnnpack=false", None, None)])
def test_explicit_xnnpack_on_and_off(run_runner, small_model, flag, delegate, fully):
    run = run_runner(f"--graph={small_model}", *QUICK, flag)
    assert run.returncode == 0
    assert (run.parsed.delegation.delegate, run.parsed.delegation.fully_delegated) == (delegate, fully)


def test_require_full_delegation_refuses_a_cpu_run(run_runner, small_model):
    run = run_runner(f"--graph={small_model}", *QUICK, "--use_xnnpack=false", "--require_full_delegation=true")
    assert run.returncode == 1 and "Disallowed CPU fallback detected." in run.parsed.errors


# --- flags -------------------------------------------------------------------------------------


def test_unknown_flags_are_reported_and_the_run_goes_on(run_runner, small_model):
    run = run_runner(f"--graph={small_model}", *QUICK, "--bogus=1", "--use_gpu")
    assert run.returncode == 0 and run.parsed.complete
    assert run.parsed.warnings == ("Unconsumed cmdline flags: --bogus=1 --use_gpu",)


@pytest.mark.parametrize("flags, error", [
    (("--num_runs=many",), "Failed to parse flag 'num_runs' against argv '--num_runs=many'"),
    ((), "Please specify the name of your TF Lite input file with --graph"),
])
def test_bad_flags_fail_with_the_real_tools_messages(run_runner, small_model, flags, error):
    graph = (f"--graph={small_model}",) if flags else ()
    run = run_runner(*graph, *flags)
    assert run.returncode == 1 and error in run.parsed.errors


# --- test switches ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault, returncode", [("segfault", -signal.SIGSEGV), ("abort", -signal.SIGABRT),
                                               ("exit:7", 7), ("truncate", 0)])
def test_fault_switches_fail_in_the_measured_runs_and_leave_an_incomplete_log(run_runner, small_model, fault, returncode):
    run = run_runner(f"--graph={small_model}", *QUICK, f"--squeezebench_fault={fault}")
    parsed = run.parsed
    assert run.returncode == returncode
    assert parsed.warmup_us.count == 2  # what was measured before the fault is kept
    assert not parsed.complete and parsed.latency_us.count is None
    expected_error = "the output stops in the middle of a line" if fault == "truncate" else CUT_OUTPUT_ERROR
    assert any(error.startswith(expected_error) for error in parsed.errors)


def test_the_hang_switch_never_returns(device_runner, small_model):
    process = subprocess.Popen([sys.executable, str(device_runner), f"--graph={small_model}", *QUICK,
                                "--squeezebench_fault=hang"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = b""
    try:
        # Read until the measured phase has started, then check that the process stays there.
        deadline = time.monotonic() + 60
        while b"at least 20 iterations" not in output and time.monotonic() < deadline:
            if select.select([process.stdout], [], [], 1)[0]:
                output += process.stdout.read1()
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1)
    finally:
        process.kill()
        output += process.communicate()[0]
    parsed = parse_benchmark_log(output.decode())
    assert parsed.warmup_us.count == 2 and not parsed.complete and parsed.errors == (CUT_OUTPUT_ERROR,)


def test_the_slowdown_switch_makes_every_run_slower_by_its_factor(run_runner, small_model, tmp_path):
    medians = {}
    for factor in (1, 4):
        samples = tmp_path / f"x{factor}.txt"
        run = run_runner(f"--graph={small_model}", "--num_threads=1", *QUICK, f"--squeezebench_slowdown={factor}",
                         f"--squeezebench_latencies_file={samples}")
        assert run.returncode == 0
        medians[factor] = statistics.median(read_latency_samples(samples))
    assert run.parsed.settings["squeezebench slowdown factor (TEST SWITCH)"] == "4"
    # Each slowed run waits until it has taken 4x its own invoke time; noise between two
    # processes cannot bring the ratio of medians anywhere near 2.
    assert medians[4] > 2 * medians[1]


# --- units of the runner file ----------------------------------------------------------------


def test_random_inputs_have_the_real_tools_types_and_ranges():
    runner = load_runner_module()
    rng = np.random.default_rng(0)
    expected = {np.float32: (-0.5, 0.5), np.uint8: (0, 254), np.int8: (-127, 127), np.int32: (0, 99),
                np.int64: (0, 99), np.bool_: (0, 1)}
    for dtype, (low, high) in expected.items():
        data = runner.random_input({"dtype": dtype, "shape": [4000], "name": "x"}, None, rng)
        assert data.dtype == dtype and data.shape == (4000,)
        assert low <= data.min() and data.max() <= high and data.min() != data.max()
    ranged = runner.random_input({"dtype": np.int32, "shape": [100], "name": "x"},
                                 runner.InputLayerInfo("x", [100], value_range=(5, 6)), rng)
    assert set(np.unique(ranged)) == {5, 6}


@pytest.mark.parametrize("values", [[5], [7, 7, 7], [], [100, 3, 250, 7, 7, 41, 9999, 12, 13, 14]])
def test_stats_lines_read_back_as_the_statistics_of_the_values(values):
    runner = load_runner_module()
    stats = parse_benchmark_log(f"count=1 curr=1\n\n{runner.stats_line(values)}\n").latency_us
    if not values:
        assert stats.count == 0 and stats.mean is None
        return
    ordered = sorted(values)
    assert (stats.count, stats.min, stats.max, stats.curr) == (len(values), ordered[0], ordered[-1], values[-1])
    assert stats.mean == pytest.approx(statistics.fmean(values), rel=1e-5)
    assert stats.std == int(np.sqrt(int(np.var(values))))
    assert (stats.p5, stats.median, stats.p95) == tuple(ordered[len(values) * p // 100] for p in (5, 50, 95))
