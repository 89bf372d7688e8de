"""The slice of /sys a virtual device shows: CPUs with cpufreq, the battery, thermal zones.

The tree lives on the host (runtime/sys of the device) and is bound read-only at /sys inside the
sandbox. Values that change (battery, temperatures, current frequency) are rewritten by the
daemon through write-to-temporary + rename, so a reader inside always sees a whole value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from harness.device.profiles import CpuSpec
from harness.virtual.power import PowerReading

BATTERY_DIR = "class/power_supply/battery"
USB_DIR = "class/power_supply/usb"
CPU_DIR = "devices/system/cpu"
THERMAL_ZONES = (("soc_therm", "soc"), ("skin-therm", "skin"), ("battery", "skin"))


@dataclass(frozen=True)
class CoreClock:
    """One core's cpufreq: its range, the clock it shows at rest, and its governor."""

    min_khz: int
    max_khz: int
    idle_khz: int
    governor: str

    def at_load(self, load: float) -> int:
        """The governor's view, reported only: clocks rise with the share of busy cores."""
        return self.idle_khz + round((self.max_khz - self.idle_khz) * min(1.0, 2 * load))

    def cap(self, fraction: float) -> int:
        """scaling_max_freq: what thermal mitigation lets the core run at, `fraction` of its maximum."""
        return max(self.min_khz, round(self.max_khz * fraction))


def profile_clocks(cpu: CpuSpec) -> list[CoreClock]:
    return [CoreClock(cpu.min_freq_khz, cpu.max_freq_khz, cpu.min_freq_khz, cpu.governor)] * cpu.cores


def build_sysfs(root: Path, cores: list[CoreClock], *, thermal_zones: bool = True, usb_supply: bool = True) -> None:
    """Create the static part of the tree (and first values of the dynamic part). A replayed
    capture leaves out the thermal zones and external supplies it brings itself."""
    all_cpus = f"0-{len(cores) - 1}" if len(cores) > 1 else "0"
    _write(root / CPU_DIR / "online", all_cpus)
    _write(root / CPU_DIR / "possible", all_cpus)
    _write(root / CPU_DIR / "present", all_cpus)
    _write(root / CPU_DIR / "kernel_max", str(max(len(cores) - 1, 0)))
    for index, clock in enumerate(cores):
        core = root / CPU_DIR / f"cpu{index}"
        _write(core / "online", "1")
        freq = core / "cpufreq"
        _write(freq / "scaling_governor", clock.governor)
        _write(freq / "scaling_available_governors", f"{clock.governor} performance powersave")
        _write(freq / "cpuinfo_min_freq", str(clock.min_khz))
        _write(freq / "cpuinfo_max_freq", str(clock.max_khz))
        _write(freq / "scaling_min_freq", str(clock.min_khz))
        _write(freq / "scaling_max_freq", str(clock.max_khz))
        _write(freq / "scaling_cur_freq", str(clock.idle_khz))
        _write(freq / "cpuinfo_cur_freq", str(clock.idle_khz))
        _write(freq / "affected_cpus", str(index))
        _write(freq / "related_cpus", " ".join(map(str, range(len(cores)))))  # the kernel's format: "0 1 2 3"
        _write(freq / "scaling_driver", "squeezebench-virtual")
    battery = root / BATTERY_DIR
    for name, value in (("type", "Battery"), ("present", "1"), ("health", "Good"),
                        ("technology", "Li-ion"), ("cycle_count", "12")):
        _write(battery / name, value)
    if usb_supply:
        _write(root / USB_DIR / "type", "USB")
    if thermal_zones:
        for index, (zone_type, _source) in enumerate(THERMAL_ZONES):
            _write(root / f"class/thermal/thermal_zone{index}/type", zone_type)


class SysfsPublisher:
    """Rewrites the dynamic values; only files whose value changed are touched."""

    def __init__(self, root: Path, cores: list[CoreClock]):
        self._root = root
        self._cores = cores
        self._written: dict[Path, str] = {}

    def publish(self, reading: PowerReading) -> None:
        for relative, value in self.values(reading).items():
            path = self._root / relative
            if self._written.get(path) != value:
                _write(path, value)
                self._written[path] = value

    def values(self, reading: PowerReading) -> dict[str, str]:
        """Path under /sys -> the text it holds now."""
        return (self.battery_values(reading) | self.supply_values(reading) | self.zone_values(reading)
                | self.clock_values(reading))

    def battery_values(self, reading: PowerReading) -> dict[str, str]:
        return {f"{BATTERY_DIR}/{name}": text for name, text in battery_node_values(reading).items()}

    def supply_values(self, reading: PowerReading) -> dict[str, str]:
        return {f"{USB_DIR}/online": "1" if reading.usb_online else "0"}

    def zone_values(self, reading: PowerReading) -> dict[str, str]:
        temps = {"soc": reading.soc_temp_c, "skin": reading.skin_temp_c}
        return {f"class/thermal/thermal_zone{index}/temp": str(round(temps[source] * 1000))
                for index, (_zone_type, source) in enumerate(THERMAL_ZONES)}

    def cap_fraction(self, reading: PowerReading) -> float:
        """The clocks' cap: the simulated device's own (harness/virtual/throttle.py enforces it)."""
        return reading.cap_fraction

    def clock_values(self, reading: PowerReading) -> dict[str, str]:
        load = reading.busy_cores / len(self._cores)
        fraction = self.cap_fraction(reading)
        values = {}
        for index, clock in enumerate(self._cores):
            cap_khz = clock.cap(fraction)
            cur_freq = str(min(clock.at_load(load), cap_khz))
            values[f"{CPU_DIR}/cpu{index}/cpufreq/scaling_cur_freq"] = cur_freq
            values[f"{CPU_DIR}/cpu{index}/cpufreq/cpuinfo_cur_freq"] = cur_freq
            values[f"{CPU_DIR}/cpu{index}/cpufreq/scaling_max_freq"] = str(cap_khz)
        return values


def battery_node_values(reading: PowerReading) -> dict[str, str]:
    """The battery's dynamic nodes in the kernel's units: µA (positive = charging), µV, µAh,
    tenths of a degree."""
    return {
        "capacity": str(reading.level_percent),
        "status": reading.status,
        "current_now": str(reading.current_ua),
        "current_avg": str(reading.current_ua),
        "voltage_now": str(reading.voltage_uv),
        "charge_counter": str(reading.charge_counter_uah),
        "charge_full": str(reading.charge_full_uah),
        "charge_full_design": str(reading.charge_full_uah),
        "temp": str(reading.battery_temp_tenths_c),
    }


def _write(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.tmp"
    temporary.write_text(value + "\n")
    os.replace(temporary, path)
