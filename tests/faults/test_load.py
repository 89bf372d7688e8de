"""Load: eight virtual devices x three compression levels in one sweep, all measuring at once
(--virtual-parallel): every cell is accounted for, measured, and recorded once."""

import warnings

import pytest

from harness.errors import ExitCode
from tests.faults.support import finish
from tests.support.cli import start_cli
from tests.support.fast import FAST_ARGS

pytestmark = pytest.mark.slow  # a conversion, then a sweep over eight devices

LEVELS = ["fp32", "fp16", "int8-dynamic"]


@pytest.fixture(scope="module")
def tiny_h5(tmp_path_factory):
    """A small Keras model, converted once here so that the sweep finds its levels in the cache."""
    import tf_keras

    from harness.convert import convert_model

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential(
        [
            tf_keras.layers.Input((16, 16, 3)),
            tf_keras.layers.Conv2D(8, 3, activation="relu"),
            tf_keras.layers.GlobalAveragePooling2D(),
            tf_keras.layers.Dense(4),
        ]
    )
    path = tmp_path_factory.mktemp("load") / "loadnet.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "HDF5 is legacy": still what many models come as
        model.save(path)
    convert_model(str(path), ",".join(LEVELS), tmp_path_factory.mktemp("warm-cache"))
    return path


def test_eight_devices_times_three_levels_account_for_every_cell(private_adb, virtual_devices, tiny_h5, tmp_path):
    devices = virtual_devices(8, adb_server=private_adb)
    serials = sorted(d.serial for d in devices)
    code, out, err = finish(
        start_cli(
            "run", tiny_h5, "--levels", ",".join(LEVELS), "--adb-server", private_adb, "--devices", ",".join(serials),
            "--threads", "1", "--virtual-parallel", "--no-report", "--json", "--results", tmp_path, *FAST_ARGS,
        )  # fmt: skip
    )
    assert code == ExitCode.OK, err
    cells = out["run"]["cells"]
    assert sorted(c["id"] for c in cells) == sorted(
        f"loadnet|{level}|{serial}|t1|cpu" for level in LEVELS for serial in serials
    )
    assert all(c["status"] == "ok" and c["attempts"] == 1 for c in cells)
    assert all(c["summary"]["latency_us"]["count"] >= 5 for c in cells)
    assert out["counts"] == {"ok": 24}
    for serial in serials:
        assert f"[{serial}] finished 3/3 cells" in err
