"""One model on one device: push what is missing, run the agent, pull the raw output, measure.

Every outcome ends in a `squeezebench.bench` document with a status and a reason; the raw runner
output, agent result and energy samples are kept beside it. Nothing is made up: a number the raw
material cannot support is null, with the reason.
"""

from __future__ import annotations

import math
import posixpath
import re
import shlex
import time
from dataclasses import asdict, dataclass, field, fields, replace
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from harness import __version__
from harness.bench import stats
from harness.device.runner_binaries import RunnerBinary, runner_for
from harness.device.connection import Device
from harness.digests import sha256_file
from harness.device.passport import Passport, read_passport
from harness.device.profiles import DELEGATES, profile_for_device
from harness.errors import DeviceError, DeviceGoneError, UsageError
from harness.jsonfile import utc_now, write_json_atomic
from harness.paths import ANDROID_APP_DIR

if TYPE_CHECKING:
    from harness.bench.energy import IdleBaseline, PowerConditions

BENCH_KIND = "squeezebench.bench"
# Format history: 1 - first version.
BENCH_SCHEMA_VERSION = 1

DEVICE_ROOT = "/data/local/tmp/squeezebench"
AGENT_LOCAL = ANDROID_APP_DIR / "agent.sh"
# Time the runner may need beyond its measured phases: loading, delegate init, teardown.
RUNNER_INIT_ALLOWANCE_S = 60.0
# adb's own transport may add this much after the agent's watchdog has fired.
HOST_TIMEOUT_MARGIN_S = 30.0
OUTPUT_TAIL_CHARS = 2000

# Cell statuses, shared by `bench` and the sweep.
STATUS_OK = "ok"
STATUS_FAILED = "failed"  # the runner exited non-zero, or its output is unusable
STATUS_CRASHED = "crashed"  # the runner died by a signal
STATUS_TIMEOUT = "timeout"  # the runner hung and was killed
STATUS_UNSUPPORTED = "unsupported"  # the device cannot do this delegate / op
STATUS_DEVICE_LOST = "device-lost"

_UNSUPPORTED_PATTERNS = (
    re.compile(r"(GPU|NNAPI|Hexagon)[^\n]*(not supported|unsupported|not available|failed to create|could not create)", re.I),
    re.compile(r"Failed to (apply|create) [^\n]*delegate", re.I),
    re.compile(r"Didn't find op for builtin opcode", re.I),
    re.compile(r"Op builtin_code out of range", re.I),
    re.compile(r"Encountered unresolved custom op", re.I),
)


@dataclass(frozen=True)
class Measurement:
    """How each benchmark is taken, whatever the model, device, threads or delegate: the same
    knobs for `bench`, `run` and the Python API (the CLI's option names map onto these fields)."""

    runs: int = 50
    warmup_runs: int = 1
    min_secs: float = 1.0
    max_secs: float = 150.0
    cooldown_s: float = 0.0
    cooldown_temp_c: float = 35.0
    taskset: str | None = None  # a hex mask, or "big" (the device profile's big cores)
    suspend_charging: bool = True
    idle_baseline_s: float = 2.0
    sample_interval_ms: int = 250
    timeout_s: float | None = None
    runner_args: tuple[str, ...] = ()

    def __post_init__(self):
        if self.runs < 1 or self.warmup_runs < 0:
            raise UsageError("--runs must be at least 1 and --warmup-runs at least 0")
        if self.cooldown_temp_c < 0:  # the agent reads plain non-negative decimals
            raise UsageError(f"--cooldown-temp {self.cooldown_temp_c:g} is below 0 °C", "give a battery temperature such as 35")
        if self.taskset not in (None, "big") and not re.fullmatch(r"[0-9a-fA-F]+", self.taskset):
            raise UsageError(f"--taskset {self.taskset!r} is not a hex CPU mask", "e.g. --taskset f0, or big")

    @classmethod
    def from_options(cls, options) -> "Measurement":
        """From a mapping (run.json's spec) or an object (argparse namespace) with these names."""
        source = options if isinstance(options, Mapping) else vars(options)
        values = {f.name: source[f.name] for f in fields(cls) if f.name in source}
        values["runner_args"] = tuple(values.get("runner_args") or ())
        return cls(**values)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["runner_args"] = list(self.runner_args)
        return data


