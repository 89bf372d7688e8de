"""The zoo models beyond digits-cnn and the random-weight ImageNet architectures: pretrained models
taken out of wheels (harness/convert/model_wheels.py) with inputs whose right answer is known or
measured against the float model, and a text model trained here on text Python itself ships.

  iris-landmark  vision  MediaPipe's iris and eye-contour landmark model (float32 .tflite, 64x64
                         RGB), on crops around the eyes of scikit-image's astronaut photograph;
                         quality: SNR of the landmarks against the float model's
  basic-pitch    audio   Spotify's Basic Pitch (float32 .tflite, 2 s of 22050 Hz audio), on tones
                         synthesized at known MIDI pitches; quality: share of frames whose
                         strongest note is the synthesized pitch
  text-kind      text    a dense (bag of hashed character trigrams -> 512 -> 256 -> 2) classifier
                         of lines of Python code vs English prose, trained here in seconds on the
                         standard library's own source and its pydoc topics; quality: accuracy
Each builder writes the model file and data.npz (array names as for --data) into a directory and
returns notes for the document.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from harness.convert import model_wheels
from harness.convert.progress import StepReport

# iris-landmark: eye centres (x, y) in the 512x512 astronaut photograph, read off the image.
ASTRONAUT_EYES = ((207, 102), (247, 103))
IRIS_INPUT = 64
IRIS_EVAL_PER_EYE = 16
IRIS_CALIB_PER_EYE = 8

PITCH_SAMPLE_RATE = 22050
PITCH_SAMPLES = 43844  # the model's window: 2 s minus one hop
PITCH_EVAL_NOTES = tuple(range(40, 88, 2))  # MIDI E2 .. D#6, 24 tones
PITCH_CALIB_NOTES = tuple(range(41, 89, 3))
LOWEST_MIDI = 21  # the note posteriorgram's first bin (A0)

TEXT_FEATURES = 2048
TEXT_MIN_CHARS = 24
TEXT_LINES_PER_CLASS = 2500
TEXT_EVAL = 1000
TEXT_CALIB = 200
TEXT_EPOCHS = 4
TEXT_MODULES = ("argparse", "json.decoder", "json.encoder", "csv", "difflib", "textwrap", "string", "fractions",
                "pathlib", "statistics", "calendar", "configparser", "dataclasses", "heapq", "shlex",
                "tokenize", "typing", "zipfile", "tarfile", "smtplib", "http.client", "email.message")  # fmt: skip


def build_iris_landmark(directory: Path, report: StepReport) -> list[str]:
    report("reading the model and the photograph out of their wheels")
    model = model_wheels.read_member("mediapipe", "mediapipe/modules/iris_landmark/iris_landmark.tflite")
    photo = model_wheels.read_member("scikit-image", "skimage/data/astronaut.png")
    (directory / "model.tflite").write_bytes(model)
    crops = eye_crops(photo, IRIS_EVAL_PER_EYE + IRIS_CALIB_PER_EYE)
    calib = np.concatenate([crops[eye][:IRIS_CALIB_PER_EYE] for eye in range(2)])
    evaluation = np.concatenate([crops[eye][IRIS_CALIB_PER_EYE:] for eye in range(2)])
    np.savez_compressed(directory / "data.npz", x_calib=calib, x_eval=evaluation)
    return [
        "iris-landmark: MediaPipe 0.10.14's iris_landmark.tflite (Apache-2.0), read out of the mediapipe wheel",
        f"iris-landmark: inputs are {len(calib)} calibration and {len(evaluation)} evaluation crops "
        f"({IRIS_INPUT}x{IRIS_INPUT} RGB in [0, 1], seeded sizes and offsets) around both eyes of "
        "scikit-image's astronaut photograph (NASA, public domain); the right eye mirrored, as "
        "MediaPipe feeds it; no ground truth: quality is the landmarks' SNR against the float model",
    ]


def eye_crops(png: bytes, per_eye: int, seed: int = 0) -> list[np.ndarray]:
    """Per eye, `per_eye` square crops of seeded size and offset around its centre."""
    from io import BytesIO

    from PIL import Image

    photo = Image.open(BytesIO(png)).convert("RGB")
    rng = np.random.default_rng(seed)
    crops = []
    for eye, (x, y) in enumerate(ASTRONAUT_EYES):
        samples = []
        for _ in range(per_eye):
            side = int(rng.integers(26, 41))
            cx, cy = x + int(rng.integers(-3, 4)), y + int(rng.integers(-3, 4))
            box = (cx - side // 2, cy - side // 2, cx - side // 2 + side, cy - side // 2 + side)
            crop = photo.crop(box).resize((IRIS_INPUT, IRIS_INPUT), Image.BILINEAR)
            if eye == 1:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            samples.append(np.asarray(crop, dtype=np.float32) / 255.0)
        crops.append(np.stack(samples))
    return crops


def build_basic_pitch(directory: Path, report: StepReport) -> list[str]:
    report("reading the model out of its wheel")
    model = model_wheels.read_member("basic-pitch", "basic_pitch/saved_models/icassp_2022/nmp.tflite")
    (directory / "model.tflite").write_bytes(model)
    report("synthesizing test tones")
    np.savez_compressed(
        directory / "data.npz",
        x_calib=np.stack([tone(note, seed=note) for note in PITCH_CALIB_NOTES]),
        x_eval=np.stack([tone(note, seed=1000 + note) for note in PITCH_EVAL_NOTES]),
        y_eval=np.asarray(PITCH_EVAL_NOTES, dtype=np.int64),
    )
    return [
        "basic-pitch: Spotify's Basic Pitch 0.4.0 nmp.tflite (Apache-2.0), read out of the basic-pitch wheel",
        f"basic-pitch: {len(PITCH_EVAL_NOTES)} evaluation tones at MIDI {PITCH_EVAL_NOTES[0]}-{PITCH_EVAL_NOTES[-1]} "
        f"and {len(PITCH_CALIB_NOTES)} calibration tones, synthesized here (5 decaying harmonics, "
        "seeded phase and level, a little noise); quality: note accuracy against the synthesized pitch",
    ]


def tone(midi: int, seed: int) -> np.ndarray:
    """2 s of a harmonic tone at `midi`, shape (samples, 1), in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(PITCH_SAMPLES) / PITCH_SAMPLE_RATE
    frequency = 440.0 * 2 ** ((midi - 69) / 12)
    wave = sum(
        (0.6**k) * np.sin(2 * np.pi * frequency * (k + 1) * t + rng.uniform(0, 2 * np.pi))
        for k in range(5)
        if frequency * (k + 1) < PITCH_SAMPLE_RATE / 2
    )
    wave = wave / np.max(np.abs(wave)) * rng.uniform(0.3, 0.6) + rng.normal(0, 0.003, size=t.shape)
    return wave.astype(np.float32)[:, None]


