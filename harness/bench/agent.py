"""The on-device agent (android_app/agent.sh): its command line, and reaping what a dead
squeezebench left running on a device. Its contract is in docs/architecture.md."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from harness.background import alongside
from harness.bench.settings import BenchSettings
from harness.device import charging, stay_awake
from harness.device.connection import Device
from harness.device.workdir import AGENT_PATH, CELLS_DIR, DEVICE_ROOT

# adb's own transport may add this much after the agent's watchdog has fired.
HOST_TIMEOUT_MARGIN_S = 30.0


def plain_number(value: float) -> str:
    """A number as the agent's sh arithmetic reads it: never in exponent notation."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def new_cell_dir() -> str:
    """A fresh directory on the device for one benchmark's raw output."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.monotonic_ns() % 10**9:09d}"
    return f"{CELLS_DIR}/{stamp}"


def host_timeout_s(settings: BenchSettings) -> float:
    """How long the host waits for the agent: every runner start's own timeout, the cool-down
    and idle baseline, and adb's margin."""
    return (settings.derived_timeout_s * settings.runner_starts + settings.cooldown_s + settings.idle_baseline_s
            + HOST_TIMEOUT_MARGIN_S)


def run_agent(device: Device, settings: BenchSettings, device_dir: str, runner_argv: list[str], *,
              rails_hal: str | None = None):
    """The agent on the device, waited for (its ShellResult)."""
    argv = agent_argv(settings, device_dir, runner_argv, rails_hal=rails_hal)
    return device.shell(argv, timeout_s=host_timeout_s(settings), check=False)


@contextmanager
def pulled_agent_output(device: Device, device_dir: str, out_dir) -> Iterator[None]:
    """The agent's directory brought to the host; the device's copy is removed while the block
    reads the host's (a round trip of 10-20 ms off the path)."""
    device.pull_dir(device_dir, out_dir)
    with alongside(lambda: device.shell(["rm", "-rf", device_dir], check=False)):
        yield


def agent_argv(settings: BenchSettings, out_dir: str, runner_argv: list[str], *,
               rails_hal: str | None = None) -> list[str]:
    argv = [
        "sh", AGENT_PATH,
        "--out", out_dir,
        "--cooldown-s", plain_number(settings.cooldown_s),
        "--cooldown-temp-c", plain_number(settings.cooldown_temp_c),
        "--idle-baseline-s", plain_number(settings.idle_baseline_s),
        "--sample-interval-ms", str(settings.sample_interval_ms),
        "--timeout-s", str(math.ceil(settings.derived_timeout_s)),
    ]  # fmt: skip
    if settings.taskset:
        argv += ["--taskset", settings.taskset]
    if not settings.energy:
        rails_hal = "none"  # no energy asked for: no power-stats HAL to probe or dump
    if rails_hal:
        argv += ["--rails-hal", rails_hal]
    if settings.runner_starts > 1:
        argv += ["--repeat", str(settings.runner_starts)]
    return argv + ["--"] + runner_argv


# What the reaping stops: command lines naming the agent or a runner by their full paths. "[a]gent.sh"
# and "[r]unner": a pattern must not match the reaping shell's own command line.
REAPED_COMMAND_LINES = (f"{DEVICE_ROOT}/[a]gent.sh", f"{DEVICE_ROOT}/[r]unner/")


def reaping_script(*, restore_charging: bool = True, restore_stay_awake: bool = True) -> str:
    """The shell that stops agents left running by a squeezebench that died mid-benchmark, and
    removes their cell dirs; with `restore_charging` / `restore_stay_awake`, it puts back charging
    that such a squeezebench left suspended / the stay-on setting it left on.

    Run with the device lock held, so no agent on the device belongs to a live benchmark of this
    host. The agent traps TERM and takes its runner and sampler down with it. `pkill -f` matches
    any command line that names the agent or the runner by its full path: the digest check
    beside it (Device.held_files) names them relative to DEVICE_ROOT."""
    # No signal option: toybox's pkill takes "-TERM -f PATTERN" as the pattern "-f" and kills
    # everything.
    script = "".join(f"pkill -f '{pattern}'; " for pattern in REAPED_COMMAND_LINES) + f"rm -rf {CELLS_DIR}; "
    if restore_charging:
        script += charging.RESTORE_FROM_NOTE_SCRIPT + "; "
    if restore_stay_awake:
        script += stay_awake.RESTORE_FROM_NOTE_SCRIPT + "; "
    return script + "true"
