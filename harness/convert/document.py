"""The `squeezebench.conversion` document (convert.json), one entry per level (its format
history is in harness/schemas.py: CONVERSION)."""

from __future__ import annotations

from pathlib import Path

from harness import __version__
from harness.errors import ExitCode
from harness.jsonfile import utc_now
from harness.schemas import CONVERSION

FILE_NAME = "convert.json"

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"

# Fields a level entry always has, so readers never need .get() for them.
LEVEL_FIELDS = (
    "level",
    "status",
    "reason",
    "reference_only",
    "file",
    "size_bytes",
    "gzip_size_bytes",
    "size_ratio_to_fp32",
    "gzip_ratio_to_fp32",
    "sha256",
    "inputs",
    "outputs",
    "op_counts",
    "conversion_s",
    "cached",
    "accuracy",
    "fidelity",
    "quality",
    "details",
    "notes",
)


def new_document(*, model: dict, data: dict, converter: dict, reference_level: str, notes: list[str]) -> dict:
    return {
        **CONVERSION.stamp(),
        "harness_version": __version__,
        "created_utc": utc_now(),
        "model": model,
        "data": data,
        "converter": converter,
        "reference_level": reference_level,
        "notes": notes,
        "levels": [],
    }


def level_entry(level: str, status: str, **fields) -> dict:
    entry = {name: None for name in LEVEL_FIELDS}
    entry.update(level=level, status=status, reference_only=False, cached=False, details={}, notes=[])
    unknown = set(fields) - set(LEVEL_FIELDS)
    if unknown:
        raise KeyError(f"not level fields: {sorted(unknown)}")
    entry.update(fields)
    return entry


def requested_levels(document: dict) -> list[dict]:
    """The levels the user asked for (not the fp32 produced only as the reference)."""
    return [entry for entry in document["levels"] if not entry["reference_only"]]


def exit_code(document: dict) -> ExitCode:
    statuses = [entry["status"] for entry in requested_levels(document)]
    if not statuses or STATUS_OK not in statuses:
        return ExitCode.NOTHING_RAN
    if any(status != STATUS_OK for status in statuses):
        return ExitCode.PARTIAL
    return ExitCode.OK


def level_path(out_dir: Path, entry: dict) -> Path | None:
    """Where a level's .tflite is (its `file` is relative to the document's directory)."""
    return Path(out_dir) / entry["file"] if entry.get("file") else None


def load_conversion(path: Path) -> dict:
    """Read convert.json (or the directory holding it), upgraded to the current version."""
    path = Path(path)
    if path.is_dir():
        path = path / FILE_NAME
    return CONVERSION.load(path)
