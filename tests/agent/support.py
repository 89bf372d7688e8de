"""Running android_app/agent.sh the way a phone would: a POSIX shell with only toybox applets on
PATH, a fake sysfs tree (--sysroot), a fake `dumpsys` printing Android's formats, and a fake
runner. Every run carries a unique token in its environment so a test can prove that nothing the
agent started outlives it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.bench.agent_result import AgentResult, parse_agent_result

HERE = Path(__file__).resolve().parent
AGENT = HERE.parent.parent / "android_app" / "agent.sh"
FAKE_RUNNER = HERE / "fake_runner.sh"
SHELLS = ("dash", "posh", "mksh")
# What the agent and the fake runner use; all of them exist in Android's toybox (6.0 and later).
TOYBOX_APPLETS = ("sleep", "setsid", "taskset", "sed", "grep", "mkdir", "rm", "readlink", "printf", "kill", "mv")
IDLE_CURRENT_UA = -150_000  # kernel ABI sign: negative while discharging
VOLTAGE_UV = 3_850_000
AGENT_RUN_TIMEOUT_S = 60


def shell_path(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (./scripts/setup installs dash, posh, mksh and toybox)")
    return path


@dataclass
class AgentRun:
    out: Path
    returncode: int
    stdout: str
    stderr: str
    leftovers: list[int]

    @property
    def result(self) -> AgentResult:
        return parse_agent_result((self.out / "result.txt").read_text())



@dataclass
class FakeDevice:
    """A phone's slice of /sys and /proc plus the state the fake dumpsys reports."""

    root: Path
    userland: Path
    state: dict = field(default_factory=dict)

    def __post_init__(self):
        self.sysroot = self.root / "sysroot"
        self.state_dir = self.root / "device"
        self.state_dir.mkdir(parents=True)
        (self.sysroot / "proc").mkdir(parents=True)
        # Real uptime: the agent's time stamps, timeouts and cool-down need a clock that moves.
        (self.sysroot / "proc" / "uptime").symlink_to("/proc/uptime")
        self.write_battery(type="Battery", capacity=80, status="Discharging", temp=300,
                           current_now=IDLE_CURRENT_UA, voltage_now=VOLTAGE_UV, charge_counter=2_000_000)
        self.write_supply("usb", type="USB", online=0)
        for cpu in range(4):
            freq = {"scaling_governor": "schedutil", "scaling_cur_freq": 1_800_000, "cpuinfo_max_freq": 2_400_000}
            self._write_dir(f"sys/devices/system/cpu/cpu{cpu}/cpufreq", freq)
            if cpu:  # like phones: cpu0 has no `online` file
                self._write_dir(f"sys/devices/system/cpu/cpu{cpu}", {"online": 1})
        self.state.update(thermal_status=[0], battery=None, rails=None)

    @property
    def battery_dir(self) -> Path:
        return self.sysroot / "sys/class/power_supply/battery"

    def write_battery(self, **values) -> None:
        self._write_dir("sys/class/power_supply/battery", values)

    def write_supply(self, name: str, **values) -> None:
        self._write_dir(f"sys/class/power_supply/{name}", values)

    def _write_dir(self, relative: str, values: dict) -> None:
        directory = self.sysroot / relative
        directory.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            (directory / name).write_text(f"{value}\n")

    def run_agent(self, shell: str, runner_args: list[str], *options: str,
                  env: dict[str, str] | None = None, wait: bool = True, runner: Path = FAKE_RUNNER):
        """Run the agent to completion (or return the Popen when wait=False)."""
        (self.state_dir / "device.json").write_text(json.dumps(self.state))
        out = self.root / "out"
        token = uuid.uuid4().hex
        command = [shell_path(shell), str(AGENT), "--out", str(out), "--sysroot", str(self.sysroot),
                   *options, "--", str(runner), *runner_args]
        environment = {"PATH": str(self.userland), "FAKE_DEVICE": str(self.state_dir), "FAKE_OUT": str(out),
                       "FAKE_SYSROOT": str(self.sysroot), "SQUEEZEBENCH_TEST_TOKEN": token,
                       "IDLE_CURRENT": str(IDLE_CURRENT_UA), **(env or {})}
        process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True, preexec_fn=default_signals)
        process.token = token
        process.out = out
        if not wait:
            return process
        return finish(process)

    def dumpsys_calls(self) -> list[str]:
        """The services `dumpsys` was asked for so far (the fake dumpsys logs every call)."""
        calls = self.state_dir / "dumpsys_calls"
        return calls.read_text().splitlines() if calls.exists() else []

    def runner_argv(self) -> list[str]:
        raw = (self.state_dir / "argv").read_bytes()
        return [arg.decode() for arg in raw.split(b"\0")[:-1]]


def default_signals() -> None:
    """Every signal at its default, as adbd starts a phone's shell: exec keeps ignored signals
    ignored, and a shell cannot trap one that was ignored when it started (a suite run under nohup
    ignores SIGHUP)."""
    for number in signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}:
        with contextlib.suppress(OSError, ValueError):  # numbers no handler can be set for
            signal.signal(number, signal.SIG_DFL)


def finish(process: subprocess.Popen) -> AgentRun:
    try:
        stdout, stderr = process.communicate(timeout=AGENT_RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"the agent did not finish within {AGENT_RUN_TIMEOUT_S} s: {stderr}")
    leftovers = processes_with_token(process.token)
    for pid in leftovers:  # reported by the test; not left to disturb the rest of the suite
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return AgentRun(out=process.out, returncode=process.returncode, stdout=stdout, stderr=stderr,
                    leftovers=leftovers)


def processes_with_token(token: str) -> list[int]:
    """Live processes whose environment carries the token (zombies have no environment)."""
    needle = f"SQUEEZEBENCH_TEST_TOKEN={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
