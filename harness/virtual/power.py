"""The virtual device's battery and thermal state, driven by CPU time really consumed inside it.

Every tick (a fuel gauge's ~4 Hz) the daemon measures how much CPU time the processes of the
device's sandbox used since the last tick, turns it into electrical power with the profile's
model (idle power + active power per busy core), and integrates:
- the battery: charge counter, level, terminal voltage, and the current into or out of it
  (a USB charger supplies `charge_current_ma`; what the load draws beyond that comes out of the
  battery; with `power.battery_input.suspended` set the battery carries all of it);
- temperatures with two lumped thermal masses: the SoC (small, heats within seconds) and the
  phone's body/skin (large, carries the battery), cooled towards ambient. Android's thermal
  status (0..6) follows the skin temperature through the profile's thresholds; from status 3
  (severe) charging pauses ("Not charging"), as phones do when hot;
- the clocks' cap: from the profile's `throttle_start_c` (SoC temperature) the cap falls linearly
  to `throttle_min_fraction` of the maximum clock at `throttle_full_c`, as a CPU thermal
  governor would. harness/virtual/throttle.py makes the cap slow the sandbox's work down for real.

Sign convention of `current_now`: positive while the battery charges, negative while it
discharges (the Linux power-supply ABI since 5.10, Pixel fuel gauges, and Android's
BatteryManager.BATTERY_PROPERTY_CURRENT_NOW).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from harness.device.profiles import VirtualProfile

TICK_S = 0.25
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")

# Open-circuit voltage of a Li-ion cell against state of charge, for a 3.85 V nominal cell;
# scaled to the profile's nominal voltage.
_OCV_CURVE_3V85 = (
    (0.00, 3.40), (0.05, 3.62), (0.10, 3.68), (0.20, 3.73), (0.40, 3.80),
    (0.60, 3.88), (0.80, 4.02), (0.90, 4.10), (1.00, 4.30),
)
# Like phones, charging pauses while the device is this hot (thermal status "severe" or above).
CHARGE_PAUSE_THERMAL_STATUS = 3
# Constant-current charging up to here, then the charger tapers towards full (CV phase).
_TAPER_START_FRACTION = 0.90
_TAPER_END_CURRENT_FRACTION = 0.05

STATUS_CHARGING = "Charging"
STATUS_DISCHARGING = "Discharging"
STATUS_NOT_CHARGING = "Not charging"
STATUS_FULL = "Full"
# BatteryManager.BATTERY_STATUS_* as `dumpsys battery` prints them.
ANDROID_STATUS_CODES = {
    STATUS_CHARGING: 2,
    STATUS_DISCHARGING: 3,
    STATUS_NOT_CHARGING: 4,
    STATUS_FULL: 5,
}


@dataclass(frozen=True)
class PowerStart:
    """Where the battery starts (a replayed capture's state; the profile's otherwise).
    `held_status`: on a charger that carries the load while the battery rests, as a phone held
    at a charge limit ("Not charging") or full ("Full") reports it. `suspension_works`: whether
    the phone acts on `power.battery_input.suspended` (some only echo it)."""

    level_percent: float | None = None
    charger_online: bool = True
    held_status: str | None = None
    suspension_works: bool = True  # False: `power.battery_input.suspended` is echoed, not acted on


@dataclass(frozen=True)
class PowerReading:
    """What the fuel gauge and the thermal sensors report at one instant."""

    busy_cores: float
    power_w: float
    usb_online: bool
    status: str
    level_percent: int
    current_ua: int  # positive = charging the battery
    voltage_uv: int
    charge_counter_uah: int
    charge_full_uah: int
    soc_temp_c: float
    skin_temp_c: float
    thermal_status: int
    cap_fraction: float = 1.0  # the clocks' cap, a fraction of their maximum

    @property
    def battery_temp_tenths_c(self) -> int:
        return round(self.skin_temp_c * 10)


class PowerModel:
    def __init__(self, profile: VirtualProfile, start: PowerStart = PowerStart()):
        self._power = profile.power
        self._battery = profile.battery
        self._thermal = profile.thermal
        self._capacity_uah = profile.battery.capacity_mah * 1000.0
        self.charge_uah = self._capacity_uah * _start_fraction(start.level_percent, profile.battery.initial_level_percent)
        self.charging_suspended = False
        self._suspension_works = start.suspension_works
        self._charger_online = start.charger_online
        self._held_status = start.held_status
        # Start where an idle device settles, so that an idle device barely changes.
        idle_w = profile.power.idle_w
        self.skin_temp_c = self._thermal.ambient_c + idle_w / self._thermal.heat_dissipation_w_per_k
        self.soc_temp_c = self.skin_temp_c + idle_w / self._thermal.soc_to_body_w_per_k
        self.last = self._reading(busy_cores=0.0, power_w=idle_w, current_a=self._battery_current_a(idle_w))

    def step(self, dt_s: float, cpu_s: float) -> PowerReading:
        """Advance by `dt_s` during which the device's processes used `cpu_s` of CPU time."""
        busy_cores = cpu_s / dt_s if dt_s > 0 else 0.0
        power_w = self._power.idle_w + self._power.active_w_per_core * busy_cores
        current_a = self._battery_current_a(power_w)
        self.charge_uah = min(self._capacity_uah, max(0.0, self.charge_uah + current_a * 1e6 * dt_s / 3600.0))
        self._advance_temperatures(dt_s, power_w)
        self.last = self._reading(busy_cores, power_w, current_a)
        return self.last

    @property
    def state_of_charge(self) -> float:
        return self.charge_uah / self._capacity_uah

    @property
    def usb_online(self) -> bool:
        # With the charger input suspended the phone runs from its battery and reports no
        # charger (what makes `power.battery_input.suspended` usable for energy measurements).
        # A virtual device is on USB unless its capture says otherwise (`dumpsys battery
        # unplug` only changes what BatteryService reports, as on a phone).
        return self._charger_online and not (self.charging_suspended and self._suspension_works)

    def _battery_current_a(self, power_w: float) -> float:
        load_a = power_w / self._open_circuit_voltage_v()
        if not self.usb_online:
            return -load_a
        if self.charge_uah >= self._capacity_uah or self._paused_by_heat() or self._held_status:
            return 0.0  # the charger carries the load, the battery rests
        return self._charger_current_a() - load_a

    def _charger_current_a(self) -> float:
        full_a = self._battery.charge_current_ma / 1000.0
        soc = self.state_of_charge
        if soc <= _TAPER_START_FRACTION:
            return full_a
        progress = (soc - _TAPER_START_FRACTION) / (1.0 - _TAPER_START_FRACTION)
        return full_a * (1.0 - progress * (1.0 - _TAPER_END_CURRENT_FRACTION))

    def _open_circuit_voltage_v(self) -> float:
        soc = self.state_of_charge
        scale = self._battery.nominal_voltage_v / 3.85
        for (soc_low, v_low), (soc_high, v_high) in zip(_OCV_CURVE_3V85, _OCV_CURVE_3V85[1:]):
            if soc <= soc_high:
                fraction = (soc - soc_low) / (soc_high - soc_low)
                return scale * (v_low + fraction * (v_high - v_low))
        return scale * _OCV_CURVE_3V85[-1][1]

    def _advance_temperatures(self, dt_s: float, power_w: float) -> None:
        thermal = self._thermal
        # Explicit Euler is stable for steps well below the fastest time constant.
        fastest_tau_s = min(
            thermal.soc_thermal_mass_j_per_k / thermal.soc_to_body_w_per_k,
            thermal.thermal_mass_j_per_k / (thermal.soc_to_body_w_per_k + thermal.heat_dissipation_w_per_k),
        )
        steps = max(1, math.ceil(dt_s / (fastest_tau_s / 4)))
        h = dt_s / steps
        for _ in range(steps):
            soc_to_body_w = thermal.soc_to_body_w_per_k * (self.soc_temp_c - self.skin_temp_c)
            body_to_air_w = thermal.heat_dissipation_w_per_k * (self.skin_temp_c - thermal.ambient_c)
            self.soc_temp_c += h * (power_w - soc_to_body_w) / thermal.soc_thermal_mass_j_per_k
            self.skin_temp_c += h * (soc_to_body_w - body_to_air_w) / thermal.thermal_mass_j_per_k

    def cap_fraction(self) -> float:
        thermal = self._thermal
        if thermal.throttle_start_c is None:
            return 1.0
        return clock_cap_fraction(self.soc_temp_c, thermal.throttle_start_c, thermal.throttle_full_c,
                                  thermal.throttle_min_fraction)

    def thermal_status(self) -> int:
        return sum(1 for threshold in self._thermal.status_thresholds_c if self.skin_temp_c >= threshold)

    def _paused_by_heat(self) -> bool:
        return self.thermal_status() >= CHARGE_PAUSE_THERMAL_STATUS

    def _status(self) -> str:
        if not self.usb_online:
            return STATUS_DISCHARGING
        if self._held_status:
            return self._held_status
        if self.charge_uah >= self._capacity_uah:
            return STATUS_FULL
        if self._paused_by_heat():
            return STATUS_NOT_CHARGING
        return STATUS_CHARGING

    def _reading(self, busy_cores: float, power_w: float, current_a: float) -> PowerReading:
        voltage_v = self._open_circuit_voltage_v() + current_a * self._battery.internal_resistance_ohm
        level = 100 if self.charge_uah >= self._capacity_uah else int(self.state_of_charge * 100)
        return PowerReading(
            busy_cores=busy_cores,
            power_w=power_w,
            usb_online=self.usb_online,
            status=self._status(),
            level_percent=level,
            current_ua=round(current_a * 1e6),
            voltage_uv=round(voltage_v * 1e6),
            charge_counter_uah=round(self.charge_uah),
            charge_full_uah=round(self._capacity_uah),
            soc_temp_c=self.soc_temp_c,
            skin_temp_c=self.skin_temp_c,
            thermal_status=self.thermal_status(),
            cap_fraction=self.cap_fraction(),
        )


