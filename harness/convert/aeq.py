"""AI Edge Quantizer (`ai-edge-quantizer`) recipes, applied to a float .tflite.

  int8-weight        int8 weights, per output channel; computation in float (DEQUANTIZE at load)
  int4-weight        the same with int4 weights
  int4-weight-bN     fully-connected weights in int4 blocks of N input values with one scale each
                     (the quantizer's dynamic-range blockwise recipe: integer kernels), other
                     weights, and layers whose input width N does not divide, as int4-weight
  w8a16              int8 weights, int16 activations, integer kernels (calibrated)
  int4-weight-mixed  int4-weight, except the most sensitive ops (MIXED_FLOAT_SHARE of the
                     quantized ops, at least one) kept in float: those whose output error grows
                     most over their inputs' in the quantizer's per-tensor validation report
The quantizer calibrates and validates through a signature; a .tflite without one (e.g.
MediaPipe's) is given a `serving_default` signature over its inputs and outputs first (`prepared`).
"""

from __future__ import annotations

import math
import re

import numpy as np

from harness.convert.progress import StepReport

MIXED_FLOAT_SHARE = 0.2
MAX_SAMPLES = 32  # calibration (w8a16) and validation (mixed) samples
SIGNATURE = "serving_default"
_ALGORITHM = "min_max_uniform_quantize"


class RecipeError(Exception):
    """The recipe cannot apply to this model (already quantized, no usable signature, ...)."""


def quantize(model_bytes: bytes, recipe_name: str, samples: np.ndarray, report: StepReport) -> tuple[bytes, dict]:
    """(quantized flatbuffer, details) for one of the recipes above."""
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    if not tfl_flatbuffer_utils.is_float_model(tfl_flatbuffer_utils.read_model(bytearray(model_bytes))):
        raise RecipeError(f"{recipe_name} needs a float model; this one is already quantized")
    model_bytes, signature_added = prepared(model_bytes)
    recipe = _recipe(recipe_name)
    details: dict = {"tool": "ai-edge-quantizer", "recipe": recipe, "signature_added": signature_added}
    if recipe_name == "int4-weight-mixed":
        kept, errors = _most_sensitive_ops(model_bytes, recipe, samples, report)
        # The quantizer matches an op by its scope: its output names, each followed by ";".
        recipe = recipe + [{"regex": f"^{re.escape(name)};", "operation": "*", "algorithm_key": "no_quantize"} for name in kept]
        details.update(recipe=recipe, kept_in_float=kept, error_added_by_op=errors)
    if recipe_name.startswith("int4-weight-b"):
        uneven = fully_connected_not_divisible(model_bytes, int(recipe_name.removeprefix("int4-weight-b")))
        recipe = recipe + [{"regex": f"^{re.escape(name)};", "operation": "FULLY_CONNECTED",
                            "algorithm_key": _ALGORITHM, "op_config": _weight_only(4)} for name in uneven]  # fmt: skip
        details.update(recipe=recipe, channelwise_because_not_divisible=uneven)
    calibration = None
    engine = quantizer.Quantizer(bytearray(model_bytes), recipe)
    if engine.need_calibration:
        report("calibrating", f"{min(len(samples), MAX_SAMPLES)} samples")
        calibration = engine.calibrate(_signature_data(model_bytes, samples), num_threads=1)
        details["calibration_samples"] = min(len(samples), MAX_SAMPLES)
    report("quantizing")
    result = engine.quantize(calibration, enable_progress_report=False)
    return bytes(result.quantized_model), details


