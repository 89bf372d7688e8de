"""Host latency, size and quality of the newer levels against their reference, printed as JSON:
the acceptance numbers of issue 15 measured with LiteRT on this CPU.

    .venv/bin/python benchmarks/levels_latency.py [--rounds 7] [--threads 1]

Converts (through the persistent benchmark cache, _support.PERF_CACHE) and then, for each model,
times every level's .tflite in this process with LiteRT's Interpreter (default XNNPACK
delegate): inputs set once, a warm-up, then `invoke()` timed for at least MIN_RUN_S per round.
Rounds alternate between the levels of a model so that load on the machine falls on all of
them alike; the median over rounds of each round's median is reported, with its ratio to the
reference level's. Defaults cover: int4 weight-only and mixed precision on a real vision model
(iris-landmark), structured pruning on digits-cnn, low rank at several ranks on the dense-heavy
text-kind, and XNNPACK-eligible sparsity.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _support as support

MIN_RUN_S = 0.3
WARMUP_RUNS = 20
LADDERS = {
    "iris-landmark": "as-is,int8-weight,int4-weight,int4-weight-mixed",
    "digits-cnn": "fp32,channels-50,channels-75,pruned-75,int8",
    "text-kind": "fp32,lowrank-64,lowrank-16,lowrank-8,lowrank-16+int8,int8",
}


def convert(model: str, levels: str, out_dir: Path) -> dict:
    env = dict(os.environ, SQUEEZEBENCH_CACHE=str(support.PERF_CACHE))
    command = [*support.SQUEEZEBENCH, "convert", model, "--levels", levels, "--out", str(out_dir), "--quiet"]
    subprocess.run(command, cwd=support.REPO, env=env, stdout=subprocess.DEVNULL, check=False)
    return json.loads((out_dir / "convert.json").read_text())


def round_median_us(interpreter, runs_floor: int = 10) -> float:
    times = []
    started = time.perf_counter()
    while len(times) < runs_floor or time.perf_counter() - started < MIN_RUN_S:
        t = time.perf_counter_ns()
        interpreter.invoke()
        times.append((time.perf_counter_ns() - t) / 1000)
    return statistics.median(times)


def ready_interpreter(path: Path, threads: int):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        shape, dtype = detail["shape"], detail["dtype"]
        interpreter.set_tensor(detail["index"], np.zeros(shape, dtype=dtype))
    for _ in range(WARMUP_RUNS):
        interpreter.invoke()
    return interpreter


def measure_model(doc: dict, out_dir: Path, rounds: int, threads: int) -> dict:
    entries = [e for e in doc["levels"] if e["status"] == "ok"]
    interpreters = {e["level"]: ready_interpreter(out_dir / e["file"], threads) for e in entries}
    medians: dict[str, list[float]] = {level: [] for level in interpreters}
    for _ in range(rounds):
        for level, interpreter in interpreters.items():
            medians[level].append(round_median_us(interpreter))
    reference = doc["reference_level"]
    reference_us = statistics.median(medians[reference])
    levels = {}
    for entry in entries:
        latency_us = statistics.median(medians[entry["level"]])
        quality = entry.get("quality") or {}
        levels[entry["level"]] = {
            "size_bytes": entry["size_bytes"],
            "size_ratio": entry["size_ratio_to_fp32"],
            "latency_us": round(latency_us, 1),
            "latency_ratio": round(latency_us / reference_us, 3),
            "latency_round_spread_us": [round(min(medians[entry["level"]]), 1), round(max(medians[entry["level"]]), 1)],
            "quality": f"{quality.get('metric')} {quality.get('value')} {quality.get('unit')}" if quality else None,
            "xnnpack_sparse": (entry["details"].get("xnnpack_sparse_inference") or {}).get("eligible"),
            "params": (entry["details"].get("lowrank") or entry["details"].get("channels") or {}).get("params_after"),
        }
    return {"reference": reference, "levels": levels}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    results = {}
    with support.private_world("levels-latency", start_adb=False) as world:
        for model, levels in LADDERS.items():
            out_dir = world.root / model
            doc = convert(model, levels, out_dir)
            results[model] = measure_model(doc, out_dir, args.rounds, args.threads)
    support.print_result({
        "benchmark": "levels_latency",
        "threads": args.threads,
        "rounds": args.rounds,
        "models": results,
        "host": support.host_facts(),
        "script_wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
