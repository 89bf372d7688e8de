"""A virtual device that a run starts for itself belongs to that run (issue 17): a killed run's
device waits for `--resume`, which takes it back rather than starting a second one; a device whose
run is gone for good stops itself. Real console script, real adb server, real daemons."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from harness.errors import ExitCode
from harness.virtual import fleet
from harness.virtual.ownership import Owner, process_start_ticks
from tests.faults.support import finish, read_cells
from tests.support.cli import run_cli, start_cli
from tests.support.devices import stop_and_delete
from tests.support.fast import CELLS_IN_FLIGHT_ARGS
from tests.support.polling import wait_for


def devices_of_run(run_dir: Path) -> list[fleet.VirtualDevice]:
    return [d for d in fleet.list_running()
            if (owner := fleet.owner_of(d)) and Path(owner.run_dir).resolve() == run_dir.resolve()]


def daemon_starts(device: fleet.VirtualDevice) -> int:
    """How many daemons have served from this device's state directory."""
    return (device.state_dir / "daemon.log").read_text().count(" listening on ")


@pytest.mark.slow  # converts digits-cnn and runs a sweep, twice
@pytest.mark.usefixtures("digits_cnn_converted")
def test_the_main_command_killed_after_a_cell_resumes_on_its_own_virtual_device(private_adb, tmp_path):
    results = tmp_path / "R"
    proc = start_cli(
        "run", "digits-cnn", "--levels", "fp32,fp16,int8,int8-dynamic", "--results", results, "--no-report",
        "--adb-server", str(private_adb), *CELLS_IN_FLIGHT_ARGS,
    )  # fmt: skip

    def a_cell_done_and_one_in_flight():
        statuses = [c["status"] for c in read_cells(results)]
        return ("ok" in statuses and "running" in statuses) or proc.poll() is not None

    wait_for(a_cell_done_and_one_in_flight, "a finished cell and one in flight", timeout_s=300)
    assert proc.poll() is None, proc.communicate()[1]
    [run_dir] = [p.parent for p in results.glob("*/run.json")]
    [device] = devices_of_run(run_dir)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        finished = {c["id"]: c for c in read_cells(results) if c["status"] == "ok"}
        assert finished and fleet.owner_of(device).is_alive() is False
        [still_there] = devices_of_run(run_dir)  # orphaned, but within its grace: resume takes it back
        assert still_there.pid == device.pid

        code, out, err = finish(start_cli("run", "--resume", run_dir, "--results", results, "--no-report", "--json"))
        assert code == ExitCode.OK, err
        assert f"reusing the run's virtual device {device.serial}" in err
        cells = {c["id"]: c for c in out["run"]["cells"]}
        assert {c["status"] for c in cells.values()} == {"ok"}
        for cell_id, cell in finished.items():
            assert cells[cell_id]["finished_utc"] == cell["finished_utc"]
            assert cells[cell_id]["summary"] == cell["summary"]
        assert daemon_starts(device) == 1  # no second virtual device, not even one that replaced it
        assert not [d for d in fleet.list_running() if d.port == device.port]  # none left running
    finally:
        stop_and_delete([device.serial])


def test_a_device_whose_run_is_gone_stops_itself_and_says_whose_it_was(virtual_devices, tmp_path):
    stand_in_run = subprocess.Popen(["sleep", "600"])
    owner = Owner(stand_in_run.pid, process_start_ticks(stand_in_run.pid), "run-x", str(tmp_path / "run-x"),
                  grace_s=1.0)
    [device] = virtual_devices(1, owner=owner)
    listing = run_cli("virtual", "list", check=True).stdout
    assert [line for line in listing.splitlines() if line.startswith(device.serial)][0].split()[4:6] == ["run", "run-x"]
    stand_in_run.kill()
    stand_in_run.wait()
    wait_for(lambda: device.port not in {d.port for d in fleet.list_running()},
             "the orphaned device to stop itself", timeout_s=30)
    assert "run run-x" in (device.state_dir / "daemon.log").read_text()
