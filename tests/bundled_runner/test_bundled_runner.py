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
from harness.store.cell_files import parse_latency_samples
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
    the measured ones: harness.store.cell_files.parse_latency_samples)."""
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

    warmup, measured = read_warmup(samples_file), parse_latency_samples(samples_file.read_text())
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
    flags = (f"--graph={small_model}", *QUICK, "--input_layer=serving_default_keras_tensor:0",
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
        medians[factor] = statistics.median(parse_latency_samples(samples.read_text()))
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


# --- op profiling -------------------------------------------------------------------------------


def model_op_names(model) -> set[str]:
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    plain = Interpreter(model_path=str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return {op["op_name"] for op in plain._get_ops_details()}


def test_op_profiling_prints_the_tools_tables_with_xnnpacks_own_operators(run_runner, small_model):
    run = run_runner(f"--graph={small_model}", "--num_threads=1", *QUICK, "--enable_op_profiling=true")
    parsed = run.parsed
    assert run.returncode == 0 and parsed.complete and parsed.op_profile_unavailable is None, run.output
    runs = parsed.op_profile.runs
    # One profiled run per measured run; every node of the graph is an XNNPACK operator.
    assert runs.timings_us.count == parsed.latency_us.count == 20
    assert len(runs.run_order) == runs.nodes_observed == runs.nodes_executed
    assert all(row.name.startswith("Delegate/") and row.times_called == 1 for row in runs.run_order)
    assert any(row.node_type.startswith("Convolution (NHWC, F32)") for row in runs.run_order)
    assert sum(row.count for row in runs.by_node_type) == len(runs.run_order)
    assert sum(row.percent for row in runs.by_node_type) == pytest.approx(100, abs=0.01)
    assert runs.run_order[-1].cdf_percent == pytest.approx(100, abs=0.01)
    # The per-run total the profiler saw is the sum of its operators' times.
    assert sum(row.avg_ms for row in runs.run_order) * 1000 == pytest.approx(runs.timings_us.mean, rel=0.05, abs=5)
    assert [row.node_type for row in parsed.op_profile.init.run_order] == ["AllocateTensors"]


def test_op_profiling_with_builtin_kernels_names_the_models_ops_and_their_outputs(run_runner, small_model):
    run = run_runner(f"--graph={small_model}", *QUICK, "--use_xnnpack=false", "--enable_op_profiling=true")
    runs = run.parsed.op_profile.runs
    assert {row.node_type for row in runs.by_node_type} == model_op_names(small_model)
    assert [int(row.name.rsplit(":", 1)[1]) for row in runs.run_order] == list(range(len(runs.run_order)))
    assert all(row.name.startswith("[") for row in runs.run_order)


def test_op_profiling_that_cannot_run_says_so_and_prints_no_numbers(monkeypatch, capsys):
    runner = load_runner_module()

    def no_library():
        raise runner.ProfilerUnavailable("LiteRT's C library cannot be loaded (test)")

    monkeypatch.setattr(runner, "LiteRtCApi", no_library)
    params, _ = runner.parse_flags(["--graph=unused.tflite"])
    runner.profile_operators(params, model=None, runs=5)
    parsed = parse_benchmark_log(capsys.readouterr().out)
    assert parsed.op_profile is None
    assert parsed.op_profile_unavailable == (
        f"op profiling is not available in the {runner.RUNNER_NAME}: LiteRT's C library cannot be loaded (test)")


def test_the_summarizer_reads_back_as_the_statistics_of_its_events():
    """Synthetic LiteRT events through the runner's port of profile_summarizer.cc, read back by
    the parser: two subgraphs, a delegate's internal operators, three runs."""
    runner = load_runner_module()
    Event = runner.ProfileEvent
    summarizer = runner.ProfileSummarizer(lambda subgraph, node: f"[t{subgraph}_{node}]")
    per_run_us = [(100, 300, 40, 7), (120, 280, 40, 9), (110, 290, 40, 8)]
    for conv_us, fc_us, cond_us, internal_us in per_run_us:
        summarizer.process([
            Event("CONV_2D", runner._OPERATOR_INVOKE_EVENT, conv_us, 0, 0),
            Event("FULLY_CONNECTED", runner._OPERATOR_INVOKE_EVENT, fc_us, 1, 0),
            Event("Invoke", runner._DEFAULT_EVENT, 9999, 0, 0),  # the whole invoke: never a node
            Event("LESS", runner._OPERATOR_INVOKE_EVENT, cond_us, 0, 1),
            Event("Conv", runner._DELEGATE_OPERATOR_INVOKE_EVENT, internal_us, 3, 0),
        ])
    text = "Operator-wise Profiling Info for Regular Benchmark Runs:\n" + summarizer.output_string(lambda i: f"g{i}")
    runs = parse_benchmark_log(text).op_profile.runs
    conv, fc = runs.run_order
    assert (conv.node_type, conv.name, conv.first_ms, conv.avg_ms) == ("CONV_2D", "[t0_0]:0", 0.1, 0.11)
    total_us = sum(c + f for c, f, _, _ in per_run_us)
    assert conv.percent == pytest.approx(100 * 330 / total_us, abs=1e-3)
    assert runs.timings_us.count == 3 and runs.timings_us.mean == pytest.approx(total_us / 3, rel=1e-5)
    assert [(row.node_type, row.count, row.avg_ms) for row in runs.by_node_type] == [
        ("FULLY_CONNECTED", 1, 0.29), ("CONV_2D", 1, 0.11)]
    assert runs.subgraphs["1"].run_order[0].name == "[t1_0]:0" and runs.subgraphs["1"].timings_us.mean == 40
    internal = runs.delegate_internal.run_order[0]
    assert (internal.node_type, internal.name, internal.avg_ms) == ("DelegateOpInvoke", "Delegate/Conv:3", 0.008)


