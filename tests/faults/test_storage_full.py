"""Device storage full during a push (a virtual device with --storage-mb): the cell that needed
the push fails with the device's own reason, no partial file stays on the device, and the other
cells of the sweep go on."""

import json

import pytest

from harness.device.workdir import DEVICE_ROOT
from harness.device.connection import Device
from harness.errors import ExitCode
from tests.faults.support import device_leftovers
from tests.support.cli import run_cli
from tests.support.fast import FAST_ARGS

pytestmark = pytest.mark.slow  # a conversion and a sweep


@pytest.fixture(scope="module")
def big_tflite(tmp_path_factory, tiny_tflite):
    """A real 2 MB model (one 512x1024 dense layer), more than a 1 MB device can take."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([tf_keras.layers.Input((512,)), tf_keras.layers.Dense(1024), tf_keras.layers.Dense(10)])
    path = tmp_path_factory.mktemp("big") / "big.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    assert path.stat().st_size > 2_000_000
    return path


def test_a_full_device_fails_that_cell_cleanly_and_the_sweep_goes_on(
    virtual_devices, big_tflite, tiny_tflite, tmp_path
):
    [device] = virtual_devices(1, storage_mb=1)
    done = run_cli("run", big_tflite, tiny_tflite, "--devices", device.serial, "--threads", "1",
               "--no-report", "--json", "--results", tmp_path, *FAST_ARGS)  # fmt: skip
    assert done.returncode == ExitCode.PARTIAL, done.stderr
    assert "Traceback" not in done.stderr
    cells = {c["model"]: c for c in json.loads(done.stdout)["run"]["cells"]}
    assert cells["big"]["status"] == "failed"
    assert "No space left on device" in cells["big"]["reason"]
    assert "free space on the device" in cells["big"]["reason"]
    assert cells["tiny"]["status"] == "ok"  # pushed and measured after the failure

    models = Device(device.adb_server, device.serial).shell(["find", f"{DEVICE_ROOT}/models", "-type", "f"]).stdout
    # tiny's, with its digest note; no partial big, and no note claiming it
    assert sorted(line.rsplit("/", 1)[1] for line in models.split()) == ["as-is.tflite", "as-is.tflite.sha256"]
    assert device_leftovers(device.adb_server, device.serial) == ([], [])
