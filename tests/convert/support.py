"""Helpers shared by the conversion tests (fixtures are in conftest.py)."""

from __future__ import annotations

import numpy as np

INPUT_SHAPE = (8, 8, 1)
N_CLASSES = 4


def quadrant_task(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose label is the brightest quadrant: learnable by a tiny CNN in a few epochs."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.5, size=(n, *INPUT_SHAPE)).astype(np.float32)
    y = rng.integers(0, N_CLASSES, size=n)
    for i, label in enumerate(y):
        row, col = divmod(int(label), 2)
        x[i, row * 4 : row * 4 + 4, col * 4 : col * 4 + 4, 0] += 0.5
    return x, y.astype(np.int64)


def tf_keras_model(tf_keras):
    tf_keras.utils.set_random_seed(0)
    layers = tf_keras.layers
    return tf_keras.Sequential(
        [
            tf_keras.Input(INPUT_SHAPE),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(16, activation="relu"),
            layers.Dense(N_CLASSES, activation="softmax"),
        ]
    )
