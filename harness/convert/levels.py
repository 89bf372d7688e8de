"""Compression level names: parsing, `+` composition, and what `all` means for an input.

Imported by `squeezebench run` at startup to validate `--levels`, so nothing heavy here.

A level is at most one of each kind of step, applied in this order whatever order it is written in:
  distilled      a half-width student trained by knowledge distillation (needs training data)
  pruned-N       N% magnitude pruning (tensorflow-model-optimization), sparse TFLite encoding
  clustered-N    N-cluster weight clustering (tensorflow-model-optimization)
  quantization   fp32 | fp16 | int8-dynamic | int8 | int16x8 (the TFLite converter's settings)
`as-is` is the one level of a `.tflite` input: the file measured without conversion.
Docs: docs/levels.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import UsageError

QUANTIZATIONS = ("fp32", "fp16", "int8-dynamic", "int8", "int16x8")
AS_IS = "as-is"
ALL = "all"
REFERENCE = "fp32"
# What `all` expands to for a Keras or SavedModel input (minus what the input cannot support).
ALL_LEVELS = (
    "fp32",
    "fp16",
    "int8-dynamic",
    "int8",
    "int16x8",
    "pruned-50",
    "pruned-75",
    "clustered-16",
    "distilled",
)
_PRUNED = re.compile(r"pruned-(\d+)")
_CLUSTERED = re.compile(r"clustered-(\d+)")
MAX_CLUSTERS = 256


@dataclass(frozen=True)
class Level:
    """One parsed level; `name` is canonical (steps in application order, fp32 implied)."""

    distilled: bool = False
    sparsity_percent: int | None = None
    clusters: int | None = None
    quantization: str = "fp32"

    @property
    def name(self) -> str:
        if self.quantization == AS_IS:
            return AS_IS
        parts = []
        if self.distilled:
            parts.append("distilled")
        if self.sparsity_percent is not None:
            parts.append(f"pruned-{self.sparsity_percent}")
        if self.clusters is not None:
            parts.append(f"clustered-{self.clusters}")
        if self.quantization != "fp32" or not parts:
            parts.append(self.quantization)
        return "+".join(parts)

    @property
    def file_name(self) -> str:
        return f"{self.name}.tflite"

    @property
    def changes_weights(self) -> bool:
        """Distillation, pruning and clustering work on a Keras model (tf_keras + tfmot)."""
        return self.distilled or self.sparsity_percent is not None or self.clusters is not None

    @property
    def needs_calibration(self) -> bool:
        return self.quantization in ("int8", "int16x8")

    @property
    def needs_training(self) -> bool:
        return self.distilled


@dataclass(frozen=True)
class Capabilities:
    """What an input (model + data) can support; decides `all` and which levels are skipped."""

    is_tflite: bool
    keras_problem: str | None  # why weight-changing levels cannot run, or None if they can
    has_calibration: bool
    has_training: bool


def valid_names_help() -> str:
    return (
        f"valid levels: {', '.join(QUANTIZATIONS)}, pruned-N (1-99, e.g. pruned-50), "
        f"clustered-N (2-{MAX_CLUSTERS}, e.g. clustered-16), distilled, {AS_IS}, {ALL}; "
        "compose with '+', e.g. pruned-75+int8"
    )


def parse_level(text: str) -> Level:
    """One level name such as `int8` or `pruned-75+int8` -> Level; UsageError if invalid."""
    parts = [p.strip() for p in text.strip().split("+")]
    if not text.strip() or any(not p for p in parts):
        raise UsageError(f"empty level name in {text!r}", valid_names_help())
    if AS_IS in parts and len(parts) > 1:
        raise UsageError(f"level {text!r}: {AS_IS} cannot be combined", f"use {AS_IS} on its own")
    fields: dict[str, object] = {}
    for part in parts:
        field_name, value = _parse_part(part, text)
        if field_name in fields:
            raise UsageError(
                f"level {text!r} has two {_STEP_KINDS[field_name]} steps",
                "use at most one quantization, one pruned-N, one clustered-N and one distilled",
            )
        fields[field_name] = value
    return Level(**fields)  # type: ignore[arg-type]


_STEP_KINDS = {"quantization": "quantization", "distilled": "distilled", "sparsity_percent": "pruned-N",
               "clusters": "clustered-N"}  # fmt: skip


def _parse_part(part: str, whole: str) -> tuple[str, object]:
    if part in QUANTIZATIONS or part == AS_IS:
        return "quantization", part
    if part == "distilled":
        return "distilled", True
    if match := _PRUNED.fullmatch(part):
        percent = int(match.group(1))
        if not 1 <= percent <= 99:
            raise UsageError(f"level {whole!r}: sparsity {percent}% is out of range", "use pruned-1 .. pruned-99")
        return "sparsity_percent", percent
    if match := _CLUSTERED.fullmatch(part):
        clusters = int(match.group(1))
        if not 2 <= clusters <= MAX_CLUSTERS:
            raise UsageError(
                f"level {whole!r}: {clusters} clusters is out of range", f"use clustered-2 .. clustered-{MAX_CLUSTERS}"
            )
        return "clusters", clusters
    raise UsageError(f"unknown level {part!r}" + (f" in {whole!r}" if part != whole else ""), valid_names_help())


def parse_levels(text: str) -> list[str]:
    """`--levels` text (comma-separated) -> canonical names, `all` kept as is; UsageError if invalid."""
    names: list[str] = []
    for token in text.split(","):
        token = token.strip()
        if not token:
            continue
        name = ALL if token == ALL else parse_level(token).name
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError("no levels given", valid_names_help())
    return names


def expand_levels(names: list[str], capabilities: Capabilities) -> tuple[list[str], list[str]]:
    """Replace `all` by every level the input supports; returns (levels, notes on what `all` left out)."""
    expanded: list[str] = []
    notes: list[str] = []
    for name in names:
        if name != ALL:
            candidates = [name]
        elif capabilities.is_tflite:
            candidates = [AS_IS]
        else:
            candidates = []
            for candidate in ALL_LEVELS:
                reason = unsupported_reason(parse_level(candidate), capabilities)
                if reason:
                    notes.append(f"'all' leaves out {candidate}: {reason}")
                else:
                    candidates.append(candidate)
        expanded.extend(c for c in candidates if c not in expanded)
    return expanded, notes


def unsupported_reason(level: Level, capabilities: Capabilities) -> str | None:
    """Why this input cannot have this level (the level is then skipped), or None."""
    if capabilities.is_tflite:
        if level.quantization == AS_IS:
            return None
        return f"a .tflite input is measured as-is and cannot be converted again (use --levels {AS_IS})"
    if level.quantization == AS_IS:
        return f"{AS_IS} is the level of a .tflite input; this input is converted"
    if level.changes_weights and capabilities.keras_problem:
        return capabilities.keras_problem
    if level.needs_training and not capabilities.has_training:
        return "needs training data: pass --data FILE.npz with x_train (and y_train for labels)"
    if level.needs_calibration and not capabilities.has_calibration:
        return (
            "needs calibration data: pass --data FILE.npz with x_calib (or x_train), "
            "or --random-calibration to accept meaningless int8 accuracy"
        )
    return None
