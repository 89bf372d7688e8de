"""TensorFlow, imported once, deterministic, and quiet on the console.

TensorFlow 2.21 and LiteRT log through absl/glog straight to file descriptor 2 (TF_CPP_MIN_LOG_LEVEL
no longer silences most of it), and Keras prints export summaries to stdout. `captured_output()`
sends both descriptors to a temporary file while TensorFlow works; afterwards the lines that matter
to a user (warnings that are not known noise) are kept so they can go into the document's notes.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

SEED = 1234
MAX_NOTE_LINES = 8
MAX_NOTE_CHARS = 300

# Messages TensorFlow, Keras and LiteRT print on every run that say nothing about the user's model.
_NOISE = re.compile(
    "|".join(
        [
            r"All log messages before absl::InitializeLog",
            r"oneDNN custom operations",
            r"cuda|cuInit|GPU will not be used|TensorRT",
            r"rebuild TensorFlow with the appropriate compiler flags|To enable the following instructions",
            r"NodeDef mentions attribute",
            r"Ignored output_format|Ignored drop_control_dependency",
            r"XNNPACK delegate",
            r"Statistics for quantized inputs were expected",
            r"No training configuration found|Compiled the loaded model|compile_metrics",
            r"Assets written to|Found untraced functions|Saved artifact at",
            r"experimental_new_quantizer|TFLite interpreter needs to link Flex delegate",
            r"`build\(\)` was called on layer|does not have a `build\(\)` method",
            r"saving your model as an HDF5 file",
        ]
    )
)
# Python warnings addressed to users; deprecation warnings are addressed to library authors.
_USER_WARNINGS = (UserWarning, RuntimeWarning)
_WARNING_LINE = re.compile(r"^(W\d{4} |E\d{4} |WARNING:|Warning:|.*Warning: )")
_GLOG_PREFIX = re.compile(r"^[WEIF]\d{4} [\d:. ]+\d+ [\w.]+:\d+\] ")


@dataclass
class CapturedOutput:
    """What TensorFlow printed while it was captured."""

    text: str = ""
    python_warnings: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        """Warnings worth showing a user: not known noise, deduplicated, shortened."""
        candidates = [line for line in self.text.splitlines() if _WARNING_LINE.match(line)]
        candidates += self.python_warnings
        kept: list[str] = []
        for line in candidates:
            line = _GLOG_PREFIX.sub("", line).strip()
            if not line or _NOISE.search(line):
                continue
            line = line[:MAX_NOTE_CHARS]
            if line not in kept:
                kept.append(line)
        return kept[:MAX_NOTE_LINES]

    def tail(self, n_lines: int = 20) -> str:
        return "\n".join(self.text.splitlines()[-n_lines:])


_capturing = False


@contextlib.contextmanager
def captured_output() -> Iterator[CapturedOutput]:
    """Redirect fds 1 and 2 (and Python warnings) into a CapturedOutput for the duration."""
    global _capturing
    captured = CapturedOutput()
    if _capturing:  # nested: the outer capture already collects everything
        yield captured
        return
    _flush_std_streams()
    saved_fds = (os.dup(1), os.dup(2))
    _capturing = True
    try:
        with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            try:
                yield captured
            finally:
                _flush_std_streams()
                os.dup2(saved_fds[0], 1)
                os.dup2(saved_fds[1], 2)
                sink.seek(0)
                captured.text = sink.read().decode("utf-8", errors="replace")
                captured.python_warnings = [
                    f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, _USER_WARNINGS)
                ]
    finally:
        _capturing = False
        for fd in saved_fds:
            os.close(fd)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


_modules = None


def tensorflow():
    """(tf, tf_keras, tfmot), imported once, quietly, with deterministic ops and seeds."""
    global _modules
    if _modules is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # tfmot needs Keras 2 (tf_keras); it sets this itself on import, we make it explicit so
        # tf.keras means the same thing whatever is imported first. Keras 3 stays `import keras`.
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        with captured_output():
            import tensorflow as tf
            import tensorflow_model_optimization as tfmot
            import tf_keras

            tf.config.experimental.enable_op_determinism()
            # Deterministic ops refuse to run unseeded random ops; seed before anything runs.
            tf_keras.utils.set_random_seed(SEED)
        _modules = (tf, tf_keras, tfmot)
    return _modules


def reset_seeds() -> None:
    """Same seed before every level, so a level's result does not depend on what ran before it."""
    _, tf_keras, _ = tensorflow()
    tf_keras.utils.set_random_seed(SEED)


def litert_interpreter_class():
    with captured_output():
        from ai_edge_litert.interpreter import Interpreter
    return Interpreter
