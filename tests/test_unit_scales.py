"""Column scales: one unit per column, and no value in it rounded past three significant digits."""

import pytest

from harness.units import energy_scale, latency_scale, size_scale


@pytest.mark.parametrize(("scale_for", "column"), [
    (latency_scale, [12.7, 32.6, 747.3, 806.1]),  # digits-cnn: int8 beside int16x8's p95
    (latency_scale, [3771.0, 6623.0, 48.25]),
    (energy_scale, [0.0325, 0.0753, 1.02]),
    (energy_scale, [0.0000812, 0.000153]),
    (size_scale, [362_000, 1_430_000]),
])
def test_every_value_keeps_three_significant_digits_in_one_unit(scale_for, column):
    scale = scale_for(column + [None])
    texts = [scale.text(value) for value in column]
    decimals = {len(text.partition(".")[2]) for text in texts}
    assert len(decimals) == 1, texts  # the column lines up
    for value, text in zip(column, texts):
        shown = float(text) * scale.divisor
        assert abs(shown - value) <= 0.005 * value, (value, text, scale.unit)
    assert scale.text(None) == "-"


def test_the_unit_follows_the_largest_value():
    assert latency_scale([12.0, 1500.0]).unit == "ms"
    assert latency_scale([12.0, 999.0]).unit == "µs"
    assert energy_scale([0.02, 0.5]).unit == "µJ"
    assert size_scale([362_000, 1_430_000]).unit == "MB"
