"""The report sections of the deeper measurements: time by node type per level with what changed,
host vs device quality, validity presets with between-run noise, sustained runs with their plot."""

from __future__ import annotations

import csv
import dataclasses
import io

import pytest
from tests.report.html_tables import PageContents
from tests.report.report_runs import DIGITS, PIXEL, build_run

from harness.cli import main
from harness.report.deeper import profile_changes
from harness.store.records import (
    NodeTypeTime,
    OpProfileSummary,
    OutputCheckSummary,
    PresetCheck,
    Repeats,
    Sustained,
    SustainedInterval,
)

CPU_PROFILE = OpProfileSummary(available=True, total_us=120.0, nodes=5, delegated_time_share=1.0, node_types=(
    NodeTypeTime("Convolution (NHWC, F32) IGEMM", 3, 0.100, 83.3, True),
    NodeTypeTime("Fully Connected (NC, F32) GEMM", 2, 0.020, 16.7, True),
))
INT16_PROFILE = OpProfileSummary(available=True, total_us=2400.0, nodes=5, delegated_time_share=0.0, node_types=(
    NodeTypeTime("CONV_2D", 3, 1.800, 75.0, False),
    NodeTypeTime("FULLY_CONNECTED", 2, 0.600, 25.0, False),
))


def _interval(index: int, median_us: float, skin_c: float, cap_khz: int) -> SustainedInterval:
    return SustainedInterval(index=index, start_s=30.0 * (index - 1), end_s=30.0 * index, inferences=1000,
                             median_us=median_us, p90_us=median_us * 1.2, thermal_status=index, skin_temp_c=skin_c,
                             cpu_temp_c=skin_c + 5, battery_temp_c=skin_c - 1, cpu_freq_khz=cap_khz, cpu_cap_khz=cap_khz,
                             cpu_max_khz=2_400_000, battery_pct=90 - index, energy_per_inference_mj=0.5)


SUSTAINED = Sustained(duration_s=90, interval_s=30, intervals=(
    _interval(1, 100.0, 31.0, 2_400_000), _interval(2, 104.0, 35.0, 2_400_000), _interval(3, 140.0, 39.0, 1_600_000),
), p90_us=150.0, median_us=104.0, throttled=True, began_interval=3, began_s=60.0,
    why="median 40% above the first interval's and clocks capped at 1600 of 2400 MHz", slowdown=1.4,
    min_cap_fraction=2 / 3, clocks="simulated")


def deeper(cell, measured, rng):
    level = cell["level"]
    profile = INT16_PROFILE if level == "int8" else CPU_PROFILE
    check = OutputCheckSummary(available=True, samples=64, source="zoo evaluation data", top1_agreement_fp32=0.97,
                               top1_agreement_level=0.5 if level == "fp16" else 1.0, max_rel_error=0.3,
                               device_accuracy=0.95, host_accuracy=0.97, numerics=level == "fp16",
                               worst_index=7 if level == "fp16" else None, verdict=f"verdict of {level}")
    preset = PresetCheck("mlperf-single-stream", met=level != "fp32", headline="p90", headline_us=150.0,
                         reasons=("500 queries, at least 1024 needed",) if level == "fp32" else ())
    return dataclasses.replace(
        measured, op_profile=profile, output_check=check, preset=preset,
        repeats=Repeats(3, (100.0, 101.0, 99.0), 0.01), sustained=SUSTAINED if level == "int8" else None,
        flags=measured.flags + (("numerics",) if level == "fp16" else ()),
    )


@pytest.fixture(scope="module")
def deeper_run(results_root):
    return build_run(results_root, "2026-01-05T000000Z-dp01", [PIXEL], [DIGITS], seed=91, extend=deeper)


