"""The bundled runner's own cost per run, beyond LiteRT's invoke(), and the options for cutting it,
printed as JSON.

    .venv/bin/python benchmarks/runner_overhead.py [MODEL.tflite ...] [--threads 1] [--repeats 7]

Without model paths it measures mobilenet_v2 fp32 and int8 and digits-cnn fp32, converted through
the real CLI (persistent conversion cache, see _support.py). Each model is loaded by the runner's
own code (harness/bundled_runner/benchmark_model.py: init_model, prepare_inputs) and run through the
runner's own measured-run loop (`Benchmark._loop`), unchanged. The loop reads its clock through
the module's `time`; that module is swapped here for one that also keeps every reading, so each
run's cost outside the timed region is seen directly: the gap from one run's end reading to the
next run's start reading. Its median per loop is robust to the odd preemption that a mean
(wall time minus invoke time) charges to the runner.

Variants (same loop, same interpreter; only what the loop calls to fill the inputs differs), in
rotating order every round:
  set_tensor   the runner as it is: Interpreter.set_tensor before every run (the real tool's
               ResetInputsAndOutputs memcpy, plus LiteRT's Python checks)
  copy_to_view np.copyto into the tensor's buffer (Interpreter.tensor(i)()), no Python checks
  memcpy_floor np.copyto of the same bytes into a buffer of our own: what the real C++ tool's
               memcpy costs on this machine, the floor of any faithful copy
  no_copy      inputs set once before the loop and never again (the interpreter keeps them)
overhead_pct = median gap / median invoke latency * 100. Target: under 1% for mobilenet_v2.
no_copy also shows what the per-run copy does to the measured latency itself (cache warmth).
"""

from __future__ import annotations

import argparse
import array
import contextlib
import importlib.util
import statistics
import sys
import time
import types
from pathlib import Path

import _support as support

from harness.bundled_runner import RUNNER_PATH, RUNNER_VERSION

MOBILENET_TARGET_PCT = 1.0
DEFAULT_MODELS = (("mobilenet_v2", "fp32"), ("mobilenet_v2", "int8"), ("digits-cnn", "fp32"))


