"""Start, list and stop virtual devices from Python (the CLI and tests use this).

Each device is a detached daemon process (`harness.virtual.daemon`) identified by its port; its
state lives in harness.paths.state_dir()/virtual/<port>/:
  device.json   present while the daemon runs (serial, pid, profile, adb server, ...)
  owner.json    the run that started the device, if one did (harness.virtual.ownership)
  data/         the device's /data (and /sdcard): kept by `stop`, removed by `stop(delete=True)`
  runtime/      generated at every start (/system, /sys, sockets)
  daemon.log, system.json (settings and installed packages)

Stopping keeps the device, as switching a phone off does: starting one on the same port again
finds its /data as it was. Deleting removes it. A daemon killed with SIGKILL takes its sandbox
and port with it; `list_running` no longer reports it, and its stale record is cleaned up.
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness import paths
from harness.device import adb
from harness.device.adb import AdbServerAddress
from harness.device.profiles import load_virtual_profile
from harness.errors import DeviceError, HostEnvironmentError, InputError, SqueezebenchError, UsageError
from harness.schemas import VIRTUAL_DEVICE
from harness.virtual import sandbox
from harness.virtual.ownership import Owner, read_owner, write_owner
from harness.virtual.daemon import RECORD_NAME, PortInUseError

FIRST_PORT = 6520
LAST_PORT = 6999
# adb servers scan odd ports in this range for emulators; a device there would be found twice.
EMULATOR_PORTS = range(5554, 5586)
DAEMON_READY_TIMEOUT_S = 30.0
REGISTRATION_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
MAX_COUNT = 32
PORT_ATTEMPTS = 5


@dataclass(frozen=True)
class VirtualDevice:
    serial: str
    port: int
    pid: int
    profile: str
    state_dir: Path
    adb_server: AdbServerAddress
    unauthorized: bool = False
    storage_mb: int | None = None
    started_at: float = 0.0
    capture: str | None = None  # the captured phone it answers as
    parts: dict[str, str] | None = None  # of the capture: captured, partial, simulated, ...

    @property
    def simulated(self) -> list[str]:
        """What a replayed capture leaves to the simulation (every part otherwise)."""
        if self.parts is None:
            return ["all"]
        return [p if s == "simulated" else f"{p}(partial)" for p, s in self.parts.items() if s in ("simulated", "partial")]


def virtual_root() -> Path:
    return paths.state_dir() / "virtual"


def start(
    count: int = 1,
    profile: str = "virtual-default",
    *,
    adb_server: AdbServerAddress,
    port: int | None = None,
    unauthorized: bool = False,
    storage_mb: int | None = None,
    capture: str | os.PathLike | None = None,
    owner: Owner | None = None,
) -> list[VirtualDevice]:
    """Start `count` devices and return once `adb_server` lists each of them as `device`
    (`unauthorized` when asked for). With `port`, the devices take port, port+1, ...;
    otherwise the first free ports from 6520 up. With `capture`, each answers as that captured
    phone (harness.virtual.replay). With `owner`, the devices belong to that run and stop
    themselves once it is gone (harness.virtual.ownership)."""
    _check_start_arguments(count, port, storage_mb, adb_server)
    load_virtual_profile(profile)  # a bad profile fails here, in one line, not in a daemon log
    if capture is not None:
        from harness.device.capture import Capture

        capture = str(Capture.load(capture).root)  # so does a bad capture
    sandbox.find_host_tools()
    adb.ensure_server(adb_server)
    started: list[VirtualDevice] = []
    try:
        start_one = functools.partial(_start_one, profile=profile, adb_server=adb_server,
                                      unauthorized=unauthorized, storage_mb=storage_mb, capture=capture,
                                      owner=owner)
        with _start_lock():
            for wanted_port in _ports_to_use(count, port):
                if port is None:
                    started.append(_start_on_a_free_port(wanted_port, start_one, {d.port for d in started}))
                else:
                    started.append(start_one(wanted_port))
        for device in started:
            _wait_until_registered(device)
    except BaseException:
        for device in started:
            _stop_quietly(device)
        raise
    return started


def list_running() -> list[VirtualDevice]:
    """Devices whose daemon is alive, by port."""
    devices = []
    root = virtual_root()
    if not root.is_dir():
        return []
    for record_path in sorted(root.glob(f"*/{RECORD_NAME}")):
        device = _read_record(record_path)
        if device is None:
            continue
        if _daemon_alive(device):
            devices.append(device)
        else:
            _forget_dead(device)
    return sorted(devices, key=lambda d: d.port)


def stop(serial_or_device: str | VirtualDevice, *, delete: bool = False) -> None:
    """Stop one device (its /data is kept unless `delete`). A device that is not running can
    still be deleted by serial."""
    device = _find(serial_or_device)
    if device is not None:
        _stop_running(device, delete=delete)
        return
    serial = serial_or_device.serial if isinstance(serial_or_device, VirtualDevice) else serial_or_device
    state_dir = _state_dir_of_serial(serial)
    if not delete or state_dir is None or not state_dir.is_dir():
        raise DeviceError(f"no virtual device {serial} is running", "see 'squeezebench virtual list'", serial=serial)
    shutil.rmtree(state_dir, ignore_errors=True)


def _stop_running(device: VirtualDevice, *, delete: bool) -> None:
    _terminate(device)
    if delete:
        shutil.rmtree(device.state_dir, ignore_errors=True)


def stop_all(*, delete: bool = False) -> list[VirtualDevice]:
    devices = list_running()
    for device in devices:
        _stop_running(device, delete=delete)
    return devices


# Starting ------------------------------------------------------------------------------------


def _check_start_arguments(count: int, port: int | None, storage_mb: int | None,
                           adb_server: AdbServerAddress) -> None:
    if not 1 <= count <= MAX_COUNT:
        raise UsageError(f"--count {count} is out of range", f"start between 1 and {MAX_COUNT} devices")
    if port is not None:
        last = port + count - 1
        if port < 1024 or last > 65535:
            raise UsageError(f"--port {port} is out of range", "use a port from 1024 to 65535")
        if any(p in EMULATOR_PORTS for p in range(port, last + 1)):
            raise UsageError(
                f"ports {port}..{last} overlap the emulator range 5554-5585 that adb servers scan",
                "use ports from 6520 up (the default)",
            )
    if storage_mb is not None and storage_mb < 1:
        raise UsageError(f"--storage-mb {storage_mb} is too small", "give at least 1 (MB)")
    if not adb_server.is_local:
        raise UsageError(
            f"virtual devices listen on this host's loopback, which the adb server at {adb_server} cannot reach",
            "use an adb server on this host (--adb-server 127.0.0.1:PORT)",
        )


@contextmanager
def _start_lock() -> Iterator[None]:
    """Two `virtual start` at once must not pick the same port."""
    root = virtual_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _ports_to_use(count: int, port: int | None) -> list[int]:
    running = {device.port for device in list_running()}
    if port is not None:
        ports = list(range(port, port + count))
        for candidate in ports:
            if candidate in running or not _port_is_free(candidate):
                raise UsageError(f"port {candidate} is already in use", "pick another --port or leave it out")
        return ports
    chosen = list(itertools.islice(_free_ports(FIRST_PORT, running), count))
    if len(chosen) < count:
        raise DeviceError(
            f"no {count} free ports between {FIRST_PORT} and {LAST_PORT}",
            "stop some virtual devices or pass --port",
        )
    return chosen


def _start_on_a_free_port(first_choice: int, start_one, taken: set[int]) -> VirtualDevice:
    """Another program (or another user's squeezebench) may take a port between our check and
    the daemon's bind: then the next free one is tried."""
    candidate = first_choice
    for _attempt in range(PORT_ATTEMPTS):
        if candidate in taken:
            candidate = _next_free_port(candidate, taken)
        try:
            return start_one(candidate)
        except PortInUseError:
            taken.add(candidate)
    raise DeviceError(f"could not find a free port from {first_choice} up", "pass --port")


def _free_ports(first: int, taken: set[int]):
    """Ports from `first` up to LAST_PORT that nothing holds, probed one at a time as asked for."""
    return (p for p in range(first, LAST_PORT + 1) if p not in taken and _port_is_free(p))


def _next_free_port(after: int, taken: set[int]) -> int:
    candidate = next(_free_ports(after + 1, taken), None)
    if candidate is not None:
        return candidate
    raise DeviceError(f"no free port between {after} and {LAST_PORT}", "stop some virtual devices or pass --port")


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        # As the daemon binds: a port in TIME_WAIT after a killed device is free for it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_one(port: int, *, profile: str, adb_server: AdbServerAddress, unauthorized: bool,
               storage_mb: int | None, capture: str | None = None, owner: Owner | None = None) -> VirtualDevice:
    state_dir = virtual_root() / str(port)
    state_dir.mkdir(parents=True, exist_ok=True)
    write_owner(state_dir, owner)  # before the daemon runs: a caller killed meanwhile is still its owner
    ready_read, ready_write = os.pipe()
    command = [
        sys.executable, "-m", "harness.virtual.daemon", "--detach",
        "--port", str(port), "--profile", profile, "--state-dir", str(state_dir),
        "--adb-server", str(adb_server), "--ready-fd", str(ready_write),
    ]
    if unauthorized:
        command.append("--unauthorized")
    if storage_mb is not None:
        command += ["--storage-mb", str(storage_mb)]
    if capture is not None:
        command += ["--capture", capture]
    with open(state_dir / "daemon.log", "ab") as log:
        launcher = subprocess.Popen(
            command, pass_fds=(ready_write,), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True, cwd="/", env=_daemon_environment(),
        )
    os.close(ready_write)
    try:
        launcher.wait(timeout=DAEMON_READY_TIMEOUT_S)
        message = _read_ready_message(ready_read, state_dir)
    finally:
        os.close(ready_read)
    if not message.get("ok"):
        raise _error_from_daemon(message)
    # The daemon's record says what it made of the capture (its parts).
    return _read_record(state_dir / RECORD_NAME) or VirtualDevice(
        serial=f"127.0.0.1:{port}", port=port, pid=int(message["pid"]), profile=profile,
        state_dir=state_dir, adb_server=adb_server, unauthorized=unauthorized,
        storage_mb=storage_mb, started_at=time.time(), capture=capture,
    )


