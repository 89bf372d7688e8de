"""`squeezebench run`, the main job, end to end: real conversions, real adb server, virtual devices."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from harness.device import adb
from harness.device.lock import device_lock
from harness.store.run import open_run
from tests.support.cli import run_cli, start_cli
from tests.support.fast import FAST_ARGS, fast_args
from tests.support.polling import wait_for

# Every test converts digits-cnn and sweeps it; the conversions are the session's, made once.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("digits_cnn_converted")]


def cells_by_status(run_dir: Path) -> dict[str, list[dict]]:
    by_status: dict[str, list[dict]] = {}
    for cell in open_run(run_dir).cells:
        by_status.setdefault(cell["status"], []).append(cell)
    return by_status


def run_dir_from(stdout: str) -> Path:
    return Path(json.loads(stdout)["run_dir"])


@pytest.fixture
def own_adb_world(tmp_path, unused_port):
    """An environment with its own (not yet started) adb server port and state: no device attached."""
    env = dict(os.environ)
    env["ANDROID_ADB_SERVER_PORT"] = str(unused_port())
    env["SQUEEZEBENCH_STATE"] = str(tmp_path / "state")
    yield env
    adb.kill_server(adb.AdbServerAddress("127.0.0.1", int(env["ANDROID_ADB_SERVER_PORT"])))


def test_the_main_command_starts_a_virtual_device_and_ends_in_a_report(own_adb_world, tmp_path):
    done = run_cli("run", "digits-cnn", *fast_args(check_outputs=True), env=own_adb_world, cwd=tmp_path, timeout_s=900)
    assert done.returncode == 0, done.stderr
    assert "no phone is attached: started virtual device" in done.stderr
    levels = ["fp32", "fp16", "int8-dynamic", "int8", "int16x8", "pruned-50", "pruned-75", "clustered-16", "distilled"]
    table_lines = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert set(levels) <= table_lines, done.stdout
    [run_dir] = (tmp_path / "results").iterdir()
    store = open_run(run_dir)
    assert sorted(c["level"] for c in store.cells) == sorted(levels)
    assert all(c["status"] == "ok" and "virtual" in c["summary"]["flags"] for c in store.cells)
    # digits-cnn has evaluation data: every level's outputs were checked on the device, by default.
    checks = [c["summary"]["output_check"] for c in store.cells]
    assert all(check["available"] and check["samples"] > 0 and not check["numerics"] for check in checks), checks
    assert store.document["finished_utc"]
    report = run_dir / "report"
    assert "| int8 |" in (report / "report.md").read_text()
    assert (report / "report.html").stat().st_size > 10_000 and list((report / "plots").glob("*.png"))
    # The device it started for itself is gone again.
    server = adb.AdbServerAddress("127.0.0.1", int(own_adb_world["ANDROID_ADB_SERVER_PORT"]))
    assert [s for s, state in adb.device_states(server).items() if state == "device"] == []


def test_three_devices_then_a_warm_rerun_converts_and_pushes_nothing(virtual_devices, tmp_path):
    devices = virtual_devices(3)
    serials = ",".join(d.serial for d in devices)
    args = ["run", "digits-cnn", "--devices", serials, "--virtual-parallel", "--no-report", "--json",
            "--results", tmp_path, *FAST_ARGS]
    first = run_cli(*args, timeout_s=900)
    assert first.returncode == 0, first.stderr
    run_dir = run_dir_from(first.stdout)
    statuses = cells_by_status(run_dir)
    assert list(statuses) == ["ok"] and len(statuses["ok"]) == 9 * 3
    second = run_cli(*args, timeout_s=900)
    assert second.returncode == 0, second.stderr
    assert "9 levels in" in second.stderr and "(9 from cache)" in second.stderr
    rerun = open_run(run_dir_from(second.stdout))
    for key in (d.serial for d in devices):
        transfers = rerun.document["devices"][key]["transfers"]
        assert transfers and not any(t["pushed"] for t in transfers), transfers
    assert second.stderr.count("pushed 0 file(s)") == 3


def ok_cells(results: Path):
    runs = list(results.glob("*/run.json"))
    if not runs:
        return None
    try:
        document = json.loads(runs[0].read_text())
    except json.JSONDecodeError:
        raise AssertionError("run.json is not valid JSON at some moment: writes are not atomic") from None
    return [c for c in document["cells"] if c["status"] == "ok"]


def test_a_killed_run_resumes_to_the_same_cells_leaving_finished_ones_untouched(virtual_devices, tmp_path):
    [device] = virtual_devices(1)
    levels = "fp32,fp16,int8-dynamic,int8"
    proc = start_cli("run", "digits-cnn", "--levels", levels, "--devices", device.serial, "--no-report",
                     "--results", tmp_path, *FAST_ARGS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        done_before = wait_for(lambda: ok_cells(tmp_path), "a first finished cell", timeout_s=600)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    [run_dir] = [p.parent for p in tmp_path.glob("*/run.json")]
    before = {c["id"]: c for c in open_run(run_dir).cells}
    assert len(before) == 4 and any(c["status"] != "ok" for c in before.values())

    done = run_cli("run", "--resume", run_dir, "--no-report")
    assert done.returncode == 0, done.stderr
    after = {c["id"]: c for c in open_run(run_dir).cells}
    assert set(after) == set(before) == {f"digits-cnn|{lv}|{device.serial}|t2|cpu" for lv in levels.split(",")}
    assert all(c["status"] == "ok" for c in after.values())
    for cell in done_before:
        assert after[cell["id"]]["finished_utc"] == cell["finished_utc"]
        assert after[cell["id"]]["summary"] == cell["summary"]


def test_two_runs_on_one_device_never_overlap_their_benchmarks(virtual_devices, tmp_path):
    """Both runs are made to want the device at once: the test holds its lock until both say they
    wait for it, then lets go."""
    [device] = virtual_devices(1)
    with device_lock(str(device.adb_server), device.serial, purpose="the test, until both runs wait"):
        runs, errors = [], []
        for i in range(2):
            errors.append(tmp_path / f"r{i}.stderr")
            with open(errors[-1], "w") as stderr:
                runs.append(start_cli(
                    "run", "digits-cnn", "--levels", "fp32,int8,fp16", "--devices", device.serial, "--virtual-parallel",
                    "--no-report", "--results", tmp_path / f"r{i}", *FAST_ARGS, stdout=subprocess.DEVNULL, stderr=stderr,
                ))  # fmt: skip
        wait_for(lambda: all("busy, waiting for" in e.read_text() for e in errors) or any(p.poll() for p in runs),
                 "both runs to wait for the device", timeout_s=600)
    codes = [p.wait(timeout=600) for p in runs]
    assert codes == [0, 0], [e.read_text() for e in errors]
    intervals = []
    for run_json in tmp_path.glob("r*/*/run.json"):
        store = open_run(run_json.parent)
        for cell in store.cells:
            runner = store.load_bench(cell).agent["runner"]
            intervals.append((runner["start_uptime_s"], runner["end_uptime_s"], cell["id"]))
    assert len(intervals) == 6
    intervals.sort()
    for (start_a, end_a, a), (start_b, end_b, b) in zip(intervals, intervals[1:]):
        assert end_a <= start_b, f"{a} ({start_a}-{end_a}) overlaps {b} ({start_b}-{end_b})"
