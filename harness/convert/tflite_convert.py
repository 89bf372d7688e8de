"""tf.lite.TFLiteConverter settings per quantization (docs/levels.md lists them for users).

  fp32          no optimization
  fp16          optimizations=[DEFAULT], supported_types=[float16]        (float16 weights)
  int8-dynamic  optimizations=[DEFAULT]                                   (dynamic range)
  int8          optimizations=[DEFAULT], representative_dataset, supported_ops=[TFLITE_BUILTINS_INT8],
                inference_input_type=int8, inference_output_type=int8    (full integer)
  int16x8       optimizations=[DEFAULT], representative_dataset,
                supported_ops=[EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
Pruned models add Optimize.EXPERIMENTAL_SPARSITY (sparse tensor encoding).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.convert import tfenv
from harness.convert.progress import StepReport, ignore_steps

CALIBRATED = ("int8", "int16x8", "qat-int8")
FULL_INTEGER = ("int8", "qat-int8")  # a quantization-aware model converts like int8, its ranges learned


def convert(
    model, quantization: str, *, sparse: bool, calibration: np.ndarray | None, report: StepReport = ignore_steps
) -> tuple[bytes, dict]:
    """Convert a Keras model (tf_keras or Keras 3) or a SavedModel directory; returns (flatbuffer,
    the converter settings used). Raises whatever the converter raises."""
    tf, _, _ = tfenv.tensorflow()
    if isinstance(model, (str, Path)):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model))
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    settings = _apply(converter, tf, quantization, sparse, calibration, report)
    return converter.convert(), settings


def _apply(converter, tf, quantization: str, sparse: bool, calibration: np.ndarray | None, report: StepReport) -> dict:
    optimize = tf.lite.Optimize
    optimizations = [] if quantization == "fp32" else [optimize.DEFAULT]
    if sparse:
        optimizations.append(optimize.EXPERIMENTAL_SPARSITY)
    converter.optimizations = optimizations
    settings: dict = {"optimizations": [o.name for o in optimizations]}
    if quantization == "fp16":
        converter.target_spec.supported_types = [tf.float16]
        settings["supported_types"] = ["float16"]
    if quantization in CALIBRATED:
        if calibration is None:
            raise ValueError(f"{quantization} needs calibration data")
        converter.representative_dataset = _representative_dataset(calibration, report)
        settings["representative_samples"] = len(calibration)
    if quantization in FULL_INTEGER:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        settings.update(
            supported_ops=["TFLITE_BUILTINS_INT8"], inference_input_type="int8", inference_output_type="int8"
        )
    if quantization == "int16x8":
        ops = tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        converter.target_spec.supported_ops = [ops]
        settings["supported_ops"] = [ops.name]
    return settings


def _representative_dataset(samples: np.ndarray, report: StepReport):
    def generate():
        for i in range(len(samples)):
            report("calibrating", f"{i}/{len(samples)} samples", i / len(samples))
            yield [samples[i : i + 1]]
        report("quantizing")

    return generate
