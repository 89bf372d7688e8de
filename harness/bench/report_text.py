"""A bench document as a few lines a person reads in a terminal."""

from __future__ import annotations

from harness.units import fmt_energy_mj, fmt_mb, fmt_us


def describe_bench(doc: dict) -> str:
    passport = doc.get("device") or {}
    props = passport.get("props") or {}
    settings = doc.get("settings") or {}
    lines = [
        f"{doc['model']['file']} on {props.get('ro.product.model', '?')} ({passport.get('serial')}), "
        f"{settings.get('threads')} threads, delegate {settings.get('delegate')}: {doc['status'].upper()}"
    ]
    if doc.get("reason"):
        lines.append(f"  reason: {doc['reason']}")
    latency = doc.get("latency_us")
    if latency:
        ci = latency.get("ci95_median") or latency.get("ci95_mean")
        ci_text = f", 95% CI {fmt_us(ci[0])} .. {fmt_us(ci[1])}" if ci else ""
        lines.append(
            f"  latency: median {fmt_us(latency.get('median'))} (p5 {fmt_us(latency.get('p5'))}, "
            f"p95 {fmt_us(latency.get('p95'))}{ci_text}), mean {fmt_us(latency.get('mean'))} "
            f"± {fmt_us(latency.get('std'))}, n={latency.get('count')} [{latency.get('source')}]"
        )
        lines.append(
            f"  init {fmt_us(doc.get('init_us'))}, first inference {fmt_us(doc.get('first_inference_us'))}, "
            f"min {fmt_us(latency.get('min'))}, max {fmt_us(latency.get('max'))}"
        )
    memory = doc.get("memory_mb") or {}
    if any(memory.values()):
        lines.append(f"  memory: peak {fmt_mb(memory.get('peak'))}, overall {fmt_mb(memory.get('overall'))}, init {fmt_mb(memory.get('init'))}")
    energy = doc.get("energy")
    if energy:
        lines.append(
            f"  energy: {fmt_energy_mj(energy.get('energy_per_inference_mj'))} per inference, "
            f"{energy.get('net_power_mw') and round(energy['net_power_mw'])} mW net "
            f"[{energy.get('method')}, {energy.get('validity')}]"
        )
    delegation = doc.get("delegation") or {}
    if delegation.get("delegate"):
        lines.append(
            f"  delegation: {delegation.get('delegate')} ran {delegation.get('nodes_delegated')}/"
            f"{delegation.get('nodes_total')} nodes in {delegation.get('partitions')} partitions"
            + (" - FELL BACK TO CPU" if delegation.get("fallback_to_cpu") else "")
        )
    thermal = doc.get("thermal") or {}
    if thermal:
        lines.append(
            f"  thermal status {thermal.get('status_before')} -> {thermal.get('status_after')}, battery "
            f"{thermal.get('battery_temp_c_before')} -> {thermal.get('battery_temp_c_after')} °C"
        )
    if doc.get("flags"):
        lines.append(f"  flags: {', '.join(doc['flags'])}")
    return "\n".join(lines)
