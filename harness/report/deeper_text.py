"""The deeper measurements (issue 14) in words: one line each for people, shared by the terminal
summary of `bench` and the report's notes."""

from __future__ import annotations

from harness.store.records import Measurements, OpProfileSummary, OutputCheckSummary, Repeats, Sustained
from harness.units import fmt_energy_mj, fmt_pct, fmt_us

TOP_NODE_TYPES = 3


def clock_text(seconds: float | None) -> str:
    """m:ss from the start of a sustained run."""
    if seconds is None:
        return "?"
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def throttling_text(sustained: Sustained) -> str:
    if not sustained.throttled:
        return f"no throttling in {clock_text(sustained.intervals[-1].end_s if sustained.intervals else 0)}"
    row = next(r for r in sustained.intervals if r.index == sustained.began_interval)
    minute = int(row.start_s // 60) + 1
    text = f"throttling began in minute {minute} (interval {clock_text(row.start_s)}–{clock_text(row.end_s)}: {sustained.why})"
    if sustained.slowdown:
        text += f"; latency up to {sustained.slowdown:.2f}x the first interval's"
    if sustained.min_cap_fraction is not None and sustained.min_cap_fraction < 1:
        text += f"; clocks down to {fmt_pct(sustained.min_cap_fraction, 0)} of their maximum"
    return text


def repeats_text(repeats: Repeats) -> str:
    medians = ", ".join(fmt_us(m) for m in repeats.medians_us)
    spread = "-" if repeats.spread is None else fmt_pct(repeats.spread)
    return f"{repeats.count} runner processes, medians {medians} (between-run spread {spread})"


def op_profile_text(profile: OpProfileSummary) -> str:
    if not profile.available:
        return profile.reason or "op profile: not available"
    top = sorted(profile.node_types, key=lambda row: -(row.avg_ms or 0))[:TOP_NODE_TYPES]
    tops = ", ".join(f"{row.node_type} {fmt_us((row.avg_ms or 0) * 1000)}" + (" [delegate]" if row.delegated else "")
                     for row in top)
    share = "" if profile.delegated_time_share is None else f", {fmt_pct(profile.delegated_time_share, 0)} in delegates"
    return f"{profile.nodes} nodes, {fmt_us(profile.total_us)} of node time per run{share}; most time: {tops}"


def output_check_text(check: OutputCheckSummary) -> str:
    if not check.available:
        return check.reason or "outputs not checked"
    parts = [f"{check.samples} inputs ({check.source})"]
    if check.top1_agreement_fp32 is not None:
        parts.append(f"top-1 agreement with host fp32 {fmt_pct(check.top1_agreement_fp32)}")
    if check.top1_agreement_level is not None:
        parts.append(f"with the same level on the host {fmt_pct(check.top1_agreement_level)}")
    if check.device_accuracy is not None:
        parts.append(f"accuracy {fmt_pct(check.device_accuracy)} (host {fmt_pct(check.host_accuracy)})")
    return "; ".join(parts) + f"; {check.verdict}"


def deeper_lines(measured: Measurements) -> list[str]:
    """Indented lines for the terminal summary of one benchmark."""
    lines = []
    if measured.repeats:
        lines.append(f"  repeats: {repeats_text(measured.repeats)}")
    if measured.preset:
        preset = measured.preset
        verdict = "met" if preset.met else "NOT met: " + "; ".join(preset.reasons)
        lines.append(f"  preset {preset.name}: {verdict}; {preset.headline} {fmt_us(preset.headline_us)}")
    if measured.op_profile:
        lines.append(f"  op profile: {op_profile_text(measured.op_profile)}")
    if measured.output_check:
        lines.append(f"  outputs on the device: {output_check_text(measured.output_check)}")
    if measured.sustained:
        sustained = measured.sustained
        lines.append(f"  sustained {clock_text(sustained.duration_s)} in {len(sustained.intervals)} intervals: "
                     f"median {fmt_us(sustained.median_us)}, p90 {fmt_us(sustained.p90_us)}; {throttling_text(sustained)}")
        for row in sustained.intervals:
            clocks = "-" if row.cpu_cap_khz is None else f"{(row.cpu_freq_khz or 0) / 1e3:.0f}/{row.cpu_cap_khz / 1e3:.0f} MHz"
            lines.append(
                f"    {clock_text(row.start_s)}–{clock_text(row.end_s)}  n={row.inferences}  median {fmt_us(row.median_us)}"
                f"  p90 {fmt_us(row.p90_us)}  thermal {row.thermal_status}  skin {_temp(row.skin_temp_c)}"
                f"  cpu {_temp(row.cpu_temp_c)}  clock/cap {clocks}  battery {row.battery_pct}%"
                f"  {fmt_energy_mj(row.energy_per_inference_mj)}/inference"
            )
        lines.append(f"    clocks: {sustained.clocks}")
    return lines


def _temp(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} °C"
