"""Cold conversion of a zoo model's whole ladder, this checkout against an earlier commit, printed
as JSON: wall time, CPU time, their ratio, and the longest silence in the progress output.

    .venv/bin/python benchmarks/convert_cold.py [--model digits-cnn] [--levels all]
                                                [--baseline 268e098] [--rounds 3]

Each run is the real command line (`python -m harness convert MODEL --levels LEVELS`) in a fresh
process with its own empty SQUEEZEBENCH_CACHE, so the zoo model is trained and every level
converted (cold), as a new user's first run does. The baseline is `git archive` of the commit,
run the same way from a temporary directory. Runs alternate (baseline, this checkout, ...) so that
other load on the machine falls on both alike; medians are reported. CPU time is the process
tree's user + system time (os.wait4), which load on the machine inflates far less than wall time.
`max_progress_gap_s` is the longest time between two stderr lines of this checkout's runs
(target: at most 5 s); every run must produce the same files.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from io import BytesIO
from pathlib import Path

import _support as support

from harness.digests import sha256_file

TARGET_RATIO = 0.5
TARGET_GAP_S = 5.0


def baseline_tree(commit: str, into: Path) -> Path:
    """The harness package of `commit`, unpacked under `into`."""
    archive = subprocess.run(["git", "archive", commit, "harness"], cwd=support.REPO, capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def cold_run(code_root: Path, args, scratch: Path) -> dict:
    """One cold CLI run; wall and CPU seconds, the longest silence on stderr, the files' digests."""
    cache, out = scratch / "cache", scratch / "out"
    env = dict(os.environ, SQUEEZEBENCH_CACHE=str(cache), PYTHONPATH=str(code_root))
    argv = [sys.executable, "-m", "harness", "convert", args.model, "--levels", args.levels, "--out", str(out)]
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=code_root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line_times = [started]
    reader = threading.Thread(target=lambda: [line_times.append(time.perf_counter()) for _ in process.stderr])
    reader.start()
    _pid, status, usage = os.wait4(process.pid, 0)
    ended = time.perf_counter()
    reader.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed with exit {os.waitstatus_to_exitcode(status)}")
    gaps = [b - a for a, b in zip(line_times, line_times[1:] + [ended])]
    digests = {path.name: sha256_file(path) for path in sorted(out.glob("*.tflite"))}
    return {
        "wall_s": ended - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "max_progress_gap_s": max(gaps),
        "stderr_lines": len(line_times) - 1,
        "digests": digests,
    }


def median(runs: list[dict], field: str) -> float:
    return round(statistics.median(run[field] for run in runs), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--levels", default="all")
    parser.add_argument("--baseline", default="268e098", help="commit to compare with (before)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    before: list[dict] = []
    after: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="convert-cold-") as tmp:
        old_code = baseline_tree(args.baseline, Path(tmp) / "baseline")
        for round_index in range(args.rounds):
            for code_root, runs, name in ((old_code, before, "before"), (support.REPO, after, "after")):
                runs.append(cold_run(code_root, args, Path(tmp) / f"{name}-{round_index}"))
    same_files = all(run["digests"] == before[0]["digests"] for run in before + after)
    ratio = median(after, "wall_s") / median(before, "wall_s")
    support.print_result({
        "benchmark": "convert_cold",
        "model": args.model,
        "levels": args.levels,
        "baseline_commit": args.baseline,
        "rounds": args.rounds,
        "before_wall_s": [round(run["wall_s"], 2) for run in before],
        "after_wall_s": [round(run["wall_s"], 2) for run in after],
        "before_median_wall_s": median(before, "wall_s"),
        "after_median_wall_s": median(after, "wall_s"),
        "wall_ratio": round(ratio, 3),
        "before_median_cpu_s": median(before, "cpu_s"),
        "after_median_cpu_s": median(after, "cpu_s"),
        "max_progress_gap_s": {"before": median(before, "max_progress_gap_s"),
                               "after": round(max(run["max_progress_gap_s"] for run in after), 2)},
        "same_files": same_files,
        "met": ratio <= TARGET_RATIO and max(run["max_progress_gap_s"] for run in after) <= TARGET_GAP_S and same_files,
        "host": support.host_facts(),
        "script_wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
