"""A device lab: devices behind another host's adb server, swept together with local ones.

The second "host" is a network namespace on this machine with its own adb server (listening on
its own address) and its own virtual device; squeezebench reaches it only through that server."""

import json
import os
import shutil
import subprocess

import pytest

from harness.device import adb
from tests.support.adb_servers import adb_server_environment
from tests.support.cli import run_cli
from tests.support.fast import FAST_ARGS
from tests.support.polling import wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"),
                       reason="needs root and iproute2 to make a second host (netns)"),
    pytest.mark.slow,
]  # fmt: skip


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def lab_host(tmp_path_factory, adb_server):
    """A namespace '10.213.N.2' running an adb server on 5037 with one virtual device attached."""
    tag = os.getpid() % 250
    ns, host_if, ns_if = f"sblab{tag}", f"sbh{tag}", f"sbn{tag}"
    host_ip, lab_ip = f"10.213.{tag}.1", f"10.213.{tag}.2"
    home = tmp_path_factory.mktemp("lab-home")
    env = adb_server_environment(HOME=str(home), SQUEEZEBENCH_STATE=str(home / "state"),
                                 ANDROID_ADB_SERVER_PORT="5037")  # inside the namespace 5037 is the lab's own server
    sh("ip", "netns", "add", ns)
    server = None
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/24", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{lab_ip}/24", "dev", ns_if)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, adb.adb_binary(), "-a", "-P", "5037", "nodaemon", "server"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        address = adb.AdbServerAddress(lab_ip, 5037)
        wait_for(lambda: adb.server_is_up(address), "the lab's adb server to come up", timeout_s=20, interval_s=0.2)
        started = subprocess.run(
            ["ip", "netns", "exec", ns, "squeezebench", "virtual", "start", "--adb-server", "127.0.0.1:5037"],
            env=env, capture_output=True, text=True, timeout=60,
        )
        assert started.returncode == 0, started.stderr
        serial = started.stdout.split()[0]
        yield address, serial
    finally:
        subprocess.run(["ip", "netns", "exec", ns, "squeezebench", "virtual", "stop", "--all", "--delete"],
                       env=env, capture_output=True, timeout=60)
        if server:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)


def test_one_run_sweeps_local_and_remote_devices(lab_host, adb_server, virtual_devices, tiny_tflite, tmp_path):
    lab_address, lab_serial = lab_host
    [local] = virtual_devices(1)
    remote_key = f"{lab_serial}@{lab_address}"
    done = run_cli(
        "run", tiny_tflite, "--adb-server", str(adb_server), "--adb-server", str(lab_address),
        "--devices", f"{local.serial},{remote_key}", "--json", "--no-report", "--results", tmp_path, *FAST_ARGS,
    )
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)["run"]
    assert {c["device"]: c["status"] for c in run["cells"]} == {local.serial: "ok", remote_key: "ok"}
    assert run["devices"][remote_key]["adb_server"] == str(lab_address)
    assert run["devices"][local.serial]["adb_server"] == str(adb_server)
    for cell in run["cells"]:
        assert cell["summary"]["latency_us"]["median"] > 0
