"""Which devices an adb server has, whether each is ready to benchmark, and what to fix if not."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.device import adb
from harness.device.connection import Device
from harness.device.passport import THERMAL_STATUS, Passport, read_passport
from harness.errors import DeviceError

# What a user can do about each adb state that is not `device`.
STATE_FIXES = {
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging' prompt (check 'Always allow')",
    "offline": "reconnect the cable or run 'adb reconnect offline'; restart adbd with 'adb kill-server' if it persists",
    "no permissions": "add a udev rule for the phone (see 'adb devices' help) or run adb as a user in plugdev",
    "authorizing": "wait a moment and try again",
    "connecting": "wait a moment and try again",
}


@dataclass(frozen=True)
class DeviceStatus:
    serial: str
    state: str
    server: str
    passport: Passport | None = None
    profile_name: str | None = None
    friendly_name: str | None = None
    runner: str | None = None  # where its runner comes from, or None when missing
    problems: tuple[str, ...] = field(default_factory=tuple)  # block benchmarking
    warnings: tuple[str, ...] = field(default_factory=tuple)  # make numbers less trustworthy

    @property
    def ready(self) -> bool:
        return self.state == "device" and self.runner is not None and not self.problems

    def to_dict(self) -> dict:
        return {
            "serial": self.serial,
            "state": self.state,
            "server": self.server,
            "ready": self.ready,
            "profile": self.profile_name,
            "friendly_name": self.friendly_name,
            "runner": self.runner,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "passport": self.passport.to_dict() if self.passport else None,
        }


def check_state(serial: str, state: str) -> None:
    if state != "device":
        raise DeviceError(f"device is {state}", STATE_FIXES.get(state, "reconnect it"), serial=serial)


def select_serials(server: adb.AdbServerAddress, wanted: list[str] | None) -> list[str]:
    """The serials to use: those asked for (each must exist and be usable), else every usable one."""
    states = adb.device_states(server)
    if not wanted:
        return sorted(serial for serial, state in states.items() if state == "device")
    for serial in wanted:
        if serial not in states:
            known = ", ".join(sorted(states)) or "none"
            raise DeviceError(
                f"no device {serial!r} on adb server {server} (connected: {known})",
                "check the serial with 'squeezebench devices', or 'squeezebench devices connect HOST:PORT'",
                serial=serial,
            )
        check_state(serial, states[serial])
    return list(dict.fromkeys(wanted))


def describe(server: adb.AdbServerAddress, serial: str, state: str) -> DeviceStatus:
    """Probe one device: passport, matching profile, runner availability, problems to fix."""
    from harness.bench.runners import runner_for
    from harness.device.profiles import match_profile
    from harness.errors import SqueezebenchError

    if state != "device":
        return DeviceStatus(serial, state, str(server), problems=(STATE_FIXES.get(state, "reconnect it"),))
    try:
        passport = read_passport(Device(server, serial))
    except DeviceError as e:
        return DeviceStatus(serial, "offline", str(server), problems=(e.one_line(),))
    profile = match_profile(passport.props)
    problems, warnings = [], []
    runner = None
    try:
        runner = runner_for(passport.abi, is_virtual=passport.is_virtual).source
    except SqueezebenchError as e:
        problems.append(e.one_line())
    if passport.flags.get("throttled"):
        status = THERMAL_STATUS.get(passport.thermal_status, passport.thermal_status)
        warnings.append(f"thermal status {status}: let it cool down or use --cooldown")
    if passport.flags.get("low_battery"):
        warnings.append(f"battery at {passport.battery.get('level_pct')}%: charge it above 25%")
    return DeviceStatus(
        serial,
        state,
        str(server),
        passport=passport,
        profile_name=profile.name if profile else None,
        friendly_name=profile.friendly_name if profile else passport.model,
        runner=runner,
        problems=tuple(problems),
        warnings=tuple(warnings),
    )


def survey(server: adb.AdbServerAddress) -> list[DeviceStatus]:
    return [describe(server, serial, state) for serial, state in sorted(adb.device_states(server).items())]
