"""`publish`: many runs -> a static site (index of devices and models, a leaderboard per model,
a page per run), every page one self-contained HTML file, linked by relative paths only, so any
static host (or a file:// browser) can serve it.

Cells measured on virtual devices, emulators, while charging or throttled are left out unless
include_flagged; then they carry their flags in every table they appear in.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError
from harness.jsonfile import write_bytes_atomic
from harness.report.build import ReportOptions, build_page
from harness.report.page import Cell, Page, Section, Table
from harness.report.load import UNPUBLISHABLE_FLAGS, CellRecord, ResultSet, is_publishable, load_results
from harness.store.run import safe_component

SITE_MARKER = ".squeezebench-site"


@dataclass
class SiteSummary:
    out_dir: Path
    pages: list[str]  # relative to out_dir
    shown_cells: int
    hidden_cells: int


def model_page_path(model: str) -> str:
    digest = hashlib.sha256(model.encode("utf-8")).hexdigest()[:8]
    return f"models/{safe_component(model, 40)}-{digest}.html"


def run_page_path(run_id: str) -> str:
    return f"runs/{safe_component(run_id, 80)}.html"


def hidden_note(hidden: int) -> list[str]:
    if not hidden:
        return []
    return [
        f"{hidden} cell(s) measured on a virtual device or emulator, while charging or while throttled are not shown "
        f"({', '.join(UNPUBLISHABLE_FLAGS)}); publish with --include-flagged to show them, marked."
    ]


def publishable(results: ResultSet) -> ResultSet:
    """Cells fit to publish. A cell that measured nothing (failed, skipped, ...) carries no
    per-cell flags; it follows its device: hidden when all that device's measurements in the
    run are hidden, so a charging phone does not show up through its failures alone."""
    measured = [r for r in results.records if r.ok]
    shown_devices = {(r.run_id, r.device) for r in measured if is_publishable(r)}
    hidden_devices = {(r.run_id, r.device) for r in measured if not is_publishable(r)} - shown_devices

    def keep(record: CellRecord) -> bool:
        if record.status != "ok" and (record.run_id, record.device) in hidden_devices:
            return False
        return is_publishable(record)

    return results.filtered(keep)


def device_names(records: list[CellRecord]) -> dict[str, str]:
    """device identity -> display name without run suffixes (the site spans runs)."""
    names = {r.device_id: r.device_name for r in records}
    taken: dict[str, int] = {}
    for name in names.values():
        taken[name] = taken.get(name, 0) + 1
    return {ident: (name if taken[name] == 1 else f"{name} ({ident})") for ident, name in names.items()}


def latest_per_setup(results: ResultSet, records: list[CellRecord]) -> list[CellRecord]:
    """A device's newest result for each level and setting: what a leaderboard ranks."""
    created = {s.run_id: s.document.get("created_utc") or "" for s in results.stores}
    latest: dict[tuple, dict] = {}
    for record in sorted(records, key=lambda r: created[r.run_id]):
        latest[(record.device_id, record.level, record.threads, record.delegate)] = record
    return list(latest.values())


def leaderboard_table(model: str, records: list[CellRecord], names: dict[str, str], key: str) -> Table:
    from harness.report.tables import (
        MEMORY_SCALE,
        QualityColumn,
        energy_cells,
        flags_cell,
        interval_cell,
        level_cell,
        number_cell,
        status_cell,
    )
    from harness.units import energy_scale, fmt_ratio, latency_scale, size_scale

    lat = latency_scale([r.latency_median_us for r in records])
    energy = energy_scale([r.energy_mj_per_inference for r in records])
    size = size_scale([r.size_bytes for r in records])
    ranked = sorted(
        records, key=lambda r: (r.status != "ok" or r.latency_median_us is None, r.latency_median_us or 0)
    )
    quality = QualityColumn.of([r.quality_kind for r in records], [r.quality_unit for r in records])
    headers = [
        "rank",
        "device",
        "level",
        "setting",
        quality.header,
        quality.drop_header,
        f"size ({size.unit})",
        f"median latency ({lat.unit})",
        f"p5–p95 ({lat.unit})",
        "speedup vs fp32",
        f"energy ({energy.unit}/inference)",
        "peak memory (MB)",
        "status",
        "flags",
        "run",
    ]
    rows = []
    for rank, r in enumerate(ranked, start=1):
        ok = r.ok and r.latency_median_us is not None
        row = r.to_dict()  # the table cells take a pandas row or its dict
        rows.append(
            [
                Cell(str(rank), sort=rank) if ok else Cell("-"),
                Cell(names[r.device_id]),
                level_cell(row),
                Cell(f"t{r.threads} {r.delegate}"),
                quality.value_cell(r.quality),
                quality.drop_cell(r.quality_drop),
                number_cell(r.size_bytes, size),
                number_cell(r.latency_median_us, lat),
                interval_cell(r.latency_p5_us, r.latency_p95_us, lat),
                number_cell(r.speedup_vs_fp32, text=fmt_ratio(r.speedup_vs_fp32)),
                energy_cells(row, energy)[0],
                number_cell(r.memory_peak_mb, MEMORY_SCALE),
                status_cell(row),
                flags_cell(r.flags),
                Cell(r.run_id, href=f"../{run_page_path(r.run_id)}"),
            ]
        )
    return Table(key, f"{model}: leaderboard by median latency (each device's latest run)", headers, rows)


