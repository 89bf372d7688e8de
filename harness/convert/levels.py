"""Compression level names: parsing, `+` composition, and what `all` means for an input.

Imported by `squeezebench run` at startup to validate `--levels`, so nothing heavy here.

A level is at most one of each kind of step, applied in this order whatever order it is written in:
  distilled      a half-width student trained by knowledge distillation (needs training data)
  channels-N     structured pruning: N% of the filters/units of every prunable layer removed
  lowrank-R      dense and 1x1 convolution kernels factored into two thinner layers of rank R
  pruned-N       N% magnitude pruning (tensorflow-model-optimization), sparse TFLite encoding
  clustered-N    N-cluster weight clustering (tensorflow-model-optimization)
  quantization   fp32 | fp16 | int8-dynamic | int8 | int16x8 (the TFLite converter's settings),
                 or qat-int8 (quantization-aware training, then int8; on its own only)
  AI Edge Quantizer recipe, applied to the float .tflite of the steps before it:
                 int8-weight | int4-weight | int4-weight-bN | w8a16 | int4-weight-mixed
`as-is` is the first level of a `.tflite` input: the file measured without conversion; the AI
Edge Quantizer recipes apply to a float `.tflite` input too. Docs: docs/levels.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import UsageError

QUANTIZATIONS = ("fp32", "fp16", "int8-dynamic", "int8", "int16x8", "qat-int8")
QAT = "qat-int8"
AEQ_RECIPES = ("int8-weight", "int4-weight", "w8a16", "int4-weight-mixed")
AEQ_BLOCK_SIZES = (32, 64, 128, 256)
AS_IS = "as-is"
ALL = "all"
EXTENDED = "extended"
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
# What `extended` adds: the survey's newer levels (AI Edge Quantizer, QAT, structured pruning,
# low rank). `all` stays the classic ladder so that its cost and results stay comparable.
EXTENDED_LEVELS = (
    "int8-weight",
    "int4-weight",
    "int4-weight-b32",
    "w8a16",
    "int4-weight-mixed",
    "qat-int8",
    "channels-50",
    "lowrank-16",
)
# A .tflite input's `extended`: what the AI Edge Quantizer can do to a float model (its `all` is
# `as-is` alone, and these too for a zoo model that exists only as .tflite).
TFLITE_EXTENDED_LEVELS = ("int8-weight", "int4-weight", "int4-weight-b32", "w8a16", "int4-weight-mixed")
_PRUNED = re.compile(r"pruned-(\d+)")
_CLUSTERED = re.compile(r"clustered-(\d+)")
_CHANNELS = re.compile(r"channels-(\d+)")
_LOWRANK = re.compile(r"lowrank-(\d+)")
_BLOCKWISE = re.compile(r"int4-weight-b(\d+)")
MAX_CLUSTERS = 256
MAX_RANK = 4096


@dataclass(frozen=True)
class Level:
    """One parsed level; `name` is canonical (steps in application order, fp32 implied)."""

    distilled: bool = False
    channels_percent: int | None = None
    rank: int | None = None
    sparsity_percent: int | None = None
    clusters: int | None = None
    quantization: str = "fp32"
    recipe: str | None = None  # AI Edge Quantizer recipe, applied to the float .tflite

    @property
    def name(self) -> str:
        if self.quantization == AS_IS and self.recipe is None:
            return AS_IS
        parts = []
        if self.distilled:
            parts.append("distilled")
        if self.channels_percent is not None:
            parts.append(f"channels-{self.channels_percent}")
        if self.rank is not None:
            parts.append(f"lowrank-{self.rank}")
        if self.sparsity_percent is not None:
            parts.append(f"pruned-{self.sparsity_percent}")
        if self.clusters is not None:
            parts.append(f"clustered-{self.clusters}")
        if self.quantization not in ("fp32", AS_IS) or not (parts or self.recipe):
            parts.append(self.quantization)
        if self.recipe:
            parts.append(self.recipe)
        return "+".join(parts)

    @property
    def file_name(self) -> str:
        return f"{self.name}.tflite"

    @property
    def keras_steps(self) -> bool:
        """Steps that change a Keras model before conversion (tf_keras, tfmot, our own rebuilds)."""
        return (
            self.distilled
            or self.channels_percent is not None
            or self.rank is not None
            or self.sparsity_percent is not None
            or self.clusters is not None
            or self.quantization == QAT
        )

    @property
    def changes_weights(self) -> bool:
        return self.keras_steps

    @property
    def needs_calibration(self) -> bool:
        return self.quantization in ("int8", "int16x8", QAT) or self.recipe == "w8a16"

    @property
    def needs_training(self) -> bool:
        return self.distilled or self.quantization == QAT

    @property
    def converts(self) -> bool:
        """Whether the TFLite converter runs (not for a .tflite input's own levels)."""
        return self.quantization != AS_IS


@dataclass(frozen=True)
class Capabilities:
    """What an input (model + data) can support; decides `all` and which levels are skipped."""

    is_tflite: bool
    keras_problem: str | None  # why weight-changing levels cannot run, or None if they can
    has_calibration: bool
    has_training: bool
    # A zoo model that exists only as .tflite gets the quantizer ladder as its `all`; a user's
    # .tflite is measured as given unless more is asked for (`extended`, or named levels).
    tflite_ladder: bool = False
    broken_levels: tuple[tuple[str, str], ...] = ()  # (level, why) `all`/`extended` leave out


def valid_names_help() -> str:
    return (
        f"valid levels: {', '.join(QUANTIZATIONS)}, pruned-N (1-99, e.g. pruned-50), "
        f"clustered-N (2-{MAX_CLUSTERS}, e.g. clustered-16), channels-N (1-90), lowrank-R (e.g. lowrank-16), "
        f"distilled, {', '.join(AEQ_RECIPES)}, int4-weight-bN (N: {'/'.join(map(str, AEQ_BLOCK_SIZES))}), "
        f"{AS_IS}, {ALL}, {EXTENDED}; compose with '+', e.g. pruned-75+int8, pruned-50+int4-weight"
    )


_STEP_KINDS = {
    "quantization": "quantization",
    "distilled": "distilled",
    "sparsity_percent": "pruned-N",
    "clusters": "clustered-N",
    "channels_percent": "channels-N",
    "rank": "lowrank-R",
    "recipe": "AI Edge Quantizer",
}


def parse_level(text: str) -> Level:
    """One level name such as `int8` or `pruned-75+int8` -> Level; UsageError if invalid."""
    parts = [p.strip() for p in text.strip().split("+")]
    if not text.strip() or any(not p for p in parts):
        raise UsageError(f"empty level name in {text!r}", valid_names_help())
    fields: dict[str, object] = {}
    for part in parts:
        field_name, value = _parse_part(part, text)
        if field_name in fields:
            raise UsageError(
                f"level {text!r} has two {_STEP_KINDS[field_name]} steps",
                "use at most one step of each kind (quantization, pruned-N, clustered-N, channels-N, "
                "lowrank-R, distilled, AI Edge Quantizer recipe)",
            )
        fields[field_name] = value
    _check_composition(fields, text)
    return Level(**fields)  # type: ignore[arg-type]


def _check_composition(fields: dict, text: str) -> None:
    """Refuse combinations that cannot be built, saying why."""
    quantization = fields.get("quantization")
    if quantization == AS_IS and len(fields) > 1 and set(fields) != {"quantization", "recipe"}:
        raise UsageError(f"level {text!r}: {AS_IS} cannot be combined", f"use {AS_IS} on its own")
    if quantization == QAT and len(fields) > 1:
        raise UsageError(
            f"level {text!r}: {QAT} cannot be combined with other steps",
            f"use {QAT} on its own (quantization-aware training of the original model)",
        )
    if "recipe" in fields and quantization not in (None, "fp32", AS_IS):
        raise UsageError(
            f"level {text!r}: {fields['recipe']} quantizes a float model, not one already quantized by {quantization}",
            f"drop {quantization}, e.g. {fields['recipe']} or pruned-50+{fields['recipe']}",
        )
    if "channels_percent" in fields and "distilled" in fields:
        raise UsageError(
            f"level {text!r}: distilled and channels-N both make the model narrower",
            "use one of them",
        )


def _parse_part(part: str, whole: str) -> tuple[str, object]:
    if part in QUANTIZATIONS or part == AS_IS:
        return "quantization", part
    if part == "distilled":
        return "distilled", True
    if part in AEQ_RECIPES:
        return "recipe", part
    if match := _BLOCKWISE.fullmatch(part):
        if int(match.group(1)) not in AEQ_BLOCK_SIZES:
            raise UsageError(
                f"level {whole!r}: block size {match.group(1)} is not one the AI Edge Quantizer has",
                f"use int4-weight-b{AEQ_BLOCK_SIZES[0]} (or b{', b'.join(map(str, AEQ_BLOCK_SIZES[1:]))})",
            )
        return "recipe", part
    for pattern, field_name, low, high, example in (
        (_PRUNED, "sparsity_percent", 1, 99, "pruned-1 .. pruned-99"),
        (_CLUSTERED, "clusters", 2, MAX_CLUSTERS, f"clustered-2 .. clustered-{MAX_CLUSTERS}"),
        (_CHANNELS, "channels_percent", 1, 90, "channels-1 .. channels-90"),
        (_LOWRANK, "rank", 1, MAX_RANK, f"lowrank-1 .. lowrank-{MAX_RANK}"),
    ):
        if match := pattern.fullmatch(part):
            value = int(match.group(1))
            if not low <= value <= high:
                raise UsageError(f"level {whole!r}: {part} is out of range", f"use {example}")
            return field_name, value
    raise UsageError(f"unknown level {part!r}" + (f" in {whole!r}" if part != whole else ""), valid_names_help())


def parse_levels(text: str) -> list[str]:
    """`--levels` text (comma-separated) -> canonical names, `all`/`extended` kept as they are;
    UsageError if invalid."""
    names: list[str] = []
    for token in text.split(","):
        token = token.strip()
        if not token:
            continue
        name = token if token in (ALL, EXTENDED) else parse_level(token).name
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError("no levels given", valid_names_help())
    return names


def expand_levels(names: list[str], capabilities: Capabilities) -> tuple[list[str], list[str]]:
    """Replace `all`/`extended` by every such level the input supports; returns (levels, notes on
    what they left out)."""
    expanded: list[str] = []
    notes: list[str] = []
    for name in names:
        if name not in (ALL, EXTENDED):
            candidates = [name]
        else:
            candidates = []
            for candidate in _group(name, capabilities):
                reason = dict(capabilities.broken_levels).get(candidate) or unsupported_reason(
                    parse_level(candidate), capabilities)
                if reason:
                    notes.append(f"'{name}' leaves out {candidate}: {reason}")
                else:
                    candidates.append(candidate)
        expanded.extend(c for c in candidates if c not in expanded)
    return expanded, notes


def _group(name: str, capabilities: Capabilities) -> tuple[str, ...]:
    if capabilities.is_tflite:
        if name == ALL:
            return (AS_IS, *TFLITE_EXTENDED_LEVELS) if capabilities.tflite_ladder else (AS_IS,)
        return TFLITE_EXTENDED_LEVELS
    return ALL_LEVELS if name == ALL else EXTENDED_LEVELS


def unsupported_reason(level: Level, capabilities: Capabilities) -> str | None:
    """Why this input cannot have this level (the level is then skipped), or None."""
    if capabilities.is_tflite:
        if level.quantization == AS_IS or (level.recipe and not level.keras_steps and level.quantization == "fp32"):
            return _data_reason(level, capabilities)
        return (
            "a .tflite input is measured as-is and cannot be converted again "
            f"(use --levels {AS_IS} or an AI Edge Quantizer level such as int4-weight)"
        )
    if level.quantization == AS_IS:
        return f"{AS_IS} is the level of a .tflite input; this input is converted"
    if level.changes_weights and capabilities.keras_problem:
        return capabilities.keras_problem
    return _data_reason(level, capabilities)


def _data_reason(level: Level, capabilities: Capabilities) -> str | None:
    if level.needs_training and not capabilities.has_training:
        return "needs training data: pass --data FILE.npz with x_train (and y_train for labels)"
    if level.needs_calibration and not capabilities.has_calibration:
        return (
            "needs calibration data: pass --data FILE.npz with x_calib (or x_train), "
            "or --random-calibration to accept meaningless int8 accuracy"
        )
    return None