def build_text_kind(directory: Path, report: StepReport) -> list[str]:
    from harness.convert import tfenv
    from harness.convert.optimize import epoch_reporter

    _, tf_keras, _ = tfenv.tensorflow()
    report("reading the standard library's source and pydoc topics")
    arrays = text_arrays()
    layers = tf_keras.layers
    model = tf_keras.Sequential(
        [
            tf_keras.Input((TEXT_FEATURES,), name="trigrams"),
            layers.Dense(512, activation="relu"),
            layers.Dense(256, activation="relu"),
            layers.Dense(2, activation="softmax", name="probabilities"),
        ],
        name="text_kind",
    )
    model.compile(tf_keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(arrays["x_train"], arrays["y_train"], epochs=TEXT_EPOCHS, batch_size=64, verbose=0,
              callbacks=[epoch_reporter(report, "training", TEXT_EPOCHS)])  # fmt: skip
    _, accuracy = model.evaluate(arrays["x_eval"], arrays["y_eval"], verbose=0)
    model.save(directory / "model.h5")
    np.savez_compressed(directory / "data.npz", **arrays)
    return [
        f"text-kind: trained here on {len(arrays['x_train'])} lines, evaluated on {len(arrays['x_eval'])}: "
        "lines of Python code (standard library modules, comments and docstrings removed) vs lines of "
        f"English prose (pydoc_data.topics), as {TEXT_FEATURES} hashed character-trigram counts; "
        f"Keras accuracy {accuracy * 100:.2f}%",
    ]


def text_arrays() -> dict:
    lines = [_code_lines(), _prose_lines()]
    x = np.stack([trigram_features(line) for kind in lines for line in kind])
    y = np.concatenate([np.full(len(kind), label, dtype=np.int64) for label, kind in enumerate(lines)])
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return {
        "x_train": x[TEXT_EVAL:],
        "y_train": y[TEXT_EVAL:],
        "x_calib": x[TEXT_EVAL : TEXT_EVAL + TEXT_CALIB],
        "x_eval": x[:TEXT_EVAL],
        "y_eval": y[:TEXT_EVAL],
    }


def trigram_features(line: str) -> np.ndarray:
    counts = np.zeros(TEXT_FEATURES, dtype=np.float32)
    padded = f"  {line}  "
    for i in range(len(padded) - 2):
        counts[zlib.crc32(padded[i : i + 3].encode()) % TEXT_FEATURES] += 1
    return counts / max(1.0, float(np.linalg.norm(counts)))


def _code_lines() -> list[str]:
    import ast
    import importlib
    import inspect

    lines: list[str] = []
    for name in TEXT_MODULES:
        tree = ast.parse(inspect.getsource(importlib.import_module(name)))
        for node in ast.walk(tree):  # drop docstrings: they are prose
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                getattr(body[0], "value", None), ast.Constant
            ) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
        lines += [line.strip() for line in ast.unparse(tree).splitlines() if len(line.strip()) >= TEXT_MIN_CHARS]
    return _distinct(lines)[:TEXT_LINES_PER_CLASS]


def _prose_lines() -> list[str]:
    from pydoc_data.topics import topics

    lines = []
    for key in sorted(topics):
        for line in topics[key].splitlines():
            if line and not line.startswith((" ", "*", "=", "-", ">>>")) and len(line) >= TEXT_MIN_CHARS:
                lines.append(line.strip())
    return _distinct(lines)[:TEXT_LINES_PER_CLASS]


def _distinct(lines: list[str]) -> list[str]:
    return list(dict.fromkeys(lines))
