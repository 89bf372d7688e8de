"""What a phone's fuel gauge reports, as opposed to what flows: real gauges update their current and
voltage every 0.25-1 s, each reading an average over the period before it (a coulomb counter's
smoothing), with a little measurement noise. A virtual device reports its battery through one, so
that energy code meets what it meets on phones: repeated values between updates, and short windows
that hold only a few distinct readings.
"""

from __future__ import annotations

import random
from dataclasses import replace

from harness.virtual.power import PowerReading

# A gauge ADC's noise, relative to the reading.
NOISE_FRACTION = 0.003


class FuelGauge:
    def __init__(self, refresh_s: float, seed: int):
        self._refresh_s = refresh_s
        self._random = random.Random(seed)
        self._charge_ua_s = 0.0  # current x time since the last update
        self._voltage_uv_s = 0.0
        self._elapsed_s = 0.0
        self._reported: tuple[int, int] | None = None  # (current_ua, voltage_uv) last reported

    def observe(self, reading: PowerReading, dt_s: float) -> PowerReading:
        """The reading as the gauge reports it after `dt_s` more of the battery's life."""
        self._charge_ua_s += reading.current_ua * dt_s
        self._voltage_uv_s += reading.voltage_uv * dt_s
        self._elapsed_s += dt_s
        if self._reported is None or self._elapsed_s >= self._refresh_s:
            if self._elapsed_s > 0:
                current_ua = self._charge_ua_s / self._elapsed_s
                voltage_uv = self._voltage_uv_s / self._elapsed_s
            else:
                current_ua, voltage_uv = reading.current_ua, reading.voltage_uv
            noise = 1 + self._random.gauss(0.0, NOISE_FRACTION)
            self._reported = (round(current_ua * noise), round(voltage_uv))
            self._charge_ua_s = self._voltage_uv_s = self._elapsed_s = 0.0
        return replace(reading, current_ua=self._reported[0], voltage_uv=self._reported[1])