def model_page(results: ResultSet, shown: ResultSet, model: str, names: dict[str, str], hidden: int) -> Page:
    from harness.report.plots import model_plots

    records = latest_per_setup(results, [r for r in shown.records if r.model == model])
    page = Page(f"Leaderboard: {model}", intro=hidden_note(hidden), nav=[("all results", "../index.html")])
    section = Section("Leaderboard", tables=[leaderboard_table(model, records, names, "leaderboard")])
    if records:
        section.plots = model_plots(ResultSet(shown.stores, records).frame(), "leaderboard")
    page.sections.append(section)
    return page


def index_page(results: ResultSet, shown: ResultSet, names: dict[str, str], hidden: int) -> Page:
    records = shown.records
    intro = [f"{len(records)} cells from {len(results.stores)} run(s)."] + hidden_note(hidden)
    return Page(
        "squeezebench results",
        intro=intro,
        sections=[
            Section("Models", tables=[_models_table(records, names)]),
            Section("Devices", tables=[_devices_table(records, names)]),
            Section("Runs", tables=[_runs_table(results, records)]),
        ],
    )


def _count_cell(count: int) -> Cell:
    return Cell(str(count), sort=count)


def _devices_table(records: list[CellRecord], names: dict[str, str]) -> Table:
    rows = []
    for ident, name in names.items():
        mine = [r for r in records if r.device_id == ident]
        if mine:
            models = ", ".join(dict.fromkeys(r.model for r in mine))
            flags = ", ".join(dict.fromkeys(f for r in mine for f in r.flags))
            rows.append([Cell(name), Cell(ident), Cell(models), _count_cell(len(mine)), Cell(flags)])
    return Table(
        "devices", "Every device with results shown here", ["device", "identity", "models", "cells", "flags"], rows
    )


def _models_table(records: list[CellRecord], names: dict[str, str]) -> Table:
    models = dict.fromkeys(r.model for r in records)
    rows = [_model_row(model, [r for r in records if r.model == model], names) for model in models]
    return Table(
        "models",
        "Every model (follow a name to its leaderboard)",
        ["model", "quality measured", "levels", "devices", "fastest (median, device, level)"],
        rows,
    )


def _runs_table(results: ResultSet, shown_records: list[CellRecord]) -> Table:
    rows = []
    for store in results.stores:
        shown = sum(r.run_id == store.run_id for r in shown_records)
        total = sum(r.run_id == store.run_id for r in results.records)
        rows.append(
            [
                Cell(store.run_id, href=run_page_path(store.run_id)),
                Cell(str(store.document.get("created_utc") or "-")),
                _count_cell(shown),
                _count_cell(total - shown),
            ]
        )
    return Table(
        "runs",
        "Every run (follow an id to its full report)",
        ["run", "created (UTC)", "cells shown", "cells hidden"],
        rows,
    )


def _model_row(model: str, records: list[CellRecord], names: dict[str, str]) -> list[Cell]:
    from harness.units import fmt_us

    ok = [r for r in records if r.ok and r.latency_median_us is not None]
    best = min(ok, key=lambda r: r.latency_median_us) if ok else None
    kind = next((r.quality_kind for r in records if r.quality_kind), None)
    fastest = Cell("-")
    if best:
        flags = f" [{', '.join(best.flags)}]" if best.flags else ""
        text = f"{fmt_us(best.latency_median_us)}, {names[best.device_id]}, {best.level}{flags}"
        fastest = Cell(text, sort=best.latency_median_us)
    levels = dict.fromkeys(r.level for r in sorted(records, key=lambda r: r.level_index))
    return [
        Cell(model, href=model_page_path(model)),
        Cell(kind or "-"),
        Cell(", ".join(levels)),
        _count_cell(len({r.device_id for r in records})),
        fastest,
    ]


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / SITE_MARKER).exists())):
        raise InputError(
            f"{out_dir} exists and is not a site written by squeezebench publish",
            "choose a new or empty directory for --out",
        )


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Swap the finished new site in by renames: a server sees the old site or the new one
    (or, for an instant, none), never a mix of both."""
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{secrets.token_hex(4)}")
        out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old)
    else:
        staging.rename(out_dir)


def publish_site(run_paths, out_dir: Path, *, include_flagged: bool = False) -> SiteSummary:
    from harness.report.html import page_html

    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir)
    results = load_results(run_paths)
    shown = results if include_flagged else publishable(results)
    hidden = len(results.records) - len(shown.records)
    names = device_names(results.records)
    pages: dict[str, Page] = {"index.html": index_page(results, shown, names, hidden)}
    for model in dict.fromkeys(r.model for r in shown.records):
        hidden_here = sum(r.model == model for r in results.records) - sum(
            r.model == model for r in shown.records
        )
        pages[model_page_path(model)] = model_page(results, shown, model, names, hidden_here)
    for store in results.stores:
        run_shown = ResultSet([store], [r for r in shown.records if r.run_id == store.run_id])
        hidden_here = sum(r.run_id == store.run_id for r in results.records) - len(run_shown.records)
        options = ReportOptions(
            title=f"Run {store.run_id}",
            nav=(("all results", "../index.html"),),
            extra_intro=tuple(hidden_note(hidden_here)),
        )
        pages[run_page_path(store.run_id)] = build_page(run_shown, options)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.with_name(f".{out_dir.name}.new-{secrets.token_hex(4)}")
    try:
        for relative, page in pages.items():
            write_bytes_atomic(staging / relative, page_html(page).encode("utf-8"))
        (staging / SITE_MARKER).write_text(
            "written by squeezebench publish; the whole directory is replaced on the next publish\n"
        )
        _swap_into_place(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return SiteSummary(out_dir, list(pages), len(shown.records), hidden)
