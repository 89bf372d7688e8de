"""The quickest benchmark settings that still measure, for tests that need a result, not a good one:
5 runs, 0.1 s of measuring, no idle baseline, no warm-up time, no outputs checked on the device
(`run` checks them by default when the model has evaluation data; `fast_args(check_outputs=True)`
keeps that default). One definition, as CLI arguments
(`squeezebench bench/run`) and as a `Measurement` (`run_sweep`, the Python API)."""

from __future__ import annotations

RUNS = 5
MIN_SECS = 0.1
RUNNER_ARGS = ("--warmup_min_secs=0",)


def fast_args(min_secs: float = MIN_SECS, *, check_outputs: bool = False) -> list[str]:
    return ["--runs", str(RUNS), "--min-secs", str(min_secs), "--idle-baseline", "0",
            *(f"--runner-arg={arg}" for arg in RUNNER_ARGS), *([] if check_outputs else ["--no-check-outputs"])]


FAST_ARGS = fast_args()
# Cells that last about 2 s: long enough for a test to act while one is in flight.
CELLS_IN_FLIGHT_ARGS = fast_args(min_secs=1)


def fast_measurement(**changes):
    """`FAST_ARGS` as a Measurement, with `changes` to its fields."""
    from harness.bench.settings import Measurement

    fields = dict(runs=RUNS, min_secs=MIN_SECS, idle_baseline_s=0.0, runner_args=RUNNER_ARGS, check_outputs=False)
    return Measurement(**{**fields, **changes})
