"""How often `compare --fail-on median:T` with repeated runs (--repeat N) calls an unchanged model
changed (false alarms), how often it sees a real slowdown, and how often it says it cannot see
(inconclusive), printed as JSON.

    .venv/bin/python benchmarks/gate_noise.py [--cells 8] [--repeat 5] [--threshold 0.05]

digits-cnn fp32 (about 60 µs) on one virtual device, benchmarked `--cells` times unchanged and as
many times under each of the bundled runner's test slowdowns (1.1x, 1.25x, 1.5x), every benchmark
`--repeat N` fresh runner processes. Every pair of unchanged cells is judged by compare's rule
(harness.report.compare.repeat_floor: the change a t-test at p < 0.01 on the repeat medians
resolves); each slowed cell against the unchanged cell of the same index.
"""

from __future__ import annotations

import argparse
import itertools
from types import SimpleNamespace

import _support as support

from harness.report.compare import repeat_floor
from harness.stats import relative_change

SLOWDOWNS = (1.1, 1.25, 1.5)


def bench_cell(world, model, serial, out, repeat: int, slowdown: float) -> SimpleNamespace:
    extra = [f"--runner-arg=--squeezebench_slowdown={slowdown}"] if slowdown != 1.0 else []
    run = world.squeezebench("bench", model, "--device", serial, "--json", "--out", out, "--idle-baseline", "0",
                             "--repeat", repeat, "--min-secs", "0.3", *extra)
    document = run.check("squeezebench bench").json()
    repeats = document["repeats"]
    return SimpleNamespace(latency_median_us=document["latency_us"]["median"], repeat_count=repeats["count"],
                           repeat_spread=repeats["spread"])


def verdict(a, b, threshold: float) -> dict:
    change, floor = relative_change(a.latency_median_us, b.latency_median_us), repeat_floor(a, b)
    return {"change": round(change, 4), "floor": round(floor, 4), "beyond_noise": abs(change) > floor,
            "regression": change > threshold and abs(change) > floor,
            "inconclusive": threshold < floor and not (change > threshold and abs(change) > floor)}


def summary(verdicts: list[dict]) -> dict:
    return {"comparisons": len(verdicts), "regressions": sum(v["regression"] for v in verdicts),
            "beyond_noise": sum(v["beyond_noise"] for v in verdicts),
            "inconclusive": sum(v["inconclusive"] for v in verdicts),
            "change": support.spread([v["change"] for v in verdicts], 4),
            "floor": support.spread([v["floor"] for v in verdicts], 4)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threshold", type=float, default=0.05)
    args = parser.parse_args()
    with support.private_world("gate") as world:
        files, facts = support.converted_levels(world, "digits-cnn", ["fp32"])
        [device] = world.start_devices(1)
        cells = {factor: [bench_cell(world, files["fp32"], device.serial, world.root / f"b{factor}-{i}", args.repeat,
                                     factor) for i in range(args.cells)] for factor in (1.0, *SLOWDOWNS)}
        same = [verdict(a, b, args.threshold) for a, b in itertools.combinations(cells[1.0], 2)]
        result = {"host": support.host_facts(), "conversion": facts, "repeat": args.repeat,
                  "threshold": args.threshold, "unchanged": summary(same)}
        for factor in SLOWDOWNS:
            result[f"slowdown_{factor}x"] = summary([verdict(a, b, args.threshold)
                                                     for a, b in zip(cells[1.0], cells[factor])])
    support.print_result(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