@dataclass(frozen=True)
class BenchSettings(Measurement):
    """One benchmark's settings: the measurement plus threads and delegate, taskset resolved."""

    threads: int = 1
    delegate: str = "cpu"

    def __post_init__(self):
        super().__post_init__()
        if self.delegate not in DELEGATES:
            raise UsageError(f"unknown delegate {self.delegate!r}", f"use one of {', '.join(DELEGATES)}")
        if self.threads < 1:
            raise UsageError("--threads must be at least 1")
        if self.taskset == "big":
            raise ValueError("resolve 'big' to the device's mask first (resolve_taskset)")

    @classmethod
    def for_device(cls, session: "DeviceSession", measurement: Measurement, *, threads: int, delegate: str):
        values = asdict(measurement) | {"taskset": resolve_taskset(session, measurement.taskset)}
        return cls(**values, threads=threads, delegate=delegate)

    @property
    def derived_timeout_s(self) -> float:
        """How long the runner may take before it counts as hung: its own upper bounds, twice."""
        if self.timeout_s:
            return self.timeout_s
        return RUNNER_INIT_ALLOWANCE_S + 2 * (self.max_secs + self.max_secs)

    def runner_flags(self) -> list[str]:
        flags = [
            f"--num_threads={self.threads}",
            f"--num_runs={self.runs}",
            f"--warmup_runs={self.warmup_runs}",
            f"--min_secs={self.min_secs:g}",
            f"--max_secs={self.max_secs:g}",
            "--report_peak_memory_footprint=true",
        ]
        flags += {
            "cpu": [],
            "xnnpack-off": ["--use_xnnpack=false"],
            "gpu": ["--use_gpu=true"],
            "nnapi": ["--use_nnapi=true"],
        }[self.delegate]
        return flags + list(self.runner_args)

    def to_dict(self) -> dict:
        return super().to_dict() | {"derived_timeout_s": self.derived_timeout_s}


@dataclass(frozen=True)
class LentBaseline:
    """An idle baseline one benchmark measured, with what decides whether the next may borrow it."""

    baseline: "IdleBaseline"
    held_since_s: float  # host monotonic clock, taken before that benchmark's agent started
    settings_key: tuple  # the idle-related settings it was measured with


def idle_settings_key(settings: "BenchSettings") -> tuple:
    return (settings.idle_baseline_s, settings.sample_interval_ms, settings.suspend_charging)


# The host's clock says when a baseline may no longer be lent; the device's clock (compute_energy)
# has the last word. This much is allowed for the agent to get from its start to its runner.
BASELINE_AGE_MARGIN_S = 10.0


def baseline_to_borrow(session: "DeviceSession", settings: "BenchSettings") -> "IdleBaseline | None":
    """The baseline this benchmark may borrow instead of measuring one, or None to measure."""
    lent = session.lent_baseline
    if lent is None or session.idle_baseline_reuse_s <= 0 or settings.idle_baseline_s <= 0:
        return None
    age_s = time.monotonic() - lent.held_since_s + settings.cooldown_s + BASELINE_AGE_MARGIN_S
    if age_s > session.idle_baseline_reuse_s or lent.settings_key != idle_settings_key(settings):
        return None
    if session.last_conditions != lent.baseline.conditions:
        return None  # thermal status or charging changed since: measure again
    return lent.baseline