# --- inputs and outputs --------------------------------------------------------------------------


def host_outputs(model, batch) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(model))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(batch.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, batch)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


INPUT_NAME = "serving_default_keras_tensor:0"


def value_file_flags(values_file, batch: int) -> list[str]:
    return [f"--input_layer={INPUT_NAME}", f"--input_layer_shape={batch},64,64,3",
            f"--input_layer_value_files={INPUT_NAME.replace(':', '::')}:{values_file}"]


@pytest.mark.parametrize("batch", [1, 4])
def test_output_file_holds_the_outputs_of_the_value_files_inputs(run_runner, small_model, tmp_path, batch):
    samples = np.random.default_rng(batch).uniform(-1, 1, (batch, 64, 64, 3)).astype(np.float32)
    values, dump = tmp_path / "x.bin", tmp_path / "out.bin"
    values.write_bytes(samples.tobytes())
    run = run_runner(f"--graph={small_model}", *QUICK, *value_file_flags(values, batch), f"--output_filepath={dump}")
    assert run.returncode == 0, run.output
    assert run.parsed.settings["File path to export outputs layer to"] == str(dump)
    outputs = np.frombuffer(dump.read_bytes(), np.float32).reshape(batch, 10)
    np.testing.assert_allclose(outputs, host_outputs(small_model, samples), rtol=1e-5, atol=1e-6)


def test_the_output_noise_switch_moves_every_dumped_output(run_runner, small_model, tmp_path):
    samples = np.random.default_rng(7).uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32)
    values = tmp_path / "x.bin"
    values.write_bytes(samples.tobytes())
    dumps = {}
    for noise in (0, 0.5):
        dumps[noise] = tmp_path / f"out{noise}.bin"
        run = run_runner(f"--graph={small_model}", *QUICK, *value_file_flags(values, 1),
                         f"--output_filepath={dumps[noise]}", f"--squeezebench_output_noise={noise}")
        assert run.returncode == 0, run.output
    clean, noisy = (np.frombuffer(dumps[n].read_bytes(), np.float32) for n in (0, 0.5))
    assert np.all(clean != noisy) and np.abs(noisy - clean).max() <= 0.5 * np.abs(clean).max() + 1e-6


def test_an_output_file_that_cannot_be_written_is_skipped_like_the_real_tool(run_runner, small_model, tmp_path):
    run = run_runner(f"--graph={small_model}", *QUICK, f"--output_filepath={tmp_path / 'missing' / 'out.bin'}")
    assert run.returncode == 0 and run.parsed.complete
