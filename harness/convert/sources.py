"""Model inputs: a zoo name, Keras 3 `.keras`, legacy `.h5`, a SavedModel directory, or `.tflite`.

`resolve_source` is cheap (no TensorFlow): it finds the file, hashes it and says what kind it is,
which is all a fully cached run needs. `load_source` does the TensorFlow work: it loads the model
for the converter and, for the levels that change weights (tfmot, distillation), provides a
tf_keras (Keras 2) model, rebuilding a Keras 3 model when it has to.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.convert import zoo
from harness.digests import sha256_file, sha256_tree
from harness.convert.data import InputSpec
from harness.convert.quality import AUTO as AUTO_TASK
from harness.errors import InputError

KERAS_SUFFIXES = {".keras": "keras", ".h5": "h5", ".hdf5": "h5"}
SAVED_MODEL_FILE = "saved_model.pb"
KERAS_METADATA_FILE = "keras_metadata.pb"


@dataclass(frozen=True)
class Source:
    text: str  # as the user gave it
    name: str
    kind: str  # zoo | keras | h5 | saved_model | tflite
    path: Path
    sha256: str
    weights: str  # trained | random | user
    zoo_data: Path | None = None
    zoo_data_origin: str | None = None
    keras_problem: str | None = None  # known before loading: why tfmot/distillation cannot run
    notes: tuple[str, ...] = ()
    quality_task: dict = field(default_factory=lambda: dict(AUTO_TASK))  # harness/convert/quality.py
    origin: str = "user"  # where the weights come from (a zoo model's package, or the user's file)
    licence: str | None = None
    broken_levels: tuple[tuple[str, str], ...] = ()  # a zoo model's levels its `all` leaves out, and why

    @property
    def is_tflite(self) -> bool:
        return self.kind == "tflite"

    @property
    def task_accuracy_possible(self) -> bool:
        return self.weights != "random"


def model_name(text: str) -> str:
    """The name a model is known by (zoo name, file stem, SavedModel directory name)."""
    if text in zoo.ZOO:
        return text
    path = Path(text).expanduser()
    return path.resolve().name if path.is_dir() else path.stem


def resolve_source(text: str, build_zoo=None) -> Source:
    """Find and hash a model input; InputError when it is missing or not a kind we read.
    `build_zoo(name) -> ZooArtifact` provides a zoo model (default: built here when missing)."""
    if text in zoo.ZOO:
        return _zoo_source(text, build_zoo or zoo.ensure_artifact)
    path = check_model_reference(text)
    try:
        if path.is_dir():
            return _saved_model_source(text, path)
        if path.suffix.lower() == ".tflite":
            return Source(text, model_name(text), "tflite", path, sha256_file(path), "user",
                          keras_problem="a .tflite input is measured as-is")
        return Source(text, model_name(text), KERAS_SUFFIXES[path.suffix.lower()], path, sha256_file(path), "user")
    except PermissionError as e:
        raise InputError(f"model {text!r} cannot be read: {e.strerror}", "check the file's permissions") from None


def check_model_reference(text: str) -> Path | None:
    """That `text` names a zoo model (None) or an existing model file or directory of a kind
    squeezebench reads (its path): cheap, no hashing, no loading. InputError otherwise."""
    if text in zoo.ZOO:
        return None
    path = Path(text).expanduser()
    if not path.exists():
        raise InputError(
            f"model {text!r} not found: no such file or directory, and not a zoo model",
            f"check the path, or use one of: {', '.join(zoo.ZOO)}",
        )
    if path.is_dir():
        return path
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        from harness.convert.inspect import verify_tflite_file

        verify_tflite_file(path)
    elif suffix in KERAS_SUFFIXES:
        _check_keras_container(text, path, KERAS_SUFFIXES[suffix])
    else:
        raise InputError(
            f"model {text!r}: unknown kind of file ({path.suffix or 'no extension'})",
            "give a .keras, .h5, .tflite file, a SavedModel directory or a zoo name",
        )
    return path


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_keras_container(text: str, path: Path, kind: str) -> None:
    """The container a Keras file must be (a .keras is a zip holding config.json, an .h5 an HDF5
    file holding a model's config): a truncated or foreign file is refused before TensorFlow is
    even imported (5-20 s)."""
    try:
        problem = _zip_problem(path) if kind == "keras" else _hdf5_problem(path)
    except OSError as e:
        raise InputError(f"model {text!r} cannot be read: {e.strerror}", "check the file's permissions") from None
    if problem:
        raise InputError(
            f"cannot load {text} as a {_KIND_NAMES[kind]}: {problem}",
            "check that the file is complete and holds a whole model saved by Keras/TensorFlow",
        )


def _zip_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            return None if "config.json" in archive.namelist() else "it is a zip archive without config.json"
    except zipfile.BadZipFile:
        return "it is not a zip archive with config.json"


def _hdf5_problem(path: Path) -> str | None:
    with open(path, "rb") as f:
        if f.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            return "it is not an HDF5 file"
    import h5py  # TensorFlow's own dependency, 0.1 s to import

    try:
        with h5py.File(path, "r") as f:
            has_model = "model_config" in f.attrs
    except OSError as e:  # h5py says why: truncated, or a broken address
        return f"it is not a complete HDF5 file ({_first_line(e)})"
    return None if has_model else "the HDF5 file holds no model config (weights alone?)"


def _zoo_source(name: str, build_zoo) -> Source:
    artifact = build_zoo(name)
    model = artifact.model
    return Source(
        text=name,
        name=name,
        kind="tflite" if artifact.model_path.suffix == ".tflite" else "zoo",
        path=artifact.model_path,
        sha256=sha256_file(artifact.model_path),
        weights=model.weights,
        zoo_data=artifact.data_path,
        zoo_data_origin=artifact.data_origin,
        keras_problem="a .tflite model is measured as-is" if artifact.model_path.suffix == ".tflite" else None,
        notes=tuple(artifact.notes),
        quality_task=dict(model.quality_task),
        origin=model.source,
        licence=model.licence,
        broken_levels=model.broken_levels,
    )


def _saved_model_source(text: str, path: Path) -> Source:
    if not (path / SAVED_MODEL_FILE).is_file():
        raise InputError(
            f"model {text!r} is a directory without {SAVED_MODEL_FILE}, so not a SavedModel",
            "point at the SavedModel directory itself",
        )
    problem = None
    if not (path / KERAS_METADATA_FILE).is_file():
        problem = (
            "the SavedModel has no Keras metadata (not saved by tf_keras), so pruning, clustering "
            "and distillation cannot rebuild it; give the .keras or .h5 file instead"
        )
    return Source(text, model_name(text), "saved_model", path, sha256_tree(path), "user", keras_problem=problem)


@dataclass
class LoadedModel:
    """A source loaded by TensorFlow; `tf_keras_model` is None when `keras_problem` says why."""

    source: Source
    converter_model: object | None  # a Keras 3 or tf_keras model; None: use the SavedModel
    tf_keras_model: object | None
    keras_problem: str | None
    input_spec: InputSpec
    notes: list[str] = field(default_factory=list)

    def saved_model_dir(self, shared_dir: Path) -> Path:
        """The model as a SavedModel, exported once into `shared_dir` and used by every
        quantization-only level of the run, whichever worker process converts it."""
        if self.source.kind == "saved_model":
            return self.source.path
        target = shared_dir / "saved_model"
        with open(shared_dir / "saved_model.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the other workers wait for one export
            if not target.is_dir():
                partial = Path(tempfile.mkdtemp(prefix=".saved_model-", dir=shared_dir))
                _export_saved_model(self.converter_model, partial / "model")
                os.rename(partial / "model", target)
        return target


def load_source(source: Source) -> LoadedModel:
    """Load with TensorFlow; InputError when the file is corrupt or not a model."""
    from harness.convert import tfenv

    tfenv.tensorflow()
    with tfenv.captured_output() as captured:
        try:
            with _no_code_from_model_files():
                loaded = _LOADERS[source.kind](source)
        except InputError:
            raise
        except Exception as e:  # Keras and TensorFlow raise anything from OSError to KeyError here
            raise InputError(
                f"cannot load {source.text} as a {_KIND_NAMES[source.kind]}: {_first_line(e)}",
                _UNSAFE_FIX if _is_unsafe_refusal(e) else "check that the file is complete and was saved by Keras/TensorFlow",
            ) from None
    loaded.notes.extend(captured.notes())
    return loaded


_UNSAFE_FIX = (
    "squeezebench never runs Python code stored in a model file; replace the Lambda layer by a "
    "built-in or registered layer and save the model again"
)


@contextmanager
def _no_code_from_model_files() -> Iterator[None]:
    """A Lambda layer stores Python bytecode, which loading would run. Keras 3 refuses it by
    default; tf_keras only inside this scope (its .h5 and SavedModel loaders ignore safe_mode)."""
    from tf_keras.src.saving.serialization_lib import SafeModeScope

    with SafeModeScope(True):
        yield


def _is_unsafe_refusal(error: BaseException) -> bool:
    return "arbitrary code execution" in str(error)


_KIND_NAMES = {
    "zoo": "zoo model",
    "keras": "Keras .keras model",
    "h5": "Keras .h5 model",
    "saved_model": "SavedModel",
}


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def _load_tf_keras_file(source: Source) -> LoadedModel:
    _, tf_keras, _ = _tf()
    model = tf_keras.models.load_model(source.path, compile=False)
    return LoadedModel(source, model, model, None, _keras_input_spec(model))


def _load_keras3_file(source: Source) -> LoadedModel:
    import keras

    from harness.convert.keras_bridge import BridgeError, rebuild_in_tf_keras

    try:
        model = keras.saving.load_model(source.path, compile=False)
    except Exception as keras3_error:
        # A .keras file written by tf_keras (Keras 2.13+) is not always readable by Keras 3.
        try:
            return _load_tf_keras_file(source)
        except Exception:
            raise keras3_error from None
    try:
        tf_keras_model, problem = rebuild_in_tf_keras(model), None
    except BridgeError as e:
        tf_keras_model, problem = None, f"cannot rebuild this Keras 3 model in tf_keras for tfmot: {e}"
    return LoadedModel(source, model, tf_keras_model, problem, _keras_input_spec(model))


def _load_h5(source: Source) -> LoadedModel:
    try:
        return _load_tf_keras_file(source)
    except Exception as tf_keras_error:
        import keras

        try:
            model = keras.saving.load_model(source.path, compile=False)
        except Exception:
            raise tf_keras_error from None
        return LoadedModel(
            source, model, None, "this .h5 loads only with Keras 3; save it as .keras", _keras_input_spec(model)
        )


def _load_saved_model(source: Source) -> LoadedModel:
    tf, tf_keras, _ = _tf()
    spec = _saved_model_input_spec(tf.saved_model.load(str(source.path)))
    keras_model, problem = None, source.keras_problem
    if problem is None:
        try:
            keras_model = tf_keras.models.load_model(source.path, compile=False)
        except Exception as e:
            problem = f"tf_keras cannot load this SavedModel as a Keras model ({_first_line(e)})"
    return LoadedModel(source, None, keras_model, problem, spec)


_LOADERS = {
    "zoo": _load_tf_keras_file,
    "h5": _load_h5,
    "keras": _load_keras3_file,
    "saved_model": _load_saved_model,
}


def _tf():
    from harness.convert import tfenv

    return tfenv.tensorflow()


def _keras_input_spec(model) -> InputSpec:
    inputs = model.inputs
    if len(inputs) != 1:
        raise InputError(
            f"the model has {len(inputs)} inputs; squeezebench converts single-input models",
            "wrap the model so it takes one input tensor",
        )
    dtype = inputs[0].dtype
    dtype_name = getattr(dtype, "name", None) or str(dtype)
    return InputSpec(tuple(None if d is None else int(d) for d in inputs[0].shape), dtype_name)


def _saved_model_input_spec(loaded) -> InputSpec:
    signatures = getattr(loaded, "signatures", {})
    if "serving_default" not in signatures:
        raise InputError("the SavedModel has no serving_default signature", "export it with a serving signature")
    _, kwargs = signatures["serving_default"].structured_input_signature
    if len(kwargs) != 1:
        raise InputError(
            f"the SavedModel's serving_default takes {len(kwargs)} inputs; squeezebench converts single-input models",
            "export a signature with one input tensor",
        )
    (tensor_spec,) = kwargs.values()
    return InputSpec(tuple(None if d is None else int(d) for d in tensor_spec.shape), tensor_spec.dtype.name)


def _export_saved_model(model, target: Path) -> None:
    from harness.convert import tfenv

    tf, tf_keras, _ = tfenv.tensorflow()
    with tfenv.captured_output():
        if isinstance(model, tf_keras.Model):
            tf_keras.models.save_model(model, target, save_format="tf", include_optimizer=False)
        else:  # Keras 3
            model.export(str(target), format="tf_saved_model")