@dataclass
class DeviceSession:
    """What this process knows about one device while it benchmarks on it."""

    device: Device
    passport: Passport
    runner: RunnerBinary
    profile: object | None = None  # harness.device.profiles.Profile matched to the device
    pushed: dict[str, str] = field(default_factory=dict)  # device path -> sha256 pushed or verified
    transfer_log: list[dict] = field(default_factory=list)
    # A sweep keeps charging suspended across a device's whole queue (restore_charging at its
    # end), so the charger settles once instead of before every cell; `bench` restores after
    # its one benchmark.
    keep_charging_suspended: bool = False
    charging_held: bool = False  # this session suspended charging and has not restored it yet
    charging_restore_to: str | None = None  # the value to put back; None: nothing to put back
    # The device's power-stats HAL ("none", "1.0" or "2.0"), learnt from the first agent result
    # so that later agents skip probing for it.
    rails_hal: str | None = None
    # How long an idle baseline measured in one benchmark is lent to the next ones on this
    # device (a sweep's --idle-baseline-reuse); 0: every benchmark measures its own (`bench`).
    idle_baseline_reuse_s: float = 0.0
    lent_baseline: "LentBaseline | None" = None
    # The device's state after the last benchmark: a baseline taken in another state is not lent.
    last_conditions: "PowerConditions | None" = None

    @property
    def runner_device_path(self) -> str:
        name = "benchmark_model.py" if self.runner.kind == "bundled-litert-python" else "benchmark_model"
        return f"{DEVICE_ROOT}/runner/{name}"

    def runner_argv(self) -> list[str]:
        if self.runner.kind == "bundled-litert-python":
            # The virtual device provides Python + LiteRT as /system/bin/python3.
            return ["/system/bin/python3", self.runner_device_path]
        return [self.runner_device_path]

    def ensure_file(self, local: Path, remote: str, *, sha256: str | None = None, mode: int = 0o644) -> bool:
        """Push unless this content is already there (checked on the device once per process)."""
        digest = sha256 or sha256_file(local)
        if self.pushed.get(remote) == digest:
            return False
        started = time.monotonic()
        pushed = self.device.push_if_changed(local, remote, sha256=digest, mode=mode)
        self.transfer_log.append(
            {"path": remote, "pushed": pushed, "bytes": Path(local).stat().st_size, "seconds": time.monotonic() - started}
        )
        self.pushed[remote] = digest
        return pushed

    def forget_device_state(self) -> None:
        """After losing the device: it may come back rebooted, reset, or as another device on the
        same address, so nothing learnt about it holds. Charging left suspended on it is put
        back from its note (CHARGING_NOTE) before the next benchmark."""
        self.pushed.clear()
        self.charging_held = False
        self.charging_restore_to = None
        self.rails_hal = None
        self.lent_baseline = None
        self.last_conditions = None

    def ensure_tools(self) -> None:
        self.ensure_file(AGENT_LOCAL, f"{DEVICE_ROOT}/agent.sh", mode=0o755)
        self.ensure_file(self.runner.path, self.runner_device_path, sha256=self.runner.sha256, mode=0o755)

    def ensure_model(self, local: Path, sha256: str) -> str:
        """Models live under their content hash, keeping their own file name (quoted everywhere)."""
        name = Path(local).name
        if name in ("", ".", "..") or "/" in name:
            raise UsageError(f"unusable model file name {name!r}")
        remote = f"{DEVICE_ROOT}/models/{sha256[:16]}/{name}"
        self.ensure_file(local, remote, sha256=sha256)
        return remote


def open_session(server, serial: str) -> DeviceSession:
    """Connect to a device and learn what is needed to benchmark on it (one passport read)."""
    device = Device(server, serial)
    passport = read_passport(device)
    runner = runner_for(passport.abi, is_virtual=passport.is_virtual)
    return DeviceSession(device, passport, runner, profile=profile_for_device(passport.props))


def default_threads(session: DeviceSession) -> int:
    """The phone profile's choice, else one thread per core up to 4 (the usual big-core count)."""
    profile_threads = getattr(session.profile, "default_threads", None)
    if profile_threads:
        return profile_threads
    return max(1, min(4, session.passport.cpu_count or 1))


