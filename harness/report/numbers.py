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


SIGNIFICANT_DIGITS = 3
MAX_DECIMALS = 4


def _finite_magnitudes(values: Iterable[float | None]) -> list[float]:
    return [abs(v) for v in values if v is not None and math.isfinite(v)]


def _scale(unit: str, divisor: float, digits: int, magnitudes: list[float]) -> Scale:
    """One unit for the column, chosen by its largest value; enough decimals that its smallest
    non-zero value still shows SIGNIFICANT_DIGITS (a 13 µs cell beside an 800 µs one reads 12.7,
    not 13)."""
    smallest = min((m / divisor for m in magnitudes if m > 0), default=None)
    if smallest is not None:
        needed = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(smallest))
        digits = max(digits, min(MAX_DECIMALS, needed))
    return Scale(unit, divisor, digits)


def latency_scale(values_us: Iterable[float | None]) -> Scale:
    """µs, ms or s with 3-4 significant digits for the largest value of the column."""
    magnitudes = _finite_magnitudes(values_us)
    largest = max(magnitudes, default=0.0)
    if largest >= 10e6:
        return _scale("s", 1e6, 2, magnitudes)
    if largest >= 1e3:
        return _scale("ms", 1e3, 2 if largest < 100e3 else 1, magnitudes)
    return _scale("µs", 1.0, 1 if largest < 100 else 0, magnitudes)


def energy_scale(values_mj: Iterable[float | None]) -> Scale:
    magnitudes = _finite_magnitudes(values_mj)
    largest = max(magnitudes, default=0.0)
    if largest >= 1.0:
        return _scale("mJ", 1.0, 2 if largest < 100 else 1, magnitudes)
    return _scale("µJ", 1e-3, 1 if largest < 0.1 else 0, magnitudes)


def size_scale(values_bytes: Iterable[float | None]) -> Scale:
    magnitudes = _finite_magnitudes(values_bytes)
    largest = max(magnitudes, default=0.0)
    if largest >= 1e9:
        return _scale("GB", 1e9, 2, magnitudes)
    if largest >= 1e6:
        return _scale("MB", 1e6, 2, magnitudes)
    return _scale("kB", 1e3, 1, magnitudes)


def pct(fraction: float | None, digits: int = 1) -> str:
    return "-" if fraction is None else f"{100 * fraction:.{digits}f}"


def points(value_pp: float | None) -> str:
    """A difference in percentage points, always signed so a drop and a gain read differently."""
    return "-" if value_pp is None else f"{value_pp:+.1f}"


def ratio(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}x"


def signed_pct(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:+.1f}%"
