"""Rebuild a Keras 3 model in tf_keras (Keras 2), the only Keras tensorflow-model-optimization runs on.

The Keras 3 config is walked layer by layer: each layer is recreated from its tf_keras class with the
config keys both versions share (initializers are dropped: the weights are copied afterwards),
wired exactly as the config's inbound nodes say, and given the original weights. The rebuilt model
must reproduce the original's outputs, otherwise it is refused. Custom layers, nested models and
settings tf_keras does not have raise BridgeError with the reason.
"""

from __future__ import annotations

import inspect

import numpy as np

# Keras 3 config keys with no tf_keras equivalent that are harmless at their default values.
_KERAS3_ONLY_DEFAULTS = {
    "optional": False,
    "synchronized": False,
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
}
_ALWAYS_ACCEPTED = {"name", "dtype", "trainable", "batch_input_shape", "input_shape", "input_dim"}
OUTPUT_TOLERANCE = 1e-4
CHECK_BATCH = 2


class BridgeError(Exception):
    pass


def rebuild_in_tf_keras(model):
    """A tf_keras model with the same architecture and weights as the Keras 3 `model`."""
    from harness.convert import tfenv

    _, tf_keras, _ = tfenv.tensorflow()
    config = model.get_config()
    layer_configs = config.get("layers")
    if not layer_configs:
        raise BridgeError(f"{type(model).__name__} is not a Sequential or functional model")
    if "inbound_nodes" in layer_configs[-1]:
        rebuilt = _functional(tf_keras, config)
    else:
        rebuilt = _sequential(tf_keras, config)
    _copy_weights(model, rebuilt)
    _check_same_outputs(model, rebuilt)
    return rebuilt


def _sequential(tf_keras, config: dict):
    layers = []
    for layer_config in config["layers"]:
        if layer_config["class_name"] == "InputLayer":
            layers.append(_input(tf_keras, layer_config["config"]))
        else:
            layers.append(_layer(tf_keras, layer_config))
    return tf_keras.Sequential(layers, name=config.get("name"))


def _functional(tf_keras, config: dict):
    tensors: dict[tuple, object] = {}
    for layer_config in config["layers"]:
        name = layer_config["name"]
        if layer_config["class_name"] == "InputLayer":
            tensors[(name, 0, 0)] = _input(tf_keras, layer_config["config"])
            continue
        layer = _layer(tf_keras, layer_config)
        for node_index, node in enumerate(layer_config["inbound_nodes"]):
            args = _resolve(node.get("args", []), tensors)
            kwargs = _resolve(node.get("kwargs", {}), tensors)
            outputs = layer(*args, **kwargs)
            for tensor_index, tensor in enumerate(outputs if isinstance(outputs, (list, tuple)) else [outputs]):
                tensors[(name, node_index, tensor_index)] = tensor
    inputs = [tensors[h] for h in _histories(config["input_layers"])]
    outputs = [tensors[h] for h in _histories(config["output_layers"])]
    return tf_keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=config.get("name"),
    )


def _histories(spec: list) -> list[tuple]:
    # One [name, node, tensor] triple, or a list of them.
    if spec and isinstance(spec[0], str):
        return [tuple(spec)]
    return [tuple(item) for item in spec]


def _resolve(value, tensors: dict):
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = tuple(value["config"]["keras_history"])
            if history not in tensors:
                raise BridgeError(f"layer input {history[0]} is not built yet (unsupported graph)")
            return tensors[history]
        return {k: _resolve(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, tensors) for v in value]
    return value


def _input(tf_keras, config: dict):
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    return tf_keras.Input(batch_shape=tuple(shape), dtype=_plain(config.get("dtype")), name=config.get("name"))


def _layer(tf_keras, layer_config: dict):
    class_name = layer_config["class_name"]
    module = layer_config.get("module") or "keras.layers"
    cls = getattr(tf_keras.layers, class_name, None)
    if cls is None or not module.startswith("keras"):
        raise BridgeError(f"layer {layer_config.get('name')!r} of class {class_name} has no tf_keras equivalent")
    accepted = _init_parameters(cls) | _ALWAYS_ACCEPTED
    config = {}
    for key, value in layer_config["config"].items():
        if key.endswith("_initializer"):
            continue
        if key not in accepted:
            if key in _KERAS3_ONLY_DEFAULTS and value == _KERAS3_ONLY_DEFAULTS[key]:
                continue
            raise BridgeError(f"{class_name} setting {key}={value!r} has no tf_keras equivalent")
        config[key] = _plain(value)
    try:
        return cls.from_config(config)
    except Exception as e:
        raise BridgeError(f"tf_keras cannot build {class_name} from its Keras 3 config: {e}") from None


def _init_parameters(cls) -> set[str]:
    # Subclasses pass **kwargs on to their bases (BatchNormalization -> BatchNormalizationBase).
    names: set[str] = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names |= set(inspect.signature(klass.__init__).parameters)
    return names - {"self", "args", "kwargs"}


def _plain(value):
    """Keras 3 serialized objects -> the forms tf_keras reads (dtype policies become names)."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        if value["class_name"] in ("DTypePolicy", "FloatDTypePolicy"):
            return value["config"]["name"]
        return {"class_name": value["class_name"], "config": _plain(value["config"])}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _copy_weights(original, rebuilt) -> None:
    for layer in rebuilt.layers:
        weights = original.get_layer(layer.name).get_weights()
        if len(weights) != len(layer.get_weights()):
            raise BridgeError(f"layer {layer.name} has a different number of weights in tf_keras")
        try:
            layer.set_weights(weights)
        except ValueError as e:
            raise BridgeError(f"layer {layer.name}: weights do not fit the tf_keras layer ({e})") from None


def _check_same_outputs(original, rebuilt) -> None:
    shape = [CHECK_BATCH if d is None else d for d in original.inputs[0].shape]
    probe = np.random.default_rng(0).uniform(-1, 1, size=shape).astype(np.float32)
    expected = np.asarray(original(probe, training=False))
    actual = np.asarray(rebuilt(probe, training=False))
    scale = max(1.0, float(np.abs(expected).max()))
    if expected.shape != actual.shape or float(np.abs(expected - actual).max()) > OUTPUT_TOLERANCE * scale:
        raise BridgeError("the tf_keras rebuild does not reproduce the Keras 3 model's outputs")
