"""Steps that change a tf_keras model's shape, not just its weights' values:

  channels-N  structured pruning: in every Conv2D/Dense whose outputs feed another Conv2D/Dense
              through per-channel layers only, the N% filters (units) with the smallest L1 norm
              are removed together with the matching inputs of the next layer (and BatchNorm,
              depthwise and Flatten positions in between). The model gets narrower, so smaller
              and faster on any runtime. Sequential models only (a chain of layers).
  lowrank-R   every Dense layer, and every 1x1 Conv2D, whose kernel (m x n) is larger than
              R x (m + n) becomes two layers: m -> R without bias or activation, then R -> n
              with the original bias and activation, from the truncated SVD of the kernel.
Both are followed by the usual fine-tuning (optimize.fine_tune) when training data exists.
"""

from __future__ import annotations

import numpy as np

from harness.convert import tfenv


class RestructureError(Exception):
    """The step does not apply to this model; the message says why."""


# Layers that keep each channel separate, so a removed channel can be removed from them too.
_PER_CHANNEL = ("Activation", "ReLU", "PReLU", "LeakyReLU", "ELU", "Dropout", "SpatialDropout2D",
                "MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "BatchNormalization",
                "DepthwiseConv2D")  # fmt: skip
_PRODUCERS = ("Conv2D", "Dense")


def remove_channels(model, percent: int) -> tuple[object, dict]:
    """The model with `percent`% of the prunable layers' filters/units removed (see above)."""
    _, tf_keras, _ = tfenv.tensorflow()
    if not isinstance(model, tf_keras.Sequential):
        raise RestructureError("channels-N supports Sequential models (a chain of layers); this one is functional")
    layers = model.layers
    weights = [layer.get_weights() for layer in layers]
    configs = [layer.get_config() for layer in layers]
    pruned: dict[str, dict] = {}
    for index, layer in enumerate(layers):
        consumer = _consumer(layers, index)
        if type(layer).__name__ not in _PRODUCERS or consumer is None:
            continue
        kernel = weights[index][0]
        width = kernel.shape[-1]
        kept = _strongest_channels(kernel, max(1, round(width * (1 - percent / 100))))
        _narrow_producer(weights, configs, index, kept)
        spatial = _narrow_between(layers, weights, configs, index, consumer, kept)
        weights[consumer][0] = _narrow_consumer_inputs(weights[consumer][0], kept, width, spatial)
        pruned[layer.name] = {"before": int(width), "after": len(kept)}
    if not pruned:
        raise RestructureError("no Conv2D/Dense layer feeds another through per-channel layers only")
    narrowed = tf_keras.Sequential(
        [tf_keras.Input(batch_shape=model.inputs[0].shape)]
        + [type(layer).from_config(config) for layer, config in zip(layers, configs)],
        name=model.name,
    )
    for layer, layer_weights in zip(narrowed.layers, weights):
        layer.set_weights(layer_weights)
    return narrowed, {
        "removed_share": percent / 100,
        "layers": pruned,
        "params_before": int(model.count_params()),
        "params_after": int(narrowed.count_params()),
    }


def _consumer(layers, index: int) -> int | None:
    """The next Conv2D/Dense fed by layer `index` through per-channel layers (and at most one
    Flatten), or None when something else comes first or it is the last weighted layer."""
    for later in range(index + 1, len(layers)):
        kind = type(layers[later]).__name__
        if kind in _PRODUCERS:
            return later
        if kind not in _PER_CHANNEL and kind != "Flatten":
            return None
    return None


def _strongest_channels(kernel: np.ndarray, count: int) -> np.ndarray:
    norms = np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)
    return np.sort(np.argsort(-norms, kind="stable")[:count])


def _narrow_producer(weights: list, configs: list, index: int, kept: np.ndarray) -> None:
    weights[index] = [w[..., kept] for w in weights[index]]  # kernel and bias: outputs last
    key = "filters" if "filters" in configs[index] else "units"
    configs[index][key] = len(kept)


