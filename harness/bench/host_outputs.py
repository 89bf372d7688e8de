"""The host's side of an output check, computed once per model file and samples: the model's
inputs and outputs, the samples prepared for it, the batch the device is given and the host's
outputs (harness/bench/outputs.py). Kept in memory for the run, and on disk for the next
(cache_dir()/host-outputs/<key>.npz): a warm rerun of a sweep runs nothing on the host for its
checks, where a mobilenet_v2 level took about 1.5 s.

The key is what decides the outputs: the model file's sha256, the samples' digest, LiteRT's
version and the host's architecture. An entry is written atomically; one that does not read
back whole, or does not fit the model, is computed again."""

from __future__ import annotations

import contextlib
import hashlib
import platform
import zipfile
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.bench import outputs
from harness.bench.outputs import ModelIO
from harness.digests import sha256_bytes
from harness.jsonfile import write_bytes_atomic

# Bump when what is stored, or how the outputs are computed, changes.
FORMAT_VERSION = 1
CACHE_SUBDIR = "host-outputs"


@dataclass(frozen=True)
class HostSide:
    io: ModelIO
    inputs: list
    batch_size: int
    outputs: list


def compute_host_side(model_path: Path, model_sha256: str, samples, samples_digest: str) -> HostSide:
    """The host side of one model's check, from the disk cache when it holds it."""
    io = outputs.read_model_io(model_path)
    inputs = outputs.prepare_inputs(io, samples)
    entry = _entry_path(model_sha256, samples_digest)
    cached = _read_entry(entry, io, len(inputs[0]))
    if cached is None:
        cached = outputs.outputs_on_host(model_path, io, inputs, len(inputs[0]))
        _write_entry(entry, cached)
    return HostSide(io, inputs, cached.batch_size, cached.outputs)


def samples_digest(samples) -> str:
    """sha256 over the samples' names, types, shapes and bytes: one array, a sequence in input
    order, or a mapping by input name."""
    import numpy as np

    if isinstance(samples, dict):
        named = sorted(samples.items())
    elif isinstance(samples, (list, tuple)):
        named = [(str(i), array) for i, array in enumerate(samples)]
    else:
        named = [("", samples)]
    digest = hashlib.sha256()
    for name, array in named:
        array = np.ascontiguousarray(array)
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(memoryview(array).cast("B"))
    return digest.hexdigest()


def _entry_path(model_sha256: str, digest: str) -> Path:
    key = sha256_bytes(f"{FORMAT_VERSION}|{model_sha256}|{digest}|{outputs.litert_version()}|{platform.machine()}".encode())
    return paths.cache_dir() / CACHE_SUBDIR / f"{key}.npz"


def _read_entry(entry: Path, io: ModelIO, count: int) -> outputs.HostOutputs | None:
    import numpy as np

    try:
        with np.load(entry, allow_pickle=False) as npz:
            batch_size = int(npz["batch_size"])
            arrays = [npz[f"output_{i}"] for i in range(len(io.outputs))]
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError):
        return None  # missing, torn or foreign: computed again and replaced
    fits = all(a.shape == (count, *spec.sample_shape) and a.dtype == np.dtype(spec.dtype)
               for a, spec in zip(arrays, io.outputs))
    return outputs.HostOutputs(batch_size, arrays) if fits and 1 <= batch_size <= count else None


def _write_entry(entry: Path, host: outputs.HostOutputs) -> None:
    """Best effort: a cache that cannot be written costs the next run time, not this one its check."""
    import io

    import numpy as np

    packed = io.BytesIO()
    np.savez(packed, batch_size=np.int64(host.batch_size), **{f"output_{i}": a for i, a in enumerate(host.outputs)})
    with contextlib.suppress(OSError):
        write_bytes_atomic(entry, packed.getvalue())
