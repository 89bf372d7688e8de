"""Measurement fidelity: the median latency the full pipeline reports on a virtual device against a
tight in-process LiteRT invoke() loop on the same model, threads and machine, printed as JSON.

    .venv/bin/python benchmarks/fidelity.py [--threads 1] [--repeats 5] [--runs 50]

Variants, run in rotating order every round (see _support.alternate) for each model:
  pipeline        `squeezebench bench FILE --device SERIAL --threads T --json` (adb server, push,
                  agent, bundled runner in the device's sandbox, pull, parse): summary latency median
  loop            this process: LiteRT Interpreter(num_threads=T), 0.5 s warm-up, then only
                  invoke() timed, at least --runs runs and 1 s, the runner's own phases; median
  loop_again      the same loop once more: loop_again / loop is the machine's noise floor (an A/A
                  ratio); a pipeline ratio inside that spread cannot be told apart from 1
  runner_on_host  the bundled runner run directly on the host with the pipeline's runner flags:
                  separates the runner from the device (sandbox, agent, daemon) in the difference
Models: mobilenet_v2 fp32 and int8, digits-cnn fp32 (converted through the real CLI, cached).
Target: pipeline / loop within 0.97-1.03 for mobilenet_v2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import _support as support

TARGET_RANGE = (0.97, 1.03)
MODELS = (("mobilenet_v2", "fp32"), ("mobilenet_v2", "int8"), ("digits-cnn", "fp32"))
WARMUP_S = 0.5  # the runner's --warmup_min_secs default
MIN_MEASURE_S = 1.0  # the runner's --min_secs default


class InvokeLoop:
    """The tightest measurement Python allows: one interpreter, inputs set once, invoke() timed."""

    def __init__(self, path, threads: int):
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        rng = np.random.default_rng(5489)
        for detail in self.interpreter.get_input_details():
            dtype, shape = np.dtype(detail["dtype"]), detail["shape"]
            if dtype.kind == "f":
                data = rng.uniform(-0.5, 0.5, size=shape).astype(dtype)
            else:
                info = np.iinfo(dtype)
                data = rng.integers(max(info.min, -127), min(info.max, 127), size=shape, endpoint=True).astype(dtype)
            self.interpreter.set_tensor(detail["index"], data)

    def _run(self, min_runs: int, min_s: float) -> list[int]:
        clock, invoke = time.perf_counter_ns, self.interpreter.invoke
        samples = []
        record = samples.append
        finish = clock() + int(min_s * 1e9)
        while len(samples) < min_runs or clock() < finish:
            start = clock()
            invoke()
            record(clock() - start)
        return samples

    def median_us(self, min_runs: int) -> float:
        self._run(1, WARMUP_S)
        return statistics.median(self._run(min_runs, MIN_MEASURE_S)) / 1000


def pipeline_median_us(world, serial: str, path, threads: int, runs: int, out_dir) -> float:
    bench = world.squeezebench("bench", path, "--device", serial, "--threads", threads, "--runs", runs,
                               "--json", "--quiet", "--out", out_dir)
    document = bench.check(f"squeezebench bench {path.name}").json()
    if document["status"] != "ok":
        raise SystemExit(f"bench {path}: {document['status']}: {document['reason']}")
    return document["latency_us"]["median"]


def runner_on_host_median_us(world, path, threads: int, runs: int, out_dir) -> float:
    """The same runner file and flags as on the device, minus the device."""
    from harness.bench.settings import BenchSettings
    from harness.store.cell_files import parse_latency_samples
    from harness.bundled_runner import RUNNER_PATH

    out_dir.mkdir(parents=True, exist_ok=True)
    latencies = out_dir / "latencies.txt"
    flags = BenchSettings(threads=threads, runs=runs).runner_flags()
    argv = [sys.executable, str(RUNNER_PATH), f"--graph={path}", *flags, f"--squeezebench_latencies_file={latencies}"]
    support.timed_process(argv, world.env).check("runner on the host")
    return statistics.median(parse_latency_samples(latencies.read_text()))


def measure_model(world, serial: str, name: str, path, args) -> dict:
    loop = InvokeLoop(path, args.threads)
    rounds = iter(range(10**6))
    variants = {
        "pipeline": lambda: pipeline_median_us(world, serial, path, args.threads, args.runs,
                                               world.root / "cells" / f"{name}-{next(rounds)}"),
        "loop": lambda: loop.median_us(args.runs),
        "loop_again": lambda: loop.median_us(args.runs),
        "runner_on_host": lambda: runner_on_host_median_us(world, path, args.threads, args.runs,
                                                           world.root / "host" / f"{name}-{next(rounds)}"),
    }
    medians = support.alternate(variants, args.repeats)
    # Ratios within a round share the machine's load at that moment; their median is the figure.
    per_round = [p / lo for p, lo in zip(medians["pipeline"], medians["loop"])]
    runner_rounds = [r / lo for r, lo in zip(medians["runner_on_host"], medians["loop"])]
    device_rounds = [p / r for p, r in zip(medians["pipeline"], medians["runner_on_host"])]
    noise_rounds = [a / lo for a, lo in zip(medians["loop_again"], medians["loop"])]
    return {
        "model": name,
        "file_bytes": path.stat().st_size,
        "median_latency_us": {k: support.spread(v, 1) for k, v in medians.items()},
        "ratio_pipeline_over_loop": support.spread(per_round, 4),
        "ratio_loop_again_over_loop": support.spread(noise_rounds, 4),
        "ratio_runner_on_host_over_loop": support.spread(runner_rounds, 4),
        "ratio_pipeline_over_runner_on_host": support.spread(device_rounds, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="same for all variants (default 1: on a shared "
                        "2-core host a second thread mostly measures the neighbours)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--runs", type=int, default=50, help="measured runs, at least (the pipeline's default)")
    args = parser.parse_args()
    results, conversions = [], {}
    started = time.perf_counter()
    with support.private_world("fidelity") as world:
        files = {}
        for model in sorted({m for m, _ in MODELS}):
            levels = [lv for m, lv in MODELS if m == model]
            converted, conversions[model] = support.converted_levels(world, model, levels)
            files.update({(model, lv): converted[lv] for lv in levels})
        [device] = world.start_devices(1)
        for model, level in MODELS:
            results.append(measure_model(world, device.serial, f"{model} {level}", files[(model, level)], args))
    mobilenet = [r for r in results if r["model"].startswith("mobilenet_v2")]
    low, high = TARGET_RANGE
    support.print_result({
        "benchmark": "fidelity",
        "threads": args.threads,
        "repeats": args.repeats,
        "models": results,
        "target_ratio_range": list(TARGET_RANGE),
        "mobilenet_v2_met": all(low <= r["ratio_pipeline_over_loop"]["median"] <= high for r in mobilenet),
        "conversions": conversions,
        "host": support.host_facts(),
        "script_wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
