"""Run directories -> records: joins, derived numbers, device identity, and runs with holes."""

from __future__ import annotations

import dataclasses

import pytest

from harness.errors import InputError, ResultsError
from harness.report.build import render
from harness.report.load import RECORD_COLUMNS, device_identities, load_results, result_set
from harness.store.run import create_run
from tests.report.report_runs import DIGITS, PIXEL, VIRTUAL, build_run


def by_key(records):
    return {(r.model, r.level, r.device): r for r in records}


def test_records_join_conversion_and_derive_speedup_and_drop(mixed_run):
    records = by_key(load_results([mixed_run.root]).records)
    assert len(records) == len(mixed_run.cells)
    fp32 = records[("digits-cnn", "fp32", PIXEL.serial)]
    int8 = records[("digits-cnn", "int8", PIXEL.serial)]
    assert int8.size_ratio_to_fp32 == 0.26 and int8.quality_kind == "accuracy"
    assert int8.speedup_vs_fp32 == pytest.approx(fp32.latency_median_us / int8.latency_median_us)
    assert int8.quality_drop_pp == pytest.approx(100 * (0.975 - 0.968))
    # The CI is the median's (samples were kept) and brackets the median.
    assert int8.latency_ci_of == "median"
    assert int8.latency_ci_low_us <= int8.latency_median_us <= int8.latency_ci_high_us


def test_random_weight_model_reports_fidelity(mixed_run):
    records = by_key(load_results([mixed_run.root]).records)
    int8 = records[("mobilenet_v2", "int8", PIXEL.serial)]
    assert int8.quality_kind == "fidelity" and int8.accuracy_top1 is None
    assert int8.quality_drop_pp == pytest.approx(8.0)


def test_failed_and_skipped_cells_keep_status_reason_and_device_flags(mixed_run):
    records = by_key(load_results([mixed_run.root]).records)
    failed = records[("digits-cnn", "int8-dynamic", PIXEL.serial)]
    assert failed.status == "failed" and "RESIZE" in failed.reason and failed.latency_median_us is None
    skipped = records[("digits-cnn", "pruned-75", VIRTUAL.serial)]
    assert skipped.status == "skipped" and "needs training data" in skipped.reason
    assert skipped.flags == ("virtual",)  # a device-wide flag, even without a summary


def test_device_identity_survives_a_new_virtual_serial_but_not_a_second_device():
    first = {VIRTUAL.serial: VIRTUAL.record()}
    moved = {"127.0.0.1:6599": dataclasses.replace(VIRTUAL, serial="127.0.0.1:6599").record()}
    assert (
        device_identities(first, [])[VIRTUAL.serial]
        == device_identities(moved, [])["127.0.0.1:6599"]
        == "virtual:virtual-default"
    )
    twins = {"a:1": VIRTUAL.record(), "a:2": VIRTUAL.record(), PIXEL.serial: PIXEL.record()}
    identities = device_identities(twins, [])
    assert len(set(identities.values())) == 3
    assert identities[PIXEL.serial] == "Google Pixel 7"


def test_interrupted_run_with_missing_pieces_loads(results_root):
    store = build_run(results_root, "2026-01-03T000000Z-half", [PIXEL], [DIGITS], finished=False)
    first = store.cells[0]
    store.update_cell(first["id"], status="running", summary=None)
    store.update_cell(store.cells[1]["id"], status="ok", summary={"latency_us": None, "energy": None, "flags": None})
    ghost_cell = {
        "id": "ghost",
        "model": "ghost",
        "level": "fp32",
        "device": "nowhere",
        "status": "pending",
        "summary": "?",
    }
    store.add_cells([ghost_cell])
    results = result_set([store])
    records = by_key(results.records)
    ghost = records[("ghost", "fp32", "nowhere")]
    assert ghost.device_name == "nowhere" and ghost.quality is None and ghost.size_bytes is None
    assert ghost.threads is None and ghost.latency_median_us is None
    assert records[(first["model"], first["level"], PIXEL.serial)].status == "running"
    # Every format still renders, showing the holes as "-" and statuses.
    markdown = render(results, "md")
    assert "| fp32 | - | - | - |" in markdown and "**pending**" in markdown and "**running**" in markdown
    assert "ghost on nowhere, ? thread(s), delegate ?" in markdown and "nan" not in markdown
    assert render(results, "csv").count("\n") == len(store.cells) + 1


def test_empty_run_gives_an_empty_frame_with_every_column(results_root):
    store = create_run(results_root, {}, ["squeezebench", "run"], run_id="2026-01-03T000000Z-none")
    frame = result_set([store]).frame()
    assert frame.empty and list(frame.columns) == list(RECORD_COLUMNS)


def test_bad_inputs_are_one_line_errors(results_root, mixed_run, tmp_path):
    with pytest.raises(ResultsError, match="not a squeezebench run"):
        load_results([tmp_path])
    with pytest.raises(InputError, match="given twice"):
        load_results([mixed_run.root, mixed_run.root])
    newer = results_root / "2026-01-03T000000Z-newr"
    newer.mkdir()
    (newer / "run.json").write_text('{"kind": "squeezebench.run", "schema_version": 99}')
    with pytest.raises(ResultsError, match="newer"):
        load_results([newer])
