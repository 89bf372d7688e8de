"""The table printed at the end of `squeezebench run`: per model, one row per level and one
column per device setting, from the run's CellRecords (the same records every report uses)."""

from __future__ import annotations

from harness.report.load import REFERENCE_LEVEL, CellRecord, ResultSet
from harness.report.page import Cell, Table
from harness.report.text import table_text
from harness.units import fmt_bytes, fmt_energy_mj, fmt_pct, fmt_ratio, fmt_us

# How the quality of each kind reads in one short cell.
QUALITY_ABBREVIATIONS = {"accuracy": "acc", "fidelity": "agree", "snr_db": "SNR", "note_accuracy": "notes"}
LEGEND = "latency: median (speedup vs fp32), energy per inference; * energy not valid (see report)"


def quality_text(record: CellRecord) -> str:
    if record.quality is None:
        return "-"
    name = QUALITY_ABBREVIATIONS.get(record.quality_kind, record.quality_kind)
    if record.quality_unit in (None, "fraction"):
        return f"{name} {fmt_pct(record.quality)}"
    return f"{name} {record.quality:.1f} {record.quality_unit}"


def measurement_cell(record: CellRecord | None) -> Cell:
    if record is None:
        return Cell("-")
    if not record.ok or record.latency_median_us is None:
        return Cell(record.status)
    speedup = f" ({fmt_ratio(record.speedup_vs_fp32)})" if record.speedup_vs_fp32 else ""
    energy = ""
    if record.energy_mj_per_inference is not None:
        marker = "" if record.energy_validity == "valid" else "*"
        energy = f", {fmt_energy_mj(record.energy_mj_per_inference)}{marker}"
    return Cell(f"{fmt_us(record.latency_median_us)}{speedup}{energy}", sort=record.latency_median_us)


def model_table(model: str, records: list[CellRecord]) -> Table:
    setups = list(dict.fromkeys(r.setup for r in records))
    titles = {r.setup: r.series_label or r.device_label or r.device for r in records}
    levels = sorted({r.level: r.level_index for r in records}.items(), key=lambda item: item[1])
    by_cell = {(r.setup, r.level): r for r in records}
    rows = []
    for level, _index in levels:
        first = next(r for r in records if r.level == level)
        rows.append([
            Cell(level),
            Cell(fmt_bytes(first.size_bytes), sort=first.size_bytes),
            Cell(fmt_ratio(first.size_ratio_to_fp32), sort=first.size_ratio_to_fp32),
            Cell(quality_text(first), sort=first.quality),
            *(measurement_cell(by_cell.get((setup, level))) for setup in setups),
        ])  # fmt: skip
    weights = records[0].model_weights
    title = model + (f" (random weights: quality is agreement with {REFERENCE_LEVEL})" if weights == "random" else "")
    return Table(f"summary-{model}", title, ["level", "size", f"vs {REFERENCE_LEVEL}", "quality"]
                 + [titles[s] for s in setups], rows)  # fmt: skip


def summary_text(results: ResultSet) -> str:
    models = dict.fromkeys(r.model for r in results.records)
    tables = [model_table(m, [r for r in results.records if r.model == m]) for m in models]
    return "\n\n".join([table_text(t, with_title=True) for t in tables] + [LEGEND])