def friendly_name(session: DeviceSession) -> str:
    name = getattr(session.profile, "friendly_name", None) or session.passport.model or session.device.serial
    return f"{name} (virtual)" if session.passport.is_virtual and "virtual" not in name.lower() else name


def resolve_taskset(session: DeviceSession, taskset: str | None) -> str | None:
    if taskset != "big":
        return taskset
    mask = getattr(session.profile, "big_core_mask", None)
    if not mask:
        raise UsageError(
            f"--taskset big: no big-core mask known for {session.passport.model or session.device.serial}",
            "give a hex mask such as --taskset f0, or add big_core_mask to its device profile",
        )
    return format(mask, "x")


def plain_number(value: float) -> str:
    """A number as the agent's sh arithmetic reads it: never in exponent notation."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def agent_argv(settings: BenchSettings, out_dir: str, runner_argv: list[str], *,
               rails_hal: str | None = None) -> list[str]:
    argv = [
        "sh", f"{DEVICE_ROOT}/agent.sh",
        "--out", out_dir,
        "--cooldown-s", plain_number(settings.cooldown_s),
        "--cooldown-temp-c", plain_number(settings.cooldown_temp_c),
        "--idle-baseline-s", plain_number(settings.idle_baseline_s),
        "--sample-interval-ms", str(settings.sample_interval_ms),
        "--timeout-s", str(math.ceil(settings.derived_timeout_s)),
    ]  # fmt: skip
    if settings.taskset:
        argv += ["--taskset", settings.taskset]
    if rails_hal:
        argv += ["--rails-hal", rails_hal]
    return argv + ["--"] + runner_argv


def new_cell_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{time.monotonic_ns() % 10**9:09d}"


def run_benchmark(
    session: DeviceSession,
    model_path: Path,
    settings: BenchSettings,
    out_dir: Path,
    *,
    model_info: dict | None = None,
    cell_id: str | None = None,
) -> dict:
    """Benchmark one model file on one device; always returns (and writes) a bench document.
    `cell_id` names the benchmark where its idle baseline is lent to later ones."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sha256 = (model_info or {}).get("sha256") or sha256_file(model_path)
    document = _new_document(session, model_path, sha256, settings, model_info)
    timing: dict[str, float] = {}
    try:
        started = time.monotonic()
        session.ensure_tools()
        remote_model = session.ensure_model(model_path, sha256)
        timing["push_s"] = time.monotonic() - started
        document["runner"]["graph"] = remote_model
        _run_agent_and_collect(session, remote_model, settings, out_dir, document, timing, cell_id)
    except DeviceGoneError as e:
        _fail(document, STATUS_DEVICE_LOST, e.one_line())
    except DeviceError as e:
        _fail(document, STATUS_FAILED, e.one_line())
    document["timing"] = timing
    write_json_atomic(out_dir / "bench.json", document)
    return document


def _new_document(session, model_path, sha256, settings, model_info) -> dict:
    return {
        "kind": BENCH_KIND,
        "schema_version": BENCH_SCHEMA_VERSION,
        "harness_version": __version__,
        "created_utc": utc_now(),
        "status": None,
        "reason": None,
        "model": {
            "file": Path(model_path).name,
            "path": str(model_path),
            "sha256": sha256,
            "size_bytes": Path(model_path).stat().st_size,
            **(model_info or {}),
        },
        "settings": settings.to_dict(),
        "runner": {**session.runner.to_dict(), "argv": None, "graph": None},
        "device": session.passport.to_dict(),
        "flags": [],
        "raw": {},
    }


def _fail(document: dict, status: str, reason: str) -> None:
    document["status"] = status
    document["reason"] = reason


