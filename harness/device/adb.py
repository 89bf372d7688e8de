"""The adb server: where it is, starting a private one, and talking to it through adbutils.

This is the one module that runs the adb binary or imports adbutils (adbutils is imported lazily).
Policy: an adb server that is already running is only ever spoken to over its socket protocol,
never through an adb binary of another version (a version mismatch makes the binary kill the
user's server). A binary is only run to start a server where none answers.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import DeviceError, DeviceGoneError, HostEnvironmentError, UsageError

DEFAULT_PORT = 5037
SERVER_START_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class AdbServerAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_local(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    @classmethod
    def parse(cls, text: str) -> "AdbServerAddress":
        """`host:port`, `host` (port 5037), or adb's own `tcp:host:port` (ADB_SERVER_SOCKET)."""
        spec = text.strip()
        if spec.startswith("tcp:"):
            spec = spec[4:]
        host, sep, port_text = spec.rpartition(":")
        if not sep:
            host, port_text = spec, str(DEFAULT_PORT)
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(
                f"adb server address {text!r} is not host:port", "e.g. --adb-server labhost:5037"
            )
        return cls(host, int(port_text))

    @classmethod
    def from_environment(cls, override: str | None = None) -> "AdbServerAddress":
        """The server to use: an explicit option, else adb's own environment variables."""
        if override:
            return cls.parse(override)
        if os.environ.get("ADB_SERVER_SOCKET"):
            return cls.parse(os.environ["ADB_SERVER_SOCKET"])
        host = os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1")
        port_text = os.environ.get("ANDROID_ADB_SERVER_PORT", str(DEFAULT_PORT))
        return cls.parse(f"{host}:{port_text}")


def adb_binary() -> str:
    """The adb to start servers with: SQUEEZEBENCH_ADB, else ADBUTILS_ADB_PATH, else the one
    bundled in the adbutils wheel (a current platform-tools build), else `adb` on PATH."""
    for env_name in ("SQUEEZEBENCH_ADB", "ADBUTILS_ADB_PATH"):
        if os.environ.get(env_name):
            return os.environ[env_name]
    import importlib.util

    spec = importlib.util.find_spec("adbutils")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "binaries" / "adb"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    on_path = shutil.which("adb")
    if on_path:
        return on_path
    raise HostEnvironmentError(
        "no adb binary found", "pip install adbutils (it bundles one) or apt-get install adb"
    )


def server_is_up(address: AdbServerAddress, timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout_s) as s:
            s.sendall(b"000chost:version")
            return s.recv(4) == b"OKAY"
    except OSError:
        return False


def ensure_server(address: AdbServerAddress) -> None:
    """Make sure an adb server answers at `address`, starting a local one if needed.

    A remote server (another host of a device lab) is never started from here: if it does not
    answer, that is the user's to fix.
    """
    if server_is_up(address):
        return
    if not address.is_local:
        raise DeviceError(
            f"no adb server answers at {address}",
            "start it on that host with 'adb -a -P PORT nodaemon server' or check --adb-server",
        )
    start_local_server(address.port)


def start_local_server(port: int, adb_path: str | None = None) -> None:
    adb = adb_path or adb_binary()
    env = dict(os.environ)
    # Our devices live outside the emulator port range; scanning it only slows the start.
    env.setdefault("ADB_MDNS", "0")
    proc = subprocess.run(
        [adb, "-P", str(port), "start-server"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SERVER_START_TIMEOUT_S,
    )
    address = AdbServerAddress("127.0.0.1", port)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server_is_up(address):
            return
        time.sleep(0.1)
    raise DeviceError(
        f"could not start an adb server on port {port}: {proc.stderr.strip() or proc.stdout.strip()}",
        "check that the port is free ('ss -ltnp') or pick another with --adb-server",
        cmd=f"{adb} -P {port} start-server",
        returncode=proc.returncode,
        stderr=proc.stderr,
    )


def kill_server(address: AdbServerAddress) -> None:
    if server_is_up(address):
        client(address).server_kill()


def client(address: AdbServerAddress, socket_timeout_s: float | None = None):
    """An adbutils client bound to this server that never starts a server by itself.

    adbutils, finding no server, runs `adb start-server` with the first adb on PATH on the
    environment's port (5037 by default): a private or remote server that died mid-run would be
    replaced, behind our back, by another one, possibly of another version, on the user's port.
    With this client a dead server is an error the caller sees (AdbConnectionError)."""
    return _strict_client_class()(host=address.host, port=address.port, socket_timeout=socket_timeout_s)


# What adbutils imports at its top for a feature squeezebench never uses: requests (with urllib3,
# charset_normalizer, idna and http.client) to download APKs from URLs, 60-90 ms of every
# command's start. (PIL.Image, for screenshots, cannot wait: adbutils' annotations use it.)
_UNUSED_BY_SQUEEZEBENCH = ("requests",)


@functools.cache
def imported_adbutils() -> types.ModuleType:
    """adbutils, imported without the modules of _UNUSED_BY_SQUEEZEBENCH: while adbutils is
    imported, stand-ins that import the real modules on first use take their places; afterwards
    importing them anywhere else is the ordinary import."""
    if "adbutils" in sys.modules:
        import adbutils
        return adbutils
    stand_ins = [_ImportedOnFirstUse(name) for name in _UNUSED_BY_SQUEEZEBENCH if name not in sys.modules]
    sys.modules.update((stand_in.__name__, stand_in) for stand_in in stand_ins)
    try:
        import adbutils
    finally:
        for stand_in in stand_ins:
            stand_in.leave_sys_modules()
    return adbutils


class _ImportedOnFirstUse(types.ModuleType):
    def __getattr__(self, name: str):
        import importlib

        self.leave_sys_modules()
        return getattr(importlib.import_module(self.__name__), name)

    def leave_sys_modules(self) -> None:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]


