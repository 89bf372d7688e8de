"""A report: tables, plots and notes for a set of runs, written as Markdown, CSV, JSON and HTML."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from harness.errors import UsageError
from harness.jsonfile import write_bytes_atomic
from harness.report.page import Page, Section
from harness.report.load import CellRecord, ResultSet
from harness.store.run import safe_component

FORMATS = ("md", "csv", "json", "html")
FILE_NAMES = {"md": "report.md", "csv": "cells.csv", "json": "report.json", "html": "report.html"}
PLOTS_DIR = "plots"

FLAG_MEANINGS = {
    "virtual": "measured on a squeezebench virtual device: real LiteRT latency and memory on the host CPU, "
    "simulated battery and thermal readings; not a phone",
    "emulator": "measured on an Android emulator: not a phone's performance",
    "charging": "the device was charging: energy numbers are invalid and clocks may differ",
    "throttled": "thermal status above 0 before or after the run: the CPU may have been slowed",
    "low_battery": "battery below 25%: some phones slow down",
    "debuggable": "a debuggable build: some runtime checks cost time",
    "delegate-fallback": "the delegate could not run the model; it ran on the CPU",
    "partial-delegation": "the delegate ran only part of the graph",
    "noisy": "the run-to-run spread was large (coefficient of variation above 10%): do not rank on small differences",
    "numerics": "the outputs computed on the device disagree with the same level on the host beyond its tolerance",
    "preset-not-met": "the cell did not meet its validity preset's requirements (see the validity table)",
}

READING_NOTES = [
    "Latency: median of the measured iterations; p5–p95 is the spread of single inferences; the 95% CI is the "
    "confidence interval of the median from per-iteration samples (order statistics), or of the mean when only the "
    "runner's summary line was available (marked 'of mean').",
    "Speedup vs fp32 (as-is for a .tflite model): that reference level's median divided by this level's median on "
    "the same device and setting (above 1.00x is faster).",
    "Quality drop: the reference level minus this level, in percentage points for fractions, else in the "
    "quality's unit (positive means worse than the reference).",
    "Energy per inference is net of the idle baseline; its method (power rails, battery gauge or simulated) and "
    "validity are shown with every number. Invalid numbers are kept but marked.",
    "Cells that did not produce numbers (failed, crashed, timeout, unsupported, device lost, skipped) are listed "
    "with their reason.",
]


@dataclass
class ReportOptions:
    baseline_device: str | None = None
    with_plots: bool = True
    title: str | None = None
    nav: tuple[tuple[str, str], ...] = ()
    extra_intro: tuple[str, ...] = ()


_REPORT_IMPORTS = ("pandas", "matplotlib.figure", "matplotlib.backends.backend_agg", "harness.report.deeper",
                   "harness.report.exporters", "harness.report.html", "harness.report.markdown", "harness.report.plots",
                   "harness.report.tables")


def import_report_modules() -> None:
    """Import what writing a report needs (pandas, matplotlib's Figure and Agg canvas, the
    report's modules): about 0.5 s, which a run spends where it waits on a device instead."""
    import importlib

    for name in _REPORT_IMPORTS:
        importlib.import_module(name)


def parse_formats(text: str) -> list[str]:
    if text == "all":
        return list(FORMATS)
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(f"unknown report format {', '.join(unknown) or text!r}", f"use {', '.join(FORMATS)} or all")
    return formats


def flags_section(records: list[CellRecord]) -> Section | None:
    seen = list(dict.fromkeys(flag for r in records for flag in r.flags))
    if not seen:
        return None
    return Section("Flags", [f"{flag}: {FLAG_MEANINGS.get(flag, 'see docs/results-format.md')}" for flag in seen])


def model_sections(results: ResultSet, options: ReportOptions) -> list[Section]:
    from harness.report.deeper import deeper_sections
    from harness.report.plots import model_plots
    from harness.report.tables import cross_device_table, model_setup_tables, quality_note, resolve_baseline

    frame = results.frame()
    baseline = resolve_baseline(frame, options.baseline_device)
    sections = []
    for index, model in enumerate(dict.fromkeys(frame["model"])):
        model_frame = frame[frame["model"] == model]
        prefix = f"m{index}-{safe_component(model, 40)}"
        first = model_frame.iloc[0]
        note = quality_note(first["quality_kind"], first["model_weights"], first["reference_level"])
        section = Section(f"Model: {model}", [note] if note else [])
        section.tables = model_setup_tables(model_frame, prefix)
        cross = cross_device_table(model_frame, baseline, f"{prefix}-cross")
        if cross is not None:
            section.tables.append(cross)
        if options.with_plots:
            section.plots = model_plots(model_frame, prefix)
        section.subsections = deeper_sections(results, model, prefix, options.with_plots)
        sections.append(section)
    return sections


def build_page(results: ResultSet, options: ReportOptions | None = None) -> Page:
    from harness.report.tables import devices_table, runs_table

    options = options or ReportOptions()
    run_ids = ", ".join(s.run_id for s in results.stores)
    page = Page(
        options.title or f"squeezebench report: {run_ids}",
        intro=[f"{len(results.records)} cells from {len(results.stores)} run(s): {run_ids}.", *options.extra_intro],
        nav=list(options.nav),
    )
    page.sections.append(
        Section("Runs and devices", tables=[runs_table(results.stores), devices_table(results.stores, results.records)])
    )
    flags = flags_section(results.records)
    if flags:
        page.sections.append(flags)
    if not results.records:
        page.sections.append(Section("No cells", ["These runs hold no cells yet: nothing was planned or measured."]))
    page.sections += model_sections(results, options)
    page.sections.append(Section("How to read these tables", list(READING_NOTES)))
    return page


def render(results: ResultSet, fmt: str, options: ReportOptions | None = None) -> str:
    """One format as text, for stdout (Markdown without plots: they need files beside it)."""
    from harness.report import exporters
    from harness.report.html import page_html
    from harness.report.markdown import page_md

    options = options or ReportOptions()
    if fmt == "csv":
        return exporters.csv_text(results)
    if fmt == "json":
        return exporters.json_text(results)
    if fmt == "md":
        return page_md(build_page(results, replace(options, with_plots=False)))
    return page_html(build_page(results, options))


def write_report(
    results: ResultSet, out_dir: Path, formats: list[str], options: ReportOptions | None = None
) -> list[Path]:
    """Write the chosen formats (and, with Markdown, the plots as PNG files) into out_dir."""
    from harness.report import exporters
    from harness.report.html import page_html
    from harness.report.markdown import page_md

    options = options or ReportOptions()
    out_dir = Path(out_dir)
    written = []

    def save(name: str, data: bytes) -> None:
        write_bytes_atomic(out_dir / name, data)
        written.append(out_dir / name)

    if "csv" in formats:
        save(FILE_NAMES["csv"], exporters.csv_text(results).encode("utf-8"))
    if "json" in formats:
        save(FILE_NAMES["json"], exporters.json_text(results).encode("utf-8"))
    if "md" in formats or "html" in formats:
        page = build_page(results, options)
        if "md" in formats:
            plot_paths = {}
            for plot in page.all_plots():
                plot_paths[plot.key] = f"{PLOTS_DIR}/{plot.key}.png"
                save(plot_paths[plot.key], plot.png)
            save(FILE_NAMES["md"], page_md(page, plot_paths).encode("utf-8"))
        if "html" in formats:
            save(FILE_NAMES["html"], page_html(page).encode("utf-8"))
    return written
