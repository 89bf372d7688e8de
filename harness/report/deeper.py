"""Report sections of the deeper measurements (issue 14), per model and device setup: time by node
type for each level side by side with what changed between levels and delegates, host vs device
quality of the outputs checked on the device, sustained runs (table and plot), validity presets
and between-run noise. Sections appear only for what was measured."""

from __future__ import annotations

from collections import defaultdict

from harness.report.deeper_text import clock_text, repeats_text, throttling_text
from harness.report.load import CellRecord, ResultSet, cell_measurements_of
from harness.report.page import Cell, Plot, Section, Table
from harness.store.records import Measurements, OpProfileSummary
from harness.units import energy_scale, fmt_pct, fmt_us, latency_scale

EMPTY = Cell("-")
# A node type's time "grew" when it rose by this share and by at least this much per run.
GREW_SHARE = 0.20
GREW_MIN_MS = 0.001
TOP_CHANGES = 4


def _setups(records: list[CellRecord]) -> list[list[CellRecord]]:
    by_setup: dict[str, list[CellRecord]] = defaultdict(list)
    for record in records:
        by_setup[record.setup].append(record)
    return [sorted(rows, key=lambda r: r.level_index) for rows in by_setup.values()]


def _title(first: CellRecord) -> str:
    return f"{first.model} on {first.device_label}, {first.threads} thread(s), delegate {first.delegate}"


def deeper_sections(results: ResultSet, model: str, key_prefix: str, with_plots: bool) -> list[Section]:
    records = [r for r in results.records if r.model == model]
    measured = {id(r): cell_measurements_of(results, r) for r in records}
    sections = []
    for index, rows in enumerate(_setups(records)):
        key = f"{key_prefix}-deep{index}"
        pairs = [(r, measured[id(r)]) for r in rows]
        profile = _op_profile_section(pairs, _delegate_baselines(records, rows, measured), key)
        sections += [s for s in (profile, _quality_section(pairs, key), _validity_section(pairs, key)) if s]
        sections += _sustained_sections(pairs, key, with_plots)
    return sections


# --- op profiles --------------------------------------------------------------------------


def _delegate_baselines(records, rows, measured) -> dict[str, Measurements]:
    """For a setup on a delegate other than the CPU: each level's cell on the CPU, same device
    and threads, whose profile the delegate's is compared with."""
    first = rows[0]
    if first.delegate == "cpu":
        return {}
    return {r.level: measured[id(r)] for r in records if r.run_id == first.run_id and r.device == first.device
            and r.threads == first.threads and r.delegate == "cpu"}


def profile_changes(before: OpProfileSummary, after: OpProfileSummary, before_name: str, after_name: str) -> str | None:
    """What changed from one profile to another: node types whose time grew, node types that
    left a delegate (run on the CPU's kernels now), the share of time inside delegates."""
    old = {row.node_type: row for row in before.node_types}
    grew = []
    for row in after.node_types:
        was = old.get(row.node_type)
        then_ms, now_ms = (was.avg_ms or 0.0) if was else 0.0, row.avg_ms or 0.0
        if now_ms - then_ms >= GREW_MIN_MS and (then_ms == 0 or now_ms > then_ms * (1 + GREW_SHARE)):
            was_text = f"{fmt_us(then_ms * 1000)} → " if was else "new, "
            grew.append((now_ms - then_ms, f"{row.node_type} {was_text}{fmt_us(now_ms * 1000)}"))
    cpu_before = {row.node_type: row.count or 0 for row in before.node_types if not row.delegated}
    left = [f"{row.node_type} ×{(row.count or 0) - cpu_before.get(row.node_type, 0)}" for row in after.node_types
            if not row.delegated and (row.count or 0) > cpu_before.get(row.node_type, 0) and any(
                r.delegated for r in before.node_types)]
    parts = []
    if grew:
        parts.append("time grew: " + ", ".join(text for _, text in sorted(grew, reverse=True)[:TOP_CHANGES]))
    if left:
        parts.append("left the delegate (now on the CPU's kernels): " + ", ".join(left))
    share_then, share_now = before.delegated_time_share, after.delegated_time_share
    if share_then is not None and share_now is not None and abs(share_now - share_then) >= 0.05:
        parts.append(f"time inside delegates {fmt_pct(share_then, 0)} → {fmt_pct(share_now, 0)}")
    return f"{after_name} vs {before_name}: " + "; ".join(parts) if parts else None


