"""The bundled runner's own cost per run, beyond LiteRT's invoke(), printed as JSON.

    .venv/bin/python benchmarks/runner_overhead.py [MODEL.tflite ...] [--threads N] [--seconds S]

Without model paths it builds two with TensorFlow: a small convolutional net and a
MobileNetV2-shaped one (random weights, 224x224x3, float32). For each model it runs the runner's
own measured-run loop (harness/runner/benchmark_model.py, `Benchmark._loop`) in this process
for about S seconds and compares the wall time per run with the invoke() time the loop records:

    overhead_us = wall time per run - mean invoke time per run
    overhead_pct = overhead_us / median invoke time * 100

The overhead is what the runner adds around invoke(), outside the timed region: copying the
inputs into the input tensors (the real tool does the same memcpy before every run), and its own
bookkeeping (clock reads, one append, the loop test). The same loop run with nothing to copy
gives the bookkeeping alone; the difference is the input copy. The target (a later issue) is
an overhead below 1% of mobilenet_v2's latency.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.runner import RUNNER_PATH, RUNNER_VERSION  # noqa: E402  (needs the repo on the path)

MOBILENET_TARGET_PCT = 1.0


def load_runner():
    spec = importlib.util.spec_from_file_location("bundled_benchmark_model", RUNNER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_models(directory: Path) -> list[tuple[str, Path]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    def convert(model, name):
        path = directory / f"{name}.tflite"
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        return name, path

    inputs = tf.keras.Input((64, 64, 3), batch_size=1)
    x = tf.keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = tf.keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    small = tf.keras.Model(inputs, tf.keras.layers.Dense(10)(x))
    mobilenet = tf.keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    return [convert(small, "small_conv"), convert(mobilenet, "mobilenet_v2_like")]


def loop_cost(runner, bench, model, runs: int) -> tuple[float, float, float]:
    """(wall µs per run, mean invoke µs, median invoke µs) of the runner's measured-run loop."""
    samples = array.array("q")
    start = time.perf_counter_ns()
    bench._loop(model, runs, 0.0, 1e9, samples)
    wall_ns = time.perf_counter_ns() - start
    return wall_ns / runs / 1000, statistics.fmean(samples) / 1000, statistics.median(samples) / 1000


def measure(runner, name: str, path: Path, threads: int, seconds: float) -> dict:
    params, _ = runner.parse_flags([f"--graph={path}", f"--num_threads={threads}"])
    with contextlib.redirect_stdout(sys.stderr):  # the runner's own log lines are not the result
        interpreter = runner.init_model(params, [])
    model = runner.prepare_inputs(interpreter, [])
    # The same loop with no inputs to copy: what is left is the runner's own bookkeeping.
    no_inputs = runner.Model(interpreter, [], [])
    bench = runner.Benchmark(params)

    warmup = array.array("q")
    bench._loop(model, 5, 0.2, 150.0, warmup)
    runs = max(30, int(seconds / 2 * 1e9 / statistics.median(warmup)))

    wall_us, invoke_mean_us, invoke_median_us = loop_cost(runner, bench, model, runs)
    bare_wall_us, bare_invoke_mean_us, _ = loop_cost(runner, bench, no_inputs, runs)
    overhead_us = wall_us - invoke_mean_us
    bookkeeping_us = bare_wall_us - bare_invoke_mean_us
    return {
        "name": name,
        "path": str(path),
        "runs": runs,
        "invoke_median_us": round(invoke_median_us, 3),
        "invoke_mean_us": round(invoke_mean_us, 3),
        "wall_per_run_us": round(wall_us, 3),
        "overhead_us": round(overhead_us, 3),
        "overhead_pct_of_median_latency": round(overhead_us / invoke_median_us * 100, 4),
        "bookkeeping_us": round(bookkeeping_us, 3),
        "bookkeeping_pct_of_median_latency": round(bookkeeping_us / invoke_median_us * 100, 4),
        "input_copy_us": round(overhead_us - bookkeeping_us, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help=".tflite files (default: build two with TensorFlow)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per model")
    args = parser.parse_args()

    runner = load_runner()
    with tempfile.TemporaryDirectory(prefix="runner-overhead-") as tmp:
        with contextlib.redirect_stdout(sys.stderr):  # TensorFlow prints while converting
            models = [(p.stem, p) for p in args.models] if args.models else build_models(Path(tmp))
        results = [measure(runner, name, path, args.threads, args.seconds) for name, path in models]
    mobilenet = next((r for r in results if "mobilenet" in r["name"]), None)
    print(json.dumps({
        "runner": f"{runner.RUNNER_NAME} {RUNNER_VERSION}",
        "litert": runner.litert_version(),
        "threads": args.threads,
        "models": results,
        "mobilenet_target_pct": MOBILENET_TARGET_PCT,
        "mobilenet_overhead_within_target": None if mobilenet is None
        else mobilenet["overhead_pct_of_median_latency"] < MOBILENET_TARGET_PCT,
        "mobilenet_bookkeeping_within_target": None if mobilenet is None
        else mobilenet["bookkeeping_pct_of_median_latency"] < MOBILENET_TARGET_PCT,
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