def _narrow_between(layers, weights, configs, start: int, end: int, kept: np.ndarray) -> int:
    """Narrow the per-channel layers between producer and consumer; returns how many spatial
    positions a Flatten in between spreads each channel over (1 without a Flatten)."""
    spatial = 1
    for index in range(start + 1, end):
        kind = type(layers[index]).__name__
        if kind == "Flatten":
            spatial = int(np.prod(layers[index].input.shape[1:-1]))
        elif kind == "DepthwiseConv2D":
            weights[index] = [weights[index][0][:, :, kept, :]] + [w[kept] for w in weights[index][1:]]
        elif weights[index]:  # BatchNormalization, PReLU: one value per channel, channels last
            weights[index] = [w[..., kept] for w in weights[index]]
    return spatial


def _narrow_consumer_inputs(kernel: np.ndarray, kept: np.ndarray, width: int, spatial: int) -> np.ndarray:
    if kernel.ndim == 4:  # Conv2D: (h, w, in, out)
        return kernel[:, :, kept, :]
    # Dense after Flatten: input index = position * width + channel
    rows = (np.arange(spatial)[:, None] * width + kept[None, :]).reshape(-1)
    return kernel[rows, :]


def factor_low_rank(model, rank: int) -> tuple[object, dict]:
    """Dense and 1x1 Conv2D layers replaced by two thinner ones where that saves weights."""
    _, tf_keras, _ = tfenv.tensorflow()
    factored: dict[str, dict] = {}

    def replace(layer):
        kind = type(layer).__name__
        config = layer.get_config()
        if kind not in _PRODUCERS or (kind == "Conv2D" and tuple(config["kernel_size"]) != (1, 1)):
            return layer.__class__.from_config(config)
        kernel = layer.get_weights()[0]
        inputs, outputs = int(np.prod(kernel.shape[:-1])), kernel.shape[-1]
        if rank * (inputs + outputs) >= inputs * outputs:
            return layer.__class__.from_config(config)
        first, second, kept_energy = _svd_factors(kernel.reshape(inputs, outputs), rank)
        factored[layer.name] = {"shape": [inputs, outputs], "rank": rank, "energy_kept": round(kept_energy, 4)}
        return _two_layers(tf_keras, layer, config, first, second, kind)

    rebuilt = tf_keras.models.clone_model(model, clone_function=replace)
    for layer in rebuilt.layers:
        if layer.name not in factored and layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    if not factored:
        raise RestructureError(f"no Dense or 1x1 Conv2D layer is large enough for rank {rank} to save weights")
    return rebuilt, {
        "rank": rank,
        "layers": factored,
        "params_before": int(model.count_params()),
        "params_after": int(rebuilt.count_params()),
    }


def _svd_factors(matrix: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(m x R, R x n) whose product is the best rank-R approximation; and the share of the
    squared singular values kept."""
    u, singular, vt = np.linalg.svd(matrix.astype(np.float64), full_matrices=False)
    root = np.sqrt(singular[:rank])
    kept = float(np.sum(singular[:rank] ** 2) / max(np.sum(singular**2), 1e-30))
    return (u[:, :rank] * root).astype(np.float32), (root[:, None] * vt[:rank]).astype(np.float32), kept


def _two_layers(tf_keras, layer, config: dict, first: np.ndarray, second: np.ndarray, kind: str):
    """A nested Sequential standing in for `layer`: the thin projection, then the original
    layer's outputs, bias and activation."""
    bias = layer.get_weights()[1:]
    rank = first.shape[1]
    if kind == "Dense":
        thin = tf_keras.layers.Dense(rank, use_bias=False, name=f"{layer.name}_lowrank_in")
        wide = tf_keras.layers.Dense.from_config({**config, "name": f"{layer.name}_lowrank_out"})
        shapes = (first, second)
    else:
        thin = tf_keras.layers.Conv2D(rank, 1, use_bias=False, name=f"{layer.name}_lowrank_in")
        wide = tf_keras.layers.Conv2D.from_config({**config, "name": f"{layer.name}_lowrank_out"})
        shapes = (first[None, None], second[None, None])
    pair = tf_keras.Sequential([thin, wide], name=layer.name)
    pair.build(layer.input.shape)
    thin.set_weights([shapes[0]])
    wide.set_weights([shapes[1], *bias])
    return pair
