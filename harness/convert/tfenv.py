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
import threading
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
            r"experimental_preserve_all_tensors",  # the quantizer's validation, by design
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


# While capturing: the console's own fds 1 and 2, and the capture file's fd. The lock keeps a
# progress line written from another thread (`console()`) from interleaving with the redirection.
_redirect_lock = threading.RLock()
_console_fds: tuple[int, int] | None = None
_sink_fd: int | None = None


@contextlib.contextmanager
def captured_output() -> Iterator[CapturedOutput]:
    """Redirect fds 1 and 2 (and Python warnings) into a CapturedOutput for the duration."""
    global _console_fds, _sink_fd
    captured = CapturedOutput()
    if _console_fds is not None:  # nested: the outer capture already collects everything
        yield captured
        return
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _redirect_lock:
            _flush_std_streams()
            _console_fds, _sink_fd = (os.dup(1), os.dup(2)), sink.fileno()
            _point_std_fds_at(_sink_fd, _sink_fd)
        try:
            yield captured
        finally:
            with _redirect_lock:
                _flush_std_streams()
                _point_std_fds_at(*_console_fds)
                for fd in _console_fds:
                    os.close(fd)
                _console_fds = _sink_fd = None
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")
            captured.python_warnings = [
                f"{w.category.__name__}: {w.message}" for w in caught if issubclass(w.category, _USER_WARNINGS)
            ]


@contextlib.contextmanager
def console() -> Iterator[None]:
    """The real console for a moment, even while TensorFlow's output is captured: progress lines
    written from another thread during a long fine-tuning must reach the user, not the capture."""
    with _redirect_lock:
        if _console_fds is None:
            yield
            return
        _flush_std_streams()
        _point_std_fds_at(*_console_fds)
        try:
            yield
        finally:
            _flush_std_streams()
            _point_std_fds_at(_sink_fd, _sink_fd)


def _point_std_fds_at(stdout_fd: int, stderr_fd: int) -> None:
    os.dup2(stdout_fd, 1)
    os.dup2(stderr_fd, 2)


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
