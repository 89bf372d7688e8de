"""Outputs of an output check kept on disk between runs (cache_dir()/<kind>/<key>.npz): the
host's (host_outputs.py) and the device's (device_outputs.py). One entry holds the outputs, one
array per model output with a row per sample, and a small JSON document about them.

An entry is written atomically; one that does not read back whole, or does not fit the model's
outputs, counts as missing and is computed again. Writing is best effort: a cache that cannot be
written costs the next run time, not this one its check. Deleting the cache is always safe."""

from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

from harness import paths
from harness.bench.outputs import ModelIO
from harness.digests import sha256_bytes
from harness.jsonfile import write_bytes_atomic


def entry_path(kind: str, *key_parts) -> Path:
    """The entry of `kind` (a cache subdirectory) for what the key parts say decides its outputs
    (JSON-encoded: no part can run into the next)."""
    key = sha256_bytes(json.dumps(key_parts, default=str).encode())
    return paths.cache_dir() / kind / f"{key}.npz"


def read_entry(entry: Path, io: ModelIO, count: int) -> tuple[list, dict] | None:
    """The outputs for `count` samples and the entry's document, or None when the entry is
    missing, torn, foreign, or not shaped as the model's outputs."""
    import numpy as np

    try:
        with np.load(entry, allow_pickle=False) as npz:
            document = json.loads(str(npz["document"]))
            arrays = [npz[f"output_{i}"] for i in range(len(io.outputs))]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError):
        return None
    fits = isinstance(document, dict) and all(
        a.shape == (count, *spec.sample_shape) and a.dtype == np.dtype(spec.dtype) for a, spec in zip(arrays, io.outputs))
    return (arrays, document) if fits else None


def write_entry(entry: Path, arrays: list, document: dict) -> None:
    from io import BytesIO

    import numpy as np

    packed = BytesIO()
    np.savez(packed, document=np.array(json.dumps(document)), **{f"output_{i}": a for i, a in enumerate(arrays)})
    with contextlib.suppress(OSError):
        write_bytes_atomic(entry, packed.getvalue())
