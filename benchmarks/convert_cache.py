"""A second identical `squeezebench convert` against the first one's time, printed as JSON.

    .venv/bin/python benchmarks/convert_cache.py [--model digits-cnn] [--levels all]

Runs the real command line (`python -m harness convert MODEL --levels LEVELS`) in fresh processes
with a private, empty conversion cache and a temporary HOME (benchmarks/_support.py): once to
build the zoo model if MODEL is one (timed separately: it is not a conversion), once cold, once
more identical. The target is a second run under 5% of the first one's time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_RATIO = 0.05


def timed_convert(model: str, levels: str, out_dir: Path, env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness", "convert", model, "--levels", levels, "--out", str(out_dir), "--quiet"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        check=False,
    )
    elapsed_s = time.perf_counter() - start
    return elapsed_s, json.loads((out_dir / "convert.json").read_text())


def build_zoo_model(model: str, env: dict) -> float | None:
    from harness.convert import zoo

    if model not in zoo.ZOO:
        return None
    code = f"from harness.convert import zoo; zoo.ensure_artifact({model!r})"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="digits-cnn")
    parser.add_argument("--levels", default="all")
    args = parser.parse_args()
    import _support as support

    with support.private_world("convert-cache", start_adb=False) as world:
        scratch = world.root
        env = dict(os.environ, SQUEEZEBENCH_CACHE=str(Path(scratch) / "cache"))
        zoo_build_s = build_zoo_model(args.model, env)
        first_s, first = timed_convert(args.model, args.levels, Path(scratch) / "first", env)
        second_s, second = timed_convert(args.model, args.levels, Path(scratch) / "second", env)
    ratio = second_s / first_s
    same_files = [a["sha256"] for a in first["levels"]] == [b["sha256"] for b in second["levels"]]
    print(
        json.dumps(
            {
                "model": args.model,
                "levels": [entry["level"] for entry in first["levels"]],
                "zoo_build_s": None if zoo_build_s is None else round(zoo_build_s, 2),
                "first_s": round(first_s, 2),
                "second_s": round(second_s, 3),
                "ratio": round(ratio, 4),
                "target_ratio": TARGET_RATIO,
                "second_all_cached": all(entry["cached"] for entry in second["levels"] if entry["status"] == "ok"),
                "same_files": same_files,
                "met": ratio < TARGET_RATIO and same_files,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
