"""What every benchmark script shares: a private, temporary world, converted models, statistics.

A world (`private_world`) is a temporary directory used as HOME, XDG dirs, SQUEEZEBENCH_STATE
and results, with a private adb server on a free port (never 5037), started here and killed on
the way out together with every virtual device started in it. Only the conversion cache is kept
between runs (PERF_CACHE: $SQUEEZEBENCH_PERF_CACHE, default /tmp/squeezebench-perf-cache), so
mobilenet_v2's levels are converted once and the scripts measure warm runs afterwards; each
script says whether it converted anything.

The harness measured is the checkout these scripts live in (REPO); copied elsewhere (a scratch
copy holding a prototype fix), they measure that copy. Subprocesses get it through PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
PERF_CACHE = Path(os.environ.get("SQUEEZEBENCH_PERF_CACHE", "/tmp/squeezebench-perf-cache"))
SQUEEZEBENCH = [sys.executable, "-m", "harness"]
START_ATTEMPTS = 5


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class World:
    root: Path
    env: dict[str, str]
    adb_server: object  # harness.device.adb.AdbServerAddress
    devices: list = field(default_factory=list)  # harness.virtual.fleet.VirtualDevice

    def start_devices(self, count: int, profile: str = "virtual-default") -> list:
        """Devices on a random free run of ports: other people's tests on this host start theirs
        from 6520 up, and a port taken between the check and the bind fails the start."""
        from harness.errors import SqueezebenchError
        from harness.virtual import fleet

        for attempt in range(START_ATTEMPTS):
            base = random.randrange(6600, 6990 - count)
            if not all(_port_is_free(p) for p in range(base, base + count)):
                continue
            try:
                devices = fleet.start(count, profile, adb_server=self.adb_server, port=base)
            except SqueezebenchError as e:
                if "in use" not in str(e) or attempt == START_ATTEMPTS - 1:
                    raise
                continue
            self.devices.extend(devices)
            return devices
        raise SystemExit(f"no {count} free ports for virtual devices between 6600 and 6990")

    def stop_devices(self) -> None:
        from harness.virtual import fleet

        while self.devices:
            fleet.stop(self.devices.pop(), delete=True)

    def squeezebench(self, *args: str, timeout_s: float = 900) -> "Timed":
        """The real command line in a fresh process, timed from fork to exit."""
        return timed_process([*SQUEEZEBENCH, *map(str, args)], self.env, timeout_s=timeout_s)


@dataclass(frozen=True)
class Timed:
    wall_s: float
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)

    def check(self, what: str) -> "Timed":
        if self.returncode != 0:
            raise SystemExit(f"{what} failed with exit {self.returncode}: {self.stderr.strip()[-800:]}")
        return self


def timed_process(argv: list[str], env: dict[str, str], *, timeout_s: float = 900, cwd: Path | None = None) -> Timed:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd or REPO, capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL)
    return Timed(time.perf_counter() - started, done.returncode, done.stdout, done.stderr)


def _world_environment(root: Path, cache: Path, adb_port: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("ADB_SERVER_SOCKET", "ANDROID_ADB_SERVER_HOST"):
        env.pop(name, None)
    # Bytecode is cached as on a user's machine: with PYTHONDONTWRITEBYTECODE (set on some of
    # these machines) every command compiles the harness's 70 modules again, 80 ms each time.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        HOME=str(root / "home"),
        XDG_CACHE_HOME=str(root / "home" / ".cache"),
        XDG_STATE_HOME=str(root / "home" / ".local" / "state"),
        SQUEEZEBENCH_STATE=str(root / "state"),
        SQUEEZEBENCH_RESULTS=str(root / "results"),
        SQUEEZEBENCH_CACHE=str(cache),
        ANDROID_ADB_SERVER_PORT=str(adb_port),
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    return env


@contextmanager
def private_world(prefix: str, *, start_adb: bool = True) -> Iterator[World]:
    """A temporary HOME/state/results and a private adb server, for this process and its children.
    On the way out: virtual devices stopped and deleted, adb server killed, directory removed,
    and anything still running from it (there should be nothing) reported and ended."""
    from harness.device import adb

    PERF_CACHE.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f"squeezebench-{prefix}-"))
    (root / "home").mkdir()
    port = free_port()
    assert port != adb.DEFAULT_PORT
    env = _world_environment(root, PERF_CACHE, port)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    address = adb.AdbServerAddress("127.0.0.1", port)
    world = World(root, env, address)
    try:
        if start_adb:
            adb.start_local_server(port)
        yield world
    finally:
        try:
            world.stop_devices()
        finally:
            adb.kill_server(address)
            _end_leftovers(root, port)
            os.environ.clear()
            os.environ.update(saved)
            shutil.rmtree(root, ignore_errors=True)


def _processes_of(root: Path, adb_port: int) -> list[int]:
    """Processes whose command line names this world's directory or its adb server port."""
    markers = (str(root).encode(), f"tcp:{adb_port}".encode(), f"-P\0{adb_port}".encode())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if any(marker in cmdline for marker in markers):
            found.append(int(entry.name))
    return found


