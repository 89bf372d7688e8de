"""The adb server dies in the middle of a sweep (SIGKILL). A local one is restarted and the sweep
goes on; a remote one (another host's, not ours to start) is waited for within --recover-wait,
then the sweep stops cleanly with everything measured saved. No server is ever started anywhere
else (adbutils on its own would start one on the environment's port, 5037 for a user)."""

import os
import signal

import pytest

from harness.device import adb
from harness.errors import ExitCode
from tests.faults.support import adb_server_pid, device_leftovers, finish, wait_for_a_cell_in_flight
from tests.support.adb_servers import adb_server_environment
from tests.support.cli import start_cli
from tests.support.fast import CELLS_IN_FLIGHT_ARGS
from tests.support.polling import wait_for

pytestmark = pytest.mark.slow  # whole sweeps through a dying adb server


def kill_server_while_a_cell_runs(run, server, serial, results):
    wait_for_a_cell_in_flight(run, results, serial)
    os.kill(adb_server_pid(server), signal.SIGKILL)


def test_a_local_adb_server_that_dies_is_restarted_and_the_sweep_continues(
    private_adb, virtual_devices, tiny_tflite, tmp_path
):
    devices = virtual_devices(2, adb_server=private_adb)
    proc = start_cli(
        "run", tiny_tflite, "--adb-server", private_adb, "--devices", ",".join(d.serial for d in devices),
        "--threads", "1,2", "--virtual-parallel", "--no-report", "--json", "--results", tmp_path, *CELLS_IN_FLIGHT_ARGS,
        # What is tested is that the sweep goes on, not how soon: on a loaded host the restarted
        # server and the devices registering with it again can take longer than the default 30 s.
        "--recover-wait", "120",
    )  # fmt: skip
    kill_server_while_a_cell_runs(proc, private_adb, devices[0].serial, tmp_path)
    code, out, err = finish(proc)

    assert code == ExitCode.OK, err
    assert f"adb server {private_adb} is down; restarting it" in err
    cells = out["run"]["cells"]
    assert {c["status"] for c in cells} == {"ok"} and len(cells) == 4
    assert any(c["attempts"] == 2 for c in cells), "no cell was interrupted and retried"
    assert adb.server_is_up(private_adb)
    for device in devices:  # the virtual devices registered themselves with the new server
        assert device_leftovers(private_adb, device.serial) == ([], [])


@pytest.fixture
def remote_adb(unused_port):
    """An adb server listening on every interface, reached as 127.0.0.2: to squeezebench it is
    another host's server, which it must not start or restart."""
    import subprocess

    port = unused_port()
    server = subprocess.Popen(
        [adb.adb_binary(), "-a", "-P", str(port), "nodaemon", "server"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=adb_server_environment(),
    )  # fmt: skip
    local = adb.AdbServerAddress("127.0.0.1", port)
    wait_for(lambda: adb.server_is_up(local), "the remote adb server to listen", timeout_s=20)
    yield local, adb.AdbServerAddress("127.0.0.2", port)
    server.kill()
    server.wait()


def test_a_remote_adb_server_that_dies_is_waited_for_then_the_run_stops_with_everything_saved(
    remote_adb, virtual_devices, tiny_tflite, tmp_path, unused_port
):
    registered_at, remote = remote_adb
    assert not remote.is_local
    [device] = virtual_devices(1, adb_server=registered_at)
    users_default_server = adb.AdbServerAddress("127.0.0.1", unused_port())  # stands in for 5037
    proc = start_cli(
        "run", tiny_tflite, "--adb-server", remote, "--threads", "1,2,3", "--recover-wait", "2",
        "--no-report", "--json", "--results", tmp_path, *CELLS_IN_FLIGHT_ARGS,
        env={**os.environ, "ANDROID_ADB_SERVER_PORT": str(users_default_server.port)},
    )  # fmt: skip
    kill_server_while_a_cell_runs(proc, registered_at, device.serial, tmp_path)
    code, out, err = finish(proc)

    assert code == ExitCode.PARTIAL, err
    run = out["run"]
    assert run["finished_utc"] and run["devices"][device.serial]["adb_server"] == str(remote)
    statuses = [c["status"] for c in run["cells"]]
    assert statuses[0] == "ok" and run["cells"][0]["summary"]["latency_us"]["median"] > 0
    assert set(statuses[1:]) == {"device-lost"}, [c["reason"] for c in run["cells"]]
    assert f"[{device.serial}] lost; waiting up to 2 s" in err
    assert "restarting" not in err
    assert not adb.server_is_up(registered_at), "squeezebench restarted a server that is not its own"
    assert not adb.server_is_up(users_default_server), "a server was started on the environment's port"
