"""harness/bench/device_outputs.py: the key of a device's stored check outputs holds everything
that decides what the device computes, and nothing that does not (the unit's serial). The
reuse itself, on a virtual device, is in test_deeper_on_virtual_device.py."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from harness.bench import device_outputs, host_outputs
from harness.bench.settings import BenchSettings
from harness.device.capture import Capture
from harness.device.passport import PASSPORT_PROPS, primary_abi
from harness.device.runner_binaries import RunnerBinary
from tests.captures.support import CAPTURES, CORPUS


@pytest.fixture
def host(tiny_tflite, tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))
    samples = np.random.default_rng(0).uniform(0, 1, (5, 32, 32, 3)).astype(np.float32)
    return host_outputs.compute_host_side(tiny_tflite, "a" * 64, samples, host_outputs.samples_digest(samples))


def session(serial="phone-1", fingerprint="google/husky/husky:14/UD1A/1:user/release-keys", soc="Tensor G3",
            kernel="Linux localhost 5.15.110 aarch64", runner_sha256="b" * 64):
    passport = SimpleNamespace(serial=serial, abi="arm64-v8a", kernel=kernel,
                               props={"ro.build.fingerprint": fingerprint, "ro.soc.model": soc})
    runner = RunnerBinary(kind="benchmark_model", abi="arm64-v8a", path="/r", sha256=runner_sha256, source="registered")
    return SimpleNamespace(passport=passport, runner=runner)


SETTINGS = BenchSettings(threads=4, delegate="cpu")


def entry(host, a_session=None, settings=SETTINGS, model_sha256="c" * 64, runner_version="LiteRT 2.3.0"):
    return device_outputs.entry_for(a_session or session(), settings, host, model_sha256, runner_version)


def test_everything_that_decides_the_outputs_is_in_the_key(host):
    same = entry(host)
    others = [
        entry(host, session(fingerprint="google/husky/husky:15/AP4A/2:user/release-keys")),
        entry(host, session(soc="Tensor G4")),
        entry(host, session(kernel="Linux localhost 6.1.75 aarch64")),
        entry(host, session(runner_sha256="d" * 64)),
        entry(host, runner_version="LiteRT 2.4.0"),
        entry(host, model_sha256="e" * 64),
        entry(host, settings=replace(SETTINGS, threads=1)),
        entry(host, settings=replace(SETTINGS, delegate="gpu")),
        entry(host, settings=replace(SETTINGS, runner_args=("--use_xnnpack=false",))),
        entry(replace(host, samples_digest="f" * 64)),
        entry(replace(host, batch_size=1)),
    ]
    assert same == entry(host) and len({same, *others}) == len(others) + 1
    # Another unit of the same build computes alike.
    assert entry(host, session(serial="phone-2")) == same


def test_stored_outputs_come_back_with_where_they_were_computed(host, tmp_path):
    path = entry(host)
    assert device_outputs.stored_outputs(path, host) is None
    device_outputs.keep_outputs(path, host.outputs, session(), tmp_path / "cell")
    arrays, origin = device_outputs.stored_outputs(path, host)
    assert all(np.array_equal(a, b) for a, b in zip(arrays, host.outputs))
    assert origin["serial"] == "phone-1" and origin["cell"] == str(tmp_path / "cell") and origin["computed_utc"]
    # A host entry (no computed_utc) under this name is not taken for the device's outputs.
    from harness.bench import outputs_cache

    outputs_cache.write_entry(path, host.outputs, {"batch_size": host.batch_size})
    assert device_outputs.stored_outputs(path, host) is None


def test_only_outputs_computed_by_the_runners_own_kernels_are_kept():
    # A GPU driver or the NNAPI runtime can change with a Play system update, under the same build.
    phone = session()
    assert device_outputs.reusable(phone, SETTINGS)
    assert device_outputs.reusable(phone, replace(SETTINGS, delegate="xnnpack-off"))
    assert not device_outputs.reusable(phone, replace(SETTINGS, delegate="gpu"))
    assert not device_outputs.reusable(phone, replace(SETTINGS, delegate="nnapi"))
    assert not device_outputs.reusable(session(fingerprint=""), SETTINGS)


def captured_session(capture: Capture, serial: str):
    """What the passport reads from this real phone's captured `getprop`, as read_passport keeps it."""
    props = capture.properties()
    passport = SimpleNamespace(serial=serial, abi=primary_abi(props), kernel=capture.text("uname.txt") or "",
                               props={name: props[name] for name in PASSPORT_PROPS if name in props})
    return SimpleNamespace(passport=passport, runner=session().runner)


def test_real_phones_builds_each_have_their_own_entry_and_two_units_of_one_share_it(host):
    captures = [c for c in (Capture.load(CORPUS / name) for name in CAPTURES) if c.properties()]
    whole = [c for c in captures if device_outputs.reusable(captured_session(c, "unit-1"), SETTINGS)]
    # The phones whose whole getprop was captured give a build fingerprint; a capture of a few
    # properties alone (no fingerprint) would never have its outputs reused.
    assert len(whole) >= 10 and all(len(c.properties()) > 100 for c in whole)
    assert all(len(c.properties()) < 100 for c in captures if c not in whole)
    entries = {c.name: entry(host, captured_session(c, "unit-1")) for c in whole}
    assert len(set(entries.values())) == len(whole)
    assert all(entry(host, captured_session(c, "unit-2")) == entries[c.name] for c in whole)
