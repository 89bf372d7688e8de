"""Numbers for people: units attached, sensible precision. Used by every text and table output."""

from __future__ import annotations


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
    return "-" if value is None else f"{value:.2f}x"


def fmt_pct(fraction: float | None, digits: int = 1) -> str:
    return "-" if fraction is None else f"{100 * fraction:.{digits}f}%"


def fmt_energy_mj(value_mj: float | None) -> str:
    if value_mj is None:
        return "-"
    return _in_largest_unit(value_mj, (("mJ", 1.0), ("µJ", 1e-3)))