def _daemon_environment() -> dict[str, str]:
    env = dict(os.environ)
    # The daemon must import this very checkout of harness, wherever the caller runs from.
    project_root = str(paths.PROJECT_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (project_root, env.get("PYTHONPATH")) if p)
    return env


def _read_ready_message(ready_fd: int, state_dir: Path) -> dict:
    data = b""
    deadline = time.monotonic() + DAEMON_READY_TIMEOUT_S
    while b"\n" not in data and time.monotonic() < deadline:
        readable, _, _ = select.select([ready_fd], [], [], 0.5)
        if readable:
            chunk = os.read(ready_fd, 65536)
            if not chunk:
                break
            data += chunk
    try:
        return json.loads(data.split(b"\n", 1)[0])
    except ValueError:
        return {"ok": False, "problem": f"the virtual device daemon did not start: {_log_tail(state_dir)}",
                "fix": f"see {state_dir / 'daemon.log'}", "class": "HostEnvironmentError"}


def _log_tail(state_dir: Path) -> str:
    try:
        lines = (state_dir / "daemon.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no log"


def _error_from_daemon(message: dict) -> SqueezebenchError:
    kinds = {cls.__name__: cls for cls in (HostEnvironmentError, InputError, UsageError, DeviceError, PortInUseError)}
    error_class = kinds.get(message.get("class"), DeviceError)
    return error_class(message.get("problem") or "the virtual device failed to start", message.get("fix"))


def _wait_until_registered(device: VirtualDevice) -> None:
    wanted = "unauthorized" if device.unauthorized else "device"
    deadline = time.monotonic() + REGISTRATION_TIMEOUT_S
    state = None
    while time.monotonic() < deadline:
        if not _daemon_alive(device):
            raise DeviceError(
                f"the virtual device stopped while registering: {_log_tail(device.state_dir)}",
                f"see {device.state_dir / 'daemon.log'}", serial=device.serial,
            )
        state = adb.device_states(device.adb_server).get(device.serial)
        if state == wanted:
            return
        time.sleep(0.1)
    raise DeviceError(
        f"the adb server at {device.adb_server} lists the virtual device as {state or 'absent'}, not {wanted}",
        f"see {device.state_dir / 'daemon.log'}", serial=device.serial,
    )


# Running devices -----------------------------------------------------------------------------


def _read_record(path: Path) -> VirtualDevice | None:
    try:
        data = VIRTUAL_DEVICE.load(path)
        return VirtualDevice(
            serial=data["serial"], port=int(data["port"]), pid=int(data["pid"]),
            profile=data["profile"], state_dir=path.parent,
            adb_server=AdbServerAddress.parse(data["adb_server"]),
            unauthorized=bool(data.get("unauthorized")), storage_mb=data.get("storage_mb"),
            started_at=float(data.get("started_at", 0.0)), capture=data.get("capture"),
            parts=data.get("parts"),
        )
    except (OSError, ValueError, KeyError, TypeError, SqueezebenchError):
        return None


def _daemon_alive(device: VirtualDevice) -> bool:
    """The pid is alive, not a zombie, and still this device's daemon (pids get reused)."""
    proc = Path(f"/proc/{device.pid}")
    try:
        state = (proc / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    if state in (b"Z", b"X"):
        return False
    return b"harness.virtual.daemon" in cmdline and str(device.port).encode() in cmdline


def _forget_dead(device: VirtualDevice) -> None:
    (device.state_dir / RECORD_NAME).unlink(missing_ok=True)


def _find(serial_or_device: str | VirtualDevice) -> VirtualDevice | None:
    serial = serial_or_device.serial if isinstance(serial_or_device, VirtualDevice) else serial_or_device
    for device in list_running():
        if device.serial == serial or str(device.port) == serial:
            return device
    return None


def owner_of(device: VirtualDevice) -> Owner | None:
    """The run a device belongs to (None: started by hand)."""
    return read_owner(device.state_dir)


def adopt(device: VirtualDevice, owner: Owner) -> None:
    """Make a running device `owner`'s (a resumed run takes over the device of the run it resumes)."""
    write_owner(device.state_dir, owner)


def _state_dir_of_serial(serial: str) -> Path | None:
    port = serial.rpartition(":")[2]
    return virtual_root() / port if port.isdigit() else None


def _terminate(device: VirtualDevice) -> None:
    _signal(device, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _daemon_alive(device) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _daemon_alive(device):
        _signal(device, signal.SIGKILL)  # it ignored SIGTERM: its sandbox dies with it anyway
        while _daemon_alive(device):
            time.sleep(0.05)
    _forget_dead(device)
    write_owner(device.state_dir, None)
    # A daemon that could not unregister (killed) must not linger in the server's list.
    try:
        adb.disconnect(device.adb_server, device.serial)
    except Exception:  # adbutils' own errors: the server may be gone, which is fine here
        pass


def _signal(device: VirtualDevice, number: int) -> None:
    try:
        os.kill(device.pid, number)
    except ProcessLookupError:
        pass


def _stop_quietly(device: VirtualDevice) -> None:
    try:
        _terminate(device)
    except OSError:
        pass