def _end_leftovers(root: Path, adb_port: int) -> None:
    deadline = time.monotonic() + 5
    pids = _processes_of(root, adb_port)
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = _processes_of(root, adb_port)
    for pid in pids:
        print(f"benchmark cleanup: process {pid} outlived its world; ending it", file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# Models ---------------------------------------------------------------------------------------


def converted_levels(world: World, model: str, levels: list[str]) -> tuple[dict[str, Path], dict]:
    """level -> .tflite of `model` (zoo name), converted through the real CLI with the
    persistent cache; and facts about the conversion (time, how many levels came from cache)."""
    out_dir = world.root / "models" / model
    run = world.squeezebench("convert", model, "--levels", ",".join(levels), "--out", out_dir, "--quiet", timeout_s=1800)
    run.check(f"squeezebench convert {model}")
    document = json.loads((out_dir / "convert.json").read_text())
    files = {e["level"]: out_dir / e["file"] for e in document["levels"] if e["status"] == "ok"}
    missing = [level for level in levels if level not in files and level != "all"]
    if missing:
        raise SystemExit(f"{model}: levels {missing} did not convert")
    cached = sum(1 for e in document["levels"] if e.get("cached"))
    return files, {"convert_wall_s": round(run.wall_s, 2), "levels_from_cache": cached, "levels": len(document["levels"])}


# Statistics -----------------------------------------------------------------------------------


def spread(values: list[float], digits: int = 3) -> dict:
    """Median with the spread around it: min, max, quartiles and each value (in order measured)."""
    ordered = sorted(values)
    quartiles = statistics.quantiles(ordered, n=4, method="inclusive") if len(ordered) > 1 else ordered * 3
    return {
        "median": round(statistics.median(ordered), digits),
        "min": round(ordered[0], digits),
        "max": round(ordered[-1], digits),
        "q1": round(quartiles[0], digits),
        "q3": round(quartiles[2], digits),
        "n": len(ordered),
        "values": [round(v, digits) for v in values],
    }


def ratio(numerator: float, denominator: float, digits: int = 4) -> float | None:
    return round(numerator / denominator, digits) if denominator else None


def alternate(variants: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Run every variant once per round, in an order that rotates each round (A B C, B C A, ...),
    so drift in the machine's load is shared out instead of landing on one variant."""
    names = list(variants)
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(variants[name]())
    return results


def host_facts() -> dict:
    load1, load5, _ = os.getloadavg()
    return {"cpu_count": os.cpu_count(), "loadavg_1m": round(load1, 2), "loadavg_5m": round(load5, 2),
            "python": sys.version.split()[0], "harness_root": str(REPO)}


def print_result(result: dict) -> None:
    print(json.dumps(result, indent=2))