def _op_profile_section(pairs, cpu_cells: dict[str, Measurements], key: str) -> Section | None:
    profiled = [(r, m.op_profile) for r, m in pairs if m.op_profile is not None]
    if not profiled:
        return None
    first = pairs[0][0]
    section = Section(f"Op profile: time by node type, {_title(first)}")
    available = [(r, p) for r, p in profiled if p.available]
    section.paragraphs += [f"{r.level}: {p.reason}" for r, p in profiled if not p.available]
    if available:
        section.tables.append(_node_type_table(available, f"{key}-ops"))
        reference_record, reference = available[0]
        changes = [profile_changes(reference, p, reference_record.level, r.level) for r, p in available[1:]]
        for r, p in available:
            cpu = cpu_cells.get(r.level)
            if cpu is not None and cpu.op_profile is not None and cpu.op_profile.available:
                changes.append(profile_changes(cpu.op_profile, p, f"{r.level} on cpu", f"{r.level} on {r.delegate}"))
        section.paragraphs += [c for c in changes if c] or ["No node type's time grew and no node left a delegate."]
    return section


def _node_type_table(available, key: str) -> Table:
    order: dict[str, float] = {}
    delegated: set[str] = set()
    for _, profile in available:
        for row in profile.node_types:
            order[row.node_type] = max(order.get(row.node_type, 0.0), row.avg_ms or 0.0)
            if row.delegated:
                delegated.add(row.node_type)
    types = sorted(order, key=lambda name: -order[name])
    values_us = [(row.avg_ms or 0) * 1000 for _, p in available for row in p.node_types]
    scale = latency_scale(values_us + [p.total_us for _, p in available])
    headers = ["node type"] + [f"{r.level} ({scale.unit}/run)" for r, _ in available]
    body = []
    for name in types:
        cells = [Cell(name + (" [delegate]" if name in delegated else ""))]
        for _, profile in available:
            row = next((x for x in profile.node_types if x.node_type == name), None)
            cells.append(EMPTY if row is None or row.avg_ms is None else
                         Cell(f"{scale.text(row.avg_ms * 1000)} ×{row.count}", sort=row.avg_ms * 1000))
        body.append(cells)
    body.append([Cell("all nodes (profiler's total)")] + [Cell(scale.text(p.total_us), sort=p.total_us) for _, p in available])
    body.append([Cell("time inside delegates")] + [Cell(fmt_pct(p.delegated_time_share, 0)) for _, p in available])
    return Table(key, "Time by node type per run, from the op-profiling pass (×N: nodes of that type)", headers, body,
                 ["Profiled in a runner process of its own: the cell's latency comes from the normal pass."])


# --- outputs checked on the device --------------------------------------------------------


def _quality_section(pairs, key: str) -> Section | None:
    checked = [(r, m.output_check) for r, m in pairs if m.output_check is not None]
    if not checked:
        return None
    headers = ["level", "quality on the host (conversion)", "accuracy on the device", "accuracy on the host (same inputs)",
               "top-1 = host fp32", "top-1 = host same level", "max rel error", "numerics", "verdict"]
    body = []
    for record, check in checked:
        body.append([
            Cell(record.level, sort=f"{record.level_index:03d}"),
            _pct_cell(record.quality if record.quality_unit in (None, "fraction") else None),
            _pct_cell(check.device_accuracy), _pct_cell(check.host_accuracy),
            _pct_cell(check.top1_agreement_fp32), _pct_cell(check.top1_agreement_level),
            EMPTY if check.max_rel_error is None else Cell(f"{check.max_rel_error:.2g}", sort=check.max_rel_error),
            Cell("NUMERICS" if check.numerics else ("ok" if check.available else "-"),
                 emphasis="bad" if check.numerics else None),
            Cell(check.verdict or check.reason or "-", emphasis="bad" if not check.available or check.numerics else None),
        ])
    table = Table(f"{key}-outputs", "Host vs device quality: outputs of real inputs computed on the device", headers, body,
                  ["top-1 = host fp32: share of inputs whose top class on the device is the host fp32 model's; "
                   "numerics: the device disagrees with the same level on the host beyond that level's tolerance."])
    return Section(f"Outputs checked on the device, {_title(pairs[0][0])}", tables=[table])


