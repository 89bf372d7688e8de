"""harness.bench.outputs: value files, batches, output dumps and the verdict on device outputs.

Units use hand-built ModelIO descriptions; the paths users run (a model's real inputs and outputs,
batches that LiteRT accepts or refuses, the bundled runner's dump) use real LiteRT models."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from harness.bench import output_check, outputs
from harness.bench.outputs import Batch, ModelIO, OutputCheckError, TensorSpec
from harness.bundled_runner import RUNNER_PATH
from harness.errors import ExitCode

FLOAT_IO = ModelIO(inputs=(TensorSpec("x:0", (1, 4), "float32"),),
                   outputs=(TensorSpec("scores", (1, 3), "float32"),))
INT8_IO = ModelIO(inputs=(TensorSpec("x", (1, 4), "int8", 0.5, -3),),
                  outputs=(TensorSpec("scores", (1, 3), "int8", 0.25, 10),))


# --- inputs --------------------------------------------------------------------------------------


def test_float_samples_for_a_quantized_input_are_quantized_with_its_scale_and_zero_point():
    prepared, = outputs.prepare_inputs(INT8_IO, np.array([[1.0, -1.0, 100.0, -100.0]], np.float32))
    # q = round(x / 0.5) - 3, clipped to int8
    assert prepared.dtype == np.int8 and prepared.tolist() == [[-1, -5, 127, -128]]
    as_is, = outputs.prepare_inputs(INT8_IO, np.array([[1, 2, 3, 4]], np.int32))
    assert as_is.dtype == np.int8 and as_is.tolist() == [[1, 2, 3, 4]]


def test_samples_by_name_in_order_or_one_array_for_a_single_input():
    two = ModelIO(inputs=(TensorSpec("a", (1, 2), "float32"), TensorSpec("b", (1, 1), "int32")), outputs=())
    a, b = np.ones((5, 2)), np.arange(5).reshape(5, 1)
    by_name = outputs.prepare_inputs(two, {"b": b, "a": a})
    in_order = outputs.prepare_inputs(two, [a, b])
    for got in (by_name, in_order):
        assert [x.dtype for x in got] == [np.float32, np.int32] and got[1][:, 0].tolist() == [0, 1, 2, 3, 4]
    single, = outputs.prepare_inputs(FLOAT_IO, np.ones(4))  # one sample without its batch axis
    assert single.shape == (1, 4)


@pytest.mark.parametrize("io, samples, problem", [
    (FLOAT_IO, np.ones((2, 5)), "have shape [5], the model wants [4]"),
    (ModelIO((TensorSpec("a", (1, 2), "float32"), TensorSpec("b", (1, 1), "float32")), ()), np.ones((2, 2)),
     "one sample array for a model with 2 inputs"),
    (ModelIO((TensorSpec("a", (1, 2), "float32"), TensorSpec("b", (1, 1), "float32")), ()), {"a": np.ones((2, 2))},
     "no samples for input(s) b"),
    (ModelIO((TensorSpec("a", (1, 2), "float32"), TensorSpec("b", (1, 1), "float32")), ()),
     [np.ones((2, 2)), np.ones((3, 1))], "different sample counts [2, 3]"),
    (ModelIO((TensorSpec("ids", (1, 2), "int32"),), ()), np.ones((2, 2), np.float32),
     "float samples for input ids, which takes int32 without quantization parameters"),
])
def test_samples_that_cannot_feed_the_model_are_refused_in_one_line_with_a_fix(io, samples, problem):
    with pytest.raises(OutputCheckError) as error:
        outputs.prepare_inputs(io, samples)
    assert problem in error.value.problem and error.value.fix
    assert error.value.exit_code == ExitCode.BAD_INPUT and "\n" not in error.value.one_line()


# --- files, flags and dumps -----------------------------------------------------------------------


def test_runner_flags_name_every_input_in_order_and_escape_colons():
    two = ModelIO(inputs=(TensorSpec("serving_default_a:0", (1, 8, 8, 1), "float32"),
                          TensorSpec("b", (1, 3), "int32")), outputs=())
    flags = outputs.runner_flags(two, Batch(16, 4), ["/data/local/tmp/a:1.bin", "/data/local/tmp/b.bin"], "/tmp/o.bin")
    assert flags == [
        "--input_layer=serving_default_a:0,b",
        "--input_layer_shape=4,8,8,1:4,3",
        "--input_layer_value_files=serving_default_a::0:/data/local/tmp/a::1.bin,b:/data/local/tmp/b.bin",
        "--output_filepath=/tmp/o.bin",
    ]


def test_value_files_hold_the_batchs_samples_and_dumps_read_back_per_output(tmp_path):
    io = ModelIO(inputs=FLOAT_IO.inputs, outputs=(TensorSpec("boxes", (1, 2, 2), "float32"),
                                                 TensorSpec("classes", (1, 3), "int8", 0.25, 10)))
    samples = outputs.prepare_inputs(io, np.arange(40, dtype=np.float32).reshape(10, 4))
    path, = outputs.write_value_files(io, samples, Batch(6, 3), tmp_path)
    assert np.frombuffer(path.read_bytes(), np.float32).tolist() == list(range(24, 36))
    boxes = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    classes = np.array([[1, 2, 3], [4, 5, 6], [-7, -8, -9]], np.int8)
    read = outputs.read_output_dump(io, boxes.tobytes() + classes.tobytes(), Batch(6, 3))
    assert read[0].tolist() == boxes.tolist() and read[1].tolist() == classes.tolist()
    with pytest.raises(OutputCheckError, match="has 60 bytes, 57 expected for 3 sample"):
        outputs.read_output_dump(io, boxes.tobytes() + classes.tobytes()[:-6] + b"\0" * 9, Batch(6, 3))


def test_batches_cover_every_sample_once():
    assert outputs.batches(10, 4) == [Batch(0, 4), Batch(4, 4), Batch(8, 2)]
    assert outputs.batches(3, 1) == [Batch(0, 1), Batch(1, 1), Batch(2, 1)]


# --- tolerances and the verdict -------------------------------------------------------------------


@pytest.mark.parametrize("level, delegate, relative, steps", [
    ("fp32", "cpu", 1e-3, 1), ("pruned-75", "cpu", 1e-3, 1), ("distilled+fp16", "cpu", 1e-3, 1),
    ("pruned-75+int8", "cpu", 1e-3, 2), ("int8-dynamic", "cpu", 2e-2, 2),
    ("fp32", "gpu", 3e-2, 2), ("int8", "NNAPI", 3e-2, 2),
])
def test_the_tolerance_follows_the_levels_quantization_and_half_precision_delegates(level, delegate, relative, steps):
    tolerance = output_check.tolerance_for(level, delegate)
    assert (tolerance.relative, tolerance.steps) == (relative, steps) and tolerance.why


def float_outputs(values) -> list:
    return [np.asarray(values, np.float32)]


def test_float_outputs_within_tolerance_pass_and_beyond_it_are_flagged_with_the_worst_input():
    host = float_outputs([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.0, 0.1, 0.9]])
    close = float_outputs(host[0] + 1e-5)
    check = output_check.compare_outputs(FLOAT_IO, close, host, level="fp32", host_fp32=host, labels=[1, 0, 0])
    assert not check.numerics and check.vs_host_level.top1_agreement == 1.0
    assert check.accuracy == check.host_accuracy == pytest.approx(2 / 3)
    broken = float_outputs(host[0].copy())
    broken[0][1, 0] = 0.2  # sample 1's top class changes; its error is 0.3 / 0.5 of its range
    check = output_check.compare_outputs(FLOAT_IO, broken, host, level="fp32", host_fp32=host, labels=np.eye(3)[[1, 0, 0]])
    assert check.numerics and check.vs_host_level.worst_index == 1
    assert check.vs_host_level.max_abs_error == pytest.approx(0.3) and check.vs_host_level.max_rel_error == pytest.approx(0.6)
    assert check.vs_host_level.top1_agreement == pytest.approx(2 / 3) and check.accuracy == pytest.approx(1 / 3)
    assert "numerics" in check.verdict and "worst input #1" in check.verdict
    # The same error is within what a GPU's half precision is allowed? No: 0.6 is far beyond 3e-2.
    assert output_check.compare_outputs(FLOAT_IO, broken, host, level="fp32", delegate="gpu").numerics


def test_quantized_outputs_are_judged_in_quantization_steps():
    host = [np.array([[10, 50, 20], [30, 12, 11]], np.int8)]
    one_step = [host[0] + np.array([[1, -1, 0], [0, 1, 1]], np.int8)]
    check = output_check.compare_outputs(INT8_IO, one_step, host, level="int8")
    assert not check.numerics and check.vs_host_level.max_step_error == 1
    assert check.vs_host_level.max_abs_error == pytest.approx(0.25)  # one step of scale 0.25
    three_steps = [host[0] + np.array([[0, 0, 0], [3, 0, 0]], np.int8)]
    check = output_check.compare_outputs(INT8_IO, three_steps, host, level="int8")
    assert check.numerics and check.vs_host_level.worst_index == 1 and "3 quantization step(s)" in check.verdict


def test_outputs_that_are_not_class_scores_have_no_top1_and_no_accuracy():
    io = ModelIO(FLOAT_IO.inputs, (TensorSpec("value", (1, 1), "float32"),))
    host = float_outputs([[1.0], [2.0]])
    check = output_check.compare_outputs(io, host, host, level="fp32", labels=[0, 1])
    assert check.vs_host_level.top1_agreement is None and check.accuracy is None and not check.numerics


def test_outputs_of_different_samples_are_refused():
    with pytest.raises(OutputCheckError, match="different sample counts"):
        output_check.compare_outputs(FLOAT_IO, float_outputs(np.ones((3, 3))), float_outputs(np.ones((2, 3))), level="fp32")


# --- real models ------------------------------------------------------------------------------------


def test_a_real_models_io_and_the_batch_it_accepts(tiny_tflite):
    io = outputs.read_model_io(tiny_tflite)
    assert [(s.shape, s.dtype, s.quantized) for s in io.inputs] == [((1, 32, 32, 3), "float32", False)]
    assert [s.sample_shape for s in io.outputs] == [(10,)]
    samples = outputs.prepare_inputs(io, np.random.default_rng(0).uniform(0, 1, (12, 32, 32, 3)))
    host = outputs.outputs_on_host(tiny_tflite, io, samples, 12, max_batch=8)
    assert host.batch_size == 8 and outputs.outputs_on_host(tiny_tflite, io, samples, 1).batch_size == 1
    one_by_one = outputs.concatenate([outputs.run_on_host(tiny_tflite, io, samples, b) for b in outputs.batches(12, 1)])
    np.testing.assert_allclose(host.outputs[0], one_by_one[0], rtol=1e-5, atol=1e-6)
    assert host.outputs[0].shape == (12, 10)


def test_a_file_that_is_not_a_model_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    with pytest.raises(OutputCheckError, match="LiteRT cannot load it"):
        outputs.read_model_io(bad)


def run_checked_on_the_bundled_runner(model, io, inputs, count, size, workdir, *extra) -> list:
    parts = []
    for batch in outputs.batches(count, size):
        files = outputs.write_value_files(io, inputs, batch, workdir)
        dump = workdir / "out.bin"
        flags = outputs.runner_flags(io, batch, [str(f) for f in files], str(dump))
        done = subprocess.run([sys.executable, str(RUNNER_PATH), f"--graph={model}", *outputs.CHECK_RUN_FLAGS,
                               *flags, *extra], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        parts.append(outputs.read_output_dump(io, dump.read_bytes(), batch))
    return outputs.concatenate(parts)


def test_device_outputs_of_the_bundled_runner_match_the_host_and_a_broken_variant_is_flagged(tiny_tflite, tmp_path):
    io = outputs.read_model_io(tiny_tflite)
    inputs = outputs.prepare_inputs(io, np.random.default_rng(1).uniform(0, 1, (10, 32, 32, 3)))
    computed = outputs.outputs_on_host(tiny_tflite, io, inputs, 10, max_batch=4)
    size, host = computed.batch_size, computed.outputs
    device = run_checked_on_the_bundled_runner(tiny_tflite, io, inputs, 10, size, tmp_path)
    check = output_check.compare_outputs(io, device, host, level="fp32", host_fp32=host)
    assert size == 4 and not check.numerics and check.vs_host_level.top1_agreement == 1.0
    broken = run_checked_on_the_bundled_runner(tiny_tflite, io, inputs, 10, size, tmp_path,
                                               "--squeezebench_output_noise=0.5")
    check = output_check.compare_outputs(io, broken, host, level="fp32", host_fp32=host)
    assert check.numerics and check.vs_host_level.max_rel_error > 0.01


@pytest.fixture(scope="module")
def int8_two_input_model(tmp_path_factory):
    """Full-integer, two inputs (an image and a vector), a reshape that fixes the batch at 1."""
    import tensorflow as tf

    image = tf.keras.Input((6, 6, 1), batch_size=1, name="image")
    extra = tf.keras.Input((3,), batch_size=1, name="extra")
    x = tf.keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = tf.keras.layers.Lambda(lambda t: tf.reshape(t, [1, -1]))(x)
    x = tf.keras.layers.Concatenate()([x, extra])
    model = tf.keras.Model([image, extra], tf.keras.layers.Dense(5)(x))
    rng = np.random.default_rng(0)

    def calibration():
        for _ in range(16):
            yield {"image": rng.uniform(0, 1, (1, 6, 6, 1)).astype(np.float32),
                   "extra": rng.uniform(0, 1, (1, 3)).astype(np.float32)}

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = calibration
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    path = tmp_path_factory.mktemp("int8") / "two_inputs_int8.tflite"
    path.write_bytes(converter.convert())
    return path


@pytest.mark.slow
def test_an_int8_model_with_two_inputs_is_checked_one_sample_per_process(int8_two_input_model, tmp_path):
    io = outputs.read_model_io(int8_two_input_model)
    assert all(spec.quantized and spec.dtype == "int8" for spec in (*io.inputs, *io.outputs))
    rng = np.random.default_rng(2)
    by_name = {spec.name: rng.uniform(0, 1, (3, *spec.sample_shape)) for spec in io.inputs}
    inputs = outputs.prepare_inputs(io, by_name)
    assert [a.dtype for a in inputs] == [np.int8, np.int8]
    # The reshape keeps a batch of 1: the model cannot take more, so one process per sample.
    host = outputs.outputs_on_host(int8_two_input_model, io, inputs, 3)
    assert host.batch_size == 1
    host = host.outputs
    device = run_checked_on_the_bundled_runner(int8_two_input_model, io, inputs, 3, 1, tmp_path)
    check = output_check.compare_outputs(io, device, host, level="int8")
    assert not check.numerics and check.vs_host_level.max_step_error == 0
    broken = run_checked_on_the_bundled_runner(int8_two_input_model, io, inputs, 3, 1, tmp_path,
                                               "--squeezebench_output_noise=0.5")
    assert output_check.compare_outputs(io, broken, host, level="int8").numerics