def load_runner():
    spec = importlib.util.spec_from_file_location("bundled_benchmark_model", RUNNER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class RecordingClock:
    """Stands in for the runner's `time` module: perf_counter_ns also appends each reading."""

    def __init__(self):
        self.readings = array.array("q")
        self._read = time.perf_counter_ns
        self.sleep = time.sleep

    def perf_counter_ns(self) -> int:
        now = self._read()
        self.readings.append(now)
        return now


def gaps_ns(readings: array.array, runs: int) -> list[int]:
    """The loop reads the clock 3 times before its first run (now) and per run (start, end, now):
    readings = [now0, s1, e1, n1, s2, e2, n2, ...]. Gap of run i+1 = s(i+1) - e(i)."""
    starts = readings[1::3][:runs]
    ends = readings[2::3][:runs]
    return [starts[i + 1] - ends[i] for i in range(runs - 1)]


def proxy_model(runner, model, set_tensor):
    """The runner's Model, with the interpreter seen by the loop calling `set_tensor` to fill inputs."""
    interpreter = types.SimpleNamespace(invoke=model.interpreter.invoke, set_tensor=set_tensor)
    return runner.Model(interpreter, model.input_indices, model.input_data)


def variants_for(runner, model):
    import numpy as np

    interpreter = model.interpreter
    scratch = {index: np.empty_like(data) for index, data in zip(model.input_indices, model.input_data)}

    def copy_to_view(index, data):
        np.copyto(interpreter.tensor(index)(), data)

    def memcpy_floor(index, data):
        np.copyto(scratch[index], data)

    return {
        "set_tensor": model,
        "copy_to_view": proxy_model(runner, model, copy_to_view),
        "memcpy_floor": proxy_model(runner, model, memcpy_floor),
        "no_copy": runner.Model(interpreter, [], []),
    }


def run_loop(runner, bench, model, runs: int) -> tuple[float, float]:
    """(median gap µs, median invoke µs) of one pass of the runner's loop."""
    clock = RecordingClock()
    runner.time = clock
    samples = array.array("q")
    try:
        bench._loop(model, runs, 0.0, 1e9, samples)
    finally:
        runner.time = time
    return statistics.median(gaps_ns(clock.readings, runs)) / 1000, statistics.median(samples) / 1000


def measure(runner, name: str, path: Path, args) -> dict:
    params, _ = runner.parse_flags([f"--graph={path}", f"--num_threads={args.threads}"])
    with contextlib.redirect_stdout(sys.stderr):  # the runner's own log lines are not the result
        interpreter = runner.init_model(params, [])
    model = runner.prepare_inputs(interpreter, [])
    bench = runner.Benchmark(params)
    for index, data in zip(model.input_indices, model.input_data):
        interpreter.set_tensor(index, data)  # what no_copy keeps
    warmup = array.array("q")
    bench._loop(model, 5, 0.5, 150.0, warmup)
    runs = max(30, int(args.seconds * 1e9 / statistics.median(warmup)))
    variants = variants_for(runner, model)
    gaps: dict[str, list[float]] = {v: [] for v in variants}
    invokes: dict[str, list[float]] = {v: [] for v in variants}

    def one(variant):
        def run() -> float:
            gap_us, invoke_us = run_loop(runner, bench, variants[variant], runs)
            gaps[variant].append(gap_us)
            invokes[variant].append(invoke_us)
            return gap_us
        return run

    support.alternate({v: one(v) for v in variants}, args.repeats)
    invoke_us = statistics.median(invokes["set_tensor"])
    result = {
        "name": name,
        "input_bytes": sum(int(d.nbytes) for d in model.input_data),
        "runs_per_loop": runs,
        "invoke_median_us": round(invoke_us, 1),
        "gap_us": {v: support.spread(g, 2) for v, g in gaps.items()},
        "overhead_pct_of_latency": {v: round(statistics.median(g) / invoke_us * 100, 3) for v, g in gaps.items()},
        "invoke_median_us_by_variant": {v: support.spread(i, 1) for v, i in invokes.items()},
        "ratio_invoke_no_copy_over_set_tensor": support.spread(
            [a / b for a, b in zip(invokes["no_copy"], invokes["set_tensor"])], 4),
    }
    result["python_cost_beyond_memcpy_us"] = round(
        statistics.median(gaps["set_tensor"]) - statistics.median(gaps["memcpy_floor"]), 2)
    return result


def default_models(world) -> list[tuple[str, Path]]:
    models = []
    for model in sorted({m for m, _ in DEFAULT_MODELS}):
        levels = [lv for m, lv in DEFAULT_MODELS if m == model]
        files, _ = support.converted_levels(world, model, levels)
        models += [(f"{model} {level}", files[level]) for level in levels]
    return models


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path, help=".tflite files (default: mobilenet_v2 fp32/int8, digits-cnn)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one loop")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    runner = load_runner()
    with support.private_world("runner-overhead", start_adb=False) as world:
        models = [(p.stem, p) for p in args.models] if args.models else default_models(world)
        results = [measure(runner, name, path, args) for name, path in models]
    mobilenet = [r for r in results if "mobilenet" in r["name"]]
    support.print_result({
        "benchmark": "runner_overhead",
        "runner": f"{runner.RUNNER_NAME} {RUNNER_VERSION}",
        "litert": runner.litert_version(),
        "threads": args.threads,
        "models": results,
        "mobilenet_target_pct": MOBILENET_TARGET_PCT,
        "mobilenet_met_by_variant": {
            v: all(r["overhead_pct_of_latency"][v] < MOBILENET_TARGET_PCT for r in mobilenet)
            for v in ("set_tensor", "copy_to_view", "memcpy_floor", "no_copy")
        } if mobilenet else None,
        "host": support.host_facts(),
        "script_wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
