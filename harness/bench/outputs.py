"""Outputs checked on the device: input value files for `benchmark_model`, its output dump read
back, and the verdict on how far the device's outputs are from the host's.

The runner contract is the official tool's (LiteRT tflite/tools/benchmark/benchmark_tflite_model.cc):

- `--input_layer_value_files=name:path,...` gives ONE value per input: each file holds the raw
  bytes of the input tensor (its size must equal the tensor's byte size, else the tool aborts),
  and every run uses those same values. `--input_layer=a,b` and `--input_layer_shape=1,8,8,1:1,4`
  must list every input in the model's order; `:` inside a name or path is written `::`.
- `--output_filepath=PATH` writes, after the last run, the raw bytes of every output tensor in
  the interpreter's output order, concatenated, nothing else.

So one process checks one sample, unless the batch dimension is resized: with
`--input_layer_shape=B,...` the tool resizes the input tensors, the value file holds B samples
and the dump holds B outputs. `outputs_on_host` finds on the host (real LiteRT) whether the model
accepts a batch of B with outputs that carry the batch in their first dimension and equal the
one-by-one outputs; then N samples take ceil(N / B) runner processes instead of N. A device
whose delegate refuses the larger batch (some GPU delegates) makes that process fail: the
caller then runs `batches(n, 1)`. `CHECK_RUN_FLAGS` make each process do one run and no warm-up.

Host side (ai_edge_litert, numpy; imported lazily):

    io = read_model_io("m.tflite")
    inputs = prepare_inputs(io, x_eval)                   # quantized per the model's input details
    host = outputs_on_host("m.tflite", io, inputs, len(x_eval))    # batch size and host outputs
    for batch in batches(len(x_eval), host.batch_size):
        files = write_value_files(io, inputs, batch, workdir)   # host paths; push them
        flags = runner_flags(io, batch, device_paths, "/data/local/tmp/out.bin")
        ... run the runner with CHECK_RUN_FLAGS + flags, pull the dump ...
        outputs = read_output_dump(io, dump_bytes, batch)
    check = compare_outputs(io, device, host.outputs, level="int8", delegate="cpu",
                            host_fp32=fp32_outputs, labels=y_eval)      # output_check.py

`compare_outputs` (harness/bench/output_check.py) reports top-1 agreement, max absolute and relative error, accuracy where labels
exist, the worst input, and `numerics`: True when the device disagrees with the SAME level on the
host by more than the tolerance of that level and delegate (`tolerance_for`, which explains each
number). Errors are on dequantized values; the relative error is normalized by the largest
magnitude of the reference output (an elementwise ratio explodes near zero).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import InputError

# One run, no warm-up: the outputs of the first and only run are dumped.
CHECK_RUN_FLAGS = ("--warmup_runs=0", "--warmup_min_secs=0", "--num_runs=1", "--min_secs=0")
MAX_BATCH = 64
_QUANTIZED_KINDS = "iu"


class OutputCheckError(InputError):
    """Data or a model that an output check cannot use."""


# --- the model's inputs and outputs --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model, as LiteRT describes it. `scale` 0: not quantized."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    @property
    def batched(self) -> bool:
        """The first dimension is a batch of 1 that can be resized."""
        return len(self.shape) > 1 and self.shape[0] == 1

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.shape[1:] if self.batched else self.shape

    def batch_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, *self.sample_shape) if self.batched else self.shape

    def batch_bytes(self, batch: int) -> int:
        import numpy as np

        return batch * math.prod(self.sample_shape) * np.dtype(self.dtype).itemsize


@dataclasses.dataclass(frozen=True)
class ModelIO:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]


def _spec(detail: Mapping[str, Any]) -> TensorSpec:
    import numpy as np

    scale, zero_point = detail.get("quantization") or (0.0, 0)
    return TensorSpec(detail["name"], tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]).name,
                      float(scale), int(zero_point))


def _interpreter(model_path: str | Path):
    from ai_edge_litert.interpreter import Interpreter

    try:
        return Interpreter(model_path=str(model_path))
    except (ValueError, RuntimeError) as e:
        raise OutputCheckError(f"{model_path}: LiteRT cannot load it ({e})", "pass a valid .tflite file") from None


def litert_version() -> str:
    """The version of the LiteRT that computes the host's outputs."""
    import ai_edge_litert

    return ai_edge_litert.__version__


def read_model_io(model_path: str | Path) -> ModelIO:
    """The model's inputs and outputs (order, shapes, types, quantization), refusing what the
    official runner cannot feed or dump: strings, unknown dimensions, batch dimensions other than 1."""
    interpreter = _interpreter(model_path)
    io = ModelIO(tuple(map(_spec, interpreter.get_input_details())),
                 tuple(map(_spec, interpreter.get_output_details())))
    for kind, specs in (("input", io.inputs), ("output", io.outputs)):
        for spec in specs:
            _check_supported(model_path, kind, spec)
    return io


