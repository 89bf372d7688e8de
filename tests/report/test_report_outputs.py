"""`squeezebench report`: Markdown, CSV, JSON and HTML from run directories, read back the way
their readers would (a CommonMark parser, the csv module, json)."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import json
import subprocess
import sys
import warnings

import pytest

from harness.errors import ExitCode
from harness.report.escape import md_inline, md_text, one_line
from harness.report.load import load_results
from tests.report.html_tables import PageContents, markdown_to_html, split_markdown_row
from tests.report.report_runs import CHARGING_PHONE, DIGITS, FAILED_REASON, HOSTILE_DEVICE_NAME, PIXEL, VIRTUAL, build_run
from tests.support.cli import one_line_error, run_cli_in_process


def report_stdout(*argv) -> str:
    done = run_cli_in_process("report", *argv)
    assert done.returncode == ExitCode.OK, done.stderr
    return done.stdout


def report_refused(exit_code: int, *argv) -> str:
    done = run_cli_in_process("report", *argv)
    return one_line_error(done.returncode, done.stderr, exit_code)


def markdown_tables(text: str) -> list[list[str]]:
    """Raw table lines of a Markdown document, grouped per table."""
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    return tables + ([current] if current else [])


def test_markdown_with_hostile_names_keeps_columns_and_shows_text(hostile_run):
    text = report_stdout(hostile_run.root, "--format", "md")
    for table in markdown_tables(text):
        widths = {len(split_markdown_row(line)) for line in table}
        assert len(widths) == 1, table
    rendered = PageContents(markdown_to_html(text))
    assert not {"script", "b", "i"} & set(rendered.tags)
    devices = next(t for t in rendered.tables if t["headers"][:2] == ["device", "serial"])
    hostile = next(row for row in devices["rows"] if row[1] == "EVIL|1*")
    assert hostile[0] == one_line(HOSTILE_DEVICE_NAME) and hostile[3] == f"ACME <i> {one_line(HOSTILE_DEVICE_NAME)}"
    setup = next(
        t
        for t in rendered.tables
        if t["headers"][-2:] == ["status", "flags"] and any(r[-2].startswith("failed") for r in t["rows"])
    )
    fp16 = next(r for r in setup["rows"] if r[0] == "fp16")
    assert fp16[-2] == f"failed: {one_line(FAILED_REASON)}" and len(fp16) == len(setup["headers"])
    assert "<h2>Model: &lt;script&gt;alert(1)&lt;/script&gt;</h2>" in markdown_to_html(text)


def test_html_escapes_every_outside_string(hostile_run):
    html = report_stdout(hostile_run.root, "--format", "html")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    page = PageContents(html)
    assert page.tags.count("script") == 1 and "b" not in page.tags and "i" not in page.tags
    titles = [t for t in page.tables if t["id"].endswith("-setup0")]
    assert titles and all(len(row) == len(t["headers"]) for t in page.tables for row in t["rows"])


def test_default_report_writes_every_format_with_plots(mixed_run):
    report_stdout(mixed_run.root)
    out = mixed_run.root / "report"
    records = load_results([mixed_run.root]).records

    rows = list(csv.DictReader(io.StringIO((out / "cells.csv").read_text())))
    assert len(rows) == len(records) == len(mixed_run.cells)
    virtual_int8 = next(
        r for r in rows if r["device"] == VIRTUAL.serial and r["model"] == "digits-cnn" and r["level"] == "int8"
    )
    assert virtual_int8["flags"] == "virtual" and float(virtual_int8["latency_median_us"]) > 0

    document = json.loads((out / "report.json").read_text(), parse_constant=pytest.fail)
    assert document["kind"] == "squeezebench.report" and len(document["cells"]) == len(records)
    failed = next(c for c in document["cells"] if c["status"] == "failed")
    assert failed["reason"] == FAILED_REASON and failed["latency_median_us"] is None

    markdown = (out / "report.md").read_text()
    images = [line.split("](", 1)[1].rstrip(")") for line in markdown.splitlines() if line.startswith("![")]
    assert len(images) == 8 and all((out / path).stat().st_size > 10_000 for path in images)
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 8


def test_cross_device_table_is_relative_to_the_chosen_baseline(mixed_run):
    records = {
        (r.level, r.device): r for r in load_results([mixed_run.root]).records if r.model == "mobilenet_v2"
    }
    page = PageContents(report_stdout(mixed_run.root, "--format", "html", "--baseline-device", PIXEL.serial))
    cross = next(t for t in page.tables if t["id"].endswith("m1-mobilenet_v2-cross"))
    column = cross["headers"].index("Virtual phone ÷ Pixel 7")
    int8 = next(row for row in cross["rows"] if row[0] == "int8")
    expected = (
        records[("int8", VIRTUAL.serial)].latency_median_us / records[("int8", PIXEL.serial)].latency_median_us
    )
    assert int8[column] == f"{expected:.2f}x"
    # Every level is a row, and the failed cell shows its status instead of a number.
    digits = next(t for t in page.tables if t["id"].endswith("digits-cnn-cross"))
    assert [r[0] for r in digits["rows"]] == ["fp32", "fp16", "int8-dynamic", "int8", "pruned-75"]
    assert digits["rows"][2][digits["headers"].index("Pixel 7 median (ms)")] == "failed"


def test_per_device_table_units_and_values(mixed_run):
    page = PageContents(report_stdout(mixed_run.root, "--format", "html"))
    table = next(t for t in page.tables if t["id"].endswith("m1-mobilenet_v2-setup1"))
    headers = table["headers"]
    for header in (
        "size (MB)",
        "median latency (ms)",
        "p5–p95 (ms)",
        "95% CI (ms)",
        "peak memory (MB)",
        "energy (mJ/inference)",
        "fidelity: top-1 agreement with fp32 (%)",
    ):
        assert header in headers
    record = next(
        r
        for r in load_results([mixed_run.root]).records
        if (r.model, r.level, r.device) == ("mobilenet_v2", "int8", PIXEL.serial)
    )
    row = next(r for r in table["rows"] if r[0] == "int8")
    assert row[headers.index("median latency (ms)")] == f"{record.latency_median_us / 1000:.2f}"
    assert row[headers.index("speedup vs fp32")] == f"{record.speedup_vs_fp32:.2f}x"
    assert row[headers.index("energy method; validity")] == "power-rails; valid"


def test_devices_table_flags_what_holds_for_every_cell_and_leaves_charging_to_the_cells(mixed_run):
    page = PageContents(report_stdout(mixed_run.root, "--format", "html"))
    table = next(t for t in page.tables if t["id"].endswith("devices"))
    headers = table["headers"]
    rows = {row[headers.index("serial")]: row for row in table["rows"]}
    assert rows[VIRTUAL.serial][headers.index("flags")] == "virtual"
    charging = rows[CHARGING_PHONE.serial]
    assert "charging" in charging[headers.index("battery at start")]
    assert "charging" not in charging[headers.index("flags")]  # a sweep may suspend it after this snapshot
    measured = [r for r in load_results([mixed_run.root]).records if r.device == CHARGING_PHONE.serial and r.status == "ok"]
    assert measured and all("charging" in r.flags for r in measured)  # ... where its cells say it


def test_several_runs_to_stdout_and_their_errors(mixed_run, virtual_pair):
    first, second, _ = virtual_pair
    shown = markdown_to_html(report_stdout(first.root, second.root, "--format", "md"))
    # The same virtual device in two runs: its columns say which run they come from.
    assert (
        f"Virtual phone [run {first.run_id}] [virtual] median (ms)" in shown
        and f"Virtual phone [run {second.run_id}] [virtual] median (ms)" in shown
    )
    assert "--out" in report_refused(ExitCode.USAGE, first.root, second.root)  # where would it go?
    report_refused(ExitCode.USAGE, mixed_run.root, "--format", "pdf")
    report_refused(ExitCode.USAGE, mixed_run.root, "--baseline-device", "nope")
    report_refused(ExitCode.BAD_INPUT, mixed_run.root / "cells")


def test_cli_startup_imports_nothing_heavy():
    code = (
        "import sys; from harness.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'scipy', 'numpy', 'tensorflow', 'adbutils', "
        "'ai_edge_litert', 'harness.bench.benchmark', 'harness.device.connection') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "text",
    [
        "".join(chr(c) for c in range(33, 127)),
        "<script>alert(1)</script> a|b *c* _d_ `e` [f](g) ![h](i) &amp; ~~s~~ \\| <!-- x -->",
        "- starts a list",
        "1. starts a numbered list",
        "= underline",
        "# heading",
    ],
)
def test_markdown_escaping_is_literal_in_table_cells_and_headings(text):
    document = f"## {md_text(text)}\n\n{md_text(text)}\n\n| h |\n|---|\n| {md_inline(text)} |\n"
    rendered = markdown_to_html(document)
    page = PageContents(rendered)
    assert page.tables[0]["rows"] == [[text]]
    assert page.tags[:2] == ["h2", "p"] and "script" not in page.tags
    assert rendered.count(html.escape(text, quote=False).replace('"', "&quot;")) == 3


def test_documented_columns_are_the_exported_columns():
    from pathlib import Path

    from harness.report.load import RECORD_COLUMNS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "reports.md").read_text()
    listed = doc.split("### Tidy columns (CSV and JSON)\n`", 1)[1].split("`.", 1)[0]
    assert [c.strip() for c in listed.replace("\n", " ").split(",")] == list(RECORD_COLUMNS)


@pytest.mark.parametrize("text", ["x_train/y_train", "_lead", "trail_", "a__b__c", "__init__", "é_x", "_a_ b_c_"])
def test_markdown_underscores_stay_literal(text):
    page = PageContents(markdown_to_html(f"{md_text(text)}\n\n| h |\n|---|\n| {md_inline(text)} |\n"))
    assert page.tables[0]["rows"] == [[text]] and "em" not in page.tags and "strong" not in page.tags


def test_a_run_whose_cells_all_failed_reports_its_reasons_without_a_warning(results_root, tmp_path):
    run = build_run(results_root, "2026-01-03T000000Z-fail", [PIXEL], [DIGITS],
                    outcome=lambda model, level, device: ("failed", FAILED_REASON))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns about a legend with nothing in it
        report_stdout(run.root, "--out", tmp_path / "report")
    cells = json.loads((tmp_path / "report" / "report.json").read_text())["cells"]
    run_cells = [c for c in cells if c["status"] != "skipped"]  # skipped: the level did not convert
    assert run_cells and all(c["status"] == "failed" and c["reason"] == FAILED_REASON for c in run_cells)


MATHTEXT_MODEL = "$x^2$ <b onclick=x>b 50%_{a}.tflite"


def test_a_model_named_like_mathtext_and_markup_reports_literally_with_its_plots(results_root, tmp_path):
    run = build_run(results_root, "2026-01-05T000000Z-math", [PIXEL], [dataclasses.replace(DIGITS, name=MATHTEXT_MODEL)])
    out = tmp_path / "report"
    run_cli_in_process("report", run.root, "--format", "md,html", "--out", out, check=True)
    markdown = (out / "report.md").read_text()
    rendered = PageContents(markdown_to_html(markdown))
    assert f"Model: {MATHTEXT_MODEL}" in rendered.text and "b" not in rendered.tags
    page = (out / "report.html").read_text()
    assert "onclick" not in PageContents(page).attributes and f"Model: {html.escape(MATHTEXT_MODEL)}" in page
    plots = sorted((out / "plots").glob("*.png"))
    assert plots and all(p.stat().st_size > 10_000 for p in plots)
