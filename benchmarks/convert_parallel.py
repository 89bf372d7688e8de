"""Converting a model's levels one after another vs in parallel processes, and cold vs cached,
printed as JSON.

    .venv/bin/python benchmarks/convert_parallel.py [--model mobilenet_v2] [--levels all] [--jobs 2]

Each run is the real command line in a fresh process with its own empty conversion cache, so both
the serial and the parallel run convert everything (cold):
  serial_s    --jobs 1, cold
  parallel_s  --jobs N, cold (each worker process imports TensorFlow and loads the model itself)
  cached_s    the same command again on the serial run's cache (warm: nothing converted)
The zoo model itself is not a conversion: it is built once into the persistent benchmark cache
(_support.PERF_CACHE, untimed) and copied into each fresh cache. Peak memory is the largest
resident set of the process tree (ru_maxrss of the waited-for children, so the largest single
process). Every run must produce the same files (sha256) for the comparison to count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _support as support


def timed_convert(args, out_dir: Path, cache: Path, jobs: int) -> tuple[float, dict, float]:
    """(wall s, convert.json, peak RSS MB of the largest process) of one CLI run in a fresh process."""
    env = dict(os.environ, SQUEEZEBENCH_CACHE=str(cache))
    command = [*support.SQUEEZEBENCH, "convert", args.model, "--levels", args.levels]
    start = time.perf_counter()
    process = subprocess.Popen([*command, "--out", str(out_dir), "--jobs", str(jobs), "--quiet"], cwd=support.REPO,
                               env=env, stdout=subprocess.DEVNULL)
    # This run's own peak (its --jobs workers included, once it has reaped them); the process-wide
    # RUSAGE_CHILDREN would be a running maximum over every earlier run.
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed_s = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise subprocess.CalledProcessError(process.returncode, command)
    return elapsed_s, json.loads((out_dir / "convert.json").read_text()), usage.ru_maxrss / 1024


def seed_zoo(model: str, cache: Path) -> None:
    """The zoo model from the persistent cache (built there once, untimed)."""
    env = dict(os.environ, SQUEEZEBENCH_CACHE=str(support.PERF_CACHE))
    code = f"from harness.convert import zoo; zoo.ensure_artifact({model!r})"
    subprocess.run([sys.executable, "-c", code], cwd=support.REPO, env=env, check=True)
    shutil.copytree(support.PERF_CACHE / "zoo", cache / "zoo")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--levels", default="all")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    started = time.perf_counter()
    with support.private_world("convert-parallel", start_adb=False) as world:
        root = world.root
        serial_cache, parallel_cache = root / "serial-cache", root / "parallel-cache"
        seed_zoo(args.model, serial_cache)
        shutil.copytree(serial_cache, parallel_cache)  # the same zoo model, no conversions
        serial_s, serial, serial_mb = timed_convert(args, root / "serial", serial_cache, 1)
        parallel_s, parallel, parallel_mb = timed_convert(args, root / "parallel", parallel_cache, args.jobs)
        cached_s, cached, _ = timed_convert(args, root / "cached", serial_cache, 1)
    files = [(e["level"], e["status"], e["sha256"]) for e in serial["levels"]]
    support.print_result({
        "benchmark": "convert_parallel",
        "model": args.model,
        "levels": {e["level"]: e["status"] for e in serial["levels"]},
        "jobs": args.jobs,
        "serial_s": round(serial_s, 2),
        "parallel_s": round(parallel_s, 2),
        "parallel_speedup": round(serial_s / parallel_s, 3),
        "cached_s": round(cached_s, 3),
        "cached_ratio": round(cached_s / serial_s, 4),
        "cached_all_levels": all(e.get("cached") for e in cached["levels"] if e["status"] == "ok"),
        "conversion_s_by_level": {e["level"]: e.get("conversion_s") for e in serial["levels"]},
        "sum_of_level_conversion_s": round(sum(e.get("conversion_s") or 0 for e in serial["levels"]), 1),
        "peak_rss_mb": {"serial": serial_mb and round(serial_mb), "parallel_largest_process": parallel_mb and round(parallel_mb)},
        "same_files": files == [(e["level"], e["status"], e["sha256"]) for e in parallel["levels"]]
        and files == [(e["level"], e["status"], e["sha256"]) for e in cached["levels"]],
        "host": support.host_facts(),
        "script_wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
