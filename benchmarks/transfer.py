"""Transfer: a 14 MB model pushed through squeezebench against `adb push` with the CLI, same device,
same file, printed as JSON.

    .venv/bin/python benchmarks/transfer.py [--repeats 7] [--file MODEL.tflite]

The file is mobilenet_v2 fp32 (13.98 MB, converted through the real CLI, cached) unless --file is
given. Variants, in rotating order every round, all to the same device path on one virtual device:
  squeezebench   harness.device.connection.Device.push (adbutils sync, the call the pipeline makes)
  ensure_file    what a benchmark does before running a model new to the device:
                 DeviceSession.ensure_files (the "already there?" check, the push, and what proves
                 it: a STAT and the digest note)
  adb_cli        `adb -P PORT -s SERIAL push FILE PATH`, the adb bundled in the adbutils wheel (its
                 process start included: that is what a user typing it pays)
Every push is checked with sha256sum on the device, outside the timing. Also timed in the same
rounds, with the file already on the device:
  present_note   DeviceSession.ensure_files in a new process's session: the digest note and
                 toybox `stat`, in one shell round trip, say it is there
  present_sha256 the check before the digest note: sha256sum of the file on the device
and, for scale, two requests without payload: `shell true` (Device.shell) and a sync STAT
(Device.stat): what every adb request costs before any data.
Target: adb_cli time / squeezebench time >= 0.9 (squeezebench at least 90% of the CLI's speed).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import _support as support

TARGET_RATIO = 0.9
REMOTE_DIR = "/data/local/tmp/squeezebench-transfer-benchmark"


class Pushes:
    def __init__(self, world, serial: str, local: Path):
        from harness.bench.session import DeviceSession, FileToPush
        from harness.device.adb import adb_binary
        from harness.device.connection import DIGEST_NOTE_SUFFIX, Device
        from harness.digests import sha256_file

        self.world, self.serial, self.local = world, serial, local
        self.device = Device(world.adb_server, serial)
        self.session = DeviceSession(self.device, passport=None, runner=None)
        self.adb = adb_binary()
        self.expected = sha256_file(local)
        self.remote = f"{REMOTE_DIR}/{local.name}"
        self.file = FileToPush(local, self.remote, self.expected)
        self.note = self.remote + DIGEST_NOTE_SUFFIX
        self.device.shell(["mkdir", "-p", REMOTE_DIR])
        self.rounds = 0

    def _fresh_remote(self) -> None:
        """Every push starts from a missing file, as a first push of a new model does."""
        self.device.shell(["rm", "-f", self.remote, self.note])
        self.session.pushed.clear()

    def _verified(self, seconds: float) -> float:
        if self.device.remote_sha256(self.remote) != self.expected:
            raise SystemExit(f"the file on the device differs from {self.local}")
        return seconds

    def squeezebench(self) -> float:
        self._fresh_remote()
        start = time.perf_counter()
        self.device.push(self.local, self.remote)
        return self._verified(time.perf_counter() - start)

    def ensure_file(self) -> float:
        self._fresh_remote()
        start = time.perf_counter()
        self.session.ensure_files([self.file])
        return self._verified(time.perf_counter() - start)

    def present_note(self) -> float:
        self.session.ensure_files([self.file])  # there, with its note
        self.session.pushed.clear()  # what a new squeezebench process knows
        start = time.perf_counter()
        pushed = self.session.ensure_files([self.file])
        seconds = time.perf_counter() - start
        if pushed:
            raise SystemExit("the digest note did not recognise the file already on the device")
        return seconds

    def present_sha256(self) -> float:
        self.session.ensure_files([self.file])
        start = time.perf_counter()
        digest = self.device.remote_sha256(self.remote)
        seconds = time.perf_counter() - start
        if digest != self.expected:
            raise SystemExit("sha256sum on the device disagrees")
        return seconds

    def shell_true(self) -> float:
        start = time.perf_counter()
        self.device.shell(["true"])
        return time.perf_counter() - start

    def sync_stat(self) -> float:
        start = time.perf_counter()
        self.device.stat(REMOTE_DIR)
        return time.perf_counter() - start

    def adb_cli(self) -> float:
        self._fresh_remote()
        argv = [self.adb, "-P", str(self.world.adb_server.port), "-s", self.serial, "push", str(self.local), self.remote]
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=self.world.env)
        return self._verified(time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--file", type=Path, help="file to push (default: mobilenet_v2 fp32, 13.98 MB)")
    args = parser.parse_args()
    started = time.perf_counter()
    with support.private_world("transfer") as world:
        conversion = None
        local = args.file
        if local is None:
            files, conversion = support.converted_levels(world, "mobilenet_v2", ["fp32"])
            local = files["fp32"]
        [device] = world.start_devices(1)
        pushes = Pushes(world, device.serial, local)
        pushes.squeezebench()  # first push warms the device's page cache and the adb connection
        seconds = support.alternate(
            {"squeezebench": pushes.squeezebench, "ensure_file": pushes.ensure_file, "adb_cli": pushes.adb_cli,
             "present_note": pushes.present_note, "present_sha256": pushes.present_sha256,
             "shell_true": pushes.shell_true, "sync_stat": pushes.sync_stat},
            args.repeats,
        )
        adb_version = subprocess.run([pushes.adb, "version"], capture_output=True, text=True).stdout.splitlines()
        size = local.stat().st_size
    per_round = [cli / ours for cli, ours in zip(seconds["adb_cli"], seconds["squeezebench"])]
    ensure_rounds = [cli / ours for cli, ours in zip(seconds["adb_cli"], seconds["ensure_file"])]
    support.print_result({
        "benchmark": "transfer",
        "file": str(local.name),
        "size_bytes": size,
        "repeats": args.repeats,
        "seconds": {name: support.spread(values, 4) for name, values in seconds.items()},
        "mb_per_s": {name: round(size / support.spread(seconds[name])["median"] / 1e6, 1)
                     for name in ("squeezebench", "ensure_file", "adb_cli")},
        "ratio_present_sha256_time_over_present_note_time": support.ratio(
            support.spread(seconds["present_sha256"])["median"], support.spread(seconds["present_note"])["median"], 2),
        "ratio_adb_cli_time_over_squeezebench_time": support.spread(per_round, 4),
        "ratio_adb_cli_time_over_ensure_file_time": support.spread(ensure_rounds, 4),
        "target_ratio": TARGET_RATIO,
        "met": support.spread(per_round)["median"] >= TARGET_RATIO,
        "adb_cli": {"binary": pushes.adb, "version": adb_version[1] if len(adb_version) > 1 else "?"},
        "conversion": conversion,
        "host": support.host_facts(),
        "script_wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
