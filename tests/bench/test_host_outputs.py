"""harness/bench/host_outputs.py: the host's side of an output check is computed once per model
file and samples, kept on disk for the next run, and computed again when the entry is torn or
does not fit. Real LiteRT on a small conv net; `run_on_host` is counted, not replaced."""

from __future__ import annotations

import numpy as np
import pytest

from harness.bench import host_outputs, outputs
from harness.bench.output_pass import CheckData
from harness.digests import sha256_file


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / host_outputs.CACHE_SUBDIR


@pytest.fixture
def host_runs(monkeypatch) -> list:
    """The batches computed on the host, in order."""
    runs, original = [], outputs.run_on_host

    def counted(model_path, io, inputs, batch):
        runs.append(batch)
        return original(model_path, io, inputs, batch)

    monkeypatch.setattr(outputs, "run_on_host", counted)
    return runs


def samples(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, 32, 32, 3)).astype(np.float32)


def computed(model, batch_samples):
    return host_outputs.compute_host_side(model, sha256_file(model), batch_samples,
                                          host_outputs.samples_digest(batch_samples))


def test_the_batch_tried_is_not_computed_again(tiny_tflite, host_runs):
    io = outputs.read_model_io(tiny_tflite)
    inputs = outputs.prepare_inputs(io, samples(12))
    host = outputs.outputs_on_host(tiny_tflite, io, inputs, 12)
    # the batch of 12, then the first and last sample alone to see that they agree with it
    assert host.batch_size == 12 and [(b.start, b.size) for b in host_runs] == [(0, 12), (0, 1), (11, 1)]


def test_a_second_check_of_the_same_file_and_samples_computes_nothing_on_the_host(tiny_tflite, cache, host_runs):
    first = computed(tiny_tflite, samples(8))
    assert host_runs and len(list(cache.glob("*.npz"))) == 1
    host_runs.clear()
    again = computed(tiny_tflite, samples(8))
    assert host_runs == []
    assert again.batch_size == first.batch_size == 8
    np.testing.assert_array_equal(again.outputs[0], first.outputs[0])
    np.testing.assert_array_equal(again.inputs[0], first.inputs[0])


def test_other_samples_or_another_model_file_are_computed(tiny_tflite, tmp_path, cache, host_runs):
    computed(tiny_tflite, samples(8))
    host_runs.clear()
    computed(tiny_tflite, samples(8, seed=1))
    assert host_runs, "other samples of the same shape read the first samples' outputs"
    copy = tmp_path / "copy.tflite"
    copy.write_bytes(tiny_tflite.read_bytes() + b"\0" * 8)  # same model, other bytes: another key
    host_runs.clear()
    computed(copy, samples(8))
    assert host_runs and len(list(cache.glob("*.npz"))) == 3


@pytest.mark.parametrize("damage", ["torn", "other shape"])
def test_an_entry_that_does_not_read_back_whole_or_fit_is_computed_again(tiny_tflite, cache, host_runs, damage):
    first = computed(tiny_tflite, samples(8))
    [entry] = cache.glob("*.npz")
    if damage == "torn":
        entry.write_bytes(entry.read_bytes()[:100])
    else:
        np.savez(entry, batch_size=np.int64(8), output_0=np.zeros((8, 3), np.float32))
    host_runs.clear()
    again = computed(tiny_tflite, samples(8))
    assert host_runs
    np.testing.assert_array_equal(again.outputs[0], first.outputs[0])
    host_runs.clear()
    computed(tiny_tflite, samples(8))
    assert host_runs == [], "the damaged entry was not replaced"


def test_check_data_computes_a_files_host_side_once_per_run(tiny_tflite, cache, host_runs):
    data = CheckData(samples(20), None, "test")
    side = data.host_side(tiny_tflite, 6)
    assert len(side.inputs[0]) == 6 and side.outputs[0].shape == (6, 10)
    host_runs.clear()
    assert data.host_side(tiny_tflite, 6) is side and host_runs == []
