"""A device disappears in the middle of a sweep (its virtual device SIGKILLed while a cell runs):
what it finished is kept, the rest is marked device-lost with the reason, the other device
finishes, and the device is either waited for or, once back, finished by --resume."""

import re

import pytest

from harness.errors import ExitCode
from harness.store.run import open_run
from tests.faults.support import device_leftovers, finish, kill_daemon, start_again, wait_for_a_cell_in_flight
from tests.support.cli import start_cli
from tests.support.fast import CELLS_IN_FLIGHT_ARGS

pytestmark = pytest.mark.slow  # whole sweeps, interrupted and resumed


def sweep(model, server, serials, results, *extra):
    return start_cli(
        "run", model, "--adb-server", server, "--devices", ",".join(serials), "--threads", "1,2",
        "--delegates", "cpu,xnnpack-off", "--virtual-parallel", "--no-report", "--json", "--results", results, *extra,
    )  # fmt: skip


def test_a_lost_device_keeps_its_finished_cells_and_resume_completes_the_rest(
    private_adb, virtual_devices, tiny_tflite, tmp_path
):
    lost, other = virtual_devices(2, adb_server=private_adb)
    proc = sweep(tiny_tflite, private_adb, [lost.serial, other.serial], tmp_path, "--recover-wait", "2", *CELLS_IN_FLIGHT_ARGS)
    wait_for_a_cell_in_flight(proc, tmp_path, lost.serial)
    kill_daemon(lost)
    code, out, err = finish(proc)

    assert code == ExitCode.PARTIAL, err
    assert out["run"]["finished_utc"], "the run did not end cleanly"
    cells = {c["id"]: c for c in out["run"]["cells"]}
    mine = [c for c in cells.values() if c["device"] == lost.serial]
    finished = [c for c in mine if c["status"] == "ok"]
    assert finished and all(c["summary"]["latency_us"]["median"] > 0 for c in finished)
    lost_cells = [c for c in mine if c["status"] == "device-lost"]
    assert len(finished) + len(lost_cells) == 4
    in_flight = [c for c in lost_cells if c["attempts"] == 1]
    # Where the cable is pulled decides the words (mid-command: "lost the connection", between
    # commands: "device offline"); either way the reason names the loss.
    assert len(in_flight) == 1 and re.search(r"lost the connection|not available|offline", in_flight[0]["reason"])
    assert all(c["reason"].startswith("not run: device lost earlier") for c in lost_cells if c["attempts"] == 0)
    assert {c["status"] for c in cells.values() if c["device"] == other.serial} == {"ok"}
    assert f"[{lost.serial}] lost; waiting up to 2 s" in err

    start_again(lost)  # same port, same /data
    run_dir = tmp_path / out["run"]["run_id"]
    done = start_cli("run", "--resume", run_dir, "--no-report", "--json")
    code, resumed, err = finish(done)
    assert code == ExitCode.OK, err
    after = {c["id"]: c for c in resumed["run"]["cells"]}
    assert set(after) == set(cells) and {c["status"] for c in after.values()} == {"ok"}
    for cell in finished:  # measured before the loss: untouched
        assert after[cell["id"]]["finished_utc"] == cell["finished_utc"]
        assert after[cell["id"]]["summary"] == cell["summary"]
    assert open_run(run_dir).document["finished_utc"]
    assert device_leftovers(private_adb, lost.serial) == ([], [])


def test_a_device_that_comes_back_within_the_wait_is_retried_in_the_same_run(
    private_adb, virtual_devices, tiny_tflite, tmp_path
):
    [device] = virtual_devices(1, adb_server=private_adb)
    proc = sweep(tiny_tflite, private_adb, [device.serial], tmp_path, "--recover-wait", "60", *CELLS_IN_FLIGHT_ARGS)
    wait_for_a_cell_in_flight(proc, tmp_path, device.serial)
    kill_daemon(device)
    start_again(device)
    code, out, err = finish(proc)

    assert code == ExitCode.OK, err
    statuses = [(c["status"], c["attempts"]) for c in out["run"]["cells"]]
    assert {s for s, _ in statuses} == {"ok"} and ("ok", 2) in statuses, statuses
    assert f"[{device.serial}] back after losing it" in err
    assert device_leftovers(private_adb, device.serial) == ([], [])

