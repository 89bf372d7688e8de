"""The host's side of an output check, computed once per model file and samples: the model's
inputs and outputs, the samples prepared for it, the batch the device is given and the host's
outputs (harness/bench/outputs.py). Kept in memory for the run, and on disk for the next
(cache_dir()/host-outputs/<key>.npz): a warm rerun of a sweep runs nothing on the host for its
checks, where a mobilenet_v2 level took about 1.5 s.

The key is what decides the outputs: the model file's sha256, the samples' digest, LiteRT's
version and the host's architecture. Entries are kept as harness/bench/outputs_cache.py keeps
them: one that does not read back whole, or does not fit the model, is computed again."""

from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass
from pathlib import Path

from harness.bench import outputs, outputs_cache
from harness.bench.outputs import ModelIO

# Bump when what is stored, or how the outputs are computed, changes.
FORMAT_VERSION = 2
CACHE_SUBDIR = "host-outputs"


@dataclass(frozen=True)
class HostSide:
    io: ModelIO
    inputs: list
    batch_size: int
    outputs: list
    samples_digest: str


def compute_host_side(model_path: Path, model_sha256: str, samples, samples_digest: str) -> HostSide:
    """The host side of one model's check, from the disk cache when it holds it."""
    io = outputs.read_model_io(model_path)
    inputs = outputs.prepare_inputs(io, samples)
    entry = outputs_cache.entry_path(CACHE_SUBDIR, FORMAT_VERSION, model_sha256, samples_digest,
                                     outputs.litert_version(), platform.machine())
    cached = _read_entry(entry, io, len(inputs[0]))
    if cached is None:
        cached = outputs.outputs_on_host(model_path, io, inputs, len(inputs[0]))
        outputs_cache.write_entry(entry, cached.outputs, {"batch_size": cached.batch_size})
    return HostSide(io, inputs, cached.batch_size, cached.outputs, samples_digest)


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


def _read_entry(entry: Path, io: ModelIO, count: int) -> outputs.HostOutputs | None:
    stored = outputs_cache.read_entry(entry, io, count)
    batch_size = stored and stored[1].get("batch_size")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= count:
        return None
    return outputs.HostOutputs(batch_size, stored[0])
