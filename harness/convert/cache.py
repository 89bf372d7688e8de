"""Content-addressed cache of conversions: converting the same thing twice does no work.

Key = sha256 over (input model hash, level, data hash, random-calibration flag, converter package
versions, RECIPE_VERSION). Entry = cache_dir()/conversions/<key>/ holding `model.tflite`,
`outputs.npz` (the level's outputs on the evaluation inputs, the reference for fidelity) and
`record.json` (the level's document entry). Entries are built in a temporary directory beside
them and renamed into place, so a reader sees a whole entry or none; failures are never cached.
Nothing here imports TensorFlow: a fully cached run never loads it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.digests import sha256_bytes, sha256_file
from harness.jsonfile import read_json, write_json_atomic

# Bump when a change to conversion, training or evaluation settings changes what a level produces.
RECIPE_VERSION = 2  # 2: records carry `quality`

# Distribution names of everything that shapes a converted file or its evaluation.
CONVERTER_PACKAGES = {
    "tensorflow": "tensorflow",
    "tf_keras": "tf-keras",
    "tfmot": "tensorflow-model-optimization",
    "ai_edge_litert": "ai-edge-litert",
    "keras": "keras",
    "numpy": "numpy",
}
TFLITE_NAME = "model.tflite"
OUTPUTS_NAME = "outputs.npz"
RECORD_NAME = "record.json"


def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def converter_versions() -> dict[str, str | None]:
    return {key: package_version(distribution) for key, distribution in CONVERTER_PACKAGES.items()}


def sha256_json(value: object) -> str:
    return sha256_bytes(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def level_key(
    *, model_sha256: str, level: str, data_sha256: str | None, random_calibration: bool, versions: dict
) -> str:
    return sha256_json(
        {
            "recipe": RECIPE_VERSION,
            "model": model_sha256,
            "level": level,
            "data": data_sha256,
            "random_calibration": random_calibration,
            "versions": versions,
        }
    )


@dataclass(frozen=True)
class CacheEntry:
    directory: Path
    record: dict

    @property
    def tflite_path(self) -> Path:
        return self.directory / TFLITE_NAME

    @property
    def outputs_path(self) -> Path:
        return self.directory / OUTPUTS_NAME


def conversions_dir() -> Path:
    return paths.cache_dir() / "conversions"


def scratch_dir() -> Path:
    """A fresh directory on the cache's filesystem, so that committing it is a rename."""
    root = conversions_dir()
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".build-", dir=root))


def lookup(key: str) -> CacheEntry | None:
    """The entry for `key`, or None; an entry whose file does not match its record is dropped."""
    directory = conversions_dir() / key
    try:
        record = read_json(directory / RECORD_NAME)
        intact = (
            isinstance(record, dict)
            and (directory / OUTPUTS_NAME).is_file()
            and sha256_file(directory / TFLITE_NAME) == record.get("sha256")
        )
    except Exception:  # a missing or damaged entry is a miss, whatever the damage
        intact = False
        record = None
    if intact:
        return CacheEntry(directory, record)
    if directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
    return None


def commit(key: str, scratch: Path, record: dict) -> CacheEntry:
    """Move a finished scratch directory (model.tflite + outputs.npz) into the cache as `key`."""
    write_json_atomic(scratch / RECORD_NAME, record)
    target = conversions_dir() / key
    try:
        os.rename(scratch, target)
    except OSError:
        # Another process committed the same key first; its entry is identical by construction.
        shutil.rmtree(scratch, ignore_errors=True)
        if lookup(key) is None:
            raise
    return CacheEntry(target, record)