def test_the_report_has_every_deeper_section(deeper_run, capsys):
    capsys.readouterr()
    assert main(["report", str(deeper_run.root), "--format", "html"]) == 0
    page = PageContents(capsys.readouterr().out)
    tables = {t["id"].split("-deep0-", 1)[1]: t for t in page.tables if "-deep0-" in t["id"]}
    assert set(tables) == {"ops", "outputs", "validity", f"sustained-{_level_index(deeper_run, 'int8')}"}

    ops = tables["ops"]
    assert ops["headers"][0] == "node type" and ops["headers"][1].startswith("fp32 (")
    conv = next(row for row in ops["rows"] if row[0] == "Convolution (NHWC, F32) IGEMM [delegate]")
    int8_column = next(i for i, h in enumerate(ops["headers"]) if h.startswith("int8 ("))
    assert conv[1].endswith("×3") and conv[int8_column] == "-"
    assert ops["rows"][-1][0] == "time inside delegates" and ops["rows"][-1][int8_column] == "0%"

    outputs = tables["outputs"]
    fp16 = next(row for row in outputs["rows"] if row[0] == "fp16")
    assert fp16[outputs["headers"].index("numerics")] == "NUMERICS"
    assert fp16[outputs["headers"].index("top-1 = host fp32")] == "97.0%"

    validity = tables["validity"]
    fp32 = next(row for row in validity["rows"] if row[0] == "fp32")
    assert fp32[1:4] == ["mlperf-single-stream", "NO", "p90 150 µs"] and "1024" in fp32[4]
    assert "3 runner processes" in fp32[5]

    sustained = next(t for name, t in tables.items() if name.startswith("sustained"))
    assert [row[0] for row in sustained["rows"]] == ["0:00–0:30", "0:30–1:00", "1:00–1:30"]
    assert "throttling began in minute 2" in page.text and "latency up to 1.40x" in page.text
    assert "int8 vs fp32: time grew: CONV_2D new" in page.text
    assert "left the delegate (now on the CPU's kernels): CONV_2D ×3, FULLY_CONNECTED ×2" in page.text


def _level_index(store, level: str) -> int:
    from harness.report.load import load_results

    return next(r.level_index for r in load_results([store.root]).records if r.level == level)


def test_the_sustained_plot_is_drawn_and_the_csv_has_the_new_columns(deeper_run, capsys):
    assert main(["report", str(deeper_run.root)]) == 0
    out = deeper_run.root / "report"
    markdown = (out / "report.md").read_text()
    image = markdown.split("![median and p90 latency and temperatures per interval of int8](", 1)[1].split(")")[0]
    assert (out / image).stat().st_size > 10_000
    rows = {r["level"]: r for r in csv.DictReader(io.StringIO((out / "cells.csv").read_text()))}
    assert rows["fp16"]["numerics"] == "True" and float(rows["fp16"]["numerics_worst_index"]) == 7
    assert rows["int8"]["sustained_throttle_began_s"] == "60.0" and rows["int8"]["sustained_p90_us"] == "150.0"
    assert rows["fp32"]["preset_met"] == "False" and rows["fp32"]["device_top1_agreement_fp32"] == "0.97"


def test_what_changed_names_node_types_that_grew_or_left_a_delegate():
    assert profile_changes(CPU_PROFILE, CPU_PROFILE, "fp32", "fp16") is None
    text = profile_changes(CPU_PROFILE, INT16_PROFILE, "fp32", "int16x8")
    assert text.startswith("int16x8 vs fp32: time grew: CONV_2D new, 1.80 ms, FULLY_CONNECTED new, 600 µs")
    assert "time inside delegates 100% → 0%" in text
    slower = dataclasses.replace(CPU_PROFILE, node_types=(
        NodeTypeTime("Convolution (NHWC, F32) IGEMM", 3, 0.130, 86.7, True), CPU_PROFILE.node_types[1]))
    assert profile_changes(CPU_PROFILE, slower, "fp32", "fp16") == (
        "fp16 vs fp32: time grew: Convolution (NHWC, F32) IGEMM 100 µs → 130 µs")
