"""Every kind of input through the real converter and LiteRT: Keras 3 .keras (tfmot levels via a
tf_keras rebuild), legacy .h5, SavedModels with and without Keras metadata, .tflite as-is; levels
that cannot be done, a converter failure on one level, random calibration, parallel processes."""

from __future__ import annotations

import os

import pytest

from harness.convert import cache, convert_model, document
from harness.digests import sha256_file
from harness.errors import ExitCode

pytestmark = pytest.mark.slow


def levels_by_name(doc: dict) -> dict[str, dict]:
    return {entry["level"]: entry for entry in doc["levels"]}


def test_keras3_model_with_data_gets_every_kind_of_level(keras3_file, task_npz, tmp_path):
    doc = convert_model(str(keras3_file), "fp32,int8,pruned-50,distilled", tmp_path, data=task_npz)
    levels = levels_by_name(doc)
    assert {name: entry["status"] for name, entry in levels.items()} == dict.fromkeys(levels, "ok")
    assert doc["model"]["source_kind"] == "keras" and doc["model"]["weights"] == "user"
    assert doc["data"] == doc["data"] | {"calibration": "npz:task.npz", "n_calib": 64, "n_eval": 96, "labels": True}
    fp32_top1 = levels["fp32"]["accuracy"]["top1"]
    assert fp32_top1 > 0.5  # the tiny model learnt its task: accuracies below are meaningful
    assert abs(levels["int8"]["accuracy"]["top1"] - fp32_top1) <= 0.05
    assert levels["pruned-50"]["details"]["pruning"]["achieved_sparsity"] == pytest.approx(0.5, abs=0.01)
    assert levels["distilled"]["details"]["distillation"]["student_params"] < levels["distilled"]["details"][
        "distillation"
    ]["teacher_params"]
    assert document.exit_code(doc) == ExitCode.OK


def test_h5_and_keras_saved_model_support_tfmot_levels(h5_file, keras_saved_model_dir, task_npz, tmp_path):
    from_h5 = convert_model(str(h5_file), "int8-dynamic,clustered-16", tmp_path / "h5", data=task_npz)
    from_saved_model = convert_model(str(keras_saved_model_dir), "fp16,pruned-75", tmp_path / "sm", data=task_npz)
    for doc in (from_h5, from_saved_model):
        assert [entry["status"] for entry in doc["levels"]] == ["ok", "ok", "ok"], doc["levels"]
        assert doc["levels"][0]["reference_only"] and doc["levels"][0]["level"] == "fp32"
        assert document.exit_code(doc) == ExitCode.OK
    clustering = levels_by_name(from_h5)["clustered-16"]["details"]["clustering"]
    assert clustering["clustered_weight_share"] == 1.0 and clustering["fine_tuned"]
    assert from_saved_model["model"]["source_kind"] == "saved_model"
    assert levels_by_name(from_saved_model)["fp16"]["size_ratio_to_fp32"] < 0.7


def test_a_converter_failure_on_one_level_is_recorded_and_the_others_finish(
    cumsum_saved_model_dir, task_npz, tmp_path, monkeypatch
):
    out_dir = tmp_path / "out"
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", os.fspath(tmp_path / "cache"))
    doc = convert_model(str(cumsum_saved_model_dir), "fp32,int8,int16x8,pruned-50", out_dir, data=task_npz)
    levels = levels_by_name(doc)
    assert levels["fp32"]["status"] == levels["int8"]["status"] == "ok"
    assert levels["int16x8"]["status"] == "failed"
    assert "Quantization to 16x8-bit not yet supported for op: 'CUMSUM'" in levels["int16x8"]["reason"]
    assert levels["pruned-50"]["status"] == "skipped"
    assert "no Keras metadata" in levels["pruned-50"]["reason"]
    assert document.exit_code(doc) == ExitCode.PARTIAL
    # Nothing half-written: no file for the failed level, no cache entry or build leftovers for it.
    assert sorted(p.name for p in out_dir.iterdir()) == ["convert.json", "fp32.tflite", "int8.tflite"]
    entries = list(cache.conversions_dir().iterdir())
    assert len(entries) == 2 and not any(p.name.startswith(".build-") for p in entries)
    assert sorted(cache.lookup(p.name).record["level"] for p in entries) == ["fp32", "int8"]
    assert document.load_conversion(out_dir) == doc


