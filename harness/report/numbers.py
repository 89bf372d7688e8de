"""Number formatting for report tables: one unit per column, so values line up and compare.

harness/units.py formats single values in whatever unit suits each; a table column instead
picks one unit for all its rows from the largest value it holds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    unit: str
    divisor: float
    digits: int

    def text(self, value: float | None) -> str:
        if value is None or not math.isfinite(value):
            return "-"
        return f"{value / self.divisor:.{self.digits}f}"

    def value(self, value: float | None) -> float | None:
        return None if value is None or not math.isfinite(value) else value / self.divisor


def _largest(values: Iterable[float | None]) -> float:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    return max(finite, default=0.0)


def latency_scale(values_us: Iterable[float | None]) -> Scale:
    """µs, ms or s with 3-4 significant digits for the largest value of the column."""
    largest = _largest(values_us)
    if largest >= 10e6:
        return Scale("s", 1e6, 2)
    if largest >= 1e3:
        return Scale("ms", 1e3, 2 if largest < 100e3 else 1)
    return Scale("µs", 1.0, 1 if largest < 100 else 0)


def energy_scale(values_mj: Iterable[float | None]) -> Scale:
    largest = _largest(values_mj)
    if largest >= 1.0:
        return Scale("mJ", 1.0, 2 if largest < 100 else 1)
    return Scale("µJ", 1e-3, 1 if largest < 0.1 else 0)


def size_scale(values_bytes: Iterable[float | None]) -> Scale:
    largest = _largest(values_bytes)
    if largest >= 1e9:
        return Scale("GB", 1e9, 2)
    if largest >= 1e6:
        return Scale("MB", 1e6, 2)
    return Scale("kB", 1e3, 1)


def pct(fraction: float | None, digits: int = 1) -> str:
    return "-" if fraction is None else f"{100 * fraction:.{digits}f}"


def points(value_pp: float | None) -> str:
    """A difference in percentage points, always signed so a drop and a gain read differently."""
    return "-" if value_pp is None else f"{value_pp:+.1f}"


def ratio(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}x"


def signed_pct(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:+.1f}%"
