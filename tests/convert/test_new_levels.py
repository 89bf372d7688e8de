"""The survey's newer levels with the real converter, tfmot and the AI Edge Quantizer: what each
produces, how they compose, and the refusals when the input lacks what a level needs."""

from __future__ import annotations

import numpy as np
import pytest

from harness.convert import convert_model, restructure
from tests.convert.support import INPUT_SHAPE, N_CLASSES, quadrant_task

pytestmark = pytest.mark.slow
LEVELS = "fp32,int8,qat-int8,channels-50,lowrank-8,int4-weight,int4-weight-mixed,pruned-50+int4-weight,w8a16"


def levels_by_name(doc: dict, out_dir=None) -> dict[str, dict]:
    return {entry["level"]: {**entry, "path": out_dir and out_dir / entry["file"]} for entry in doc["levels"]}


@pytest.fixture(scope="module")
def newer(h5_file, task_npz, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("newer")
    return levels_by_name(convert_model(str(h5_file), LEVELS, out_dir, data=task_npz), out_dir)


def test_every_newer_level_is_produced_with_a_quality_figure(newer):
    for name, entry in newer.items():
        assert entry["status"] == "ok", (name, entry["reason"])
        assert entry["quality"]["metric"] == "top1_accuracy" and entry["quality"]["n_samples"] == 96


def test_qat_int8_is_full_integer_and_reported_next_to_int8(newer):
    qat = newer["qat-int8"]
    assert qat["inputs"][0]["dtype"] == "int8" and qat["details"]["quantization_aware_training"]["fine_tuned"]
    assert qat["accuracy"]["top1"] >= newer["int8"]["accuracy"]["top1"] - 0.05


def test_structured_pruning_and_low_rank_make_the_model_smaller(newer):
    channels = newer["channels-50"]["details"]["channels"]
    assert channels["params_after"] < channels["params_before"]
    assert {"before": 8, "after": 4} in channels["layers"].values()  # the conv; the hidden Dense 16 -> 8
    assert {"before": 16, "after": 8} in channels["layers"].values()
    assert newer["channels-50"]["size_bytes"] < newer["fp32"]["size_bytes"]
    lowrank = newer["lowrank-8"]["details"]["lowrank"]
    assert lowrank["params_after"] < lowrank["params_before"] and lowrank["layers"]
    assert newer["lowrank-8"]["size_bytes"] < newer["fp32"]["size_bytes"]


def test_quantizer_levels_shrink_weights_and_mixed_keeps_some_ops_in_float(newer):
    int4, mixed = newer["int4-weight"], newer["int4-weight-mixed"]
    assert int4["size_ratio_to_fp32"] < 0.3
    recipe = mixed["details"]["ai_edge_quantizer"]
    assert recipe["kept_in_float"] and set(recipe["kept_in_float"]) <= set(recipe["error_added_by_op"])
    assert mixed["size_bytes"] > int4["size_bytes"]
    assert newer["pruned-50+int4-weight"]["details"]["pruning"]["achieved_sparsity"] >= 0.45
    assert newer["pruned-50+int4-weight"]["size_ratio_to_fp32"] < 0.3
    assert newer["w8a16"]["details"]["ai_edge_quantizer"]["calibration_samples"] == 32


def test_a_tflite_input_gets_quantizer_levels_and_an_already_quantized_one_says_why_not(tflite_file, tmp_path, newer):
    doc = convert_model(str(tflite_file), "int4-weight", tmp_path / "float")
    assert levels_by_name(doc)["int4-weight"]["status"] == "ok"
    quantized = tmp_path / "quantized.tflite"
    quantized.write_bytes(newer["int8"]["path"].read_bytes())
    refused = levels_by_name(convert_model(str(quantized), "int4-weight", tmp_path / "int8"))["int4-weight"]
    assert refused["status"] == "skipped" and "already quantized" in refused["reason"]


def test_levels_needing_what_the_input_lacks_are_skipped_with_the_reason(keras3_file, tmp_path):
    doc = levels_by_name(convert_model(str(keras3_file), "qat-int8,w8a16,channels-50", tmp_path))
    assert "needs training data" in doc["qat-int8"]["reason"]
    assert "needs calibration data" in doc["w8a16"]["reason"]
    assert doc["channels-50"]["status"] == "skipped" and "Sequential" in doc["channels-50"]["reason"]


def test_removing_zero_filters_changes_no_output(tf_modules):
    _, tf_keras, _ = tf_modules
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([
        tf_keras.Input(INPUT_SHAPE),
        tf_keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        tf_keras.layers.BatchNormalization(),
        tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(N_CLASSES),
    ])  # fmt: skip
    kernel, bias = model.layers[0].get_weights()
    kernel[..., ::2], bias[::2] = 0, 0  # half the filters contribute nothing but BatchNorm's offset
    model.layers[0].set_weights([kernel, bias])
    beta = model.layers[1].get_weights()
    beta[1][::2] = 0  # ... and BatchNorm adds nothing to them either
    model.layers[1].set_weights(beta)
    narrowed, details = restructure.remove_channels(model, 50)
    x, _ = quadrant_task(16, seed=3)
    assert details["layers"][model.layers[0].name] == {"before": 8, "after": 4}
    np.testing.assert_allclose(narrowed(x), model(x), atol=1e-5)


def test_a_rank_as_high_as_the_kernels_changes_no_output(tf_modules):
    _, tf_keras, _ = tf_modules
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.Input((64,)), tf_keras.layers.Dense(48, activation="relu"),
                                 tf_keras.layers.Dense(N_CLASSES)])  # fmt: skip
    low = np.random.default_rng(0).normal(size=(64, 4)) @ np.random.default_rng(1).normal(size=(4, 48))
    model.layers[0].set_weights([low.astype(np.float32), model.layers[0].get_weights()[1]])
    factored, details = restructure.factor_low_rank(model, 4)
    x = np.random.default_rng(2).normal(size=(8, 64)).astype(np.float32)
    assert list(details["layers"]) == [model.layers[0].name] and details["layers"][model.layers[0].name]["energy_kept"] == 1.0
    np.testing.assert_allclose(factored(x), model(x), rtol=1e-4, atol=1e-4)
    with pytest.raises(restructure.RestructureError, match="large enough"):
        restructure.factor_low_rank(model, 40)
