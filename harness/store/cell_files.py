"""The files of one benchmark's directory (a sweep's `cells/<cell>/`, or `bench --out`), and their
readers. The agent writes the raw ones on the device (android_app/agent.sh); the host pulls them
and writes the bench document beside them. Everything measured is recomputed from these.
"""

from __future__ import annotations

from pathlib import Path

from harness.schemas import BENCH
from harness.store.records import BenchResult

BENCH_FILE = "bench.json"  # the bench document (BenchResult)
AGENT_RESULT_FILE = "result.txt"  # the agent's key=value record of the device before and after
RUNNER_LOG_FILE = "runner.log"  # the runner's whole stdout + stderr
ENERGY_SAMPLES_FILE = "energy.csv"  # raw gauge samples: uptime_s,phase,current_now,voltage_now
LATENCIES_FILE = "latencies.txt"  # per-iteration latencies in µs (the bundled runner writes them)
CLOCKS_FILE = "clocks.csv"  # every core's clock sampled during the run: uptime_s,cpu0,cpu1,...
DONE_FILE = "done"  # written last by the agent: the directory is complete
MEMORY_PASS_DIR = "memory-pass"  # the peak-memory pass's own raw files (--peak-memory)
RAW_FILES = (AGENT_RESULT_FILE, RUNNER_LOG_FILE, ENERGY_SAMPLES_FILE, LATENCIES_FILE, CLOCKS_FILE)
RAILS_GLOB = "rails_*.txt"  # power-stats HAL dumps, one per phase boundary


OP_PROFILE_DIR = "op_profile"  # the op-profiling pass's own agent output (--op-profile)
OUTPUTS_DIR = "outputs"  # value files and output dumps of the outputs checked on the device


def run_dir(cell_dir: Path, index: int) -> Path:
    """Where run `index` (1-based) of several (--repeat, --sustained) left its files: the first
    run's are where a single run's are, the others' in run_<index>/ (android_app/agent.sh)."""
    return Path(cell_dir) if index == 1 else Path(cell_dir) / f"run_{index}"


def raw_files_present(cell_dir: Path) -> dict[str, str]:
    present = {name: name for name in RAW_FILES if (Path(cell_dir) / name).exists()}
    for extra in sorted(Path(cell_dir).glob("run_[0-9]*")) + [Path(cell_dir) / OP_PROFILE_DIR,
                                                              Path(cell_dir) / OUTPUTS_DIR]:
        if extra.is_dir():
            present[extra.name] = extra.name + "/"
    return present


def read_text(cell_dir: Path, name: str) -> str:
    """A raw text file as the device wrote it ("" when absent); bytes that are not UTF-8 are
    replaced, never an error."""
    path = Path(cell_dir) / name
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def read_rails(cell_dir: Path) -> dict[str, str] | None:
    """Each power-stats dump's text by its file stem (`rails_run_end`), None when there are none."""
    rails = {p.stem: p.read_text(errors="replace") for p in sorted(Path(cell_dir).glob(RAILS_GLOB))}
    return rails or None


def read_latency_samples(cell_dir: Path) -> list[float]:
    return parse_latency_samples(read_text(cell_dir, LATENCIES_FILE))


def parse_latency_samples(text: str) -> list[float]:
    """The measured per-iteration latencies (µs), one per line; `#` comments and `warmup` lines
    (the warm-up runs) are skipped, as is anything unreadable."""
    try:  # what the bundled runner writes: a comment, then a number per line (a quick path for 50,000 of them)
        return [float(line) for line in text.splitlines() if line and not line.startswith(("#", "warmup"))]
    except ValueError:
        pass
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith("warmup"):
            try:
                samples.append(float(line))
            except ValueError:
                continue
    return samples


def load_bench(cell_dir: Path) -> BenchResult | None:
    """The bench document of a benchmark directory (None before one was written), through its
    versioned schema: a newer one is refused."""
    path = Path(cell_dir) / BENCH_FILE
    return BenchResult.from_dict(BENCH.load(path)) if path.exists() else None
