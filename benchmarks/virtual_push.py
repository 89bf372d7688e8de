"""Push throughput through a virtual device: the adb CLI bundled in the adbutils wheel against
adbutils, printed as JSON with their ratio.

    .venv/bin/python benchmarks/virtual_push.py [--size-mb 100] [--repeats 3]

In a private world (_support.private_world: temporary HOME, a private adb server, never 5037),
one virtual device; the same random file is pushed to /data/local/tmp by both clients in
alternating rounds, each push checked with sha256sum on the device. Reports MB/s (10^6 bytes per
second, as adb prints them) and the ratio CLI/adbutils taken within each round. The target is
100+ MB/s with the adb CLI: the device side must not be what limits a later comparison of
`adb push` with squeezebench's own push (benchmarks/transfer.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import _support as support

TARGET_CLI_MB_PER_S = 100.0
REMOTE_PATH = "/data/local/tmp/squeezebench-push-benchmark.bin"


def write_random_file(path: Path, size_bytes: int) -> None:
    with open(path, "wb") as f:
        remaining = size_bytes
        while remaining:
            chunk = os.urandom(min(remaining, 1 << 20))
            f.write(chunk)
            remaining -= len(chunk)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=100, help="file size in MB (10^6 bytes)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with support.private_world("virtual-push") as world:
        [device] = world.start_devices(1)
        result = run_pushes(args, world, device)
    support.print_result(result)
    return 0


def run_pushes(args, world, device) -> dict:
    from harness.device import adb
    from harness.digests import sha256_file

    size_bytes = args.size_mb * 1_000_000
    local = world.root / "payload.bin"
    write_random_file(local, size_bytes)
    expected = sha256_file(local)
    adb_binary = adb.adb_binary()
    handle = adb.client(world.adb_server).device(device.serial)

    def timed(push) -> float:
        handle.shell(["rm", "-f", REMOTE_PATH])
        start = time.perf_counter()
        push()
        seconds = time.perf_counter() - start
        actual = handle.shell(["sha256sum", REMOTE_PATH]).split()[0]
        if actual != expected:
            raise SystemExit(f"pushed file differs on the device: {actual} != {expected}")
        return seconds

    def with_cli() -> float:
        return timed(lambda: subprocess.run(
            [adb_binary, "-P", str(world.adb_server.port), "-s", device.serial, "push", str(local), REMOTE_PATH],
            check=True, capture_output=True))

    def with_adbutils() -> float:
        return timed(lambda: handle.sync.push(str(local), REMOTE_PATH))

    seconds = support.alternate({"adb_cli": with_cli, "adbutils": with_adbutils}, args.repeats)
    rates = {name: [size_bytes / s / 1e6 for s in values] for name, values in seconds.items()}
    per_round = [cli / library for cli, library in zip(rates["adb_cli"], rates["adbutils"])]
    version = subprocess.run([adb_binary, "version"], capture_output=True, text=True).stdout.splitlines()
    cli_median = support.spread(rates["adb_cli"], 1)["median"]
    return {
        "benchmark": "virtual_push",
        "size_bytes": size_bytes,
        "repeats": args.repeats,
        "mb_per_s": {name: support.spread(values, 1) for name, values in rates.items()},
        "adb_cli": {"binary": adb_binary, "version": version[1] if len(version) > 1 else "?"},
        "ratio_adb_cli_over_adbutils": support.spread(per_round, 2),
        "target_adb_cli_mb_per_s": TARGET_CLI_MB_PER_S,
        "adb_cli_meets_target": cli_median >= TARGET_CLI_MB_PER_S,
        "host": support.host_facts(),
    }


if __name__ == "__main__":
    sys.exit(main())
