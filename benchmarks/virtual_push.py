"""Push throughput through a virtual device: the adb CLI bundled in the adbutils wheel against
adbutils, printed as JSON with their ratio.

    .venv/bin/python benchmarks/virtual_push.py [--size-mb 100] [--repeats 3]

Starts a private adb server (the bundled adb, on a free port, with a temporary HOME: the user's
server on 5037 and ~/.android are never touched) and one virtual device in a temporary state
directory, pushes the same random file `--repeats` times with each client to
/data/local/tmp, checks the sha256 on the device, and reports the median MB/s (10^6 bytes per
second, as adb prints them). The target is 100+ MB/s with the adb CLI: the device side must not
be what limits a later comparison of `adb push` with squeezebench's own push.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_CLI_MB_PER_S = 100.0
REMOTE_PATH = "/data/local/tmp/squeezebench-push-benchmark.bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_random_file(path: Path, size_bytes: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        remaining = size_bytes
        while remaining:
            chunk = os.urandom(min(remaining, 1 << 20))
            digest.update(chunk)
            f.write(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def push_with_cli(adb_binary: str, server_port: int, serial: str, local: Path) -> float:
    start = time.perf_counter()
    subprocess.run([adb_binary, "-P", str(server_port), "-s", serial, "push", str(local), REMOTE_PATH],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def push_with_adbutils(device, local: Path) -> float:
    start = time.perf_counter()
    device.sync.push(str(local), REMOTE_PATH)
    return time.perf_counter() - start


def measure(push, repeats: int, size_bytes: int, check_sum) -> dict:
    seconds = []
    for _ in range(repeats):
        seconds.append(push())
        check_sum()
    rates = [size_bytes / s / 1e6 for s in seconds]
    return {"median_mb_per_s": round(statistics.median(rates), 1), "runs_mb_per_s": [round(r, 1) for r in rates]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100, help="file size in MB (10^6 bytes)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="squeezebench-push-bench-") as scratch:
        os.environ["HOME"] = scratch
        os.environ["SQUEEZEBENCH_STATE"] = str(Path(scratch) / "state")
        os.environ["ANDROID_ADB_SERVER_PORT"] = str(free_port())
        from harness.device import adb
        from harness.virtual import fleet

        address = adb.AdbServerAddress("127.0.0.1", int(os.environ["ANDROID_ADB_SERVER_PORT"]))
        adb_binary = adb.adb_binary()
        adb.start_local_server(address.port, adb_binary)
        try:
            [device] = fleet.start(1, adb_server=address)
            try:
                result = run_pushes(args, scratch, adb, address, adb_binary, device)
            finally:
                fleet.stop(device, delete=True)
        finally:
            adb.kill_server(address)
    print(json.dumps(result, indent=2))
    return 0


def run_pushes(args, scratch: str, adb, address, adb_binary: str, device) -> dict:
    size_bytes = args.size_mb * 1_000_000
    local = Path(scratch) / "payload.bin"
    expected = write_random_file(local, size_bytes)
    handle = adb.client(address).device(device.serial)

    def check_sum() -> None:
        actual = handle.shell(f"sha256sum {REMOTE_PATH}").split()[0]
        if actual != expected:
            raise SystemExit(f"pushed file differs on the device: {actual} != {expected}")

    version = subprocess.run([adb_binary, "version"], capture_output=True, text=True).stdout.splitlines()
    cli = measure(lambda: push_with_cli(adb_binary, address.port, device.serial, local), args.repeats, size_bytes, check_sum)
    library = measure(lambda: push_with_adbutils(handle, local), args.repeats, size_bytes, check_sum)
    return {
        "benchmark": "virtual_push",
        "size_bytes": size_bytes,
        "repeats": args.repeats,
        "adb_cli": {"binary": adb_binary, "version": version[1] if len(version) > 1 else "?", **cli},
        "adbutils": library,
        "ratio_adb_cli_over_adbutils": round(cli["median_mb_per_s"] / library["median_mb_per_s"], 2),
        "target_adb_cli_mb_per_s": TARGET_CLI_MB_PER_S,
        "adb_cli_meets_target": cli["median_mb_per_s"] >= TARGET_CLI_MB_PER_S,
        "host_cores": os.cpu_count(),
    }


if __name__ == "__main__":
    sys.exit(main())
