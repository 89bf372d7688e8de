"""Small float conv nets written straight into LiteRT's flatbuffer schema, without TensorFlow.

The layout is the one TensorFlow's converter gives a Keras Sequential of these layers (checked by
tests/convert/test_tflite_models.py): the same operators and options, ReLU fused into each
convolution, a batch dimension of -1 in the shape signatures when the Keras input has no batch
size, a `serving_default` signature and the `min_runtime_version` metadata. Weights are seeded
random numbers. A test that only needs a model to load, run or refuse gets one in milliseconds:
importing TensorFlow and converting took a test worker 6 s on an idle machine and up to 30 s
under a loaded suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Conv:
    filters: int
    kernel: int = 3


@dataclass(frozen=True)
class MaxPool:
    size: int = 2


@dataclass(frozen=True)
class GlobalAveragePool:
    pass


@dataclass(frozen=True)
class Dense:
    units: int


@dataclass
class _Graph:
    """Tensors, buffers and operators of the one subgraph, as they are added."""

    schema: object
    rng: np.random.Generator
    dynamic_batch: bool
    tensors: list = field(default_factory=list)
    buffers: list = field(default_factory=list)
    operators: list = field(default_factory=list)
    codes: list = field(default_factory=list)

    def __post_init__(self):
        self.buffers.append(self.schema.BufferT())  # buffer 0: the empty one every model starts with

    def buffer(self, data: bytes | None) -> int:
        entry = self.schema.BufferT()
        if data is not None:
            entry.data = np.frombuffer(data, np.uint8)
        self.buffers.append(entry)
        return len(self.buffers) - 1

    def tensor(self, name: str, shape: tuple, *, batched: bool = False, data: np.ndarray | None = None) -> int:
        schema = self.schema
        tensor = schema.TensorT()
        tensor.name = name.encode()
        tensor.shape = np.array(shape, np.int32)
        if batched and self.dynamic_batch:
            tensor.shapeSignature = np.array((-1, *shape[1:]), np.int32)
        integer = data is not None and data.dtype == np.int32
        tensor.type = schema.TensorType.INT32 if integer else schema.TensorType.FLOAT32
        tensor.buffer = self.buffer(None if data is None else data.tobytes())
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    def weights(self, name: str, shape: tuple, fan_in: int) -> int:
        values = self.rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
        return self.tensor(name, shape, data=values)

    def operator(self, builtin: int, inputs: list[int], outputs: list[int], options_type: int, options) -> None:
        if builtin not in self.codes:
            self.codes.append(builtin)
        operator = self.schema.OperatorT()
        operator.opcodeIndex = self.codes.index(builtin)
        operator.inputs, operator.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
        operator.builtinOptionsType, operator.builtinOptions = options_type, options
        self.operators.append(operator)


def _conv(graph: _Graph, x: int, shape: tuple, layer: Conv, index: int) -> tuple[int, tuple]:
    schema = graph.schema
    batch, height, width, channels = shape
    k = layer.kernel
    kernel = graph.weights(f"conv2d_{index}/kernel", (layer.filters, k, k, channels), k * k * channels)
    bias = graph.tensor(f"conv2d_{index}/bias", (layer.filters,), data=np.full(layer.filters, 0.01, np.float32))
    out_shape = (batch, height - k + 1, width - k + 1, layer.filters)
    out = graph.tensor(f"conv2d_{index}/Relu", out_shape, batched=True)
    options = schema.Conv2DOptionsT()
    options.padding, options.strideW, options.strideH = schema.Padding.VALID, 1, 1
    options.fusedActivationFunction = schema.ActivationFunctionType.RELU
    graph.operator(schema.BuiltinOperator.CONV_2D, [x, kernel, bias], [out],
                   schema.BuiltinOptions.Conv2DOptions, options)
    return out, out_shape


def _max_pool(graph: _Graph, x: int, shape: tuple, layer: MaxPool, index: int) -> tuple[int, tuple]:
    schema = graph.schema
    batch, height, width, channels = shape
    s = layer.size
    out_shape = (batch, height // s, width // s, channels)
    out = graph.tensor(f"max_pooling2d_{index}/MaxPool", out_shape, batched=True)
    options = schema.Pool2DOptionsT()
    options.padding, options.strideW, options.strideH = schema.Padding.VALID, s, s
    options.filterWidth, options.filterHeight = s, s
    graph.operator(schema.BuiltinOperator.MAX_POOL_2D, [x], [out], schema.BuiltinOptions.Pool2DOptions, options)
    return out, out_shape


def _global_average_pool(graph: _Graph, x: int, shape: tuple, layer: GlobalAveragePool,
                         index: int) -> tuple[int, tuple]:
    schema = graph.schema
    axes = graph.tensor(f"global_average_pooling2d_{index}/axes", (2,), data=np.array([1, 2], np.int32))
    out_shape = (shape[0], shape[3])
    out = graph.tensor(f"global_average_pooling2d_{index}/Mean", out_shape, batched=True)
    options = schema.ReducerOptionsT()
    options.keepDims = False
    graph.operator(schema.BuiltinOperator.MEAN, [x, axes], [out], schema.BuiltinOptions.ReducerOptions, options)
    return out, out_shape


def _dense(graph: _Graph, x: int, shape: tuple, layer: Dense, index: int) -> tuple[int, tuple]:
    schema = graph.schema
    kernel = graph.weights(f"dense_{index}/kernel", (layer.units, shape[1]), shape[1])
    out_shape = (shape[0], layer.units)
    out = graph.tensor(f"dense_{index}/MatMul", out_shape, batched=True)
    options = schema.FullyConnectedOptionsT()
    options.fusedActivationFunction = schema.ActivationFunctionType.NONE
    # No bias (-1), as the converter leaves out Keras's all-zero one.
    graph.operator(schema.BuiltinOperator.FULLY_CONNECTED, [x, kernel, -1], [out],
                   schema.BuiltinOptions.FullyConnectedOptions, options)
    return out, out_shape


_LAYERS = {Conv: _conv, MaxPool: _max_pool, GlobalAveragePool: _global_average_pool, Dense: _dense}


def sequential_tflite(input_shape: tuple[int, ...], layers: list, *, dynamic_batch: bool = True,
                      seed: int = 0) -> bytes:
    """The .tflite of a batch-1 float Sequential over an input of `input_shape` (height, width,
    channels), its outputs the last layer's. With `dynamic_batch` the batch dimension is -1 in the
    shape signatures (a Keras input without a batch size), so LiteRT can resize it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    graph = _Graph(schema, np.random.default_rng(seed), dynamic_batch)
    shape = (1, *input_shape)
    x = first = graph.tensor("serving_default_input:0", shape, batched=True)
    for index, layer in enumerate(layers):
        x, shape = _LAYERS[type(layer)](graph, x, shape, layer, index)
    graph.tensors[x].name = b"StatefulPartitionedCall:0"
    return _finished(schema, flatbuffers, graph, first, x)