@functools.cache
def _strict_client_class():
    adbutils = imported_adbutils()
    from adbutils._adb import AdbConnection

    class NoAutoStartConnection(AdbConnection):
        def _safe_connect(self):
            return self._create_socket()  # raises AdbConnectionError / AdbTimeout, starts nothing

        def close(self):
            # adbutils 2.12 sleeps 10 ms after shutdown() (written for uiautomator2's long-lived
            # forwarded streams). Every request made here has read its whole answer before it
            # closes (shell v2 up to the exit code, sync up to OKAY/DONE), so nothing is left to
            # flush, and the sleep was most of the cost of each request (benchmarks/transfer.py).
            conn = self._AdbConnection__conn  # adbutils name-mangles its socket
            if conn is None:
                return
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()
            self._AdbConnection__conn = None

    class NoAutoStartClient(adbutils.AdbClient):
        def __init__(self, host: str, port: int, socket_timeout: float | None = None):
            super().__init__(host=host, port=port, socket_timeout=socket_timeout)
            self._default_timeout_s = socket_timeout
            self._server_version: int | None = None

        def server_version(self) -> int:
            # adbutils asks before every device request (one more connection, and formerly one
            # more 10 ms sleep, each time) only to choose host:tport: (servers >= 41) over
            # host:transport:. A server does not change version under a client: the harness
            # only ever restarts a local server with the same adb binary.
            if self._server_version is None:
                self._server_version = super().server_version()
            return self._server_version

        def make_connection(self, timeout: float | None = None):
            connection = NoAutoStartConnection(self.host, self.port)
            # A request is several small writes (a sync SEND header, then a small file's DATA and
            # DONE): with Nagle's algorithm each waits for the server's delayed ACK, 40 ms.
            connection.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            timeout = timeout or self._default_timeout_s
            if timeout:
                connection.conn.settimeout(timeout)
            return connection

    return NoAutoStartClient


@contextmanager
def translated_errors(action: str, server: AdbServerAddress, serial: str,
                      is_reachable: Callable[[], bool]) -> Iterator[None]:
    """adbutils and socket errors of a request to one device become DeviceError /
    DeviceGoneError that say what failed (`is_reachable` tells a gone device from a failed
    request when adbutils' message does not)."""
    adbutils = imported_adbutils()
    from adbutils.errors import AdbConnectionError

    try:
        yield
    except adbutils.AdbTimeout as e:
        raise DeviceError(f"{action}: timed out ({e})", "is the device hung or the cable loose?", serial=serial) from None
    except AdbConnectionError as e:
        raise DeviceGoneError(
            f"{action}: the adb server at {server} is not answering ({e})",
            "it was stopped or crashed; squeezebench restarts local servers, remote ones must be restarted on their host",
            serial=serial,
        ) from None
    except adbutils.AdbError as e:
        text = str(e)
        # adbutils words a connection that closes under it in many ways ("Unknown data: b''",
        # "connection closed", ...): whether the device is still there settles it.
        gone = any(s in text for s in ("not found", "offline", "closed", "no devices", "unauthorized"))
        if gone or not is_reachable():
            raise DeviceGoneError(
                f"{action}: device not available ({text})",
                "reconnect it and run again (use --resume to keep what was measured)",
                serial=serial,
            ) from None
        raise DeviceError(f"{action}: {text}", serial=serial) from None
    except (EOFError, ConnectionError, OSError) as e:
        # EOFError: adbutils' read of a stream that the server closed (device or server gone).
        raise DeviceGoneError(
            f"{action}: lost the connection to the device through the adb server at {server} "
            f"({type(e).__name__}: {e})",
            "check the cable or the device, and the adb server; --resume finishes the run",
            serial=serial,
        ) from None


def require_server(address: AdbServerAddress) -> None:
    """adbutils starts a server on the default port when it cannot connect; check first so a
    dead private or remote server is reported instead of silently replaced."""
    if not server_is_up(address):
        raise DeviceError(
            f"adb server {address} is not answering",
            "it may have been killed; squeezebench restarts local servers it needs on the next command",
        )


def connect(address: AdbServerAddress, target: str, timeout_s: float = 10.0) -> None:
    """`adb connect target` on that server; raises unless the server reports it connected."""
    adbutils = imported_adbutils()

    require_server(address)
    try:
        answer = client(address).connect(target, timeout=timeout_s)
    except (adbutils.AdbError, OSError) as e:
        raise DeviceError(
            f"adb connect {target} failed: {e}",
            "check the address and that the device listens",
            serial=target,
        ) from None
    if "connected to" not in answer:
        raise DeviceError(
            f"adb connect {target}: {answer.strip()}",
            "check the address, that the device listens and is authorized",
            serial=target,
        )


def disconnect(address: AdbServerAddress, target: str) -> None:
    if server_is_up(address):
        client(address).disconnect(target)


def device_states(address: AdbServerAddress) -> dict[str, str]:
    """serial -> state (`device`, `unauthorized`, `offline`, ...) for every device the server knows."""
    adbutils = imported_adbutils()

    require_server(address)
    try:
        return {info.serial: info.state for info in client(address).list()}
    except (adbutils.AdbError, OSError) as e:
        raise DeviceError(f"adb server {address} did not answer: {e}", "is it running?") from None
