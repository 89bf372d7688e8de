"""The verdict on outputs checked on the device (see harness/bench/outputs.py for how they are
produced): agreement with the host, the tolerance each level and delegate is allowed, and the
`numerics` flag."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from harness.bench.outputs import _QUANTIZED_KINDS, ModelIO, OutputCheckError, TensorSpec

# --- tolerances ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """How far one level's device outputs may be from the same level on the host.
    `relative`: max |device - host| / max |host| for float compute; `steps`: max difference in
    quantization steps of a quantized output."""

    relative: float
    steps: int
    why: str


# Float32 compute on two CPUs: the same XNNPACK kernels with a different summation order (NEON
# vs AVX, thread split) differ in the last bits, which grow with depth to ~1e-5 of the output
# range in small nets and ~1e-4 in deep ones: 1e-3 leaves a margin and still catches any broken
# kernel (those are off by > 1e-2).
_FLOAT32 = Tolerance(1e-3, 1, "float32 compute: summation order differs between CPUs (~1e-5..1e-4)")
# Half precision (GPU delegates by default, NNAPI drivers allowed fp16, XNNPACK fp16 inference):
# fp16 has an 11-bit significand (eps 9.8e-4) and rounds at every layer: errors of a few 1e-3 of
# the output range are normal, 3e-2 is beyond what rounding alone gives in mobile-size nets.
_FLOAT16 = Tolerance(3e-2, 2, "half-precision compute: fp16 eps 9.8e-4, rounded at every layer")
# Dynamic-range quantization quantizes activations on the fly (per tensor or per row, kernels
# differ by CPU): about one 8-bit step (1/127 of a tensor's range) per layer.
_DYNAMIC = Tolerance(2e-2, 2, "dynamic-range int8: activations quantized on the fly, ~1/127 per layer")
# Integer kernels requantize with float multipliers (FMA or not, rounding mode): outputs may
# differ by one step; two allow one in an intermediate layer to carry over.
_INTEGER = Tolerance(1e-3, 2, "integer compute: requantization rounding differs by at most a step")

_QUANTIZATION_TOLERANCE = {
    "fp32": _FLOAT32, "fp16": _FLOAT32,  # fp16 weights are dequantized to float32 at load on the CPU
    "int8-dynamic": _DYNAMIC, "int8": _INTEGER, "int16x8": _INTEGER,
}
_HALF_PRECISION_DELEGATES = ("gpu", "nnapi")


def tolerance_for(level: str, delegate: str = "cpu") -> Tolerance:
    """The tolerance of a level (`pruned-75+int8`: its quantization step decides; no
    quantization step means float32) on a delegate. GPU and NNAPI may compute in half
    precision, so their tolerance is at least the fp16 one."""
    steps = level.split("+")
    quantization = next((step for step in steps if step in _QUANTIZATION_TOLERANCE), "fp32")
    tolerance = _QUANTIZATION_TOLERANCE[quantization]
    if delegate.lower() in _HALF_PRECISION_DELEGATES:
        return Tolerance(max(tolerance.relative, _FLOAT16.relative), max(tolerance.steps, _FLOAT16.steps),
                         f"{tolerance.why}; {delegate} may compute in half precision")
    return tolerance


# --- the comparison ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Agreement:
    """Device outputs against one reference: top-1 agreement (classification-like outputs only),
    max absolute and relative error, and the input where the relative error is largest."""

    top1_agreement: float | None
    max_abs_error: float
    max_rel_error: float
    worst_index: int
    max_step_error: int | None = None  # quantized outputs: in quantization steps

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class OutputCheck:
    level: str
    delegate: str
    samples: int
    vs_host_level: Agreement
    vs_host_fp32: Agreement | None
    accuracy: float | None  # device top-1 accuracy, where labels exist
    host_accuracy: float | None  # the same level on the host
    tolerance: Tolerance
    numerics: bool  # the device disagrees with the same level on the host beyond tolerance
    verdict: str

    def to_dict(self) -> dict:
        return {
            "level": self.level, "delegate": self.delegate, "samples": self.samples,
            "vs_host_level": self.vs_host_level.to_dict(),
            "vs_host_fp32": self.vs_host_fp32.to_dict() if self.vs_host_fp32 else None,
            "accuracy": self.accuracy, "host_accuracy": self.host_accuracy,
            "tolerance": dataclasses.asdict(self.tolerance), "numerics": self.numerics, "verdict": self.verdict,
        }


def dequantize(spec: TensorSpec, array):
    import numpy as np

    values = array.astype(np.float64)
    return (values - spec.zero_point) * spec.scale if spec.quantized else values


def compare_outputs(io: ModelIO, device: Sequence, host_same_level: Sequence, *, level: str,
                    delegate: str = "cpu", host_fp32: Sequence | None = None, labels=None,
                    class_output: int = 0) -> OutputCheck:
    """`device`, `host_same_level`, `host_fp32`: per output, arrays (N, ...) in the model's
    output order (`host_fp32` from the fp32 model, whose outputs are float). `class_output`:
    the output whose argmax is the predicted class."""
    samples = _check_same_samples(io, device, host_same_level)
    tolerance = tolerance_for(level, delegate)
    vs_level = _agreement(io, device, host_same_level, class_output, quantized_reference=True)
    vs_fp32 = _agreement(io, device, host_fp32, class_output, quantized_reference=False) if host_fp32 else None
    accuracy = _accuracy(io, device, labels, class_output)
    host_accuracy = _accuracy(io, host_same_level, labels, class_output)
    # Outputs that are all quantized are judged in quantization steps (one step of an int8
    # output is already ~1/255 of its range), others by the relative error.
    if all(spec.quantized for spec in io.outputs):
        numerics = vs_level.max_step_error > tolerance.steps
        error = f"max error {vs_level.max_step_error} quantization step(s) (tolerance {tolerance.steps})"
    else:
        numerics = vs_level.max_rel_error > tolerance.relative
        error = f"max relative error {vs_level.max_rel_error:.2g} (tolerance {tolerance.relative:g})"
    if numerics:
        verdict = f"numerics: the device disagrees with the host beyond tolerance, {error}, worst input #{vs_level.worst_index}"
    else:
        verdict = f"matches the host within tolerance, {error}"
    return OutputCheck(level, delegate, samples, vs_level, vs_fp32, accuracy, host_accuracy, tolerance, numerics,
                       verdict)


def _check_same_samples(io: ModelIO, device: Sequence, reference: Sequence) -> int:
    if len(device) != len(io.outputs) or len(reference) != len(io.outputs):
        raise OutputCheckError(f"{len(device)} device and {len(reference)} host output arrays for a model with "
                               f"{len(io.outputs)} outputs", "pass every output of the model")
    counts = {len(a) for a in (*device, *reference)}
    if len(counts) != 1:
        raise OutputCheckError(f"device and host outputs cover different sample counts {sorted(counts)}",
                               "compare outputs of the same samples")
    return counts.pop()


def _agreement(io: ModelIO, device: Sequence, reference: Sequence, class_output: int, *,
               quantized_reference: bool) -> Agreement:
    """Errors over every output; the relative error of an output is normalized per sample by the
    largest magnitude of that sample's reference output."""
    import numpy as np

    worst_rel = np.zeros(len(device[0]))
    max_abs = 0.0
    max_steps = None
    for spec, got, want in zip(io.outputs, device, reference):
        got_values = dequantize(spec, got)
        want_values = dequantize(spec, want) if quantized_reference else np.asarray(want, dtype=np.float64)
        diff = np.abs(got_values - want_values).reshape(len(got), -1)
        scale = np.abs(want_values).reshape(len(got), -1).max(axis=1)
        rel = diff.max(axis=1) / np.where(scale > 0, scale, 1.0)
        worst_rel = np.maximum(worst_rel, rel)
        max_abs = max(max_abs, float(diff.max(initial=0)))
        if quantized_reference and spec.quantized:
            steps = int(np.abs(got.astype(np.int64) - want.astype(np.int64)).max(initial=0))
            max_steps = steps if max_steps is None else max(max_steps, steps)
    worst = int(np.argmax(worst_rel))
    top1 = _top1_agreement(io, device[class_output], reference[class_output], class_output)
    return Agreement(top1, max_abs, float(worst_rel[worst]), worst, max_steps)


def _classes(io: ModelIO, outputs, class_output: int):
    """Predicted classes, or None when the output is not a vector of scores per sample."""
    import numpy as np

    array = np.asarray(outputs)
    if array.ndim != 2 or array.shape[1] < 2:
        return None
    return np.argmax(dequantize(io.outputs[class_output], array) if array.dtype.kind in _QUANTIZED_KINDS
                     else array, axis=1)


def _top1_agreement(io: ModelIO, device, reference, class_output: int) -> float | None:
    got, want = _classes(io, device, class_output), _classes(io, reference, class_output)
    if got is None or want is None:
        return None
    return float((got == want).mean())


def _accuracy(io: ModelIO, outputs: Sequence, labels, class_output: int) -> float | None:
    import numpy as np

    if labels is None:
        return None
    predicted = _classes(io, outputs[class_output], class_output)
    if predicted is None:
        return None
    labels = np.asarray(labels)
    if labels.ndim == 2:  # one-hot
        labels = labels.argmax(axis=1)
    if len(labels) != len(predicted):
        raise OutputCheckError(f"{len(labels)} labels for {len(predicted)} samples", "give one label per sample")
    return float((predicted == labels).mean())
