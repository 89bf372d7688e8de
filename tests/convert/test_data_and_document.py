"""Units without TensorFlow: the .npz reader, fidelity/accuracy arithmetic, the document."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from harness.convert import document, evaluate
from harness.convert.data import InputSpec, load_npz, no_data, random_inputs
from harness.convert.ladder import resolve_data
from harness.errors import ExitCode, InputError, ResultsError
from harness.schemas import CONVERSION

SPEC = InputSpec((None, 8, 8, 1), "float32")


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"images": np.zeros((4, 8, 8, 1))}, "has none of the arrays x_calib, x_train, x_eval"),
        ({"x_eval": np.zeros((4, 8, 8, 1)), "y_eval": np.zeros(3)}, "y_eval has shape (3,) but x_eval has 4 samples"),
        ({"x_calib": np.zeros((4, 8, 8, 1)), "y_train": np.zeros(4)}, "y_train given without x_train"),
        ({"x_calib": np.zeros((0, 8, 8, 1))}, "x_calib must be a non-empty numeric array"),
        ({"x_calib": np.array(["a", "b"])}, "x_calib must be a non-empty numeric array"),
    ],
)
def test_npz_with_missing_or_inconsistent_arrays_is_bad_input(tmp_path, arrays, fragment):
    path = write_npz(tmp_path / "data.npz", **arrays)
    with pytest.raises(InputError) as caught:
        load_npz(path)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert fragment in caught.value.one_line()


def test_missing_and_corrupt_npz_files_are_bad_input(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_npz(tmp_path / "absent.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip archive")
    with pytest.raises(InputError, match="not a readable .npz"):
        load_npz(corrupt)


def test_arrays_that_do_not_fit_the_model_name_both_shapes(tmp_path):
    dataset = load_npz(write_npz(tmp_path / "d.npz", x_eval=np.zeros((5, 28, 28, 1), np.float32)))
    with pytest.raises(InputError) as caught:
        dataset.check_fits(SPEC, "tiny")
    message = caught.value.one_line()
    assert "x_eval has shape (5, 28, 28, 1) but tiny takes inputs (N, 8, 8, 1) float32" in message
    assert "(samples, 8, 8, 1)" in message


def test_unknown_arrays_are_ignored_with_a_note_and_labels_may_be_one_hot(tmp_path):
    x = np.ones((3, 8, 8, 1), np.float64)
    dataset = load_npz(write_npz(tmp_path / "d.npz", x_eval=x, y_eval=np.eye(4)[[2, 0, 3]], extra=np.zeros(2)))
    assert dataset.notes and "ignored arrays extra" in dataset.notes[0]
    assert dataset.get("x_eval").dtype == np.float32
    assert list(dataset.eval_labels()) == [2, 0, 3]
    dataset.check_fits(SPEC, "tiny")


def test_calibration_comes_from_x_calib_then_x_train_and_is_random_only_when_asked(tmp_path):
    train = np.full((300, 8, 8, 1), 0.25, np.float32)
    dataset = load_npz(write_npz(tmp_path / "d.npz", x_train=train))
    assert dataset.calibration_label == "npz:d.npz"
    assert dataset.calibration_inputs(SPEC).shape == (256, 8, 8, 1)  # capped
    assert dataset.summary()["n_calib"] == 256
    assert no_data().calibration_inputs(SPEC) is None and not no_data().has_calibration
    from dataclasses import replace

    randomised = replace(no_data(), random_calibration=True)
    assert randomised.calibration_label == "random" and randomised.summary()["random_calibration"]
    assert randomised.calibration_inputs(SPEC).shape[1:] == (8, 8, 1)


def test_random_calibration_is_a_fallback_never_a_replacement_for_real_data(tmp_path):
    # `run --random-calibration` passes the flag to every model: one with data keeps it.
    with_data = write_npz(tmp_path / "d.npz", x_calib=np.full((20, 8, 8, 1), 0.25, np.float32))
    user_model = SimpleNamespace(zoo_data=None)
    kept = resolve_data(user_model, with_data, random_calibration=True)
    assert not kept.random_calibration and kept.calibration_label == "npz:d.npz"
    assert kept.calibration_inputs(SPEC).shape == (20, 8, 8, 1)
    assert resolve_data(user_model, None, random_calibration=True).calibration_label == "random"


def test_random_inputs_are_seeded():
    first, again, other = random_inputs(SPEC, 4, 1), random_inputs(SPEC, 4, 1), random_inputs(SPEC, 4, 2)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert first.min() >= -1 and first.max() <= 1


def test_fidelity_of_identical_and_of_different_outputs():
    reference = [np.array([[0.1, 0.9], [0.8, 0.2], [0.5, 0.4]], np.float32)]
    same = evaluate.fidelity(reference, reference)
    assert same == {"top1_agreement": 1.0, "max_abs_error": 0.0, "cosine_similarity": pytest.approx(1.0), "n": 3}
    flipped = [reference[0][:, ::-1].copy()]
    different = evaluate.fidelity(flipped, reference)
    assert different["top1_agreement"] == 0.0
    assert different["max_abs_error"] == pytest.approx(0.8)
    assert different["cosine_similarity"] < 0.9


def test_an_all_zero_output_has_no_similarity_to_a_real_one():
    reference = [np.array([[0.0, 1.0]], np.float32)]
    assert evaluate.fidelity([np.zeros((1, 2), np.float32)], reference)["cosine_similarity"] == 0.0


def test_accuracy_needs_labels_and_a_class_output():
    outputs = [np.array([[0.1, 0.9], [0.8, 0.2]], np.float32)]
    assert evaluate.accuracy(outputs, np.array([1, 1])) == {"top1": 0.5, "n": 2}
    assert evaluate.accuracy(outputs, None) is None
    assert evaluate.accuracy([np.ones((2, 1), np.float32)], np.array([0, 0])) is None


def test_int8_inputs_are_quantized_and_outputs_dequantized_with_the_tensor_parameters():
    detail = {"dtype": np.int8, "quantization": (0.5, -10)}
    quantized = evaluate._quantize(np.array([0.0, 1.0, 200.0], np.float32), detail)
    assert quantized.tolist() == [-10, -8, 127]
    assert evaluate._dequantize(quantized, detail).tolist() == [0.0, 1.0, 68.5]


def conversion_doc(statuses: dict[str, str], reference_only: tuple[str, ...] = ()) -> dict:
    doc = document.new_document(model={}, data={}, converter={}, reference_level="fp32", notes=[])
    doc["levels"] = [
        document.level_entry(level, status, reference_only=level in reference_only)
        for level, status in statuses.items()
    ]
    return doc


@pytest.mark.parametrize(
    "statuses, reference_only, expected",
    [
        ({"fp32": "ok", "int8": "ok"}, (), ExitCode.OK),
        ({"fp32": "ok", "int8": "failed"}, (), ExitCode.PARTIAL),
        ({"fp32": "ok", "distilled": "skipped"}, (), ExitCode.PARTIAL),
        ({"fp32": "ok", "int8": "failed"}, ("fp32",), ExitCode.NOTHING_RAN),
        ({"as-is": "ok", "int8": "skipped"}, ("as-is",), ExitCode.NOTHING_RAN),
    ],
)
def test_exit_code_counts_only_the_levels_asked_for(statuses, reference_only, expected):
    assert document.exit_code(conversion_doc(statuses, reference_only)) == expected


def test_document_round_trip_and_newer_versions_are_refused(tmp_path):
    doc = conversion_doc({"fp32": "ok"})
    (tmp_path / "convert.json").write_text(json.dumps(doc))
    assert document.load_conversion(tmp_path) == doc  # a directory or the file itself
    with pytest.raises(KeyError):  # every entry has the documented fields and no others
        document.level_entry("fp32", "ok", size=1)
    newer = dict(doc, schema_version=CONVERSION.version + 1)
    (tmp_path / "convert.json").write_text(json.dumps(newer))
    with pytest.raises(ResultsError, match="newer than this squeezebench understands"):
        document.load_conversion(tmp_path / "convert.json")
