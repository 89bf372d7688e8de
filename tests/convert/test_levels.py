"""Level names: parsing, composition, `all`, and the reasons a level is skipped (no TensorFlow)."""

from __future__ import annotations

import dataclasses

import subprocess
import sys

import pytest

from harness.convert.levels import Capabilities, expand_levels, parse_level, parse_levels, unsupported_reason
from harness.errors import ExitCode, UsageError

KERAS_WITH_DATA = Capabilities(is_tflite=False, keras_problem=None, has_calibration=True, has_training=True)


def test_levels_are_canonical_whatever_the_order_they_are_written_in():
    assert parse_levels("int8+pruned-75, fp32 ,pruned-75+fp32,all,int8+distilled") == [
        "pruned-75+int8",
        "fp32",
        "pruned-75",
        "all",
        "distilled+int8",
    ]


def test_the_same_level_written_twice_is_converted_once():
    assert parse_levels("fp16,fp16,clustered-16+int8,int8+clustered-16") == ["fp16", "clustered-16+int8"]


def test_composition_keeps_each_step():
    level = parse_level("int8+clustered-16+pruned-50")
    assert (level.sparsity_percent, level.clusters, level.quantization, level.distilled) == (50, 16, "int8", False)
    assert level.name == "pruned-50+clustered-16+int8"
    assert level.file_name == "pruned-50+clustered-16+int8.tflite"
    assert level.changes_weights and level.needs_calibration and not level.needs_training


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("int4", "unknown level 'int4'"),
        ("fp32,pruned-75+int9", "unknown level 'int9' in 'pruned-75+int9'"),
        ("fp16+int8", "two quantization steps"),
        ("pruned-50+pruned-75", "two pruned-N steps"),
        ("pruned-100", "out of range"),
        ("clustered-1", "out of range"),
        ("as-is+int8", "two quantization steps"),
        ("as-is+pruned-50", "cannot be combined"),
        ("int8+", "empty level name"),
        (" , ", "no levels given"),
        ("int8+int4-weight", "quantizes a float model, not one already quantized by int8"),
        ("int4-weight+w8a16", "two AI Edge Quantizer steps"),
        ("qat-int8+pruned-50", "qat-int8 cannot be combined"),
        ("distilled+channels-50", "both make the model narrower"),
        ("int4-weight-b48", "block size 48"),
        ("channels-95", "out of range"),
        ("lowrank-0", "out of range"),
    ],
)
def test_bad_level_names_are_usage_errors_that_say_what_is_valid(text, fragment):
    with pytest.raises(UsageError) as caught:
        parse_levels(text)
    assert caught.value.exit_code == ExitCode.USAGE
    assert fragment in caught.value.one_line()
    if "unknown" in fragment:
        assert "valid levels: fp32, fp16, int8-dynamic, int8, int16x8" in caught.value.one_line()


def test_all_is_every_level_when_model_and_data_allow_it():
    levels, notes = expand_levels(["all"], KERAS_WITH_DATA)
    assert levels == [
        "fp32", "fp16", "int8-dynamic", "int8", "int16x8", "pruned-50", "pruned-75", "clustered-16", "distilled"
    ]  # fmt: skip
    assert notes == []


def test_all_leaves_out_what_the_input_cannot_do_and_says_why():
    no_data = Capabilities(is_tflite=False, keras_problem=None, has_calibration=False, has_training=False)
    levels, notes = expand_levels(["all", "int8"], no_data)
    assert "distilled" not in levels and "int16x8" not in levels
    assert "int8" in levels  # asked for by name: kept, and skipped later with its reason
    assert any("distilled" in note and "x_train" in note for note in notes)
    assert any("int16x8" in note and "--random-calibration" in note for note in notes)


