"""One benchmark (a BenchResult) as a few lines a person reads in a terminal."""

from __future__ import annotations

from harness.report.deeper_text import deeper_lines
from harness.store.records import BenchResult
from harness.units import fmt_energy_mj, fmt_mb, fmt_us


def describe_bench(result: BenchResult) -> str:
    passport = result.device
    props = passport.get("props") or {}
    settings = result.settings
    measured = result.measurements
    lines = [
        f"{result.model['file']} on {props.get('ro.product.model', '?')} ({passport.get('serial')}), "
        f"{settings.get('threads')} threads, delegate {settings.get('delegate')}: {result.status.upper()}"
    ]
    if result.reason:
        lines.append(f"  reason: {result.reason}")
    latency = measured.latency_us
    if latency:
        interval, _of = latency.ci95
        ci_text = f", 95% CI {fmt_us(interval[0])} .. {fmt_us(interval[1])}" if interval else ""
        lines.append(
            f"  latency: median {fmt_us(latency.median)} (p5 {fmt_us(latency.p5)}, p95 {fmt_us(latency.p95)}"
            f"{ci_text}), mean {fmt_us(latency.mean)} ± {fmt_us(latency.std)}, n={latency.count} [{latency.source}]"
        )
        lines.append(
            f"  init {fmt_us(measured.init_us)}, first inference {fmt_us(measured.first_inference_us)}, "
            f"min {fmt_us(latency.min)}, max {fmt_us(latency.max)}"
        )
    memory = measured.memory_mb
    if memory and any(v is not None for v in (memory.peak, memory.overall, memory.init)):
        lines.append(f"  memory: peak {fmt_mb(memory.peak)}, overall {fmt_mb(memory.overall)}, init {fmt_mb(memory.init)}")
    energy = measured.energy
    if energy:
        net = "-" if energy.net_power_mw is None else f"{energy.net_power_mw:.0f}"
        lines.append(
            f"  energy: {fmt_energy_mj(energy.energy_per_inference_mj)} per inference, {net} mW net "
            f"[{energy.method}, {energy.validity}]"
        )
    delegation = measured.delegation
    if delegation and delegation.delegate:
        lines.append(
            f"  delegation: {delegation.delegate} ran {delegation.nodes_delegated}/{delegation.nodes_total} nodes "
            f"in {delegation.partitions} partitions" + (" - FELL BACK TO CPU" if delegation.fallback_to_cpu else "")
        )
    thermal = measured.thermal
    if thermal:
        lines.append(
            f"  thermal status {thermal.status_before} -> {thermal.status_after}, battery "
            f"{thermal.battery_temp_c_before} -> {thermal.battery_temp_c_after} °C"
        )
    lines += deeper_lines(measured)
    if measured.flags:
        lines.append(f"  flags: {', '.join(measured.flags)}")
    return "\n".join(lines)
