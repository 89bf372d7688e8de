"""A command refused for its input leaves nothing behind: the inputs are checked before any device
is started or touched and before anything is written (issue 17). Real console script, real adb
server; with a device connected and with none (where the default path would start one)."""

from __future__ import annotations

import pytest
from tests.support.cli import one_line_error, run_cli

from harness.errors import ExitCode
from harness.virtual import fleet

BAD_MODELS = {
    "no-such-model": ("no-such-model-xyz", "model 'no-such-model-xyz' not found"),
    "corrupt-keras": ("corrupt.keras", "it is not a zip archive with config.json"),
    "foreign-h5": ("foreign.h5", "it is not an HDF5 file"),
    "truncated-h5": ("truncated.h5", "it is not a complete HDF5 file"),
    "weights-only-h5": ("weights.h5", "the HDF5 file holds no model config"),
    "junk-tflite": ("junk.tflite", "no TFL3 identifier"),
}


@pytest.fixture
def bad_models(tmp_path):
    import h5py

    for name in ("corrupt.keras", "foreign.h5", "junk.tflite"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 not what it claims to be" * 10)
    (tmp_path / "truncated.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with h5py.File(tmp_path / "weights.h5", "w") as weights:  # what Keras' save_weights writes at the top
        weights.attrs["layer_names"] = [b"dense"]
        weights.create_group("dense")
    return tmp_path


@pytest.mark.parametrize("case", BAD_MODELS, ids=BAD_MODELS.keys())
@pytest.mark.parametrize("devices", ["none-so-one-would-be-started", "one-connected"])
def test_a_bad_model_is_refused_before_any_device_or_file(bad_models, request, case, devices):
    model, says = BAD_MODELS[case]
    argv = ["run", model, "--results", bad_models / "results", "--quiet"]
    if devices == "one-connected":
        argv += ["--devices", request.getfixturevalue("device").serial]
    else:  # an adb server with no device: the default path would start a virtual device
        argv += ["--adb-server", str(request.getfixturevalue("private_adb"))]
    running_before = {d.serial for d in fleet.list_running()}
    done = run_cli(*argv, cwd=bad_models, timeout_s=120)
    one_line_error(done.returncode, done.stderr, ExitCode.BAD_INPUT, says)
    assert not (bad_models / "results").exists()
    assert {d.serial for d in fleet.list_running()} == running_before


def test_a_bad_level_data_file_or_profile_is_refused_before_a_device_starts(bad_models, private_adb):
    running_before = {d.serial for d in fleet.list_running()}
    cases = [
        (["--levels", "fp32,int3"], ExitCode.USAGE, "int3"),
        (["--data", "missing.npz"], ExitCode.BAD_INPUT, "missing.npz"),
        (["--virtual-profile", "no-such-profile"], ExitCode.BAD_INPUT, "no device profile named 'no-such-profile'"),
    ]
    for extra, code, says in cases:
        done = run_cli("run", "digits-cnn", "--results", bad_models / "results", "--quiet",
                       "--adb-server", str(private_adb), *extra, cwd=bad_models)
        one_line_error(done.returncode, done.stderr, code, says)
    assert not (bad_models / "results").exists()
    assert {d.serial for d in fleet.list_running()} == running_before
