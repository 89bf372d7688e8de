"""A sweep run twice: the second one converts nothing and pushes nothing (issue 5), printed as JSON.

    .venv/bin/python benchmarks/warm_rerun.py [--devices 3] [--levels all] [--model digits-cnn]

Three virtual devices (by default) in a private world; `squeezebench run MODEL --levels LEVELS
--devices ALL --json` twice in a row, each timed from fork to exit. For each run: wall time,
levels converted vs taken from the conversion cache (the run's own log line), files pushed vs
already on the device with the same sha256 (run.json devices[*].transfers), cells ok. The first
run converts from a warm or cold cache depending on earlier runs (it says which); the second
must show 0 conversions and 0 pushes.
"""

from __future__ import annotations

import argparse
import re

import _support as support

FAST = ["--runs", "20", "--min-secs", "0.2", "--no-report"]


def one_run(world, args, serials: list[str]) -> dict:
    done = world.squeezebench(
        "run", args.model, "--levels", args.levels, "--devices", ",".join(serials), "--json", *FAST
    ).check("squeezebench run")
    document = done.json()["run"]
    converted = re.search(r"converted \S+: (\d+) levels in [\d.]+ s \((\d+) from cache\)", done.stderr)
    levels, cached = (int(converted[1]), int(converted[2])) if converted else (None, None)
    transfers = [t for device in document["devices"].values() for t in device.get("transfers", [])]
    return {
        "wall_s": round(done.wall_s, 2),
        "levels": levels,
        "levels_converted": None if levels is None else levels - cached,
        "levels_from_cache": cached,
        "files_pushed": sum(1 for t in transfers if t["pushed"]),
        "bytes_pushed": sum(t["bytes"] for t in transfers if t["pushed"]),
        "files_already_on_device": sum(1 for t in transfers if not t["pushed"]),
        "cells": len(document["cells"]),
        "cells_ok": sum(1 for c in document["cells"] if c["status"] == "ok"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=3)
    parser.add_argument("--levels", default="all")
    parser.add_argument("--model", default="digits-cnn")
    args = parser.parse_args()
    with support.private_world("warm-rerun") as world:
        serials = [d.serial for d in world.start_devices(args.devices)]
        first = one_run(world, args, serials)
        second = one_run(world, args, serials)
    support.print_result(
        {
            "benchmark": "warm_rerun",
            "host": support.host_facts(),
            "model": args.model,
            "levels": args.levels,
            "devices": args.devices,
            "first": first,
            "second": second,
            "second_over_first_wall": support.ratio(second["wall_s"], first["wall_s"]),
            "met": second["levels_converted"] == 0 and second["files_pushed"] == 0
            and second["cells_ok"] == second["cells"],
        }
    )


if __name__ == "__main__":
    main()
