"""What the energy sources (energy_gauge.py, energy_rails.py) share: the runner's phases on the
device's clock, the powers a source measured over them before any validity rule, the validity
labels, and time-weighted means.

The runner's life splits in two (`RunnerPhases`): its start-up (process start, model load,
delegate init, warm-up: paid once per process) and its measured runs, which come last. The
measured runs' length is the runner's own timing of them (the sum of its measured inference
times), so the measured phase is the last `measured_s` before the runner's exit: energy per
inference is the net power over that phase times its length, divided by its inferences, and does
not depend on how many runs were asked for. Start-up energy is reported apart.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

VALID = "valid"
INVALID_CHARGING = "invalid: charging"
INVALID_CHARGING_UNKNOWN = "invalid: charging state unknown"
INVALID_TOO_FEW_SAMPLES = "invalid: too few samples"
INVALID_WINDOW = "invalid: gauge window too short"
INVALID_UNIT = "invalid: implausible current"
INVALID_NOT_SEPARATED = "invalid: start-up not separated"
INVALID_NO_SOURCE = "invalid: no energy source"
INVALID_NOT_ABOVE_IDLE = "invalid: not above idle"
INVALID_BAD_SAMPLES = "invalid: bad samples"
INVALID_RUN = "invalid: runner did not finish"
INVALID_NO_INFERENCES = "invalid: no inferences"
INVALID_BORROWED_BASELINE = "invalid: idle baseline not valid here"
# Not an invalid measurement: none was asked for (--no-energy).
NOT_MEASURED = "not measured"

IDLE_SOURCE_OWN = "this cell"
METHOD_RAILS = "power-rails"
METHOD_GAUGE = "battery-gauge"
METHOD_SIMULATED = "simulated"

# What `Energy.window` says the energy per inference covers.
MEASURED_WINDOW = "measured runs: the last measured_s of the runner's life, by its own timings (start-up apart)"


@dataclass(frozen=True)
class RunnerPhases:
    """The runner's window on the device's uptime clock, and how long its measured runs took."""

    start_s: float
    end_s: float
    measured_s: float  # the measured runs' total time, by the runner's own timings
    inferences: int  # measured runs

    @property
    def measured_start_s(self) -> float:
        # Teardown after the last run (printing, freeing) is short: the measured runs end at exit.
        return max(self.start_s, self.end_s - self.measured_s)

    @property
    def startup_s(self) -> float:
        return self.measured_start_s - self.start_s

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SourceMeasurement:
    """Powers over the idle, start-up and measured windows, before validity rules and division by
    inferences. The idle part is None until a borrowed baseline fills it in."""

    source: str
    idle_power_mw: float | None
    gross_power_mw: float  # over the measured runs
    startup_power_mw: float | None  # over the start-up, None when it cannot be told apart
    startup_duration_s: float | None  # the start-up's window as this source saw it
    idle_duration_s: float | None
    run_duration_s: float  # the runner's whole window
    inference_window_s: float  # the window gross_power_mw is averaged over
    idle_samples: int
    run_samples: int
    sample_interval_ms: float | None = None
    normalisation: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rails: tuple[str, ...] = ()
    idle_source: str = IDLE_SOURCE_OWN
    idle_age_s: float | None = None
    current_unit: str | None = None
    current_unit_from: str | None = None
    charging_suspension: str | None = None
    idle_readings: int = 0
    run_readings: int = 0


class Unusable(Exception):
    """The data of one source cannot give a number: validity label and reason, and what is known."""

    def __init__(self, validity: str, reason: str, *, source: str | None = None, partial: dict | None = None):
        super().__init__(reason)
        self.validity = validity
        self.reason = reason
        self.source = source
        self.partial = partial or {}


def runner_window(start_s: float | None, end_s: float | None, source: str) -> tuple[float, float]:
    if start_s is None or end_s is None or end_s <= start_s:
        raise Unusable(INVALID_BAD_SAMPLES, "the runner's start and end uptime are missing or out of order",
                       source=source)
    return start_s, end_s


def mean_over(points: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Time-weighted mean of a piecewise-linear signal over [start, end]; held flat past its ends."""
    points = sorted(points)
    if start < points[0][0]:
        points.insert(0, (start, points[0][1]))
    if end > points[-1][0]:
        points.append((end, points[-1][1]))
    area = 0.0
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        a, b = max(t0, start), min(t1, end)
        if b <= a:
            continue
        slope = (v1 - v0) / (t1 - t0)
        va, vb = v0 + slope * (a - t0), v0 + slope * (b - t0)
        area += (va + vb) / 2 * (b - a)
    return area / (end - start)


def median_interval_ms(times_s: Sequence[tuple[str, float]]) -> float | None:
    """Median spacing of consecutive samples of the same phase, (phase, uptime) pairs in order."""
    gaps = [(b - a) * 1000 for (pa, a), (pb, b) in zip(times_s, times_s[1:]) if pa == pb]
    return round(statistics.median(gaps), 1) if gaps else None


def round_s(duration_s: float) -> float:
    # Uptime has 10 ms resolution; more digits would only be float noise.
    return round(duration_s, 3)
