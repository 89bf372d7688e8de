"""Which devices an adb server has, whether each is ready to benchmark, and what to fix if not."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.device import adb
from harness.device.connection import Device
from harness.device.passport import THERMAL_STATUS, Passport, read_passport
from harness.device.profiles import profile_for_device
from harness.device.runner_binaries import runner_for
from harness.errors import DeviceError, SqueezebenchError, UsageError

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


@dataclass(frozen=True)
class DeviceRef:
    """A device on one of possibly several adb servers (local, and other hosts of a lab)."""

    server: adb.AdbServerAddress
    serial: str
    primary: bool = True  # on the first server: named by serial alone

    @property
    def key(self) -> str:
        """How results and --devices name it: `SERIAL`, or `SERIAL@HOST:PORT` on another server."""
        return self.serial if self.primary else f"{self.serial}@{self.server}"


def server_states(servers: list[adb.AdbServerAddress]) -> dict[adb.AdbServerAddress, dict[str, str]]:
    """Every server's devices and their states, asked once (one listing per server)."""
    return {server: adb.device_states(server) for server in servers}


def select_devices(servers: list[adb.AdbServerAddress], wanted: list[str] | None, states: dict | None = None
                   ) -> list[DeviceRef]:
    """The devices to use: those asked for (each must exist and be usable), else every usable one.

    A name is `SERIAL` (looked up on every server) or `SERIAL@HOST:PORT`. `states`: the servers'
    listings when the caller has them already (server_states).
    """
    states = states or server_states(servers)
    primary = servers[0]

    def ref(server, serial):
        return DeviceRef(server, serial, primary=server == primary)

    if not wanted:
        return [ref(server, serial) for server in servers for serial, state in sorted(states[server].items()) if state == "device"]
    refs = []
    for name in dict.fromkeys(wanted):
        serial, _, server_text = name.partition("@")
        candidates = [adb.AdbServerAddress.parse(server_text)] if server_text else servers
        found = [server for server in candidates if serial in states.get(server, {})]
        if not server_text and primary in found:
            found = [primary]  # a plain serial names the first server's device, as result keys do
        if not found:
            known = ", ".join(ref(sv, sr).key for sv in servers for sr in sorted(states[sv])) or "none"
            raise DeviceError(
                f"no device {name!r} on adb server(s) {', '.join(map(str, candidates))} (connected: {known})",
                "check the serial with 'squeezebench devices', or 'squeezebench devices connect HOST:PORT'",
                serial=serial,
            )
        if len(found) > 1:
            raise UsageError(f"device {serial!r} is on several adb servers", f"name it as {serial}@HOST:PORT")
        check_state(serial, states[found[0]][serial])
        refs.append(ref(found[0], serial))
    return refs


def reconnect_network_device(server: adb.AdbServerAddress, serial: str, timeout_s: float = 3.0) -> None:
    """Give a device reached by `adb connect HOST:PORT` a fresh transport, as a user would with
    `adb disconnect` + `adb connect`: an adb server keeps an offline transport and retries it on
    its own, which a device that restarted meanwhile may not accept. USB devices (no ':' in the
    serial) come back by themselves. Raises DeviceError while the device does not answer."""
    if ":" not in serial:
        return
    state = adb.device_states(server).get(serial)
    if state == "device":
        return
    if state == "offline":
        adb.disconnect(server, serial)
    adb.connect(server, serial, timeout_s=timeout_s)


def unusable_devices(servers: list[adb.AdbServerAddress], states: dict | None = None) -> list[tuple[DeviceRef, str]]:
    """Devices the servers list in a state other than `device` (unauthorized, offline, ...)."""
    states = states or server_states(servers)
    return [
        (DeviceRef(server, serial, primary=server == servers[0]), state)
        for server in servers
        for serial, state in sorted(states[server].items())
        if state != "device"
    ]


def describe(server: adb.AdbServerAddress, serial: str, state: str) -> DeviceStatus:
    """Probe one device: passport, matching profile, runner availability, problems to fix."""
    if state != "device":
        return DeviceStatus(serial, state, str(server), problems=(STATE_FIXES.get(state, "reconnect it"),))
    try:
        passport = read_passport(Device(server, serial))
    except DeviceError as e:
        return DeviceStatus(serial, "offline", str(server), problems=(e.one_line(),))
    profile = profile_for_device(passport.props)
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
        friendly_name=getattr(profile, "friendly_name", None) or passport.model,
        runner=runner,
        problems=tuple(problems),
        warnings=tuple(warnings),
    )


def survey(server: adb.AdbServerAddress) -> list[DeviceStatus]:
    return [describe(server, serial, state) for serial, state in sorted(adb.device_states(server).items())]
