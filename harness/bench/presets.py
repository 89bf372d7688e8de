"""Validity presets: named sets of measurement settings with the requirements a cell must meet
to count as valid under them. Presets are data: one table, read by `Measurement.from_options`
(the settings) and by `check_preset` (the requirements); no code path depends on a preset's name."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.store.records import LatencyStats, PresetCheck


@dataclass(frozen=True)
class Preset:
    description: str
    settings: MappingProxyType  # Measurement field -> value
    min_queries: int = 0  # measured inferences, all repeats together
    min_duration_s: float = 0.0  # summed latency of the measured inferences
    headline: str = "median"  # the LatencyStats statistic reported first
    notes: tuple[str, ...] = field(default=())


PRESETS = {
    "mlperf-single-stream": Preset(
        description="MLPerf Inference single-stream rules: at least 1024 queries and at least 60 s of them, "
        "p90 latency as the headline; a cell that misses either is not valid",
        settings=MappingProxyType({"runs": 1024, "min_secs": 60.0, "max_secs": 3600.0}),
        min_queries=1024,
        min_duration_s=60.0,
        headline="p90",
        notes=("p90 needs per-iteration latencies: the bundled runner writes them; the official benchmark_model "
               "prints p5/median/p95 only (also in its --result_file_path proto), so its cells cannot meet this "
               "preset and say so",),
    ),
    "quick": Preset(
        description="smoke test: 10 runs over at least 0.2 s, no energy (charging left as it is, no idle baseline) "
        "and no cool-down; numbers are rough, for checking that everything runs, not for comparing",
        settings=MappingProxyType({"runs": 10, "warmup_runs": 1, "min_secs": 0.2, "energy": False, "cooldown_s": 0.0}),
    ),
}


def preset_help() -> str:
    return "; ".join(f"{name}: {preset.description}" for name, preset in PRESETS.items())


def check_preset(name: str, latency: LatencyStats | None) -> PresetCheck:
    """Whether the measured runs meet the preset's requirements, and what they missed."""
    from harness.store.records import LatencyStats, PresetCheck  # the results' model: not needed for options

    preset = PRESETS[name]
    latency = latency or LatencyStats()
    count = latency.count or 0
    reasons = []
    if count < preset.min_queries:
        reasons.append(f"{count} queries, at least {preset.min_queries} needed")
    measured_s = count * latency.mean / 1e6 if latency.mean is not None else 0.0
    if measured_s < preset.min_duration_s:
        reasons.append(f"{measured_s:.1f} s of inference, at least {preset.min_duration_s:g} s needed")
    headline_us = getattr(latency, preset.headline)
    if headline_us is None:
        reasons.append(f"no {preset.headline}: it needs per-iteration latencies, which this runner does not write")
    return PresetCheck(name=name, met=not reasons, reasons=tuple(reasons), headline=preset.headline,
                       headline_us=headline_us)
