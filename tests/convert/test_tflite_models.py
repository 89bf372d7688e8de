"""The models the suite writes without TensorFlow (tests/support/tflite_models.py) are laid out as
the real converter lays out the same Keras layers: what the device-side tests run stays what a
user's converted model is, operator for operator."""

from __future__ import annotations

import pytest

from tests.support.tflite_models import SMALL, TINY, Architecture, Conv, Dense, GlobalAveragePool, MaxPool

pytestmark = pytest.mark.slow  # converts with TensorFlow


def keras_model(tf_keras, architecture: Architecture):
    layers = tf_keras.layers
    keras_layers = {
        Conv: lambda layer: layers.Conv2D(layer.filters, layer.kernel, activation="relu"),
        MaxPool: lambda layer: layers.MaxPooling2D(layer.size),
        GlobalAveragePool: lambda layer: layers.GlobalAveragePooling2D(),
        Dense: lambda layer: layers.Dense(layer.units),
    }
    batch_size = None if architecture.dynamic_batch else 1
    return tf_keras.Sequential([layers.Input(architecture.input_shape, batch_size=batch_size),
                                *(keras_layers[type(layer)](layer) for layer in architecture.layers)])


def layout(data: bytes) -> dict:
    """Everything of a model but names, weights and the converter's own notes."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    [graph] = model.subgraphs

    def tensor(index: int):
        if index < 0:
            return None  # an optional input left out
        t = graph.tensors[index]
        signature = t.shape if t.shapeSignature is None else t.shapeSignature
        return t.type, t.shape.tolist(), signature.tolist()

    def operator(op):
        code = model.operatorCodes[op.opcodeIndex]
        return ((code.builtinCode, code.version), [tensor(i) for i in op.inputs], [tensor(i) for i in op.outputs],
                op.builtinOptionsType, vars(op.builtinOptions))

    return {
        "version": model.version,
        "inputs": [tensor(i) for i in graph.inputs],
        "outputs": [tensor(i) for i in graph.outputs],
        "operators": [operator(op) for op in graph.operators],
        "signatures": [(s.signatureKey, s.subgraphIndex, len(s.inputs), len(s.outputs)) for s in model.signatureDefs],
        "min_runtime_version": [bytes(model.buffers[m.buffer].data) for m in model.metadata
                                if m.name == b"min_runtime_version"],
    }


@pytest.mark.parametrize("architecture", [TINY, SMALL], ids=["tiny", "small"])
def test_written_as_the_converter_writes_it(tf_modules, architecture):
    tf, tf_keras, _ = tf_modules
    converted = tf.lite.TFLiteConverter.from_keras_model(keras_model(tf_keras, architecture)).convert()
    assert layout(architecture.tflite()) == layout(converted)
