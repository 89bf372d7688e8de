"""A virtual device that answers as a captured phone: `squeezebench virtual start --capture DIR`.

What it takes from the capture (harness/device/capture.py, docs/captures.md):
  properties   getprop.txt (or capture.toml's [properties]) are the device's only properties,
               plus the virtual device's markers (ro.squeezebench.virtual=1, .capture,
               .simulated): it stays a virtual device, marked so, running the bundled runner.
  adb          no `shell_v2` feature when capture.toml says so; `shell:` then runs under a pty
               in its usual mode, as old adbd did, so every line ends in CRLF.
  dumpsys      battery, thermalservice, power: the captured text, whose moving values (level,
               status, voltage, temperatures, charge counter, Samsung's `current now`) continue
               from the captured ones through the profile's simulation (replay_dumps.py).
  /sys         the captured nodes over the simulated tree; current, voltage, capacity,
               temperatures and clocks move the same way, in the captured unit and sign;
               denied nodes cannot be read (replay_sysfs.py).
  /proc/cpuinfo, `uname`, `toybox --version`   the captured answers.
  denied, missing   commands, services and paths are refused or absent as capture.toml says.
What the capture lacks is simulated from the profile, and the device says which parts are
(`ro.squeezebench.simulated`, `squeezebench virtual list`).
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass, replace
from pathlib import Path

from harness import __version__
from harness.device.capture import COMMAND_FILES, PARTS, Capture, decode_text
from harness.device.connection import undo_pty_newlines
from harness.device.passport import parse_dumpsys_battery
from harness.device.profiles import VirtualProfile
from harness.virtual.power import (
    STATUS_CHARGING, STATUS_DISCHARGING, STATUS_FULL, STATUS_NOT_CHARGING, PowerModel, PowerReading, PowerStart,
)
from harness.virtual.power_service import captured_wakefulness
from harness.virtual.protocol import FEATURES
from harness.virtual.replay_dumps import ReplayedBatteryService, ReplayedThermalService, hottest_cpu_c, render_power
from harness.virtual.replay_sysfs import BATTERY_NODES, CapturedSysfs, node_integer
from harness.virtual.sandbox import HostTools
from harness.virtual.system_services import BatteryService, ThermalService

CAPTURED, PARTIAL, SIMULATED, MISSING, DENIED = "captured", "partial", "simulated", "missing", "denied"
# dumpsys battery's status codes and the gauge's status names, as the power model names them.
_STATUS_BY_CODE = {2: STATUS_CHARGING, 3: STATUS_DISCHARGING, 4: STATUS_NOT_CHARGING, 5: STATUS_FULL}
_SYSFS_STATUS = {"charging": STATUS_CHARGING, "discharging": STATUS_DISCHARGING,
                 "not charging": STATUS_NOT_CHARGING, "full": STATUS_FULL}
# The architectures `uname -m` gives on Android devices: the machine field of `uname -a`.
_MACHINES = re.compile(r"^(aarch64|armv\d+\w*|arm64|x86_64|i[3-6]86|mips\w*|riscv\d+)$")


@dataclass(frozen=True)
class CapturedBattery:
    """The battery state a capture shows, from `dumpsys battery`, else the gauge's nodes."""

    level_percent: float | None = None
    status: str | None = None
    charger_online: bool | None = None

    @classmethod
    def of(cls, capture: Capture, battery_text: str | None) -> "CapturedBattery":
        if battery_text is not None:
            parsed = parse_dumpsys_battery(battery_text)
            # Values frozen by `dumpsys battery set/unplug` are not the battery's: not a start.
            if parsed["source"] is not None and not parsed["updates_stopped"]:
                return cls(parsed["level_pct"], _STATUS_BY_CODE.get(parsed["status_code"]), bool(parsed["plugged"]))
        files = capture.sys_files()
        level = node_integer(files.get(f"{BATTERY_NODES}/capacity"))
        status = _SYSFS_STATUS.get((files.get(f"{BATTERY_NODES}/status") or b"").decode("ascii", "replace").strip().lower())
        online = [value for path, value in files.items()
                  if path.startswith("/sys/class/power_supply/") and path.endswith("/online")
                  and not path.startswith(BATTERY_NODES + "/")]
        charger = any(v.strip() == b"1" for v in online) if online else (
            status in (STATUS_CHARGING, STATUS_FULL, STATUS_NOT_CHARGING) if status else None)
        return cls(level, status, charger)

    def power_start(self) -> PowerStart:
        charger = self.charger_online if self.charger_online is not None else True
        held = self.status if charger and self.status in (STATUS_NOT_CHARGING, STATUS_FULL) else None
        return PowerStart(level_percent=self.level_percent, charger_online=charger, held_status=held)


