"""The report-row fields of the deeper measurements (issue 14): repeats, validity presets, op
profiles, outputs checked on the device and sustained runs, flattened from a cell's Measurements
(the CellRecord in harness/report/load.py lists them)."""

from __future__ import annotations

from harness.store.records import LatencyStats, Measurements, OutputCheckSummary


def deeper_fields(measured: Measurements) -> dict:
    """The CellRecord fields of the repeats, presets, op profile, outputs check and sustained run."""
    repeats, preset, profile = measured.repeats, measured.preset, measured.op_profile
    check, sustained = measured.output_check or OutputCheckSummary(available=False), measured.sustained
    return dict(
        latency_p90_us=(measured.latency_us or LatencyStats()).p90,
        repeat_count=repeats.count if repeats else None,
        repeat_spread=repeats.spread if repeats else None,
        preset=preset.name if preset else None,
        preset_met=preset.met if preset else None,
        preset_reasons="; ".join(preset.reasons) if preset and preset.reasons else None,
        op_profile=None if profile is None else "measured" if profile.available else profile.reason,
        op_profile_total_us=profile.total_us if profile else None,
        delegated_time_share=profile.delegated_time_share if profile else None,
        device_top1_agreement_fp32=check.top1_agreement_fp32,
        device_top1_agreement_level=check.top1_agreement_level,
        device_accuracy=check.device_accuracy,
        host_check_accuracy=check.host_accuracy,
        output_max_abs_error=check.max_abs_error,
        output_max_rel_error=check.max_rel_error,
        output_check_samples=check.samples,
        output_check=check.verdict or check.reason,
        numerics=check.numerics if check.available else None,
        numerics_worst_index=check.worst_index if check.numerics else None,
        sustained_p90_us=sustained.p90_us if sustained else None,
        sustained_throttled=sustained.throttled if sustained else None,
        sustained_throttle_began_s=sustained.began_s if sustained else None,
        sustained_slowdown=sustained.slowdown if sustained else None,
    )