def test_a_tflite_is_measured_as_is_and_cannot_be_converted_again(tflite_file, task_npz, tmp_path):
    doc = convert_model(str(tflite_file), "all,extended", tmp_path / "all", data=task_npz)
    entry, *quantized = doc["levels"]
    assert (entry["level"], entry["status"], entry["reference_only"]) == ("as-is", "ok", False)
    assert [e["level"] for e in quantized] == ["int8-weight", "int4-weight", "int4-weight-b32", "w8a16",
                                               "int4-weight-mixed"]  # the quantizer's levels, on the file itself
    assert all(e["status"] == "ok" and e["size_bytes"] < entry["size_bytes"] for e in quantized)
    assert entry["sha256"] == sha256_file(tflite_file) and entry["fidelity"]["top1_agreement"] == 1.0
    assert entry["accuracy"]["n"] == 96 and entry["conversion_s"] == 0.0
    assert doc["reference_level"] == "as-is" and doc["model"]["source_kind"] == "tflite"

    asked_int8 = convert_model(str(tflite_file), "int8", tmp_path / "int8")
    levels = levels_by_name(asked_int8)
    assert levels["int8"]["status"] == "skipped" and "measured as-is" in levels["int8"]["reason"]
    assert levels["as-is"]["reference_only"] and levels["as-is"]["status"] == "ok"
    assert asked_int8["data"]["eval"] == "random"  # no data: fidelity on seeded random inputs
    assert document.exit_code(asked_int8) == ExitCode.NOTHING_RAN


def test_levels_needing_data_are_skipped_with_the_reason_and_random_calibration_is_explicit(h5_file, tmp_path):
    without = convert_model(str(h5_file), "fp32,int8,distilled", tmp_path / "without")
    levels = levels_by_name(without)
    assert levels["fp32"]["status"] == "ok"
    assert levels["int8"]["status"] == "skipped" and "--random-calibration" in levels["int8"]["reason"]
    assert levels["distilled"]["status"] == "skipped" and "x_train" in levels["distilled"]["reason"]
    assert without["data"]["calibration"] is None and not without["data"]["random_calibration"]
    assert document.exit_code(without) == ExitCode.PARTIAL

    randomised = convert_model(str(h5_file), "fp32,int8", tmp_path / "random", random_calibration=True)
    assert randomised["data"]["calibration"] == "random" and randomised["data"]["random_calibration"]
    assert levels_by_name(randomised)["int8"]["status"] == "ok"
    assert document.exit_code(randomised) == ExitCode.OK


def test_levels_in_parallel_processes_give_the_same_files_as_one_after_another(
    h5_file, task_npz, tmp_path, monkeypatch
):
    levels = "fp32,fp16,int8,pruned-50"
    serial = convert_model(str(h5_file), levels, tmp_path / "serial", data=task_npz)
    # A cache of its own, so that the parallel run converts everything again.
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", os.fspath(tmp_path / "parallel-cache"))
    messages: list[str] = []
    parallel = convert_model(
        str(h5_file), levels, tmp_path / "parallel", data=task_npz, jobs=2, progress=messages.append
    )
    assert any("in 2 processes" in message for message in messages)
    assert not any(entry["cached"] for entry in parallel["levels"])
    assert [(e["level"], e["status"], e["sha256"]) for e in parallel["levels"]] == [
        (e["level"], e["status"], e["sha256"]) for e in serial["levels"]
    ]
    assert [e["fidelity"] for e in parallel["levels"]] == [e["fidelity"] for e in serial["levels"]]