def _check_supported(model_path, kind: str, spec: TensorSpec) -> None:
    if spec.dtype.startswith(("str", "bytes", "object")):
        raise OutputCheckError(f"{model_path}: {kind} {spec.name} holds strings",
                               "check outputs of models with numeric inputs and outputs only")
    if spec.shape and min(spec.shape) < 1:
        raise OutputCheckError(f"{model_path}: {kind} {spec.name} has shape {list(spec.shape)}",
                               "export the model with fixed tensor sizes")
    if kind == "input" and "," in spec.name:
        raise OutputCheckError(f"{model_path}: input {spec.name} has a ',' in its name, which "
                               "benchmark_model's --input_layer cannot carry", "rename the input")


# --- inputs --------------------------------------------------------------------------------


def prepare_inputs(io: ModelIO, samples) -> list:
    """Samples for every input, as arrays of the input's type: `samples` is one array
    (single-input models), a sequence in input order, or a mapping by input name; each array
    is (N, *input shape without batch). Float samples for a quantized input are quantized
    with its scale and zero point; integer samples are taken as they are."""
    import numpy as np

    arrays = _samples_by_input(io, samples)
    counts = {len(a) for a in arrays}
    if len(counts) != 1:
        raise OutputCheckError(f"the inputs have different sample counts {sorted(counts)}",
                               "give every input the same number of samples")
    return [_as_input(spec, np.asarray(array)) for spec, array in zip(io.inputs, arrays)]


def _samples_by_input(io: ModelIO, samples) -> list:
    names = [spec.name for spec in io.inputs]
    if isinstance(samples, Mapping):
        missing = [name for name in names if name not in samples]
        if missing:
            raise OutputCheckError(f"no samples for input(s) {', '.join(missing)}",
                                   f"give arrays named {', '.join(names)}")
        return [samples[name] for name in names]
    if isinstance(samples, (list, tuple)):
        if len(samples) != len(names):
            raise OutputCheckError(f"{len(samples)} sample arrays for a model with {len(names)} inputs",
                                   f"give one array per input, in order: {', '.join(names)}")
        return list(samples)
    if len(names) != 1:
        raise OutputCheckError(f"one sample array for a model with {len(names)} inputs ({', '.join(names)})",
                               "give one array per input, by name or in order")
    return [samples]


def _as_input(spec: TensorSpec, array):
    import numpy as np

    if array.ndim == len(spec.sample_shape):
        array = array[np.newaxis]  # a single sample
    if tuple(array.shape[1:]) != spec.sample_shape:
        raise OutputCheckError(f"samples for input {spec.name} have shape {list(array.shape[1:])}, "
                               f"the model wants {list(spec.sample_shape)}",
                               "reshape the samples to the model's input shape (without the batch)")
    target = np.dtype(spec.dtype)
    if array.dtype.kind == "f" and target.kind in _QUANTIZED_KINDS:
        if not spec.quantized:
            raise OutputCheckError(f"float samples for input {spec.name}, which takes {target.name} without "
                                   "quantization parameters", f"give {target.name} samples")
        limits = np.iinfo(target)
        quantized = np.rint(array / spec.scale + spec.zero_point)
        return np.clip(quantized, limits.min, limits.max).astype(target)
    if array.dtype.kind == "f" and target.kind == "f":
        return array.astype(target)
    if array.dtype.kind in _QUANTIZED_KINDS + "b" and target.kind in _QUANTIZED_KINDS + "b":
        return array.astype(target)
    raise OutputCheckError(f"samples of type {array.dtype.name} for input {spec.name} of type {target.name}",
                           f"give {target.name} (or float, for a quantized input) samples")


# --- batching --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Batch:
    """Samples [start, start + size) in one runner process."""

    start: int
    size: int


def batches(count: int, size: int) -> list[Batch]:
    return [Batch(start, min(size, count - start)) for start in range(0, count, size)]


@dataclasses.dataclass(frozen=True)
class HostOutputs:
    """The batch size the device is given, and the host's outputs for every sample."""

    batch_size: int
    outputs: list


def outputs_on_host(model_path: str | Path, io: ModelIO, inputs: list, count: int, *,
                    max_batch: int = MAX_BATCH) -> HostOutputs:
    """The host's outputs for `count` samples, in the largest batch (<= max_batch) for which the
    model, resized, gives outputs with the batch first and equal to the one-by-one outputs (1 when
    it does not); the batch tried is the first batch of the outputs, not computed again."""
    size = min(max_batch, count)
    first = _tried_batch(model_path, io, inputs, size)
    size = size if first is not None else 1
    parts = [] if first is None else [first]
    for batch in batches(count, size)[len(parts):]:
        part = run_on_host(model_path, io, inputs, batch)
        if part is None:
            raise OutputCheckError(f"{Path(model_path).name} cannot compute these inputs on the host",
                                   "check that the inputs fit the model")
        parts.append(part)
    return HostOutputs(size, concatenate(parts))