def _pct_cell(fraction) -> Cell:
    return EMPTY if fraction is None else Cell(fmt_pct(fraction), sort=fraction)


# --- validity presets and between-run noise ------------------------------------------------


def _validity_section(pairs, key: str) -> Section | None:
    rows = [(r, m) for r, m in pairs if m.preset is not None or m.repeats is not None]
    if not rows:
        return None
    scale = latency_scale([m.preset.headline_us for _, m in rows if m.preset])
    headers = ["level", "preset", "met", "headline", "not met because", "between-run noise (--repeat)"]
    body = []
    for record, measured in rows:
        preset = measured.preset
        body.append([
            Cell(record.level, sort=f"{record.level_index:03d}"),
            Cell(preset.name if preset else "-"),
            Cell("-" if preset is None else "yes" if preset.met else "NO", emphasis=None if not preset or preset.met else "bad"),
            Cell("-" if preset is None else f"{preset.headline} {scale.text(preset.headline_us)} {scale.unit}"),
            Cell("; ".join(preset.reasons) if preset and preset.reasons else "-"),
            Cell(repeats_text(measured.repeats) if measured.repeats else "-"),
        ])
    return Section(f"Validity and between-run noise, {_title(pairs[0][0])}",
                   tables=[Table(f"{key}-validity", "Validity presets and repeated runs", headers, body)])


# --- sustained runs ------------------------------------------------------------------------


def _sustained_sections(pairs, key: str, with_plots: bool) -> list[Section]:
    sections = []
    for record, measured in pairs:
        sustained = measured.sustained
        if sustained is None or not sustained.intervals:
            continue
        cell_key = f"{key}-sustained-{record.level_index}"
        section = Section(f"Sustained load: {record.level}, {_title(record)}",
                          [f"{clock_text(sustained.duration_s)} asked, {len(sustained.intervals)} intervals; "
                           f"{throttling_text(sustained)}. Clocks: {sustained.clocks}."])
        section.tables.append(_sustained_table(sustained, cell_key))
        if with_plots:
            from harness.report.sustained_plot import sustained_plot

            section.plots.append(Plot(cell_key, f"Latency and temperature over time: {record.level}",
                                      f"median and p90 latency and temperatures per interval of {record.level}",
                                      sustained_plot(sustained)))
        sections.append(section)
    return sections


def _sustained_table(sustained, key: str) -> Table:
    lat = latency_scale([r.p90_us or r.median_us for r in sustained.intervals])
    energy = energy_scale([r.energy_per_inference_mj for r in sustained.intervals])
    headers = ["interval", "inferences", f"median ({lat.unit})", f"p90 ({lat.unit})", "thermal status", "skin (°C)",
               "CPU (°C)", "clock / cap (MHz)", "battery (%)", f"energy ({energy.unit}/inference)"]
    body = []
    for row in sustained.intervals:
        throttled = sustained.began_interval is not None and row.index >= sustained.began_interval
        body.append([
            Cell(f"{clock_text(row.start_s)}–{clock_text(row.end_s)}", sort=row.start_s,
                 emphasis="flagged" if throttled else None),
            Cell(str(row.inferences or "-"), sort=row.inferences),
            Cell(lat.text(row.median_us), sort=row.median_us), Cell(lat.text(row.p90_us), sort=row.p90_us),
            Cell("-" if row.thermal_status is None else str(row.thermal_status), sort=row.thermal_status),
            _number(row.skin_temp_c), _number(row.cpu_temp_c),
            Cell("-" if row.cpu_cap_khz is None else f"{(row.cpu_freq_khz or 0) / 1e3:.0f} / {row.cpu_cap_khz / 1e3:.0f}",
                 sort=row.cpu_cap_khz),
            Cell("-" if row.battery_pct is None else str(row.battery_pct), sort=row.battery_pct),
            Cell(energy.text(row.energy_per_inference_mj), sort=row.energy_per_inference_mj),
        ])
    return Table(key, "One row per interval (the device's state at its end)", headers, body)


def _number(value) -> Cell:
    return EMPTY if value is None else Cell(f"{value:.1f}", sort=value)
