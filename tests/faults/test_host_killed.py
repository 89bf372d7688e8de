"""squeezebench itself is SIGKILLed in the middle of a cell: run.json is valid JSON at every moment
(polled while the sweep runs), every finished cell is on disk, and --resume redoes the cell in
flight, reaps what the dead run left on the device and leaves the finished cells untouched."""

import os
import signal

import pytest

from harness.device.workdir import CHARGING_NOTE, DEVICE_ROOT
from harness.device.connection import Device
from harness.errors import ExitCode
from harness.store.run import open_run
from tests.faults.support import device_leftovers, finish, wait_for_a_cell_in_flight
from tests.support.cli import start_cli
from tests.support.fast import CELLS_IN_FLIGHT_ARGS, fast_measurement
from tests.support.polling import wait_for

pytestmark = pytest.mark.slow  # whole sweeps, killed and resumed


def test_a_killed_run_is_valid_on_disk_and_resumes(virtual_devices, tiny_tflite, tmp_path):
    [device] = virtual_devices(1)
    proc = start_cli(
        "run", tiny_tflite, "--devices", device.serial, "--threads", "1,2", "--delegates", "cpu,xnnpack-off",
        "--no-report", "--results", tmp_path, *CELLS_IN_FLIGHT_ARGS,
    )  # fmt: skip
    wait_for_a_cell_in_flight(proc, tmp_path, device.serial)
    # A stopped runner holds its agent: the host is killed while the agent runs, however long
    # the host takes to do it (the agent's killer ends the runner, stopped or not).
    wait_for(lambda: runner_stopped(device), "a runner to stop in the middle of its cell")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    # The connection is gone: the agent is hung up, stops its runner and helpers, and records it.
    wait_for(lambda: device_leftovers(device.adb_server, device.serial)[0] == [], "the agent to wrap up", 30)
    [cell_dir] = device_leftovers(device.adb_server, device.serial)[1]
    handle = Device(device.adb_server, device.serial)
    result = handle.read_text(f"{DEVICE_ROOT}/cells/{cell_dir}/result.txt")
    assert "agent.interrupted=HUP" in result.splitlines()
    # The sweep kept charging suspended for its queue; dead, it leaves the note saying what to restore.
    assert charging_suspended(handle) == "true"
    assert handle.read_text(CHARGING_NOTE) == "false"

    [run_dir] = [p.parent for p in tmp_path.glob("*/run.json")]
    killed = open_run(run_dir)  # parses, right kind and version, paths inside the run
    assert killed.document["finished_utc"] is None
    before = {c["id"]: c for c in killed.cells}
    finished = [c for c in before.values() if c["status"] == "ok"]
    assert finished and [c["status"] for c in before.values()].count("running") == 1
    for cell in finished:
        assert killed.load_bench(cell).ok

    code, out, err = finish(start_cli("run", "--resume", run_dir.name, "--results", tmp_path, "--no-report", "--json"))
    assert code == ExitCode.OK, err
    after = {c["id"]: c for c in out["run"]["cells"]}
    assert set(after) == set(before) and {c["status"] for c in after.values()} == {"ok"}
    for cell in finished:
        assert after[cell["id"]]["finished_utc"] == cell["finished_utc"]
        assert after[cell["id"]]["summary"] == cell["summary"]
    assert out["run"]["finished_utc"]
    assert device_leftovers(device.adb_server, device.serial) == ([], [])
    # The next session restored charging from the note, suspended it for its own queue, and put
    # it back at the end: charging as it was before the killed run.
    assert charging_suspended(handle) == "false"
    assert not handle.shell(["ls", CHARGING_NOTE], check=False).ok


def charging_suspended(device: Device) -> str:
    return device.shell(["getprop", "power.battery_input.suspended"]).stdout.strip()


def runner_stopped(device) -> bool:
    """SIGSTOP the device's runner if one runs now; True once one is stopped (not one that had
    already exited)."""
    processes, _ = device_leftovers(device.adb_server, device.serial)
    pids = [line.split()[0] for line in processes if f"{DEVICE_ROOT}/runner/" in line and "agent.sh" not in line]
    handle = Device(device.adb_server, device.serial)
    if not pids or not handle.shell(["kill", "-STOP", *pids], check=False).ok:
        return False
    states = handle.shell(["cat", *(f"/proc/{pid}/stat" for pid in pids)], check=False).stdout
    return all(line.rsplit(")", 1)[1].split()[0] == "T" for line in states.splitlines())


def test_a_bug_in_one_device_worker_loses_nothing_the_others_measured(virtual_devices, tiny_tflite, tmp_path, monkeypatch):
    """An unexpected exception (a bug) in one device's thread still ends the command with its
    traceback, but only after the other devices finished; its cells stay unfinished for --resume."""
    from harness.sweep import engine
    from harness.sweep.spec import SweepSpec

    healthy, buggy = virtual_devices(2)
    real_benchmark = engine.DeviceWorker.benchmark

    def benchmark(worker, cell):
        if worker.key == buggy.serial:
            raise RuntimeError("a bug in squeezebench")
        return real_benchmark(worker, cell)

    monkeypatch.setattr(engine.DeviceWorker, "benchmark", benchmark)
    spec = SweepSpec(models=(str(tiny_tflite),), devices=(healthy.serial, buggy.serial), threads=(1, 2),
                     measurement=fast_measurement(), virtual_parallel=True)
    with pytest.raises(RuntimeError, match="a bug in squeezebench"):
        engine.run_sweep(spec, results_root=tmp_path)
    [run_dir] = [p.parent for p in tmp_path.glob("*/run.json")]
    cells = open_run(run_dir).cells
    assert {c["status"] for c in cells if c["device"] == healthy.serial} == {"ok"}
    assert [c["status"] for c in cells if c["device"] == buggy.serial] == ["pending", "pending"]
