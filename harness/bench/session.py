"""What this process knows about one device while it benchmarks on it (`DeviceSession`): the
connection, passport, runner binary and profile, which files are already there, whether it holds
charging suspended, and the idle baseline it may lend to the next benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from harness.background import Started, alongside
from harness.bench.settings import BenchSettings, Measurement
from harness.device import charging, stay_awake
from harness.device.connection import Device
from harness.device.passport import Passport, read_passport
from harness.device.profiles import profile_for_device
from harness.device.runner_binaries import RunnerBinary, runner_for
from harness.device.workdir import AGENT_PATH, MODELS_DIR, RUNNER_DIR
from harness.digests import sha256_file
from harness.errors import DeviceError, UsageError
from harness.paths import ANDROID_APP_DIR

if TYPE_CHECKING:
    from harness.bench.energy import IdleBaseline, PowerConditions

AGENT_LOCAL = ANDROID_APP_DIR / "agent.sh"
# The host's clock says when a baseline may no longer be lent; the device's clock (compute_energy)
# has the last word. This much is allowed for the agent to get from its start to its runner.
BASELINE_AGE_MARGIN_S = 10.0


class FileToPush(NamedTuple):
    local: Path
    remote: str
    sha256: str | None = None  # computed when not given
    mode: int = 0o644


@dataclass(frozen=True)
class LentBaseline:
    """An idle baseline one benchmark measured, with what decides whether the next may borrow it."""

    baseline: "IdleBaseline"
    held_since_s: float  # host monotonic clock, taken before that benchmark's agent started
    settings_key: tuple  # BenchSettings.idle_key() of the benchmark that measured it


@dataclass
class DeviceSession:
    device: Device
    passport: Passport
    runner: RunnerBinary
    profile: object | None = None  # harness.device.profiles.Profile matched to the device
    pushed: dict[str, str] = field(default_factory=dict)  # device path -> sha256 pushed or verified
    transfer_log: list[dict] = field(default_factory=list)
    # A sweep keeps charging suspended and the screen on across a device's whole queue
    # (restore_held at its end), so the charger settles once instead
    # of before every cell; `bench` restores both after its one benchmark.
    keep_charging_suspended: bool = False
    charging_held: bool = False  # this session suspended charging and has not restored it yet
    charging_restore_to: str | None = None  # the value to put back; None: nothing to put back
    stay_awake_restore_to: str | None = None  # the stay-on setting to put back; None: not held
    # The battery gauge's current unit ("µA"/"mA") as a benchmark on this device decided it from
    # plausible power: used when a later benchmark's samples cannot decide it.
    current_unit: str | None = None
    # The device's power-stats HAL ("none", "1.0" or "2.0"), learnt from the first agent result
    # so that later agents skip probing for it.
    rails_hal: str | None = None
    # How long an idle baseline measured in one benchmark is lent to the next ones on this
    # device (a sweep's --idle-baseline-reuse); 0: every benchmark measures its own (`bench`).
    idle_baseline_reuse_s: float = 0.0
    lent_baseline: LentBaseline | None = None
    # The device's state after the last benchmark: a baseline taken in another state is not lent.
    last_conditions: "PowerConditions | None" = None
    # Host work for the wait after charging is suspended (the gauge takes 1-3 s to show it), e.g.
    # the report's imports: waited for with the settling, so never inside a measurement.
    while_settling: "Callable[[], object] | None" = None
    # The preparation begun beside the passport (open_session's `prepare`), until the first
    # benchmark or restore_held waits for it; its result is stay_awake_restore_to.
    preparing: Started | None = None

    # --- who and what -----------------------------------------------------------------

    @property
    def default_threads(self) -> int:
        """The phone profile's choice, else one thread per core up to 4 (the usual big-core count)."""
        profile_threads = getattr(self.profile, "default_threads", None)
        if profile_threads:
            return profile_threads
        return max(1, min(4, self.passport.cpu_count or 1))

    @property
    def friendly_name(self) -> str:
        name = getattr(self.profile, "friendly_name", None) or self.passport.model or self.device.serial
        return f"{name} (virtual)" if self.passport.is_virtual and "virtual" not in name.lower() else name

    def settings_for(self, measurement: Measurement, *, threads: int, delegate: str) -> BenchSettings:
        """One benchmark's settings on this device, `--taskset big` resolved to its big cores."""
        values = asdict(measurement) | {"taskset": self.resolve_taskset(measurement.taskset)}
        return BenchSettings(**values, threads=threads, delegate=delegate)

    def resolve_taskset(self, taskset: str | None) -> str | None:
        if taskset != "big":
            return taskset
        mask = getattr(self.profile, "big_core_mask", None)
        if not mask:
            raise UsageError(
                f"--taskset big: no big-core mask known for {self.passport.model or self.device.serial}",
                "give a hex mask such as --taskset f0, or add big_core_mask to its device profile",
            )
        return format(mask, "x")

    # --- files on the device ----------------------------------------------------------

    @property
    def runner_device_path(self) -> str:
        name = "benchmark_model.py" if self.runner.kind == "bundled-litert-python" else "benchmark_model"
        return f"{RUNNER_DIR}/{name}"

    def runner_argv(self) -> list[str]:
        if self.runner.kind == "bundled-litert-python":
            # The virtual device provides Python + LiteRT as /system/bin/python3.
            return ["/system/bin/python3", self.runner_device_path]
        return [self.runner_device_path]

    def ensure_files(self, files: "list[FileToPush]", *, while_pushing=None) -> list[str]:
        """Push each file unless its content is already there: checked on the device once per
        process, all of them in one round trip. `while_pushing`: work done meanwhile, from the
        check on (a reaping script can run beside it: the check names no path in full).
        Returns the device paths pushed."""
        wanted = [(f, f.sha256 or sha256_file(f.local)) for f in files]
        wanted = [(f, digest) for f, digest in wanted if self.pushed.get(f.remote) != digest]
        pushed_paths = []
        with alongside(while_pushing):
            held = self.device.held_files([f.remote for f, _ in wanted]) if wanted else {}
            for f, digest in wanted:
                started = time.monotonic()
                pushed = self.device.push_if_changed(f.local, f.remote, sha256=digest, mode=f.mode, held=held[f.remote])
                self.transfer_log.append(
                    {"path": f.remote, "pushed": pushed, "bytes": Path(f.local).stat().st_size,
                     "seconds": time.monotonic() - started}
                )
                self.pushed[f.remote] = digest
                if pushed:
                    pushed_paths.append(f.remote)
        return pushed_paths

    def tool_files(self) -> "list[FileToPush]":
        return [FileToPush(AGENT_LOCAL, AGENT_PATH, mode=0o755),
                FileToPush(self.runner.path, self.runner_device_path, self.runner.sha256, mode=0o755)]

    def model_device_path(self, local: Path, sha256: str) -> str:
        """Models live under their content hash, keeping their own file name (quoted everywhere)."""
        name = Path(local).name
        if name in ("", ".", "..") or "/" in name:
            raise UsageError(f"unusable model file name {name!r}")
        return f"{MODELS_DIR}/{sha256[:16]}/{name}"

    def forget_device_state(self) -> None:
        """After losing the device: it may come back rebooted, reset, or as another device on the
        same address, so nothing learnt about it holds. Charging left suspended on it is put
        back from its note (harness/device/charging.py) before the next benchmark."""
        self.pushed.clear()
        self.charging_held = False
        self.charging_restore_to = None
        self.stay_awake_restore_to = None
        self.current_unit = None
        self.rails_hal = None
        self.lent_baseline = None
        self.last_conditions = None

    # --- charging ---------------------------------------------------------------------

    def hold_charging_suspended(self, wanted: bool) -> None:
        """Charging suspended for this benchmark, unless this session already holds it so."""
        if wanted and not self.charging_held:
            self.charging_restore_to = charging.suspend_charging(self.device, while_settling=self.while_settling)
            self.charging_held = True

    def restore_charging(self) -> None:
        """Charging back to what it was before this session suspended it (a sweep's battery floor
        recharges with the screen still held)."""
        self._restore(charger=True, screen=False)

    def restore_held(self) -> None:
        """Charging and the stay-on setting back to what they were before this session held them
        (end of a benchmark, or of a sweep's queue), in one round trip."""
        self._restore(charger=True, screen=True)

    def _restore(self, *, charger: bool, screen: bool) -> None:
        if screen:
            try:
                self._finish_preparing()
            except DeviceError:
                pass  # it held nothing, or its note makes the next session put it back
        scripts = []
        if charger and self.charging_held:
            scripts.append(charging.restore_script(self.charging_restore_to))
            self.charging_held = False
            self.charging_restore_to = None
        if screen and self.stay_awake_held:
            scripts.append(stay_awake.restore_script(self.stay_awake_restore_to))
            self.stay_awake_restore_to = None
        script = "; ".join(s for s in scripts if s)
        if script:
            try:
                self.device.shell_script(script, check=False)
            except DeviceError:
                pass  # the device is gone; its notes make the next session on it put both back

    def battery_level_pct(self) -> int | None:
        return charging.battery_level_pct(self.device)

    # --- the screen -------------------------------------------------------------------

    @property
    def stay_awake_held(self) -> bool:
        return self.stay_awake_restore_to is not None

    def prepare_device(self, reaping_script: str) -> None:
        """Before a benchmark, in one round trip: `reaping_script` (what a dead squeezebench left
        on the device), then the screen woken and kept on (`svc power stayon true`) unless this
        session already holds it so."""
        if self.preparing is not None:
            self._finish_preparing()
            return
        if self.stay_awake_held:
            self.device.shell_script(reaping_script, check=False)
        else:
            self.stay_awake_restore_to = stay_awake.keep_awake(self.device, first=reaping_script)

    def _finish_preparing(self) -> None:
        """Wait for the preparation begun beside the passport: what it holds is then this session's."""
        if self.preparing is not None:
            preparing, self.preparing = self.preparing, None
            self.stay_awake_restore_to = preparing.finish()

    # --- the idle baseline lent between benchmarks -------------------------------------

    def baseline_to_borrow(self, settings: BenchSettings) -> "IdleBaseline | None":
        """The baseline this benchmark may borrow instead of measuring one, or None to measure."""
        lent = self.lent_baseline
        if lent is None or self.idle_baseline_reuse_s <= 0 or settings.idle_baseline_s <= 0:
            return None
        age_s = time.monotonic() - lent.held_since_s + settings.cooldown_s + BASELINE_AGE_MARGIN_S
        if age_s > self.idle_baseline_reuse_s or lent.settings_key != settings.idle_key():
            return None
        if self.last_conditions != lent.baseline.conditions:
            return None  # thermal status or charging changed since: measure again
        return lent.baseline


def open_session(server, serial: str, *, prepare: str | None = None) -> DeviceSession:
    """Connect to a device and learn what is needed to benchmark on it (one passport read).
    `prepare`, a reaping script (harness/bench/agent.py), only with the device lock held and a
    benchmark to follow: the device is prepared for it (prepare_device) beside the passport read
    and the benchmark's file check: on a phone the passport's dumpsys runs beside `settings` and
    `svc`. The first benchmark waits for it; the screen so held is put back by restore_held."""
    device = Device(server, serial)
    preparing = None if prepare is None else Started(lambda: stay_awake.keep_awake(device, first=prepare))
    try:
        passport = read_passport(device)
        return DeviceSession(device, passport, runner_for(passport.abi, is_virtual=passport.is_virtual),
                             profile=profile_for_device(passport.props), preparing=preparing)
    except BaseException:
        if preparing is not None:  # held for a session that never came to be: nobody else would put it back
            _put_back_stay_awake(device, preparing)
        raise


def _put_back_stay_awake(device: Device, preparing: Started) -> None:
    try:
        device.shell_script(stay_awake.restore_script(preparing.finish()), check=False)
    except DeviceError:
        pass  # never held, or the device is gone: its note makes the next session put it back
