"""Numbers for people, in one place: single values with their unit attached and sensible
precision (`fmt_*`), and table columns that share one unit for all their rows, chosen from the
values they hold (`*_scale`), so that values line up and compare."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def _significant(value: float, digits: int = 3) -> str:
    """`digits` significant digits, trailing zeros kept: 32.0 beside 32.2, not 32. Whole numbers
    from 10**digits up (4200 s), never an exponent."""
    if abs(value) >= 10**digits - 0.5:
        return f"{value:.0f}"
    return f"{value:#.{digits}g}".rstrip(".")


def _in_largest_unit(value: float, units: tuple[tuple[str, float], ...]) -> str:
    """In the largest unit (largest scale first) the value is at least 1 of once rounded, so
    999.96 µs reads 1.00 ms, not 1.00e+03 µs; the last unit takes whatever is left."""
    for unit, scale in units[:-1]:
        if abs(value) / scale >= 1 - 0.5e-3:
            return f"{_significant(value / scale)} {unit}"
    unit, scale = units[-1]
    return f"{_significant(value / scale)} {unit}"


def fmt_us(value_us: float | None) -> str:
    """A duration given in microseconds, in the unit that keeps 3 significant digits readable."""
    if value_us is None:
        return "-"
    return _in_largest_unit(value_us, (("s", 1e6), ("ms", 1e3), ("µs", 1.0)))


def fmt_ms(value_us: float | None, digits: int = 2) -> str:
    """Milliseconds with fixed decimals: columns of latencies line up and compare at a glance."""
    return "-" if value_us is None else f"{value_us / 1e3:.{digits}f}"


def fmt_bytes(size_bytes: float | None) -> str:
    if size_bytes is None:
        return "-"
    if size_bytes < 1e3:
        return f"{int(size_bytes)} B"
    return _in_largest_unit(size_bytes, (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)))


def fmt_mb(value_mb: float | None) -> str:
    return "-" if value_mb is None else f"{value_mb:.1f} MB"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f}x"


def fmt_pct(fraction: float | None, digits: int = 1, *, suffix: str = "%") -> str:
    """A fraction as a percentage; `suffix=""` in a column whose header says (%)."""
    return "-" if fraction is None else f"{100 * fraction:.{digits}f}{suffix}"


def fmt_signed_pct(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:+.1f}%"


def fmt_energy_mj(value_mj: float | None) -> str:
    if value_mj is None:
        return "-"
    return _in_largest_unit(value_mj, (("mJ", 1.0), ("µJ", 1e-3)))


# --- table columns: one unit per column -------------------------------------------------


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
