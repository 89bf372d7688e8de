"""Single values for people: three significant digits, trailing zeros kept, the unit that fits."""

import pytest

from harness.units import fmt_bytes, fmt_energy_mj, fmt_us

US = {"µs": 1.0, "ms": 1e3, "s": 1e6}
BYTES = {"kB": 1e3, "MB": 1e6, "GB": 1e9}
MJ = {"µJ": 1e-3, "mJ": 1.0}


VALUES = [0.0123, 1.0, 12.0, 32.0, 32.25, 99.96, 999.4, 999.96, 1000.0, 1500.0, 7.06e3, 32.0e3, 999.96e3, 2.5e6, 4.2e9]


@pytest.mark.parametrize(("fmt", "units", "value"), [
    *((fmt_us, US, value) for value in VALUES),
    *((fmt_bytes, BYTES, value) for value in VALUES if value >= 1e3),  # below: whole bytes (tested apart)
    *((fmt_energy_mj, MJ, value) for value in VALUES),
])
def test_three_significant_digits_in_the_unit_that_fits(fmt, units, value):
    number, unit = fmt(value).split(" ")
    shown = float(number) * units[unit]
    assert abs(shown - value) <= 0.005 * value
    digits = len(number.replace(".", "").lstrip("0"))
    assert digits == 3 or (digits > 3 and "." not in number and unit == max(units, key=units.get)), number  # 32.0, not 32
    smallest_unit = min(units, key=units.get)
    largest_unit = max(units, key=units.get)
    assert 1 <= float(number) < 1000 or (unit == smallest_unit and float(number) < 1) or unit == largest_unit


def test_missing_values_and_whole_bytes():
    assert fmt_us(None) == fmt_bytes(None) == fmt_energy_mj(None) == "-"
    assert fmt_bytes(999) == "999 B"
