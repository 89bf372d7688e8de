"""Lifecycle and faults with real daemons: several devices at once, stop/delete, SIGKILL,
unauthorized, a full /data, malformed packets, killed clients, re-registration."""

from __future__ import annotations

import os
import signal
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.digests import sha256_file
from harness.device import adb
from harness.errors import UsageError
from harness.virtual import fleet, protocol
from harness.virtual.daemon import PortInUseError
from tests.support.devices import session_ports
from tests.support.polling import wait_for
from tests.virtual.support import Client, bundled_adb, random_file, wait_for_state


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                state = Path(f"/proc/{entry}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if text.encode() in cmdline and state != b"Z":
                found.append(int(entry))
    return found


def port_is_listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def client_for(adb_server, device) -> Client:
    return Client("bundled-cli", adb_server, device.serial, bundled_adb())


def test_four_devices_with_separate_filesystems_batteries_and_processes(adb_server, tmp_path):
    devices = fleet.start(4, adb_server=adb_server)
    try:
        assert len({d.port for d in devices}) == 4
        assert {d.serial for d in fleet.list_running()} >= {d.serial for d in devices}
        clients = [client_for(adb_server, d) for d in devices]
        files = [random_file(tmp_path / f"f{i}.bin", 8 * 1024 * 1024 + i) for i in range(4)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda pair: pair[0].push(pair[1], "/data/local/tmp/mine.bin"), zip(clients, files)))
        for c, f in zip(clients, files):
            assert c.shell("sha256sum /data/local/tmp/mine.bin").stdout.split()[0].decode() == sha256_file(f)
        marker = clients[0].shell("echo a > /data/local/tmp/only-on-first; sleep 60 >/dev/null 2>&1 & echo $!")
        assert clients[1].shell("ls /data/local/tmp/only-on-first").exit_code != 0
        assert clients[1].shell("pidof sleep").stdout == b""
        assert clients[0].shell(f"kill {marker.stdout.decode().strip()}").exit_code == 0
        clients[0].shell("setprop power.battery_input.suspended true")
        wait_for(lambda: clients[0].shell("cat /sys/class/power_supply/battery/status").stdout == b"Discharging\n",
                   "the first device to discharge")
        assert clients[1].shell("cat /sys/class/power_supply/battery/status").stdout == b"Charging\n"
    finally:
        for d in devices:
            fleet.stop(d, delete=True)


def test_stop_leaves_no_process_port_or_mount_and_keeps_data(adb_server):
    # On a port of this session's own: it must still be free when the device starts again.
    [device] = fleet.start(1, adb_server=adb_server, port=session_ports())
    c = client_for(adb_server, device)
    assert c.shell("echo kept > /data/local/tmp/kept.txt").exit_code == 0
    fleet.stop(device)
    state = str(device.state_dir)
    assert processes_mentioning(state) == []
    assert not port_is_listening(device.port)
    assert state not in Path("/proc/mounts").read_text()
    assert device.serial not in adb.device_states(adb_server)
    assert device.serial not in {d.serial for d in fleet.list_running()}
    [again] = fleet.start(1, adb_server=adb_server, port=device.port)
    try:
        assert client_for(adb_server, again).shell("cat /data/local/tmp/kept.txt").stdout == b"kept\n"
    finally:
        fleet.stop(again, delete=True)
    assert not device.state_dir.exists()


def test_sigkill_makes_the_device_disappear(adb_server):
    [device] = fleet.start(1, adb_server=adb_server)
    try:
        os.kill(device.pid, signal.SIGKILL)
        wait_for(lambda: not processes_mentioning(str(device.state_dir)), "the sandbox to die with its daemon")
        assert device.serial not in {d.serial for d in fleet.list_running()}
        # The kernel closes a killed process's files after its command line is gone from /proc.
        wait_for(lambda: not port_is_listening(device.port), "the port to close")
    finally:
        fleet.stop(device.serial, delete=True)


def test_unauthorized_device_stays_unauthorized(adb_server):
    [device] = fleet.start(1, adb_server=adb_server, unauthorized=True)
    try:
        assert adb.device_states(adb_server)[device.serial] == "unauthorized"
        done = client_for(adb_server, device).adb("shell", "echo hi")
        assert done.returncode != 0 and b"unauthorized" in done.stderr
    finally:
        fleet.stop(device, delete=True)


def test_full_data_fails_a_push_like_adbd_and_leaves_no_partial_file(adb_server, tmp_path):
    import adbutils

    [device] = fleet.start(1, adb_server=adb_server, storage_mb=5)
    try:
        c = client_for(adb_server, device)
        c.push(random_file(tmp_path / "three.bin", 3 * 1024 * 1024), "/data/local/tmp/three.bin")
        done = c.adb("push", str(random_file(tmp_path / "four.bin", 4 * 1024 * 1024)), "/sdcard/four.bin")
        assert done.returncode != 0
        assert b"No space left on device" in done.stderr
        assert c.shell("ls /sdcard/four.bin").exit_code != 0
        with pytest.raises(adbutils.AdbError):
            adb.client(adb_server).device(device.serial).sync.push(str(tmp_path / "four.bin"), "/data/local/tmp/x.bin")
        assert c.shell("ls /data/local/tmp").stdout == b"three.bin\n"
        assert c.shell("echo still fine").stdout == b"still fine\n"
    finally:
        fleet.stop(device, delete=True)


def handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(protocol.encode_packet(protocol.A_CNXN, protocol.A_VERSION, 256 * 1024, b"host::\0"))
    header = protocol.decode_header(recv_exact(sock, protocol.HEADER_SIZE_BYTES), protocol.MAX_PAYLOAD_BYTES)
    assert header.command == protocol.A_CNXN
    recv_exact(sock, header.data_length)
    return sock


def recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def test_malformed_packet_or_killed_client_closes_only_that_connection(device, adb_server):
    c = client_for(adb_server, device)
    bad = handshake(device.port)
    bad.sendall(b"\x00" * protocol.HEADER_SIZE_BYTES)  # magic does not match the command
    assert bad.recv(1) == b""  # the device closed this connection...
    bad.close()
    killed = handshake(device.port)
    killed.sendall(protocol.encode_packet(protocol.A_OPEN, 7, 0, b"shell:sleep 77\0"))
    recv_exact(killed, protocol.HEADER_SIZE_BYTES)  # OKAY: the command runs
    wait_for(lambda: b"77" in c.shell("ps -A -o ARGS").stdout, "the command to start")
    killed.close()  # ...and a client that vanishes takes its commands with it
    wait_for(lambda: b"sleep 77" not in c.shell("ps -A -o ARGS").stdout, "the orphaned command to be hung up")
    assert c.shell("echo still serving").stdout == b"still serving\n"  # the others go on


def test_device_registers_again_when_the_server_drops_it(device, adb_server):
    log = device.state_dir / "daemon.log"
    registrations = log.read_text().count("registering with the adb server")
    adb.disconnect(adb_server, device.serial)
    wait_for(lambda: log.read_text().count("registering with the adb server") > registrations,
               "the daemon to register again", timeout_s=20)
    wait_for_state(adb_server, device.serial, "device", timeout_s=20)


@pytest.mark.parametrize("kwargs, message", [
    ({"count": 0}, "out of range"),
    ({"port": 5555}, "emulator range"),
    ({"storage_mb": 0}, "too small"),
])
def test_bad_start_arguments_are_usage_errors(adb_server, kwargs, message):
    with pytest.raises(UsageError, match=message):
        fleet.start(adb_server=adb_server, **kwargs)


def test_a_remote_adb_server_is_refused():
    with pytest.raises(UsageError, match="loopback"):
        fleet.start(adb_server=adb.AdbServerAddress("lab.example", 5037))


def test_a_taken_port_is_refused_when_asked_for_and_skipped_when_chosen(adb_server):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", fleet._next_free_port(fleet.LAST_PORT - 50, set())))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {taken} is already in use"):
            fleet.start(adb_server=adb_server, port=taken)
        attempts = []

        def start_one(port):
            attempts.append(port)
            if port == taken:  # as if another program bound it after our check
                raise PortInUseError(f"port {port} cannot be used", None)
            return port

        assert fleet._start_on_a_free_port(taken, start_one, set()) not in (taken, None)
        assert attempts[0] == taken and len(attempts) == 2


def test_the_daemon_listens_as_soon_as_it_binds_so_a_late_taker_fails_not_it(tmp_path):
    """Linux lets two SO_REUSEADDR sockets bind one port while neither listens: a bind alone
    does not claim a port, and a device that listened only once its sandbox was up lost it to
    a program that listened in between ('Address already in use' after the start)."""
    import asyncio

    from harness.virtual import daemon

    port = fleet._next_free_port(fleet.LAST_PORT - 80, set())
    args = daemon.parse_args(["--port", str(port), "--state-dir", str(tmp_path), "--adb-server", "127.0.0.1:1"])

    async def claim_then_try_to_take():
        server = await daemon.VirtualDeviceDaemon(args)._listen()
        try:
            assert port_is_listening(port)  # before it serves: connections wait in the backlog
            # asyncio gives accepted connections TCP_NODELAY only on a socket that says it is TCP
            # (without, every small adb request stalls 40 ms on delayed ACKs).
            assert [s.proto for s in server.sockets] == [socket.IPPROTO_TCP]
            with socket.socket() as late:
                late.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                with pytest.raises(OSError):
                    late.bind(("127.0.0.1", port))
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(claim_then_try_to_take())


def test_a_port_taken_after_the_check_moves_the_device_to_the_next_one(adb_server, monkeypatch):
    import functools

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", fleet._next_free_port(fleet.LAST_PORT - 60, set())))
        holder.listen()
        taken = holder.getsockname()[1]
        real_port_is_free = fleet._port_is_free
        monkeypatch.setattr(fleet, "_port_is_free", lambda port: port == taken or real_port_is_free(port))
        start_one = functools.partial(fleet._start_one, profile="virtual-default", adb_server=adb_server,
                                      unauthorized=False, storage_mb=None)
        device = fleet._start_on_a_free_port(taken, start_one, set())
    try:
        assert device.port != taken and port_is_listening(device.port)
    finally:
        fleet.stop(device, delete=True)
