"""A replayed capture's /sys: the captured nodes laid over the simulated tree, kept moving.

- Nodes the capture holds replace the simulated ones, byte for byte; cpuN/cpufreq symlinks to
  policy directories are kept. The cores, their clock ranges and governors are the captured ones.
- The battery's current, voltage, charge counter and temperature continue from the captured
  values by what the simulation changes (replay.continued); current in the capture's unit and
  sign convention (capture.toml current_unit / current_sign; µA and negative-discharging, the
  kernel's ABI, when it does not say). Captured thermal zones move with the simulated SoC or
  skin temperature, in their own scale (m°C or °C); battery-current-limiting zones (ibat,
  vbat, ...) are no temperatures and stay as captured.
- Denied or unreadable nodes exist and cannot be read; missing ones do not exist.
- Battery nodes the capture lacks are simulated (in the capture's current unit): the part is
  then `power_supply(partial)`.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
from pathlib import Path

from harness.device.capture import CPU_DIR, POWER_SUPPLY_DIR, THERMAL_DIR
from harness.device.cpus import parse_cpu_list
from harness.device.passport import NOT_TEMPERATURE_NAMES
from harness.device.profiles import CpuSpec
from harness.virtual import sysfs
from harness.virtual.power import PowerReading, clock_cap_fraction, continued
from harness.virtual.sysfs import CoreClock, SysfsPublisher, battery_node_values

BATTERY_NODES = f"{POWER_SUPPLY_DIR}/battery"
# Battery nodes that hold a measured quantity, with how to read one off a power reading in the
# kernel's units (µA positive while charging, µV, µAh, tenths of a degree).
_CONTINUED = {
    "current_now": lambda r: r.current_ua,
    "current_avg": lambda r: r.current_ua,
    "voltage_now": lambda r: r.voltage_uv,
    "charge_counter": lambda r: r.charge_counter_uah,
    "temp": lambda r: r.battery_temp_tenths_c,
}
_STATIC_WHEN_CAPTURED = ("charge_full", "charge_full_design")
# The battery nodes the agent reads: a captured battery without one of them is partly simulated.
AGENT_BATTERY_NODES = ("capacity", "status", "current_now", "voltage_now", "temp", "charge_counter")
# Thermal zones of the SoC (they follow the simulated SoC temperature; the others the skin's).
_SOC_ZONES = re.compile(r"cpu|gpu|soc|tsens|apc|cluster|npu|tpu|nsp|ddr|cdsp|modem|mdm|aoss|big|little|mid", re.I)
_CPU_INDEX = re.compile(rf"^{CPU_DIR}/cpu(\d+)(/|$)")
_ZONE_TEMP = re.compile(rf"^{THERMAL_DIR}/(thermal_zone\d+)/temp$")


class CapturedSysfs:
    def __init__(self, replay):
        capture = replay.capture
        self._replay = replay
        self.files = capture.sys_files()
        self.links = {link.path: link.target for link in capture.sys_links()}
        self.missing = {p for p in capture.info.missing if p.startswith("/sys/")}
        self.unreadable = {p for p in (*capture.info.denied, *capture.info.errors)
                           if p.startswith("/sys/") and p not in self.missing}
        self.current_unit = capture.info.current_unit or "uA"
        self.current_sign = capture.info.current_sign or "negative-discharging"

    def has_under(self, directory: str) -> bool:
        return any(p.startswith(directory + "/") for p in (*self.files, *self.links))

    def simulated_battery_nodes(self) -> list[str]:
        return [name for name in AGENT_BATTERY_NODES
                if f"{BATTERY_NODES}/{name}" not in self.files and f"{BATTERY_NODES}/{name}" not in self.unreadable]

    def external_supplies_captured(self) -> bool:
        return any(p.startswith(POWER_SUPPLY_DIR + "/") and not p.startswith(BATTERY_NODES + "/") for p in self.files)

    def is_blocked(self, path: str) -> bool:
        """Unreadable, or absent itself or with a directory above it."""
        for candidate in {path, self.resolve(path)}:
            if candidate in self.unreadable:
                return True
            if any(candidate == m or candidate.startswith(m + "/") for m in self.missing):
                return True
        return False

    def resolve(self, path: str) -> str:
        """A device path with captured symlinks followed (cpu4/cpufreq/x -> cpufreq/policy4/x)."""
        for link, target in self.links.items():
            if path == link or path.startswith(link + "/"):
                return posixpath.normpath(posixpath.join(posixpath.dirname(link), target) + path[len(link):])
        return path

    # The cores ------------------------------------------------------------------------------

    def clocks(self, fallback: CpuSpec) -> list[CoreClock]:
        indices = {int(m[1]) for p in (*self.files, *self.links) if (m := _CPU_INDEX.match(p))}
        indices |= parse_cpu_list((self.files.get(f"{CPU_DIR}/possible") or b"").decode("ascii", "replace"))
        if not indices:
            return sysfs.profile_clocks(fallback)
        return [self._clock(index, fallback) for index in range(max(indices) + 1)]

    def _clock(self, index: int, fallback: CpuSpec) -> CoreClock:
        cpufreq = self.resolve(f"{CPU_DIR}/cpu{index}/cpufreq")

        def khz(name: str, default: int) -> int:
            value = node_integer(self.files.get(f"{cpufreq}/{name}"))
            return value if value and value > 0 else default

        max_khz = khz("cpuinfo_max_freq", khz("scaling_max_freq", fallback.max_freq_khz))
        min_khz = min(khz("cpuinfo_min_freq", khz("scaling_min_freq", fallback.min_freq_khz)), max_khz)
        idle_khz = min(max(khz("scaling_cur_freq", min_khz), min_khz), max_khz)
        governor_raw = self.files.get(f"{cpufreq}/scaling_governor")
        governor = governor_raw.decode("utf-8", "replace").strip() if governor_raw else fallback.governor
        return CoreClock(min_khz, max_khz, idle_khz, governor or fallback.governor)

    # The tree -------------------------------------------------------------------------------

    def build(self, root: Path, cores: list[CoreClock]) -> None:
        sysfs.build_sysfs(root, cores, thermal_zones=not self.has_under(THERMAL_DIR),
                          usb_supply=not self.external_supplies_captured())
        for path, target in self.links.items():
            link = root / path[len("/sys/"):]
            if link.is_dir() and not link.is_symlink():
                shutil.rmtree(link)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
        for path, data in self.files.items():
            _write_bytes(root / path[len("/sys/"):], data)
        for path in self.missing:
            _remove(root / path[len("/sys/"):])
        for path in self.unreadable:
            node = root / path[len("/sys/"):]
            if not node.exists():
                _write_bytes(node, b"")
            node.chmod(0)

    def publisher(self, root: Path, cores: list[CoreClock]) -> "ReplayedSysfsPublisher":
        return ReplayedSysfsPublisher(root, cores, self)

    def cpu_temp_c(self, reading: PowerReading) -> float | None:
        """The CPUs' temperature as the captured thermal HAL shows them (the hottest, its cache
        included), moved by the simulation; None without one."""
        captured_c = self._replay.captured_cpu_temp_c
        if captured_c is None:
            return None
        return captured_c + reading.soc_temp_c - self._replay.start.soc_temp_c

    # Values ----------------------------------------------------------------------------------

    def current_to_ua(self, raw: float) -> float:
        """A captured current_now in µA, positive while charging (the simulation's convention)."""
        value = raw * (1000 if self.current_unit == "mA" else 1)
        return -value if self.current_sign == "positive-discharging" else value

    def current_from_ua(self, current_ua: float) -> int:
        value = -current_ua if self.current_sign == "positive-discharging" else current_ua
        return round(value / 1000) if self.current_unit == "mA" else round(value)

    def battery_value(self, name: str, reading: PowerReading, simulated_text: str) -> str | None:
        """What battery node `name` holds now; None to leave the captured bytes as they are."""
        captured = self.files.get(f"{BATTERY_NODES}/{name}")
        if captured is not None and name in _STATIC_WHEN_CAPTURED:
            return None
        if name not in _CONTINUED:
            return simulated_text
        start, now = _CONTINUED[name](self._replay.start), _CONTINUED[name](reading)
        captured_number = node_integer(captured)
        if captured is not None and captured_number is None:
            return None  # not a number: left as captured
        if name.startswith("current"):
            captured_ua = None if captured_number is None else self.current_to_ua(captured_number)
            return str(self.current_from_ua(continued(captured_ua, start, now)))
        return str(round(continued(captured_number, start, now)))

    def zone_value(self, path: str, reading: PowerReading) -> str | None:
        zone = path[: -len("/temp")]
        zone_type = (self.files.get(f"{zone}/type") or b"").decode("utf-8", "replace").strip()
        captured = node_integer(self.files.get(path))
        if captured is None or NOT_TEMPERATURE_NAMES.match(zone_type):
            return None
        start, now = self._replay.start, reading
        if _SOC_ZONES.search(zone_type):
            delta_c = now.soc_temp_c - start.soc_temp_c
        else:
            delta_c = now.skin_temp_c - start.skin_temp_c
        scale = 1000 if abs(captured) >= 1000 else 1  # most zones give m°C, a few whole degrees
        return str(round(captured + delta_c * scale))


# A phone's CPU thermal mitigation, for replayed CPU temperatures (an assumption, no capture shows
# it): full clocks up to 80 °C, then down to half at 100 °C. The simulated SoC's own ramp
# (throttle_start_c ..) is on the simulation's scale, not a phone's.
REPLAYED_CAP_RAMP = (80.0, 100.0, 0.5)


class ReplayedSysfsPublisher(SysfsPublisher):
    def __init__(self, root: Path, cores: list[CoreClock], captured: CapturedSysfs):
        super().__init__(root, cores)
        self._captured = captured

    def cap_fraction(self, reading: PowerReading) -> float:
        """A captured phone's cap follows its captured CPU temperature on a phone's scale (reported
        only: the host's processes are not slowed for it); without one, the simulation's."""
        captured_c = self._captured.cpu_temp_c(reading)
        if captured_c is None:
            return super().cap_fraction(reading)
        return clock_cap_fraction(captured_c, *REPLAYED_CAP_RAMP)

    def values(self, reading: PowerReading) -> dict[str, str]:
        # Never a node the capture shows unreadable or absent (writing would make it readable).
        return {relative: text for relative, text in super().values(reading).items()
                if not self._captured.is_blocked(f"/sys/{relative}")}

    def battery_values(self, reading: PowerReading) -> dict[str, str]:
        values = {}
        for name, simulated_text in battery_node_values(reading).items():
            text = self._captured.battery_value(name, reading, simulated_text)
            if text is not None:
                values[f"{sysfs.BATTERY_DIR}/{name}"] = text
        return values

    def supply_values(self, reading: PowerReading) -> dict[str, str]:
        if not self._captured.external_supplies_captured():
            return super().supply_values(reading)
        # A charger the capture shows online stays so while the simulation keeps it connected.
        return {path[len("/sys/"):]: "1" if reading.usb_online else "0"
                for path, data in self._captured.files.items()
                if path.startswith(POWER_SUPPLY_DIR + "/") and path.endswith("/online")
                and not path.startswith(BATTERY_NODES + "/") and data.strip() == b"1"}

    def zone_values(self, reading: PowerReading) -> dict[str, str]:
        if not self._captured.has_under(THERMAL_DIR):
            return super().zone_values(reading)
        values = {}
        for path in self._captured.files:
            if _ZONE_TEMP.match(path) and (text := self._captured.zone_value(path, reading)) is not None:
                values[path[len("/sys/"):]] = text
        return values


def node_integer(raw: bytes | None) -> int | None:
    """A node's value as a whole number, None when it holds none (or is absent)."""
    try:
        return int(raw.decode("ascii").strip()) if raw is not None else None
    except (UnicodeDecodeError, ValueError):
        return None


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.tmp"
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
