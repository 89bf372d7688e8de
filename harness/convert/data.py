"""Calibration, training and evaluation data: a user's .npz, a zoo model's own, or random.

The .npz array names (docs/levels.md):
  x_calib            calibration inputs for int8 / int16x8 (the representative dataset)
  x_train, y_train   fine-tuning after pruning / clustering, and distillation (y_train optional)
  x_eval,  y_eval    host evaluation: fidelity against fp32 always, accuracy when y_eval is given
x_* arrays are (samples, *model input shape without batch); y_* are class ids (samples,) or one-hot
(samples, classes). Calibration falls back to the first samples of x_train; without x_eval,
fidelity is measured on seeded random inputs (said so in the document). Random *calibration* is
only ever used when asked for (--random-calibration).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.digests import sha256_file
from harness.errors import InputError

X_NAMES = ("x_calib", "x_train", "x_eval")
Y_NAMES = {"y_train": "x_train", "y_eval": "x_eval"}
KNOWN_NAMES = X_NAMES + tuple(Y_NAMES)
MAX_CALIBRATION_SAMPLES = 256
RANDOM_CALIBRATION_SAMPLES = 64
RANDOM_EVAL_SAMPLES = 32
RANDOM_CALIBRATION_SEED = 7
RANDOM_EVAL_SEED = 11


@dataclass(frozen=True)
class InputSpec:
    """A model input: shape with None for free dimensions (batch first), numpy dtype name."""

    shape: tuple[int | None, ...]
    dtype: str

    def describe(self) -> str:
        return "(" + ", ".join("N" if d is None else str(d) for d in self.shape) + f") {self.dtype}"


@dataclass(frozen=True)
class DataSet:
    origin: str | None  # "zoo:<name>" | "npz:<file name>" | None
    sha256: str | None
    arrays: dict
    random_calibration: bool = False
    notes: tuple[str, ...] = ()

    def get(self, name: str) -> np.ndarray | None:
        return self.arrays.get(name)

    @property
    def has_training(self) -> bool:
        return "x_train" in self.arrays

    @property
    def has_calibration(self) -> bool:
        return self.random_calibration or self.calibration_source() is not None

    @property
    def calibration_label(self) -> str | None:
        if self.random_calibration:
            return "random"
        return self.origin if self.calibration_source() is not None else None

    @property
    def eval_label(self) -> str:
        return self.origin if "x_eval" in self.arrays else "random"

    def summary(self) -> dict:
        """The document's `data` section."""
        calibration = self.calibration_source()
        return {
            "calibration": self.calibration_label,
            "eval": self.eval_label,
            "sha256": self.sha256,
            "n_calib": RANDOM_CALIBRATION_SAMPLES if self.random_calibration else _count(calibration),
            "n_train": _count(self.get("x_train")),
            "n_eval": _count(self.get("x_eval")) if "x_eval" in self.arrays else RANDOM_EVAL_SAMPLES,
            "labels": "y_eval" in self.arrays,
            "random_calibration": self.random_calibration,
        }

    def calibration_source(self) -> np.ndarray | None:
        source = self.get("x_calib") if "x_calib" in self.arrays else self.get("x_train")
        return None if source is None else source[:MAX_CALIBRATION_SAMPLES]

    def calibration_inputs(self, spec: InputSpec) -> np.ndarray | None:
        if self.random_calibration:
            return random_inputs(spec, RANDOM_CALIBRATION_SAMPLES, RANDOM_CALIBRATION_SEED)
        return self.calibration_source()

    def eval_inputs(self, spec: InputSpec) -> np.ndarray:
        if "x_eval" in self.arrays:
            return self.arrays["x_eval"]
        return random_inputs(spec, RANDOM_EVAL_SAMPLES, RANDOM_EVAL_SEED)

    def eval_labels(self) -> np.ndarray | None:
        return class_ids(self.get("y_eval"))

    def check_fits(self, spec: InputSpec, model_name: str) -> None:
        """InputError naming the array, its shape and the model's when they do not fit."""
        for name in X_NAMES:
            array = self.get(name)
            if array is None:
                continue
            expected = spec.shape[1:]
            actual = array.shape[1:]
            fits = len(actual) == len(expected) and all(e is None or e == a for e, a in zip(expected, actual))
            if not fits:
                raise InputError(
                    f"{self.origin}: {name} has shape {array.shape} but {model_name} takes inputs "
                    f"{spec.describe()}",
                    f"give {name} the shape (samples, {', '.join('any' if d is None else str(d) for d in expected)})",
                )


def _count(array: np.ndarray | None) -> int:
    return 0 if array is None else len(array)


def class_ids(labels: np.ndarray | None) -> np.ndarray | None:
    """Labels as class ids, from ids or one-hot rows."""
    if labels is None:
        return None
    return labels.argmax(axis=-1) if labels.ndim == 2 else labels.reshape(-1)


def random_inputs(spec: InputSpec, n: int, seed: int) -> np.ndarray:
    """Seeded random inputs: uniform in [-1, 1] for float inputs, small ids for integer ones."""
    rng = np.random.default_rng(seed)
    shape = (n, *[1 if d is None else d for d in spec.shape[1:]])
    if np.issubdtype(np.dtype(spec.dtype), np.integer):
        return rng.integers(0, 10, size=shape).astype(spec.dtype)
    return rng.uniform(-1.0, 1.0, size=shape).astype(spec.dtype)


def no_data() -> DataSet:
    return DataSet(origin=None, sha256=None, arrays={})


def load_npz(path: Path, origin: str | None = None) -> DataSet:
    """Read and check a calibration/training/evaluation .npz (array names above)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"data file {path} not found", "check the --data path")
    origin = origin or f"npz:{path.name}"
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npz file ({e})", "write it with numpy.savez") from None
    notes = []
    ignored = sorted(set(arrays) - set(KNOWN_NAMES))
    if ignored:
        notes.append(f"{origin}: ignored arrays {', '.join(ignored)} (known: {', '.join(KNOWN_NAMES)})")
    kept = {name: arrays[name] for name in KNOWN_NAMES if name in arrays}
    _check_arrays(kept, origin)
    return DataSet(
        origin=origin,
        sha256=sha256_file(path),
        arrays={name: _as_model_input(name, a) for name, a in kept.items()},
        notes=tuple(notes),
    )


def _check_arrays(arrays: dict, origin: str) -> None:
    if not any(name in arrays for name in X_NAMES):
        raise InputError(
            f"{origin} has none of the arrays {', '.join(X_NAMES)}",
            "save inputs as x_calib (calibration), x_train/y_train, x_eval/y_eval",
        )
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf" or array.ndim < 1 or len(array) == 0:
            raise InputError(
                f"{origin}: {name} must be a non-empty numeric array (got {array.dtype} {array.shape})",
                "store numbers, one sample per row",
            )
    for y_name, x_name in Y_NAMES.items():
        if y_name not in arrays:
            continue
        if x_name not in arrays:
            raise InputError(f"{origin}: {y_name} given without {x_name}", f"add {x_name} or drop {y_name}")
        y, x = arrays[y_name], arrays[x_name]
        if y.ndim > 2 or len(y) != len(x):
            raise InputError(
                f"{origin}: {y_name} has shape {y.shape} but {x_name} has {len(x)} samples",
                f"give {y_name} one class id (or one-hot row) per sample of {x_name}",
            )


def _as_model_input(name: str, array: np.ndarray) -> np.ndarray:
    if name.startswith("x_") and array.dtype.kind == "f":
        return np.ascontiguousarray(array, dtype=np.float32)
    return array