class Replay:
    def __init__(self, capture: Capture, profile: VirtualProfile):
        self.capture = capture
        self.profile = profile
        self.pty = capture.info.shell_v2 is False
        self._props = capture.properties()
        self.battery = CapturedBattery.of(capture, self.command_text("dumpsys-battery.txt"))
        self._start: PowerReading | None = None
        self.sysfs = CapturedSysfs(self)
        self.parts = self._part_states()

    # What the device is ---------------------------------------------------------------------

    def _part_states(self) -> dict[str, str]:
        states = {}
        for part, where in PARTS.items():
            command = COMMAND_FILES.get(where, where)
            if self.capture.is_denied(command):
                states[part] = DENIED
            elif self.capture.is_missing(command):
                states[part] = MISSING
            elif not self.capture.has_part(part):
                states[part] = SIMULATED
            elif part == "properties" and self.capture.raw("getprop.txt") is None:
                states[part] = PARTIAL  # single answers only (capture.toml [properties])
            elif part == "power_supply" and self.sysfs.simulated_battery_nodes():
                states[part] = PARTIAL
            else:
                states[part] = CAPTURED
        return states

    @property
    def simulated(self) -> list[str]:
        """Parts answered by the simulation, wholly or in part (`power_supply(partial)`)."""
        return [part if state == SIMULATED else f"{part}(partial)"
                for part, state in self.parts.items() if state in (SIMULATED, PARTIAL)]

    def properties(self, simulated: dict[str, str]) -> dict[str, str]:
        """The captured properties alone (another device's, e.g. the profile's ro.soc.model,
        would contradict them), else the simulated ones; with the virtual device's markers."""
        base = dict(self._props) if self._props is not None else dict(simulated)
        return base | {
            "ro.squeezebench.virtual": "1",
            "ro.squeezebench.profile": self.profile.name,
            "ro.squeezebench.version": __version__,
            "ro.squeezebench.capture": self.capture.name,
            "ro.squeezebench.simulated": ",".join(self.simulated) or "none",
        }

    def banner_fields(self) -> tuple[str, str, str]:
        build = self.profile.build
        props = self._props or {}
        return (props.get("ro.product.name") or build.name, props.get("ro.product.model") or build.model,
                props.get("ro.product.device") or build.device)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f for f in FEATURES if f != "shell_v2") if self.pty else FEATURES

    def power_start(self) -> PowerStart:
        # A phone may echo power.battery_input.suspended and ignore it (capture.toml says so).
        return replace(self.battery.power_start(), suspension_works=self.capture.info.charging_suspend_works is not False)

    def attach(self, power: PowerModel) -> None:
        """The simulation's first reading: every captured value continues from here."""
        self._start = power.last

    @property
    def start(self) -> PowerReading:
        if self._start is None:
            raise RuntimeError("attach() the power model first")
        return self._start

    # Captured answers --------------------------------------------------------------------

    def command_text(self, file_name: str) -> str | None:
        """A captured command's output as the replay prints it: through a pty (old adbd), the
        pty's CRLF comes back by itself, so the captured one is undone."""
        raw = self.capture.raw(file_name)
        command = COMMAND_FILES[file_name]
        if raw is None or self.capture.is_missing(command) or self.capture.is_denied(command):
            return None
        return decode_text(undo_pty_newlines(raw) if self.pty else raw)

    def commands(self, tools: HostTools) -> dict[str, str]:
        """Scripts standing in for commands whose captured answer the device gives."""
        commands = {}
        uname = self.command_text("uname.txt")
        if uname is not None and uname.strip():
            commands["uname"] = _uname_script(uname.strip().splitlines()[0], tools.toybox)
        version = self.command_text("toybox-version.txt")
        if version is not None:
            commands["toybox"] = _toybox_script(version, tools.toybox)
        elif self.capture.is_missing(COMMAND_FILES["toybox-version.txt"]):
            commands["toybox"] = "#!/system/bin/sh\necho \"/system/bin/sh: toybox: not found\" >&2\nexit 127\n"
        return commands

    def file_binds(self, replay_dir: Path) -> tuple[tuple[Path, str], ...]:
        raw = self.capture.raw("proc-cpuinfo.txt")
        if raw is None:
            return ()
        replay_dir.mkdir(parents=True, exist_ok=True)
        cpuinfo = replay_dir / "cpuinfo"
        cpuinfo.write_bytes(undo_pty_newlines(raw) if self.pty else raw)
        return ((cpuinfo, "/proc/cpuinfo"),)

    def battery_service(self, power: PowerModel) -> BatteryService:
        template = self.command_text("dumpsys-battery.txt")
        if template is None:
            return BatteryService(self.profile, power)
        return ReplayedBatteryService(self.profile, power, self, template)

    def thermal_service(self, power: PowerModel) -> ThermalService:
        template = self.command_text("dumpsys-thermalservice.txt")
        if template is None:
            return ThermalService(self.profile, power)
        return ReplayedThermalService(self.profile, power, self, template)

    @functools.cached_property
    def captured_cpu_temp_c(self) -> float | None:
        """The hottest CPU the captured thermal HAL shows, its cache included: the Xiaomi aurora
        capture's CPUs were at 79-89 °C at thermal status 0. The replay's clock caps follow it."""
        template = self.command_text("dumpsys-thermalservice.txt")
        return None if template is None else hottest_cpu_c(template)

    def power_service_start(self) -> tuple:
        """PowerService's captured_dump and wakefulness: the captured `dumpsys power`, rendered,
        and the screen as captured."""
        template = self.command_text("dumpsys-power.txt")
        if template is None:
            return ()
        return (lambda reading, wakefulness, stay_on: render_power(template, reading, wakefulness, stay_on),
                captured_wakefulness(template))

    def dumpsys_refusal(self, service: str) -> tuple[str, str] | None:
        """(stdout, stderr) for a service the capture shows refused or absent, else None."""
        command = f"dumpsys {service}"
        said = self.capture.info.errors.get(command, "")
        if self.capture.is_denied(command):
            return (said or f"Permission Denial: can't dump {service} from from pid=0, uid=2000 "
                    "due to missing android.permission.DUMP permission") + "\n", ""
        if self.capture.is_missing(command):
            return "", (said or f"Can't find service: {service}") + "\n"
        return None