def _finished(schema, flatbuffers, graph: _Graph, first: int, last: int) -> bytes:
    subgraph = schema.SubGraphT()
    subgraph.name = b"main"
    subgraph.tensors, subgraph.operators = graph.tensors, graph.operators
    subgraph.inputs, subgraph.outputs = np.array([first], np.int32), np.array([last], np.int32)
    model = schema.ModelT()
    model.version, model.description = 3, b"squeezebench tests: written without TensorFlow"
    model.subgraphs, model.operatorCodes = [subgraph], [_code(schema, builtin) for builtin in graph.codes]
    model.signatureDefs = [_signature(schema, first, last)]
    model.metadata = [_min_runtime_version(schema, graph)]
    model.buffers = graph.buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _code(schema, builtin: int):
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = builtin  # every builtin here is below 127
    code.version = 1
    return code


def _signature(schema, first: int, last: int):
    def tensor_map(name: str, index: int):
        entry = schema.TensorMapT()
        entry.name, entry.tensorIndex = name.encode(), index
        return entry

    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = b"serving_default", 0
    signature.inputs, signature.outputs = [tensor_map("input", first)], [tensor_map("output", last)]
    return signature


def _min_runtime_version(schema, graph: _Graph):
    """The converter's metadata: the oldest runtime that runs the model, NUL-padded to 16 bytes."""
    metadata = schema.MetadataT()
    metadata.name = b"min_runtime_version"
    metadata.buffer = graph.buffer(b"1.6.0".ljust(16, b"\0"))
    return metadata


@dataclass(frozen=True)
class Architecture:
    input_shape: tuple[int, ...]
    layers: tuple
    dynamic_batch: bool

    def tflite(self) -> bytes:
        return sequential_tflite(self.input_shape, list(self.layers), dynamic_batch=self.dynamic_batch)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.tflite())
        return path


# The models the suite's fixtures write (tests/conftest.py, tests/bundled_runner/conftest.py).
TINY = Architecture((32, 32, 3), (Conv(16), MaxPool(), Conv(32), GlobalAveragePool(), Dense(10)), dynamic_batch=True)
SMALL = Architecture((64, 64, 3), (Conv(16), Conv(16), GlobalAveragePool(), Dense(10)), dynamic_batch=False)