def _weight_only(bits: int) -> dict:
    return {
        "weight_tensor_config": {"num_bits": bits, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"},
        "compute_precision": "FLOAT",
        "explicit_dequantize": True,
        "skip_checks": False,
        "min_weight_elements": 0,
    }


def _recipe(name: str) -> list[dict]:
    everything = {"regex": ".*", "operation": "*", "algorithm_key": _ALGORITHM}
    if name == "int8-weight":
        return [{**everything, "op_config": _weight_only(8)}]
    if name in ("int4-weight", "int4-weight-mixed"):
        return [{**everything, "op_config": _weight_only(4)}]
    if name.startswith("int4-weight-b"):
        block = int(name.removeprefix("int4-weight-b"))
        blockwise = {
            "weight_tensor_config": {
                "num_bits": 4, "symmetric": True, "granularity": f"BLOCKWISE_{block}", "dtype": "INT",
            },
            "compute_precision": "INTEGER",
            "explicit_dequantize": False,
            "skip_checks": False,
            "min_weight_elements": 0,
        }  # fmt: skip
        return [
            {**everything, "op_config": _weight_only(4)},
            {**everything, "operation": "FULLY_CONNECTED", "op_config": blockwise},
        ]
    if name == "w8a16":
        return [
            {
                **everything,
                "op_config": {
                    "activation_tensor_config": {
                        "num_bits": 16, "symmetric": True, "granularity": "TENSORWISE", "dtype": "INT",
                    },
                    "weight_tensor_config": {
                        "num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT",
                    },
                    "compute_precision": "INTEGER",
                    "explicit_dequantize": False,
                    "skip_checks": False,
                    "min_weight_elements": 0,
                },
            }
        ]  # fmt: skip
    raise ValueError(f"unknown AI Edge Quantizer recipe {name}")


def _most_sensitive_ops(model_bytes: bytes, recipe: list[dict], samples: np.ndarray, report: StepReport):
    """Output tensor names of the ops to keep in float, and every quantized op's added error."""
    from ai_edge_quantizer import quantizer
    from ai_edge_quantizer.utils import validation_utils

    report("measuring each op's quantization error")
    trial = quantizer.Quantizer(bytearray(model_bytes), recipe)
    trial.quantize(enable_progress_report=False)
    validation = trial.validate(
        _signature_data(model_bytes, samples), error_metrics=[validation_utils.ValidationErrorMetric.MSE], num_threads=1
    )
    compared = validation.get_signature_comparison_result(SIGNATURE)
    mse = {name: values["mse"] for group in (compared.input_tensors, compared.intermediate_tensors,
                                              compared.output_tensors) for name, values in group.items()}  # fmt: skip
    added = error_added_by_weighted_ops(model_bytes, mse)
    if not added:
        raise RecipeError("the quantizer's validation report names none of this model's weighted ops")
    keep = max(1, math.ceil(MIXED_FLOAT_SHARE * len(added)))
    ranked = sorted(added, key=added.get, reverse=True)
    return ranked[:keep], {name: float(f"{value:.4g}") for name, value in added.items()}


def fully_connected_not_divisible(model_bytes: bytes, block: int) -> list[str]:
    """Output names of the FULLY_CONNECTED ops whose input width the block size does not divide:
    the quantizer refuses blockwise there, so they get channelwise int4 instead."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(model_bytes, 0)
    graph = model.Subgraphs(0)
    uneven = []
    for o in range(graph.OperatorsLength()):
        op = graph.Operators(o)
        code = model.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) != schema.BuiltinOperator.FULLY_CONNECTED:
            continue
        weights = graph.Tensors(op.Inputs(1)).ShapeAsNumpy()
        if weights[-1] % block:
            uneven.append(graph.Tensors(op.Outputs(0)).Name().decode())
    return uneven


def error_added_by_weighted_ops(model_bytes: bytes, mse: dict[str, float]) -> dict[str, float]:
    """For each op with constant weights: the mean squared error of its output minus the largest
    of its activation inputs' (what this op's quantization adds), keyed by its output name."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(model_bytes, 0)
    graph = model.Subgraphs(0)
    added: dict[str, float] = {}
    for o in range(graph.OperatorsLength()):
        op = graph.Operators(o)
        inputs = [graph.Tensors(i) for i in op.InputsAsNumpy() if i >= 0]
        constant = [model.Buffers(t.Buffer()).DataLength() > 0 for t in inputs]
        weighted = any(c and t.Type() == schema.TensorType.FLOAT32 and t.ShapeLength() >= 2
                       for c, t in zip(constant, inputs))  # fmt: skip
        names = [t.Name().decode() for c, t in zip(constant, inputs) if not c]
        output = graph.Tensors(op.Outputs(0)).Name().decode()
        if weighted and output in mse:
            added[output] = mse[output] - max((mse.get(name, 0.0) for name in names), default=0.0)
    return added


def prepared(model_bytes: bytes) -> tuple[bytes, bool]:
    """The model as the quantizer reads it: operator codes in the current schema field (older
    converters wrote codes below 127 only in `deprecated_builtin_code`, which the quantizer does
    not read, and then quantizes nothing), and a `serving_default` signature over the main
    subgraph's inputs and outputs when it has none. Returns it and whether a signature was added."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    codes_fixed = False
    for code in model.operatorCodes:
        if code.builtinCode < code.deprecatedBuiltinCode:
            code.builtinCode, codes_fixed = code.deprecatedBuiltinCode, True
    add_signature = not model.signatureDefs
    if add_signature:
        model.signatureDefs = [_signature(schema, model.subgraphs[0])]
    if not (codes_fixed or add_signature):
        return model_bytes, False
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), add_signature


def _signature(schema, graph):

    def tensor_maps(indices) -> list:
        maps = []
        for index in indices:
            entry = schema.TensorMapT()
            entry.name, entry.tensorIndex = graph.tensors[index].name, int(index)
            maps.append(entry)
        return maps

    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = SIGNATURE.encode(), 0
    signature.inputs, signature.outputs = tensor_maps(graph.inputs), tensor_maps(graph.outputs)
    return signature


def _signature_data(model_bytes: bytes, samples: np.ndarray) -> dict:
    from ai_edge_quantizer.utils import tfl_interpreter_utils

    interpreter = tfl_interpreter_utils.create_tfl_interpreter(bytearray(model_bytes))
    inputs = interpreter.get_signature_list()[SIGNATURE]["inputs"]
    if len(inputs) != 1:
        raise RecipeError(f"the model's signature has {len(inputs)} inputs; squeezebench feeds one")
    return {SIGNATURE: [{inputs[0]: samples[i : i + 1]} for i in range(min(len(samples), MAX_SAMPLES))]}
