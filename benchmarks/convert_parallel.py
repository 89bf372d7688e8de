"""Converting a model's levels one after another vs in parallel processes, and cold vs cached,
printed as JSON.

    .venv/bin/python benchmarks/convert_parallel.py [--model mobilenet_v2] [--levels all] [--jobs 2]

Each run is the real command line in a fresh process with its own empty conversion cache (the zoo
model is built first, untimed), so both the serial and the parallel run convert everything:
  serial_s    --jobs 1, cold
  parallel_s  --jobs N, cold (each worker process imports TensorFlow and loads the model itself)
  cached_s    the same command again on the serial run's cache
Every run must produce the same files (sha256) for the comparison to count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed_convert(args, out_dir: Path, cache: Path, jobs: int) -> tuple[float, dict]:
    env = dict(os.environ, SQUEEZEBENCH_CACHE=str(cache))
    command = [sys.executable, "-m", "harness", "convert", args.model, "--levels", args.levels]
    start = time.perf_counter()
    subprocess.run(
        [*command, "--out", str(out_dir), "--jobs", str(jobs), "--quiet"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start, json.loads((out_dir / "convert.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--levels", default="all")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="squeezebench-parallel-bench-") as scratch:
        root = Path(scratch)
        serial_cache, parallel_cache = root / "serial-cache", root / "parallel-cache"
        code = f"from harness.convert import zoo; zoo.ensure_artifact({args.model!r})"
        env = dict(os.environ, SQUEEZEBENCH_CACHE=str(serial_cache))
        subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)
        shutil.copytree(serial_cache, parallel_cache)  # the same zoo model, no conversions
        serial_s, serial = timed_convert(args, root / "serial", serial_cache, 1)
        parallel_s, parallel = timed_convert(args, root / "parallel", parallel_cache, args.jobs)
        cached_s, cached = timed_convert(args, root / "cached", serial_cache, 1)
    files = [(e["level"], e["status"], e["sha256"]) for e in serial["levels"]]
    print(
        json.dumps(
            {
                "model": args.model,
                "levels": {e["level"]: e["status"] for e in serial["levels"]},
                "jobs": args.jobs,
                "cpu_count": os.cpu_count(),
                "serial_s": round(serial_s, 2),
                "parallel_s": round(parallel_s, 2),
                "parallel_speedup": round(serial_s / parallel_s, 3),
                "cached_s": round(cached_s, 3),
                "cached_ratio": round(cached_s / serial_s, 4),
                "conversion_s_by_level": {e["level"]: e["conversion_s"] for e in serial["levels"]},
                "same_files": files == [(e["level"], e["status"], e["sha256"]) for e in parallel["levels"]]
                and files == [(e["level"], e["status"], e["sha256"]) for e in cached["levels"]],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
