"""A virtual device's filesystem and processes: a bubblewrap sandbox laid out like Android.

Inside (as uid 2000 `shell`, in its own user, PID, IPC, UTS and network namespaces):
  /system        generated per start (system_image.py): bin/ (mksh as sh, toybox applets, python3, stand-ins for
                 getprop/dumpsys/...), build.prop, etc/ (passwd, mkshrc, ...), read-only
  /etc           -> /system/etc, as on Android
  /data          the device's persistent storage (read-write; kept until the device is deleted)
  /storage/emulated/0 = /data/media/0; /sdcard -> /storage/self/primary -> /storage/emulated/0
  /sys           generated: cpufreq, battery, thermal zones (read-only; values kept live)
  /proc, /dev    the sandbox's own (so `ps -A` lists this device's processes only)
  /dev/socket    the daemon's socket the stand-in commands talk to
  /dev/squeezebench  files the daemon keeps current for the fast stand-ins (read-only)
  /usr, /bin, /lib*  the host's, read-only (host coreutils stay reachable on PATH)
  the host's Python and this venv, read-only, at their own paths (for /system/bin/python3)
  /apex/com.squeezebench.virtual  harness/virtual/system_bin, read-only (spawner, sync, tools)

The sandbox's PID 1 is `system_bin/spawner.py`; the daemon drives it over a socket (see there).
No network namespace is shared: a phone cannot reach the host's loopback (its adb server).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HostEnvironmentError

SYSTEM_BIN_SOURCE = Path(__file__).resolve().parent / "system_bin"
APEX_DIR = "/apex/com.squeezebench.virtual"
SHELL_UID = 2000
SANDBOX_START_TIMEOUT_S = 15.0
STOP_GRACE_S = 2.0

# Debian package for every host program the sandbox needs.
HOST_PROGRAMS = {"bwrap": "bubblewrap", "mksh": "mksh", "toybox": "toybox"}
# Where the daemon publishes state for the fast stand-ins, inside the device.
PUBLISHED_DIR = "/dev/squeezebench"
ANDROID_PATH = (
    "/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin"
    ":/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin"
)
HOST_PATH = "/usr/local/bin:/usr/bin:/bin"
DEVICE_PATH = f"{ANDROID_PATH}:{HOST_PATH}"


@dataclass(frozen=True)
class HostTools:
    bwrap: str
    mksh: str
    toybox: str
    toybox_applets: tuple[str, ...]


def find_host_tools() -> HostTools:
    """bwrap, mksh and toybox, or a HostEnvironmentError naming the Debian packages to install."""
    paths = {name: shutil.which(name) for name in HOST_PROGRAMS}
    missing = [HOST_PROGRAMS[name] for name, path in paths.items() if not path]
    if missing:
        raise HostEnvironmentError(
            f"the virtual device needs {', '.join(n for n, p in paths.items() if not p)}, "
            "which is not installed",
            f"install it: sudo apt-get install {' '.join(missing)}",
        )
    for name in ("mksh", "toybox"):
        real = os.path.realpath(paths[name])
        if not real.startswith("/usr/"):
            raise HostEnvironmentError(
                f"{name} is at {real}, outside /usr, where the sandbox cannot see it",
                f"install Debian's package: sudo apt-get install {HOST_PROGRAMS[name]}",
            )
        paths[name] = real
    listing = subprocess.run([paths["toybox"]], capture_output=True, text=True, timeout=10).stdout
    return HostTools(
        bwrap=paths["bwrap"], mksh=paths["mksh"], toybox=paths["toybox"],
        toybox_applets=tuple(listing.split()),
    )


@dataclass(frozen=True)
class DeviceLayout:
    """Where one device keeps things on the host: harness.paths.state_dir()/virtual/<port>/."""

    state_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def runtime_dir(self) -> Path:
        return self.state_dir / "runtime"

    @property
    def system_dir(self) -> Path:
        return self.runtime_dir / "system"

    @property
    def sysfs_dir(self) -> Path:
        return self.runtime_dir / "sys"

    @property
    def socket_dir(self) -> Path:
        return self.runtime_dir / "socket"

    @property
    def system_server_socket(self) -> Path:
        return self.socket_dir / "squeezebench"

    @property
    def published_dir(self) -> Path:
        """State the daemon keeps current for the fast stand-ins (PUBLISHED_DIR inside):
        properties/NAME (what `getprop NAME` prints), getprop (what `getprop` prints) and
        dumpsys/SERVICE (what `dumpsys SERVICE` prints, system_image.FAST_DUMPSYS_SERVICES)."""
        return self.runtime_dir / "published"

    @property
    def replay_dir(self) -> Path:
        """Files a replayed capture puts in the device (its /proc/cpuinfo)."""
        return self.runtime_dir / "replay"

    @property
    def sandbox_log(self) -> Path:
        return self.runtime_dir / "sandbox.log"


def prepare_data(layout: DeviceLayout) -> None:
    """/data as a freshly flashed phone has it; existing content is kept."""
    for relative, mode in (
        ("local", 0o751), ("local/tmp", 0o771), ("media", 0o770), ("media/0", 0o770),
        ("media/0/Download", 0o770), ("media/0/Android", 0o770), ("media/0/Android/data", 0o770),
    ):
        path = layout.data_dir / relative
        if not path.is_dir():
            path.mkdir(parents=True)
            path.chmod(mode)


def shell_environment(device_name: str) -> dict[str, str]:
    """What adbd gives every shell: Android's variables, the shell user's, and TMPDIR."""
    return {
        "PATH": DEVICE_PATH,
        "ANDROID_DATA": "/data",
        "ANDROID_ROOT": "/system",
        "ANDROID_STORAGE": "/storage",
        "EXTERNAL_STORAGE": "/sdcard",
        "ANDROID_ASSETS": "/system/app",
        "ASEC_MOUNTPOINT": "/mnt/asec",
        "HOME": "/",
        "HOSTNAME": device_name,
        "LOGNAME": "shell",
        "USER": "shell",
        "SHELL": "/system/bin/sh",
        "TMPDIR": "/data/local/tmp",
    }


def bwrap_command(layout: DeviceLayout, tools: HostTools, control_fd: int, info_fd: int,
                  file_binds: tuple[tuple[Path, str], ...] = ()) -> list[str]:
    """`file_binds`: (host file, device path) bound read-only over what the sandbox has there
    (a replayed phone's /proc/cpuinfo)."""
    args = [
        tools.bwrap,
        "--unshare-user", "--uid", str(SHELL_UID), "--gid", str(SHELL_UID),
        "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
        "--hostname", "localhost",
        "--as-pid-1", "--die-with-parent", "--new-session",
        "--info-fd", str(info_fd),
        "--ro-bind", "/usr", "/usr",
    ]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host_path = Path("/") / name
        if host_path.is_symlink():
            args += ["--symlink", os.readlink(host_path), f"/{name}"]
        elif host_path.is_dir():
            args += ["--ro-bind", str(host_path), f"/{name}"]
    for directory in _python_directories():
        args += ["--ro-bind", directory, directory]
    args += [
        "--ro-bind", str(layout.system_dir), "/system",
        "--symlink", "/system/etc", "/etc",
    ]
    if Path("/etc/alternatives").is_dir():
        args += ["--ro-bind", "/etc/alternatives", "/system/etc/alternatives"]
    # Directories bwrap creates on the way to a mount point would be 0700 otherwise.
    for directory in ("/apex", "/storage", "/storage/emulated", "/storage/self"):
        args += ["--perms", "0755", "--dir", directory]
    args += [
        "--ro-bind", str(SYSTEM_BIN_SOURCE), APEX_DIR,
        "--bind", str(layout.data_dir), "/data",
        "--bind", str(layout.data_dir / "media" / "0"), "/storage/emulated/0",
        "--symlink", "/storage/emulated/0", "/storage/self/primary",
        "--symlink", "/storage/self/primary", "/sdcard",
        "--proc", "/proc",
        "--dev", "/dev",
        "--tmpfs", "/dev/shm",
        "--ro-bind", str(layout.socket_dir), "/dev/socket",
        "--ro-bind", str(layout.published_dir), PUBLISHED_DIR,
        "--ro-bind", str(layout.sysfs_dir), "/sys",
    ]
    for host_file, device_path in file_binds:
        args += ["--ro-bind", str(host_file), device_path]
    args += [
        # Everything bwrap created on its own root (mount points, symlinks) and in /dev stays
        # read-only, as on a phone; /dev/shm is a mount of its own and stays writable.
        "--remount-ro", "/",
        "--remount-ro", "/dev",
        "--chdir", "/",
        "--clearenv", "--setenv", "PATH", DEVICE_PATH,
        "--",
        os.path.realpath(sys.executable), "-I", "-S", f"{APEX_DIR}/spawner.py", str(control_fd),
    ]
    return args


def _python_directories() -> list[str]:
    """The host's Python install, this venv, and any other site-packages this Python imports
    from (a user install), unless /usr already holds them."""
    candidates = [sys.base_prefix, sys.prefix]
    candidates += [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
    directories: list[str] = []
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if not os.path.isdir(real) or real.startswith("/usr/"):
            continue
        if any(real == d or real.startswith(d + "/") for d in directories):
            continue
        directories.append(real)
    return directories


@dataclass
class Job:
    """A process started inside the sandbox: its PID there, the daemon's ends of its stdio or
    sync socket, and its exit code (adbd's convention) once it ended."""

    id: int
    pid: int
    fds: list[int]
    exit_code: asyncio.Future


class SandboxLost(Exception):
    """The sandbox's PID 1 is gone (killed from outside, or bwrap failed)."""


class Sandbox:
    def __init__(self, layout: DeviceLayout, tools: HostTools, env: dict[str, str],
                 storage_limit_bytes: int | None, file_binds: tuple[tuple[Path, str], ...] = ()):
        self._layout = layout
        self._tools = tools
        self._file_binds = file_binds
        self._config = {"env": env, "storage_limit_bytes": storage_limit_bytes}
        self._process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self.init_host_pid: int | None = None
        self._job_ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._jobs: dict[int, Job] = {}
        self._on_lost = None

    @property
    def proc_dir(self) -> Path:
        """The sandbox's own /proc, as seen from the host."""
        return Path(f"/proc/{self.init_host_pid}/root/proc")

    def start(self) -> None:
        """Start bwrap with the spawner as PID 1 and wait until it reports ready."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_read, info_write = os.pipe()
        command = bwrap_command(self._layout, self._tools, theirs.fileno(), info_write, self._file_binds)
        with open(self._layout.sandbox_log, "ab") as log:
            self._process = subprocess.Popen(
                command, pass_fds=(theirs.fileno(), info_write), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log,
            )
        theirs.close()
        os.close(info_write)
        self._control = ours
        try:
            ours.send(json.dumps(self._config).encode())
            self.init_host_pid = self._read_child_pid(info_read)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        finally:
            os.close(info_read)
        ours.setblocking(False)

    def _read_child_pid(self, info_fd: int) -> int:
        data = b""
        deadline = time.monotonic() + SANDBOX_START_TIMEOUT_S
        while time.monotonic() < deadline:
            readable, _, _ = select.select([info_fd], [], [], 0.2)
            if readable:
                chunk = os.read(info_fd, 4096)
                data += chunk
                try:
                    return int(json.loads(data)["child-pid"])
                except (ValueError, KeyError):
                    if not chunk:
                        break
            elif self._process.poll() is not None:
                break
        raise self._start_failure()

    def _wait_ready(self) -> None:
        readable, _, _ = select.select([self._control], [], [], SANDBOX_START_TIMEOUT_S)
        message = self._control.recv(65536) if readable else b""
        if not message or json.loads(message).get("op") != "ready":
            raise self._start_failure()

    def _start_failure(self) -> HostEnvironmentError:
        time.sleep(0.1)
        log_text = self._layout.sandbox_log.read_text(errors="replace").strip()
        last_line = log_text.splitlines()[-1] if log_text else "no output"
        fix = "see " + str(self._layout.sandbox_log)
        if "namespace" in last_line.lower() or "permission" in last_line.lower():
            fix = ("allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; "
                   "on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0)")
        return HostEnvironmentError(f"the virtual device's sandbox did not start: {last_line}", fix)

    # Driving the spawner (inside the event loop) -------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop, on_lost) -> None:
        self._on_lost = on_lost
        loop.add_reader(self._control.fileno(), self._on_control_readable)

    async def start_shell(self, command: str, terminal: str, term: str | None) -> Job:
        return await self._request({"op": "shell", "command": command, "terminal": terminal, "term": term})

    async def start_sync(self, max_frame_bytes: int) -> Job:
        return await self._request({"op": "sync", "max_frame_bytes": max_frame_bytes})

    def kill(self, pid: int, signal_number: int) -> None:
        self._send({"op": "kill", "pid": pid, "signal": signal_number})

    async def _request(self, request: dict) -> Job:
        job_id = next(self._job_ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[job_id] = future
        self._send({**request, "id": job_id})
        return await future

    def _send(self, message: dict) -> None:
        if self._control is None:
            raise SandboxLost("the sandbox is not running")
        try:
            self._control.send(json.dumps(message).encode())
        except OSError as e:
            raise SandboxLost(f"the sandbox stopped answering: {e}") from None

    def _on_control_readable(self) -> None:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self._control, 65536, 4)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        if not data:
            self._lost()
            return
        message = json.loads(data)
        op = message.get("op")
        if op == "started":
            job = Job(message["id"], message["pid"], fds, asyncio.get_running_loop().create_future())
            if self._resolve(job.id, job):
                self._jobs[job.id] = job
            else:  # nobody waits any more (the stream closed meanwhile): let the process go
                self.kill(job.pid, signal.SIGHUP)
                for fd in fds:
                    os.close(fd)
        elif op == "failed":
            self._resolve(message["id"], OSError(message["error"]))
        elif op == "exited":
            job = self._jobs.pop(message["id"], None)
            if job is not None and not job.exit_code.done():
                job.exit_code.set_result(message["exit_code"])

    def _resolve(self, job_id: int, outcome) -> bool:
        """Hand the outcome to whoever asked; False if nobody is waiting for it any more."""
        future = self._pending.pop(job_id, None)
        if future is None or future.done():
            return False
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
        return True

    def _lost(self) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(self._control.fileno())
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SandboxLost("the sandbox ended"))
        self._pending.clear()
        if self._on_lost is not None:
            self._on_lost()

    def stop(self) -> None:
        """End every process of the device: closing the control socket ends PID 1, and the
        kernel kills the rest of the namespace; SIGKILL if it does not go quietly."""
        if self._control is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._control.fileno())
            except RuntimeError:
                pass
            self._control.close()
            self._control = None
        if self._process is None:
            return
        try:
            self._process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            if self.init_host_pid:
                _kill_quietly(self.init_host_pid)
            self._process.kill()
            self._process.wait()
        self._process = None


def _kill_quietly(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
