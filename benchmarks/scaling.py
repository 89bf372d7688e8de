"""Scaling: one sweep over 1, 2, 4 and 8 virtual devices with a tiny model, and the harness's
overhead per cell as the devices grow, printed as JSON.

    .venv/bin/python benchmarks/scaling.py [--devices 1,2,4,8] [--levels fp32,int8]
                                           [--virtual-parallel] [--sweep-arg=ARG ...]

For each device count: that many virtual devices are started (outside the timing), then
`squeezebench run digits-cnn --levels LEVELS --devices ALL` runs under benchmarks/_sweep_probe.py
(timers around the harness functions; harness unchanged), timed from fork to exit. Per count:
  runner_s              sum of on-device runner times (device uptime stamps in each bench.json)
  overhead_per_cell_s   (wall - runner_s) / cells  -- should stay flat as devices grow
  fixed_s               wall - device queues: start, discovery, passports, conversion, report
  queue_overhead_per_cell_s  (device queues - runner_s) / cells: the per-cell part alone
  wall_per_cell_s       wall / cells: the figure to read with --virtual-parallel, where runner
                        times overlap (and contend for the host's cores)
By default virtual devices on one host take turns measuring (a host-CPU lock: they share its
cores, and measuring two at once would put each one's load into the other's latencies), so the
cells run one at a time whatever the device count, and wall time grows with the cells; that is
what this measures unless --virtual-parallel is given.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import _support as support
from orchestration import PROBE, bench_documents, runner_seconds


def sweep(world, serials: list[str], args, results: Path) -> dict:
    probe_out = results.with_suffix(".probe.json")
    argv = [sys.executable, str(PROBE), str(probe_out), "run", "digits-cnn", "--levels", args.levels,
            "--devices", ",".join(serials), "--results", str(results), "--quiet", *args.sweep_arg]
    if args.virtual_parallel:
        argv.append("--virtual-parallel")
    run = support.timed_process(argv, world.env, timeout_s=1800).check(f"sweep over {len(serials)} devices")
    probe = json.loads(probe_out.read_text())
    benches = bench_documents(results)
    runner_s = sum(runner_seconds(b) for b in benches)
    cells = len(benches)
    queues_s = probe["categories"]["main: device queues"]["total_s"]
    worker = {name.partition(": ")[2]: round(c["total_s"] / cells, 4)
              for name, c in probe["categories"].items() if name.startswith("worker: ")}
    return {
        "devices": len(serials),
        "cells": cells,
        "ok": sum(1 for b in benches if b["status"] == "ok"),
        "wall_s": round(run.wall_s, 2),
        "runner_s": round(runner_s, 2),
        "ratio_wall_over_runner": support.ratio(run.wall_s, runner_s),
        "wall_per_cell_s": round(run.wall_s / cells, 3),
        # With --virtual-parallel runner times overlap and this can go negative: read wall_per_cell_s.
        "overhead_per_cell_s": round((run.wall_s - runner_s) / cells, 3),
        "fixed_s": round(run.wall_s - queues_s, 2),
        "queue_overhead_per_cell_s": round((queues_s - runner_s) / cells, 3) if not args.virtual_parallel else None,
        "worker_s_per_cell": worker,
        "median_latency_us_by_level": _median_latency_by_level(benches),
    }


def _median_latency_by_level(benches: list[dict]) -> dict:
    """Each level's median latency across the devices: measuring together (--virtual-parallel)
    shows up here as a spread and a rise."""
    by_level: dict[str, list[float]] = {}
    for bench in benches:
        latency = bench.get("latency_us") or {}
        if latency.get("median") is not None:
            by_level.setdefault(bench["model"].get("level"), []).append(latency["median"])
    return {level: support.spread(values, 1) for level, values in by_level.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", default="1,2,4,8")
    parser.add_argument("--levels", default="fp32,int8")
    parser.add_argument("--virtual-parallel", action="store_true")
    parser.add_argument("--sweep-arg", action="append", default=[], help="extra `squeezebench run` argument, repeatable")
    args = parser.parse_args()
    started = time.perf_counter()
    counts = [int(n) for n in args.devices.split(",")]
    results = []
    with support.private_world("scaling") as world:
        _, conversion = support.converted_levels(world, "digits-cnn", args.levels.split(","))
        for count in counts:
            devices = world.start_devices(count)
            results.append(sweep(world, [d.serial for d in devices], args, world.root / f"results-{count}"))
            world.stop_devices()
    per_cell = [r["wall_per_cell_s" if args.virtual_parallel else "overhead_per_cell_s"] for r in results]
    support.print_result({
        "benchmark": "scaling",
        "model": "digits-cnn",
        "levels": args.levels,
        "virtual_parallel": args.virtual_parallel,
        "extra_args": args.sweep_arg,
        "sweeps": results,
        # last count / first count, of overhead per cell (turns) or wall per cell (--virtual-parallel)
        "per_cell_growth": support.ratio(per_cell[-1], per_cell[0]),
        "conversion": conversion,
        "host": support.host_facts(),
        "script_wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
