"""Host evaluation with LiteRT (ai-edge-litert): run a .tflite on inputs, accuracy and fidelity.

Inputs are fed one sample at a time (batch 1, as on a phone). Integer inputs are quantized and
integer outputs dequantized with the tensor's own scale and zero point, so every level is
compared in the same float space as the fp32 reference.
"""

from __future__ import annotations

import numpy as np

from harness.convert import tfenv
from harness.convert.progress import StepReport, ignore_steps

_COSINE_EPSILON = 1e-12
EVAL_REPORT_EVERY = 50  # samples


class RejectedModel(Exception):
    """LiteRT refuses to load or prepare the model; the message is LiteRT's."""


class UnsupportedModel(Exception):
    """The model loads but cannot be evaluated here (e.g. several inputs)."""


def open_interpreter(model_bytes: bytes) -> tuple[object, list[str]]:
    """A ready LiteRT interpreter and notes. When XNNPACK (LiteRT's default CPU delegate) refuses
    the model, LiteRT's builtin kernels are used instead and a note says so: a phone's runner
    with XNNPACK will likely refuse it too."""
    try:
        return _interpreter(model_bytes, default_delegates=True), []
    except RejectedModel as delegate_error:
        interpreter = _interpreter(model_bytes, default_delegates=False)
        return interpreter, [
            f"XNNPACK refuses this model ({delegate_error}); evaluated with LiteRT's builtin kernels"
        ]


def _interpreter(model_bytes: bytes, *, default_delegates: bool):
    from ai_edge_litert.interpreter import OpResolverType

    Interpreter = tfenv.litert_interpreter_class()
    resolver = OpResolverType.AUTO if default_delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with tfenv.captured_output() as captured:
        try:
            interpreter = Interpreter(model_content=model_bytes, num_threads=1, experimental_op_resolver_type=resolver)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise RejectedModel(" ".join(str(e).split()) or captured.tail(3)) from None
    return interpreter


def run_model(
    model_bytes: bytes, inputs: np.ndarray, report: StepReport = ignore_steps
) -> tuple[list[np.ndarray], list[str]]:
    """The model's outputs for each sample (one float array (samples, values) per output tensor),
    and notes about how it was run."""
    interpreter, notes = open_interpreter(model_bytes)
    input_details = interpreter.get_input_details()
    if len(input_details) != 1:
        raise UnsupportedModel(f"the model has {len(input_details)} inputs; host evaluation needs one")
    detail = input_details[0]
    sample_shape = [1, *inputs.shape[1:]]
    with tfenv.captured_output():
        try:
            if list(detail["shape"]) != sample_shape:
                interpreter.resize_tensor_input(detail["index"], sample_shape)
                interpreter.allocate_tensors()
            output_details = interpreter.get_output_details()
            collected: list[list[np.ndarray]] = [[] for _ in output_details]
            for i, sample in enumerate(inputs):
                if i % EVAL_REPORT_EVERY == 0:
                    report("evaluating", f"{i}/{len(inputs)} samples", i / len(inputs))
                interpreter.set_tensor(detail["index"], _quantize(sample[None], detail))
                interpreter.invoke()
                for values, out in zip(collected, output_details):
                    values.append(_dequantize(interpreter.get_tensor(out["index"]), out).reshape(-1))
        except (ValueError, RuntimeError) as e:
            raise RejectedModel(" ".join(str(e).split())) from None
    return [np.stack(values) for values in collected], notes


def _quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind == "f":
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    if scale:
        limits = np.iinfo(dtype)
        values = np.clip(np.round(values / scale) + zero_point, limits.min, limits.max)
    return values.astype(dtype)


def _dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = detail["quantization"]
    if np.dtype(detail["dtype"]).kind != "f" and scale:
        return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
    return values.astype(np.float32)


def accuracy(outputs: list[np.ndarray], labels: np.ndarray | None) -> dict | None:
    """Top-1 accuracy of the first output against class ids, when both make sense."""
    if labels is None or outputs[0].shape[1] < 2:
        return None
    predicted = outputs[0].argmax(axis=1)
    return {"top1": float(np.mean(predicted == labels)), "n": int(len(labels))}


def fidelity(outputs: list[np.ndarray], reference: list[np.ndarray]) -> dict:
    """Agreement with the reference (fp32) outputs on the same inputs."""
    ours = np.concatenate(outputs, axis=1).astype(np.float64)
    theirs = np.concatenate(reference, axis=1).astype(np.float64)
    if ours.shape != theirs.shape:
        raise UnsupportedModel(f"outputs have shape {ours.shape}, the reference's {theirs.shape}")
    agreement = None
    if outputs[0].shape[1] > 1:
        agreement = float(np.mean(outputs[0].argmax(axis=1) == reference[0].argmax(axis=1)))
    our_norms, their_norms = np.linalg.norm(ours, axis=1), np.linalg.norm(theirs, axis=1)
    cosine = np.sum(ours * theirs, axis=1) / np.maximum(our_norms * their_norms, _COSINE_EPSILON)
    # Two all-zero outputs agree perfectly; one all-zero output does not agree at all (cosine 0).
    cosine = np.where((our_norms < _COSINE_EPSILON) & (their_norms < _COSINE_EPSILON), 1.0, cosine)
    return {
        "top1_agreement": agreement,
        "max_abs_error": float(np.max(np.abs(ours - theirs))),
        "cosine_similarity": float(np.mean(cosine)),
        "n": int(len(ours)),
    }
