"""Numbers for people: units attached, sensible precision. Used by every text and table output."""

from __future__ import annotations


def fmt_us(value_us: float | None) -> str:
    """A duration given in microseconds, in the unit that keeps 3 significant digits readable."""
    if value_us is None:
        return "-"
    if value_us >= 1e6:
        return f"{value_us / 1e6:.3g} s"
    if value_us >= 1e3:
        return f"{value_us / 1e3:.3g} ms"
    return f"{value_us:.3g} µs"


def fmt_ms(value_us: float | None, digits: int = 2) -> str:
    """Milliseconds with fixed decimals: columns of latencies line up and compare at a glance."""
    return "-" if value_us is None else f"{value_us / 1e3:.{digits}f}"


def fmt_bytes(size_bytes: float | None) -> str:
    if size_bytes is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.3g} {unit}"
    return f"{int(size_bytes)} B"


def fmt_mb(value_mb: float | None) -> str:
    return "-" if value_mb is None else f"{value_mb:.1f} MB"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def fmt_pct(fraction: float | None, digits: int = 1) -> str:
    return "-" if fraction is None else f"{100 * fraction:.{digits}f}%"


def fmt_energy_mj(value_mj: float | None) -> str:
    if value_mj is None:
        return "-"
    if value_mj < 1:
        return f"{value_mj * 1000:.3g} µJ"
    return f"{value_mj:.3g} mJ"