def _run_agent_and_collect(session, remote_model, settings, out_dir, document, timing, cell_id) -> None:
    from harness.bench.agent_result import AgentResultError, parse_agent_result

    device = session.device
    cell_dir = f"{DEVICE_ROOT}/cells/{new_cell_id()}"
    runner_argv = session.runner_argv() + [f"--graph={remote_model}"] + settings.runner_flags()
    if session.runner.kind == "bundled-litert-python":
        runner_argv.append(f"--squeezebench_latencies_file={posixpath.join(cell_dir, 'latencies.txt')}")
    document["runner"]["argv"] = runner_argv
    host_timeout_s = (
        settings.derived_timeout_s + settings.cooldown_s + settings.idle_baseline_s + HOST_TIMEOUT_MARGIN_S
    )
    # A note of charging left suspended by a squeezebench that died is only taken up while
    # this session holds none of its own (see CHARGING_NOTE).
    reap_orphans(device, restore_charging=not session.charging_held)
    _hold_charging_suspended(session, settings.suspend_charging)
    borrowed = baseline_to_borrow(session, settings)
    agent_settings = replace(settings, idle_baseline_s=0) if borrowed else settings
    try:
        agent_started_s = time.monotonic()
        argv = agent_argv(agent_settings, cell_dir, runner_argv, rails_hal=session.rails_hal)
        agent = device.shell(argv, timeout_s=host_timeout_s, check=False)
        timing["agent_s"] = time.monotonic() - agent_started_s
    finally:
        if not session.keep_charging_suspended:
            restore_charging(session)
    started = time.monotonic()
    device.pull_dir(cell_dir, out_dir)
    device.shell(["rm", "-rf", cell_dir], check=False)
    timing["pull_s"] = time.monotonic() - started
    if not (out_dir / "done").exists():
        _fail(document, STATUS_FAILED, f"agent did not finish (exit {agent.exit_code}): {_tail(agent.stderr or agent.stdout)}")
        return
    try:
        result = parse_agent_result((out_dir / "result.txt").read_text(encoding="utf-8", errors="replace"))
    except AgentResultError as e:  # an agent or device this version does not understand: this cell fails
        _fail(document, STATUS_FAILED, e.one_line())
        return
    document["raw"] = {name: name for name in ("result.txt", "runner.log", "energy.csv", "latencies.txt") if (out_dir / name).exists()}
    energy = _fill_measurements(document, session, settings, out_dir, result, borrowed)
    _learn_from(session, settings, result, energy, borrowed, agent_started_s, cell_id or document["created_utc"])


def _learn_from(session, settings, result, energy, borrowed, agent_started_s: float, cell_id: str) -> None:
    """What the next benchmarks on this device reuse from this one: the power-stats HAL, the
    device's state, and the idle baseline (one measured here replaces the one lent so far; a
    borrowed one that did not hold is not lent again)."""
    from harness.bench.energy import INVALID_BORROWED_BASELINE, IdleBaseline, PowerConditions

    if result.energy.source is not None:
        session.rails_hal = result.energy.rails_hal or "none"
    session.last_conditions = PowerConditions.at(result, "after", settings.suspend_charging)
    if borrowed is None:
        own = IdleBaseline.from_cell(energy, result, settings.suspend_charging, taken_in=f"cell {cell_id}")
        session.lent_baseline = own and LentBaseline(own, agent_started_s, idle_settings_key(settings))
    elif energy.validity == INVALID_BORROWED_BASELINE:
        session.lent_baseline = None


# The fuel gauge and BatteryService notice a suspended charger on their next tick (~1 s).
CHARGING_SETTLE_TIMEOUT_S = 3.0
_BATTERY_STATUS_FILE = "/sys/class/power_supply/battery/status"
_SUSPEND_PROPERTY = "power.battery_input.suspended"
# Written with the value to put back whenever squeezebench suspends charging, removed when it
# puts it back. A squeezebench killed in between (even within a sweep, which keeps charging
# suspended for a device's whole queue) leaves it behind; the next benchmark on the device,
# holding the device lock and no suspension of its own, restores charging from it
# (reap_orphans), so a dead run cannot leave a phone off its charger for good.
CHARGING_NOTE = f"{DEVICE_ROOT}/charging-restore"