def continued(captured: float | None, simulated_at_start: float, simulated_now: float) -> float:
    """A captured value carried on by the simulation (a replayed phone's): the captured value
    plus what the simulation changed since it started; the simulation's own value when nothing
    was captured."""
    return simulated_now if captured is None else captured + (simulated_now - simulated_at_start)


def _start_fraction(level_percent: float | None, profile_percent: float) -> float:
    """A captured whole percent starts mid-way into it, so that the first tick reports the same
    level whichever way the charge moves; 100 stays full."""
    if level_percent is None:
        return profile_percent / 100.0
    return min(100.0, level_percent + (0.5 if level_percent < 100 else 0.0)) / 100.0


class SandboxCpuMeter:
    """Total CPU time used by the processes of one PID namespace, read through its own /proc.

    Each live process counts its own time plus that of the children it has reaped (cutime and
    cstime), so processes that already ended still count, through their parent (ultimately the
    sandbox's PID 1). Processes are read in ascending PID order (parents usually first), so a
    child reaped during the scan is at worst counted one tick late, not twice.
    """

    def __init__(self, proc_dir: Path):
        self._proc_dir = proc_dir
        self._last_total_s: float | None = None

    def total_cpu_s(self) -> float:
        ticks = 0
        try:
            entries = os.listdir(self._proc_dir)
        except OSError:
            return self._last_total_s or 0.0
        for pid in sorted(int(name) for name in entries if name.isdigit()):
            try:
                with open(self._proc_dir / str(pid) / "stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue  # ended while we were reading
            # After the command name: state ppid ... utime(11) stime(12) cutime(13) cstime(14).
            ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        return ticks / CLOCK_TICKS_PER_S

    def cpu_since_last_s(self) -> float:
        total = self.total_cpu_s()
        previous = self._last_total_s
        self._last_total_s = total
        if previous is None:
            return 0.0
        # A process that ends without being waited for takes its time with it: never negative.
        return max(0.0, total - previous)


def clock_cap_fraction(cpu_temp_c: float, start_c: float, full_c: float, min_fraction: float) -> float:
    """The clocks' cap as a fraction of their maximum at this CPU temperature, whatever Android's
    thermal status: 1 up to start_c, then falling linearly to min_fraction at full_c."""
    if cpu_temp_c <= start_c:
        return 1.0
    depth = (cpu_temp_c - start_c) / (full_c - start_c)
    return max(min_fraction, 1.0 - min(1.0, depth) * (1.0 - min_fraction))