def _uname_script(line: str, toybox: str) -> str:
    """`uname` answering from the captured `uname -a` line (toybox's field order: system, node,
    release, version..., machine); other options go to the real uname."""
    fields = line.split()
    machine_index = max((i for i, f in enumerate(fields) if _MACHINES.match(f)), default=len(fields) - 1)
    answers = {
        "-a": line, "-s": fields[0], "": fields[0], "-n": fields[1] if len(fields) > 1 else "",
        "-r": fields[2] if len(fields) > 2 else "", "-m": fields[machine_index] if fields else "",
        "-v": " ".join(fields[3:machine_index]),
    }
    cases = "".join(f"{shlex.quote(option)}) echo {shlex.quote(answer)} ;;\n" for option, answer in answers.items())
    return (f"#!/system/bin/sh\n# uname as the captured phone answers it\ncase \"$*\" in\n{cases}"
            f"*) exec {shlex.quote(toybox)} uname \"$@\" ;;\nesac\n")


def _toybox_script(version: str, toybox: str) -> str:
    return (f"#!/system/bin/sh\n# toybox, with the captured phone's version\n"
            f"if [ \"$*\" = --version ]; then printf '%s' {shlex.quote(version)}; exit 0; fi\n"
            f"exec {shlex.quote(toybox)} \"$@\"\n")