def reap_orphans(device: Device, *, restore_charging: bool = True) -> None:
    """Stop agents left running by a squeezebench that died mid-benchmark, and their cell dirs;
    with `restore_charging`, put back charging that such a squeezebench left suspended.

    Called with the device lock held, so no agent on the device belongs to a live benchmark of
    this host. The agent traps TERM and takes its runner and sampler down with it."""
    # "[a]gent.sh": the pattern must not match this shell's own command line. No signal option:
    # toybox's pkill takes "-TERM -f PATTERN" as the pattern "-f" and kills everything.
    script = f"pkill -f '{DEVICE_ROOT}/[a]gent.sh'; pkill -f '{DEVICE_ROOT}/[r]unner/'; rm -rf {DEVICE_ROOT}/cells; "
    if restore_charging:
        script += (f'if [ -f {CHARGING_NOTE} ]; then setprop {_SUSPEND_PROPERTY} "$(cat {CHARGING_NOTE})"; '
                   f"rm -f {CHARGING_NOTE}; fi; ")
    device.shell_script(script + "true", check=False)


def _hold_charging_suspended(session: DeviceSession, wanted: bool) -> None:
    """Charging suspended for this benchmark, unless this session already holds it so."""
    if wanted and not session.charging_held:
        session.charging_restore_to = _suspend_charging(session.device)
        session.charging_held = True


def restore_charging(session: DeviceSession) -> None:
    """Charging back to what it was before this session suspended it (end of a benchmark, or of
    a sweep's queue)."""
    if session.charging_held:
        _restore_charging(session.device, session.charging_restore_to)
        session.charging_held = False
        session.charging_restore_to = None


def _suspend_charging(device: Device) -> str | None:
    """Stop battery charging during the run where the device supports it (Jetpack's method),
    and wait until the battery reports it, so the idle baseline is not taken while charging.
    A device that keeps charging is measured anyway; its energy is then marked invalid.
    Returns the value to restore, None when charging was suspended already (by its owner)."""
    previous = device.shell(["getprop", _SUSPEND_PROPERTY], check=False).stdout.strip() or "false"
    if previous == "true":
        return None
    # The note first: without it, charging is not suspended (the energy then says so).
    device.shell_script(
        f"printf %s {shlex.quote(previous)} >{CHARGING_NOTE} && setprop {_SUSPEND_PROPERTY} true", check=False
    )
    deadline = time.monotonic() + CHARGING_SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        status = device.shell(["cat", _BATTERY_STATUS_FILE], check=False).stdout.strip()
        if status and status not in ("Charging", "Full"):
            break
        time.sleep(0.25)
    return previous


def _restore_charging(device: Device, previous: str | None) -> None:
    if previous is None:
        return
    try:
        device.shell_script(f"setprop {_SUSPEND_PROPERTY} {shlex.quote(previous)}; rm -f {CHARGING_NOTE}", check=False)
    except DeviceError:
        pass  # the device is gone; the note makes the next session on it restore charging


def _tail(text: str) -> str:
    text = (text or "").strip()
    return text[-OUTPUT_TAIL_CHARS:]


def _fill_measurements(document, session, settings, out_dir: Path, result, borrowed):
    from harness.bench.energy import compute_energy
    from harness.bench.logparse import parse_benchmark_log

    log_text = _read_text_if(out_dir / "runner.log")
    parsed = parse_benchmark_log(log_text).to_dict()
    document["parsed"] = parsed
    document["agent"] = result.to_dict()
    document["status"], document["reason"] = classify_outcome(result, parsed, log_text)

    latency = parsed.get("latency_us") or {}
    samples = read_latency_samples(out_dir / "latencies.txt")
    if samples:
        document["latency_us"] = {**stats.summarize_samples(samples), "source": "samples"}
    elif latency.get("count"):
        document["latency_us"] = {**stats.with_intervals(latency), "source": "runner-summary"}
    else:
        document["latency_us"] = None
    document["warmup_us"] = parsed.get("warmup_us")
    document["init_us"] = parsed.get("init_us")
    document["first_inference_us"] = parsed.get("first_inference_us")
    document["memory_mb"] = parsed.get("memory_mb")
    document["delegation"] = parsed.get("delegation")

    # The energy window is the runner's whole process (load, warm-up, measured runs).
    n_measured = (latency or {}).get("count") or 0
    n_warmup = (parsed.get("warmup_us") or {}).get("count") or 0
    energy = compute_energy(
        result,
        _read_text_if(out_dir / "energy.csv"),
        _read_rails(out_dir),
        n_inferences=n_measured + n_warmup,
        is_virtual=session.passport.is_virtual,
        charging_suspended=settings.suspend_charging,
        idle_baseline=borrowed,
        idle_baseline_max_age_s=session.idle_baseline_reuse_s,
    )
    document["energy"] = energy.to_dict()
    document["thermal"] = _thermal_summary(result)
    document["flags"] = cell_flags(session.passport, document)
    return energy