def test_a_tflite_input_has_as_is_and_the_quantizer_levels_and_other_levels_say_why_not():
    tflite = Capabilities(is_tflite=True, keras_problem="measured as-is", has_calibration=False, has_training=False)
    assert expand_levels(["all"], tflite) == (["as-is"], [])
    levels, notes = expand_levels(["all", "extended"], tflite)
    assert levels == ["as-is", "int8-weight", "int4-weight", "int4-weight-b32", "int4-weight-mixed"]
    assert notes == ["'extended' leaves out w8a16: needs calibration data: pass --data FILE.npz with x_calib "
                     "(or x_train), or --random-calibration to accept meaningless int8 accuracy"]
    assert "cannot be converted again" in unsupported_reason(parse_level("int8"), tflite)
    assert "cannot be converted again" in unsupported_reason(parse_level("pruned-50+int4-weight"), tflite)
    assert unsupported_reason(parse_level("as-is"), tflite) is None
    assert parse_level("as-is+int4-weight").name == "int4-weight"


def test_a_zoo_model_that_exists_only_as_tflite_gets_the_quantizer_ladder_as_its_all():
    zoo_tflite = Capabilities(is_tflite=True, keras_problem="measured as-is", has_calibration=True,
                              has_training=False, tflite_ladder=True)  # fmt: skip
    levels, notes = expand_levels(["all"], zoo_tflite)
    assert levels == ["as-is", "int8-weight", "int4-weight", "int4-weight-b32", "w8a16", "int4-weight-mixed"]
    assert notes == []
    broken = dataclasses.replace(zoo_tflite, broken_levels=(("w8a16", "the runner fails on it"),))
    levels, notes = expand_levels(["all"], broken)
    assert "w8a16" not in levels and notes == ["'all' leaves out w8a16: the runner fails on it"]
    assert expand_levels(["w8a16"], broken) == (["w8a16"], [])  # asked for by name: made, to see a fix


def test_weight_changing_levels_need_a_keras_model():
    no_keras = Capabilities(is_tflite=False, keras_problem="no Keras metadata", has_calibration=True, has_training=True)
    assert unsupported_reason(parse_level("pruned-50"), no_keras) == "no Keras metadata"
    assert unsupported_reason(parse_level("int8"), no_keras) is None


def test_parsing_levels_imports_nothing_heavy():
    # `squeezebench run` validates --levels at startup: it must stay instant.
    code = (
        "import sys, harness.convert, harness.convert.levels, harness.cli.convert;"
        "harness.convert.levels.parse_levels('all,pruned-75+int8');"
        "print(sorted(m for m in ('tensorflow', 'numpy', 'keras', 'ai_edge_litert') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_newer_levels_are_canonical_and_composed_in_their_fixed_order():
    assert parse_levels("int4-weight+pruned-50, lowrank-16+channels-50+int8, int4-weight-b64, extended") == [
        "pruned-50+int4-weight",
        "channels-50+lowrank-16+int8",
        "int4-weight-b64",
        "extended",
    ]
    level = parse_level("w8a16+clustered-16")
    assert (level.clusters, level.recipe, level.quantization) == (16, "w8a16", "fp32")
    assert level.needs_calibration and level.changes_weights
    assert parse_level("qat-int8").needs_training and parse_level("qat-int8").needs_calibration
    assert not parse_level("int4-weight-mixed").changes_weights


def test_extended_and_what_it_leaves_out_without_data():
    levels, notes = expand_levels(["extended"], KERAS_WITH_DATA)
    assert levels == [
        "int8-weight", "int4-weight", "int4-weight-b32", "w8a16", "int4-weight-mixed", "qat-int8", "channels-50",
        "lowrank-16",
    ]  # fmt: skip
    no_data = Capabilities(is_tflite=False, keras_problem=None, has_calibration=False, has_training=False)
    levels, notes = expand_levels(["extended"], no_data)
    assert "qat-int8" not in levels and "w8a16" not in levels and "int4-weight" in levels
    assert any(note.startswith("'extended' leaves out qat-int8: needs training data") for note in notes)


def test_levels_that_change_a_keras_model_say_why_a_savedmodel_without_keras_cannot_have_them():
    no_keras = Capabilities(is_tflite=False, keras_problem="no Keras metadata", has_calibration=True, has_training=True)
    for name in ("channels-50", "lowrank-16", "qat-int8", "lowrank-8+int4-weight"):
        assert unsupported_reason(parse_level(name), no_keras) == "no Keras metadata"
    assert unsupported_reason(parse_level("int4-weight-mixed"), no_keras) is None
