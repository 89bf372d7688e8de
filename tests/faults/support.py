"""Helpers for the fault and bad-input tests: kill and restart devices and adb servers, look at
what a device has left behind, and read run.json as it is on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from harness.device.workdir import DEVICE_ROOT
from harness.device import adb
from harness.device.connection import Device
from tests.support.polling import wait_for


def kill_daemon(device) -> None:
    """SIGKILL a virtual device's daemon: the device vanishes as a phone whose cable is pulled."""
    os.kill(device.pid, signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{device.pid}").exists(), f"the device daemon {device.pid} to die", timeout_s=10,
             interval_s=0.05)


def start_again(device):
    """A virtual device on the port of one that was killed, with the /data it left behind."""
    from harness.virtual import fleet

    [again] = fleet.start(1, device.profile, adb_server=device.adb_server, port=device.port)
    return again


def adb_server_pid(address: adb.AdbServerAddress) -> int:
    """The pid of the adb server process listening on that port (found in /proc)."""
    port = str(address.port).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"server" in argv and (port in argv or b"tcp:" + port in argv) and Path(argv[0].decode()).name == "adb":
            return int(proc.name)
    raise AssertionError(f"no adb server process for {address}")


def device_leftovers(server, serial: str) -> tuple[list[str], list[str]]:
    """What a benchmark may leave on a device: processes besides its init (agent, runner, a
    sampler's sleep...) and entries under the cells directory."""
    device = Device(server, serial)
    listing = device.shell(["ps", "-A", "-o", "PID,ARGS"]).stdout.splitlines()[1:]
    processes = [
        line.strip() for line in listing if line.split(None, 1)[0] != "1" and "PID,ARGS" not in line
    ]
    cells = device.shell(["ls", "-A", f"{DEVICE_ROOT}/cells"], check=False).stdout.split()
    return processes, cells


def read_cells(results: Path) -> list[dict]:
    """The cells of the one run under `results`, as on disk right now (run.json must always parse)."""
    runs = list(Path(results).glob("*/run.json"))
    if not runs:
        return []
    try:
        return json.loads(runs[0].read_text())["cells"]
    except json.JSONDecodeError as e:
        raise AssertionError(f"{runs[0]} is not valid JSON at some moment: {e}") from None


def wait_for_a_cell_in_flight(run: subprocess.Popen, results: Path, device_key: str) -> None:
    """Until `device_key` has finished a cell of the sweep `run` and is running the next one; a
    sweep that ends first fails the test with its stderr."""

    def in_flight_or_ended():
        cells = [c for c in read_cells(results) if c["device"] == device_key]
        in_flight = any(c["status"] == "ok" for c in cells) and any(c["status"] == "running" for c in cells)
        return in_flight or run.poll() is not None

    wait_for(in_flight_or_ended, f"a cell in flight on {device_key} after a finished one")
    assert run.poll() is None, f"the sweep ended (exit {run.returncode}) first: {run.communicate()[1]}"


def finish(proc: subprocess.Popen, timeout_s: float = 300) -> tuple[int, dict, str]:
    """Wait for a `run --json` process: exit code, its JSON, its stderr."""
    out, err = proc.communicate(timeout=timeout_s)
    assert "Traceback" not in err, err
    try:
        return proc.returncode, json.loads(out), err
    except json.JSONDecodeError:
        raise AssertionError(f"exit {proc.returncode} without a JSON document; stderr:\n{err}") from None


