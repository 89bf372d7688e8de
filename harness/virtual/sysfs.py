"""The slice of /sys a virtual device shows: CPUs with cpufreq, the battery, thermal zones.

The tree lives on the host (runtime/sys of the device) and is bound read-only at /sys inside the
sandbox. Values that change (battery, temperatures, current frequency) are rewritten by the
daemon through write-to-temporary + rename, so a reader inside always sees a whole value.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.device.profiles import CpuSpec
from harness.virtual.power import PowerReading

BATTERY_DIR = "class/power_supply/battery"
USB_DIR = "class/power_supply/usb"
CPU_DIR = "devices/system/cpu"
THERMAL_ZONES = (("soc_therm", "soc"), ("skin-therm", "skin"), ("battery", "skin"))


def build_sysfs(root: Path, cpu: CpuSpec) -> None:
    """Create the static part of the tree (and first values of the dynamic part)."""
    all_cpus = f"0-{cpu.cores - 1}" if cpu.cores > 1 else "0"
    _write(root / CPU_DIR / "online", all_cpus)
    _write(root / CPU_DIR / "possible", all_cpus)
    _write(root / CPU_DIR / "present", all_cpus)
    _write(root / CPU_DIR / "kernel_max", str(max(cpu.cores - 1, 0)))
    for index in range(cpu.cores):
        core = root / CPU_DIR / f"cpu{index}"
        _write(core / "online", "1")
        freq = core / "cpufreq"
        _write(freq / "scaling_governor", cpu.governor)
        _write(freq / "scaling_available_governors", f"{cpu.governor} performance powersave")
        _write(freq / "cpuinfo_min_freq", str(cpu.min_freq_khz))
        _write(freq / "cpuinfo_max_freq", str(cpu.max_freq_khz))
        _write(freq / "scaling_min_freq", str(cpu.min_freq_khz))
        _write(freq / "scaling_max_freq", str(cpu.max_freq_khz))
        _write(freq / "scaling_cur_freq", str(cpu.min_freq_khz))
        _write(freq / "cpuinfo_cur_freq", str(cpu.min_freq_khz))
        _write(freq / "affected_cpus", str(index))
        _write(freq / "related_cpus", all_cpus)
        _write(freq / "scaling_driver", "squeezebench-virtual")
    battery = root / BATTERY_DIR
    for name, value in (("type", "Battery"), ("present", "1"), ("health", "Good"),
                        ("technology", "Li-ion"), ("cycle_count", "12")):
        _write(battery / name, value)
    _write(root / USB_DIR / "type", "USB")
    for index, (zone_type, _source) in enumerate(THERMAL_ZONES):
        _write(root / f"class/thermal/thermal_zone{index}/type", zone_type)


class SysfsPublisher:
    """Rewrites the dynamic values; only files whose value changed are touched."""

    def __init__(self, root: Path, cpu: CpuSpec):
        self._root = root
        self._cpu = cpu
        self._written: dict[Path, str] = {}

    def publish(self, reading: PowerReading) -> None:
        battery = self._root / BATTERY_DIR
        values = {
            battery / "capacity": str(reading.level_percent),
            battery / "status": reading.status,
            battery / "current_now": str(reading.current_ua),
            battery / "current_avg": str(reading.current_ua),
            battery / "voltage_now": str(reading.voltage_uv),
            battery / "charge_counter": str(reading.charge_counter_uah),
            battery / "charge_full": str(reading.charge_full_uah),
            battery / "charge_full_design": str(reading.charge_full_uah),
            battery / "temp": str(reading.battery_temp_tenths_c),
            self._root / USB_DIR / "online": "1" if reading.usb_online else "0",
        }
        temps = {"soc": reading.soc_temp_c, "skin": reading.skin_temp_c}
        for index, (_zone_type, source) in enumerate(THERMAL_ZONES):
            values[self._root / f"class/thermal/thermal_zone{index}/temp"] = str(round(temps[source] * 1000))
        cap_khz = round(self._cpu.max_freq_khz * reading.cap_fraction)
        cur_freq = str(min(cap_khz, self._current_freq_khz(reading.busy_cores)))
        for index in range(self._cpu.cores):
            freq = self._root / CPU_DIR / f"cpu{index}" / "cpufreq"
            values[freq / "scaling_cur_freq"] = cur_freq
            values[freq / "cpuinfo_cur_freq"] = cur_freq
            values[freq / "scaling_max_freq"] = str(cap_khz)
        for path, value in values.items():
            if self._written.get(path) != value:
                _write(path, value)
                self._written[path] = value

    def _current_freq_khz(self, busy_cores: float) -> int:
        # The governor's view, reported only: clocks rise with the share of busy cores.
        load = min(1.0, busy_cores / self._cpu.cores)
        span = self._cpu.max_freq_khz - self._cpu.min_freq_khz
        return self._cpu.min_freq_khz + round(span * min(1.0, 2 * load))


def _write(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.tmp"
    temporary.write_text(value + "\n")
    os.replace(temporary, path)
