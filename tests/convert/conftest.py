"""Small real models and data for the conversion tests, built once per session.

Every model here is tiny so that a real TensorFlow conversion takes well under a second; the
zoo's digits-cnn (tests/convert/test_digits.py) is the one full-size run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.convert.support import INPUT_SHAPE, N_CLASSES, quadrant_task, tf_keras_model


@pytest.fixture(scope="session")
def tf_modules():
    from harness.convert import tfenv

    return tfenv.tensorflow()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def task_npz(model_dir) -> Path:
    """All five documented arrays."""
    x_train, y_train = quadrant_task(256, seed=1)
    x_eval, y_eval = quadrant_task(96, seed=2)
    path = model_dir / "task.npz"
    np.savez(path, x_calib=x_train[:64], x_train=x_train, y_train=y_train, x_eval=x_eval, y_eval=y_eval)
    return path


@pytest.fixture(scope="session")
def keras3_file(model_dir, tf_modules) -> Path:
    """A Keras 3 functional model (conv, batch norm, residual add) saved as .keras."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(INPUT_SHAPE)
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    y = keras.layers.ReLU()(x)
    x = keras.layers.Add()([x, keras.layers.Conv2D(8, 1)(y)])
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    outputs = keras.layers.Dense(N_CLASSES, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    x_train, y_train = quadrant_task(256, seed=1)
    model.fit(x_train, y_train, epochs=8, verbose=0)
    path = model_dir / "tiny3.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def h5_file(model_dir, tf_modules) -> Path:
    _, tf_keras, _ = tf_modules
    path = model_dir / "tiny.h5"
    tf_keras_model(tf_keras).save(path)
    return path


@pytest.fixture(scope="session")
def keras_saved_model_dir(model_dir, tf_modules) -> Path:
    """A SavedModel written by tf_keras (has keras_metadata.pb, so tfmot levels can run)."""
    _, tf_keras, _ = tf_modules
    path = model_dir / "tiny_keras_savedmodel"
    tf_keras_model(tf_keras).save(path, save_format="tf")
    return path


@pytest.fixture(scope="session")
def cumsum_saved_model_dir(model_dir, tf_modules) -> Path:
    """A plain tf.Module SavedModel (no Keras metadata) with a CUMSUM op: fp32 and int8 convert,
    int16x8 is refused by the converter ("Quantization to 16x8-bit not yet supported")."""
    tf, _, _ = tf_modules

    class Cumsum(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(np.random.default_rng(0).normal(size=(64, N_CLASSES)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, *INPUT_SHAPE], tf.float32)])
        def __call__(self, x):
            logits = tf.matmul(tf.reshape(x, [-1, 64]), self.weights)
            return {"scores": tf.math.cumsum(logits, axis=-1)}

    module = Cumsum()
    path = model_dir / "cumsum_savedmodel"
    tf.saved_model.save(module, str(path), signatures=module.__call__)
    return path


@pytest.fixture(scope="session")
def tflite_file(model_dir, h5_file, tf_modules) -> Path:
    tf, tf_keras, _ = tf_modules
    model = tf_keras.models.load_model(h5_file)
    path = model_dir / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


@pytest.fixture(scope="session")
def custom_op_tflite_file(model_dir, tf_modules) -> Path:
    """A well-formed .tflite that LiteRT refuses: it needs a custom op (Erf) nobody registered."""
    from harness.convert import tfenv

    tf, tf_keras, _ = tf_modules
    inputs = tf_keras.Input((4,))
    outputs = tf_keras.layers.Lambda(lambda t: tf.math.erf(t))(tf_keras.layers.Dense(4)(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(tf_keras.Model(inputs, outputs))
    converter.allow_custom_ops = True
    with tfenv.captured_output():
        data = converter.convert()
    path = model_dir / "custom_op.tflite"
    path.write_bytes(data)
    return path