def classify_outcome(result, parsed: dict, log_text: str) -> tuple[str, str | None]:
    status = result.runner.status
    tail = _tail(log_text)
    if status == "timeout":
        return STATUS_TIMEOUT, f"runner hung and was killed after {result.runner.timeout_s} s; output tail: {tail[-300:]}"
    exit_code = result.runner.exit_code
    if any(p.search(log_text) for p in _UNSUPPORTED_PATTERNS) and status != "ok":
        return STATUS_UNSUPPORTED, _first_error_line(parsed, log_text)
    if exit_code is not None and exit_code >= 128:
        return STATUS_CRASHED, f"runner killed by signal {exit_code - 128}; output tail: {tail[-300:]}"
    if status != "ok" or exit_code:
        return STATUS_FAILED, f"runner exited with code {exit_code}: {_first_error_line(parsed, log_text)}"
    if not parsed.get("complete"):
        return STATUS_FAILED, f"runner output is incomplete or unparseable; tail: {tail[-300:]}"
    return STATUS_OK, None


def _first_error_line(parsed: dict, log_text: str) -> str:
    errors = parsed.get("errors") or []
    if errors:
        return errors[0]
    lines = [line for line in log_text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def read_latency_samples(path: Path) -> list[float]:
    """The bundled runner's per-iteration file: measured samples, one µs value per line;
    warm-up lines are marked and skipped."""
    if not path.exists():
        return []
    samples = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not line.startswith("warmup"):
            try:
                samples.append(float(line))
            except ValueError:
                continue
    return samples


def _read_text_if(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _read_rails(out_dir: Path) -> dict[str, str] | None:
    rails = {p.stem: p.read_text(errors="replace") for p in sorted(out_dir.glob("rails_*.txt"))}
    return rails or None


def _thermal_summary(result) -> dict:
    before, after = result.before, result.after
    return {
        "status_before": before.thermal_status,
        "status_after": after.thermal_status,
        "battery_temp_c_before": before.battery_temp_c,
        "battery_temp_c_after": after.battery_temp_c,
        "cooldown": result.cooldown.to_dict() if result.cooldown else None,
    }


def cell_flags(passport: Passport, document: dict) -> list[str]:
    flags = [name for name in ("virtual", "emulator", "low_battery", "debuggable") if passport.flags.get(name)]
    from harness.bench.energy import INVALID_CHARGING

    energy = document.get("energy") or {}
    if energy.get("validity") == INVALID_CHARGING:  # not "charging state unknown": that one is not known
        flags.append("charging")
    thermal = document.get("thermal") or {}
    if (thermal.get("status_before") or 0) > 0 or (thermal.get("status_after") or 0) > 0:
        flags.append("throttled")
    delegation = document.get("delegation") or {}
    if delegation.get("fallback_to_cpu"):
        flags.append("delegate-fallback")
    elif delegation.get("fully_delegated") is False and document["settings"]["delegate"] in ("gpu", "nnapi"):
        flags.append("partial-delegation")
    latency = document.get("latency_us") or {}
    if stats.is_noisy(latency):
        flags.append("noisy")
    return flags