def _tried_batch(model_path, io: ModelIO, inputs: list, size: int) -> list | None:
    """The outputs of the first `size` samples in one batch, when the model takes it and its first
    and last samples come out as they do alone; else None."""
    if size <= 1 or not all(spec.batched for spec in (*io.inputs, *io.outputs)):
        return None
    batched = run_on_host(model_path, io, inputs, Batch(0, size))
    if batched is None:
        return None
    for index in (0, size - 1):
        single = run_on_host(model_path, io, inputs, Batch(index, 1))
        if single is None or not all(_close(b[index:index + 1], s) for b, s in zip(batched, single)):
            return None
    return batched


def run_on_host(model_path: str | Path, io: ModelIO, inputs: list, batch: Batch) -> list | None:
    """The outputs of one batch on the host (default delegates, as the device's CPU path), or
    None when the model cannot take that batch."""
    interpreter = _interpreter(model_path)
    try:
        for detail, spec in zip(interpreter.get_input_details(), io.inputs):
            interpreter.resize_tensor_input(detail["index"], list(spec.batch_shape(batch.size)))
        interpreter.allocate_tensors()
        for detail, spec, array in zip(interpreter.get_input_details(), io.inputs, inputs):
            interpreter.set_tensor(detail["index"], _batch_values(spec, array, batch))
        interpreter.invoke()
        outputs = [interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details()]
    except (ValueError, RuntimeError):
        return None
    expected = [spec.batch_shape(batch.size) for spec in io.outputs]
    return outputs if [tuple(o.shape) for o in outputs] == expected else None


def _batch_values(spec: TensorSpec, array, batch: Batch):
    values = array[batch.start:batch.start + batch.size]
    return values if spec.batched else values.reshape(spec.shape)


def _close(a, b) -> bool:
    import numpy as np

    if a.dtype.kind in _QUANTIZED_KINDS:
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(b).max(initial=0)))))


# --- files and flags ---------------------------------------------------------------------------


def write_value_files(io: ModelIO, inputs: list, batch: Batch, directory: str | Path) -> list[Path]:
    """One raw value file per input for a batch, in input order."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, (spec, array) in enumerate(zip(io.inputs, inputs)):
        path = directory / f"input{number}_{batch.start}_{batch.size}.bin"
        path.write_bytes(array[batch.start:batch.start + batch.size].tobytes())
        paths.append(path)
    return paths


def _escape(text: str) -> str:
    return text.replace(":", "::")


def runner_flags(io: ModelIO, batch: Batch, value_file_paths: Sequence[str], output_path: str) -> list[str]:
    """The official flags for one batch: every input named and shaped, its value file, the dump."""
    if len(value_file_paths) != len(io.inputs):
        raise ValueError("one value file per input")
    shapes = ":".join(",".join(map(str, spec.batch_shape(batch.size))) for spec in io.inputs)
    files = ",".join(f"{_escape(spec.name)}:{_escape(str(path))}" for spec, path in zip(io.inputs, value_file_paths))
    return [f"--input_layer={','.join(spec.name for spec in io.inputs)}", f"--input_layer_shape={shapes}",
            f"--input_layer_value_files={files}", f"--output_filepath={output_path}"]


def read_output_dump(io: ModelIO, data: bytes, batch: Batch) -> list:
    """The output arrays of one batch from the raw dump (in the model's output order)."""
    import numpy as np

    expected = sum(spec.batch_bytes(batch.size) for spec in io.outputs)
    if len(data) != expected:
        raise OutputCheckError(f"the runner's output dump has {len(data)} bytes, {expected} expected "
                               f"for {batch.size} sample(s) of {len(io.outputs)} output(s)",
                               "check that the runner finished and wrote --output_filepath")
    outputs, offset = [], 0
    for spec in io.outputs:
        size = spec.batch_bytes(batch.size)
        array = np.frombuffer(data, dtype=spec.dtype, count=size // np.dtype(spec.dtype).itemsize, offset=offset)
        outputs.append(array.reshape(batch.size, *spec.sample_shape).copy())
        offset += size
    return outputs


def concatenate(parts: Sequence[list]) -> list:
    """Per output, the arrays of successive batches joined."""
    import numpy as np

    return [np.concatenate(arrays) for arrays in zip(*parts)]
