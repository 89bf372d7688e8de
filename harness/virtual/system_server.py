"""The daemon-side half of the stand-in commands (getprop, setprop, dumpsys, cmd, settings, pm,
am, logcat, log, service): what Android's init property service and system_server answer.

Each stand-in inside the sandbox (system_bin/android_tools.py) sends one JSON request line over
/dev/socket/squeezebench, `{"command", "args", ...}`, and gets `{"stdout", "stderr",
"exit_code", ...}` back. Requests come from untrusted code inside the device: anything malformed
gets an error answer, never an exception in the daemon.

Output formats are Android's (AOSP BatteryService, ThermalManagerService, SettingsProvider,
`pm`, `am`, logcat's threadtime), so that code parsing a phone's output parses these too.
Battery and thermal services are in system_services.py, `dumpsys meminfo` in meminfo.py; a
replayed capture (replay.py) brings its own battery and thermal services and power dump.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from harness.device.profiles import VirtualProfile
from harness.errors import ResultsError
from harness.jsonfile import write_json_atomic
from harness.schemas import VIRTUAL_SYSTEM_STATE
from harness.virtual.meminfo import meminfo
from harness.virtual.power import PowerModel
from harness.virtual.power_service import PowerService
from harness.virtual.properties import PropertyRefused, PropertyStore
from harness.virtual.system_services import BatteryService, Result, ThermalService, usage_error

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 256 * 1024
LOGCAT_CAPACITY_LINES = 5000
SUSPEND_CHARGING_PROPERTY = "power.battery_input.suspended"
SYSTEM_PACKAGES = {
    "android": "/system/framework/framework-res.apk",
    "com.android.shell": "/system/priv-app/Shell/Shell.apk",
    "com.android.settings": "/system/priv-app/Settings/Settings.apk",
    "com.android.systemui": "/system/priv-app/SystemUI/SystemUI.apk",
    "com.android.providers.settings": "/system/priv-app/SettingsProvider/SettingsProvider.apk",
}
# What a command's handler may raise on arguments or a capture it cannot take: the command fails,
# the system server goes on.
_COMMAND_ERRORS = (ValueError, TypeError, KeyError, IndexError)
SERVICES = ("activity", "battery", "cpuinfo", "meminfo", "package", "power", "settings", "thermalservice")
DEFAULT_SETTINGS = {
    "global": {
        "adb_enabled": "1", "airplane_mode_on": "0", "stay_on_while_plugged_in": "0",
        "low_power": "0", "window_animation_scale": "1.0", "transition_animation_scale": "1.0",
        "animator_duration_scale": "1.0", "development_settings_enabled": "1",
    },
    "system": {"screen_brightness": "102", "screen_off_timeout": "60000", "screen_brightness_mode": "0"},
    "secure": {"android_id": "5c9e0e3a7b1d2f40", "location_mode": "0"},
}
PRIORITIES = "VDIWEF"


class LogBuffer:
    """The device's logcat: boot lines, `log` output, and events of the simulation."""

    def __init__(self):
        # (sequence number, formatted line), the oldest dropped past the buffer's size
        self._entries: collections.deque[tuple[int, str]] = collections.deque(maxlen=LOGCAT_CAPACITY_LINES)
        self._next_sequence = 0

    def add(self, priority: str, tag: str, message: str, pid: int = 1) -> None:
        now = time.time()
        stamp = time.strftime("%m-%d %H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}"
        for text in message.splitlines() or [""]:
            line = f"{stamp} {pid:5d} {pid:5d} {priority} {tag:<8}: {text}"
            self._entries.append((self._next_sequence, line))
            self._next_sequence += 1

    def since(self, sequence: int) -> tuple[list[str], int]:
        return [line for seq, line in self._entries if seq >= sequence], self._next_sequence

    def clear(self) -> None:
        self._entries.clear()


class SystemServer:
    def __init__(self, profile: VirtualProfile, props: PropertyStore, power: PowerModel,
                 state_file: Path, proc_dir: Callable[[], Path], replay=None):
        """`replay`: a harness.virtual.replay.Replay when the device answers as a captured phone."""
        self._profile = profile
        self._props = props
        self._power = power
        self._state_file = state_file
        self._proc_dir = proc_dir
        self._replay = replay
        self.battery = replay.battery_service(power) if replay else BatteryService(profile, power)
        self.thermal = replay.thermal_service(power) if replay else ThermalService(profile, power)
        self.log = LogBuffer()
        persisted = _read_state(state_file)
        self._settings = {ns: {**DEFAULT_SETTINGS[ns], **persisted.get("settings", {}).get(ns, {})}
                          for ns in DEFAULT_SETTINGS}
        self.power_service = PowerService(power, self._settings["global"], self._save_state,
                                          *(replay.power_service_start() if replay else ()))
        self._packages: dict[str, str] = dict(persisted.get("packages", {}))
        self._after_command: list[Callable[[], None]] = []
        props.on_change(self._property_changed)
        self._commands: dict[str, Callable[[list[str], dict], Result]] = {
            "getprop": self._getprop,
            "setprop": self._setprop,
            "dumpsys": self._dumpsys,
            "cmd": self._cmd,
            "settings": lambda args, _req: self._settings_command(args),
            "pm": self._pm,
            "am": lambda args, _req: self._am(args),
            "logcat": self._logcat,
            "log": lambda args, _req: self._log_command(args),
            "service": lambda args, _req: self._service(args),
            "svc": lambda args, _req: self.power_service.svc(args),
            "input": lambda args, _req: self.power_service.input(args),
        }

    async def serve(self, socket_path: Path) -> asyncio.AbstractServer:
        socket_path.unlink(missing_ok=True)
        # Bound by its name relative to its directory: a deep state directory would exceed the
        # 107 bytes an AF_UNIX path may have.
        previous_cwd = os.getcwd()
        os.chdir(socket_path.parent)
        try:
            server = await asyncio.start_unix_server(self._handle_client, path=socket_path.name,
                                                     limit=MAX_REQUEST_BYTES)
        finally:
            os.chdir(previous_cwd)
        os.chmod(socket_path, 0o666)
        return server

    async def _handle_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            result = self.execute_json(line)
            writer.write(json.dumps({
                "stdout": result.stdout, "stderr": result.stderr,
                "exit_code": result.exit_code, **result.extra,
            }).encode() + b"\n")
            await writer.drain()
        except (ValueError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def after_every_command(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each command, before its answer goes back: whatever a command
        changed (`cmd thermalservice override-status`, `input keyevent`, `svc power stayon`,
        `settings put`) is then in what the daemon publishes for the fast stand-ins."""
        self._after_command.append(listener)

    def execute_json(self, line: bytes) -> Result:
        result = self._execute_json(line)
        for listener in self._after_command:
            listener()
        return result

    def _execute_json(self, line: bytes) -> Result:
        try:
            request = json.loads(line)
            command = request["command"]
            args = request["args"]
            if not isinstance(command, str) or not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return usage_error("squeezebench: malformed request to the system server", 255)
        handler = self._commands.get(command)
        if handler is None:
            return usage_error(f"{command}: not found", 127)
        try:
            return handler(args, request)
        except _COMMAND_ERRORS as e:
            log.warning("%s %s failed: %s", command, args, e)
            return usage_error(f"{command}: {e}", 255)

    # Properties -------------------------------------------------------------------------

    def _property_changed(self, name: str, value: str) -> None:
        if name == SUSPEND_CHARGING_PROPERTY:
            self._power.charging_suspended = value.strip().lower() in ("true", "1")
            state = "suspended" if self._power.charging_suspended else "resumed"
            self.log.add("I", "healthd", f"battery charger input {state} ({name}={value})")

    def getprop_listing(self) -> str:
        """What `getprop` with no argument prints: every property, sorted."""
        return "".join(f"[{k}]: [{v}]\n" for k, v in self._props.items_sorted())

    def _getprop(self, args: list[str], _request: dict) -> Result:
        args = [a for a in args if a not in ("-T", "-Z")]
        if not args:
            return Result(stdout=self.getprop_listing())
        default = args[1] if len(args) > 1 else ""
        return Result(stdout=self._props.get(args[0], default) + "\n")

    def _setprop(self, args: list[str], _request: dict) -> Result:
        if len(args) != 2:
            return usage_error("usage: setprop NAME VALUE\n\nSets an Android system property.")
        try:
            self._props.set(args[0], args[1])
        except PropertyRefused as e:
            log.info("setprop %s refused: %s", args[0], e)
            return usage_error(f"setprop: failed to set property '{args[0]}' to '{args[1]}'")
        return Result()

    # dumpsys / cmd / service ------------------------------------------------------------

    def _dumpsys(self, args: list[str], request: dict) -> Result:
        if not args:
            return Result(stdout="".join(self._dump_service(name, [], request).stdout for name in SERVICES))
        if args[0] == "-l":
            return Result(stdout="Currently running services:\n" + "".join(f"  {s}\n" for s in SERVICES))
        service, rest = args[0], args[1:]
        refusal = self._replay.dumpsys_refusal(service) if self._replay else None
        if refusal is not None:
            return Result(stdout=refusal[0], stderr=refusal[1])
        if service not in SERVICES:
            return Result(stderr=f"Can't find service: {service}\n")
        return self._dump_service(service, rest, request)

    def served_dump(self, service: str) -> str | None:
        """What `dumpsys SERVICE` prints, for the fast stand-in; None where it says anything on
        stderr, fails or cannot be rendered (a replayed phone that lacks the service, a capture
        the renderer cannot take): the full stand-in then answers as it always did."""
        try:
            result = self._dumpsys([service], {})
        except _COMMAND_ERRORS:
            return None
        return result.stdout if result.exit_code == 0 and not result.stderr else None

    def _dump_service(self, service: str, args: list[str], request: dict) -> Result:
        if service == "battery":
            return self.battery.command(args)
        if service == "thermalservice":
            return Result(stdout=self.thermal.dump())
        if service == "meminfo":
            return meminfo(args, self._proc_dir())
        if service == "power":
            return Result(stdout=self.power_service.dump())
        if service == "cpuinfo":
            return Result(stdout=self._cpuinfo())
        if service == "package":
            return self._pm(["list", "packages", "-f"], request)
        if service == "settings":
            return Result(stdout="".join(
                f"{ns} {k}={v}\n" for ns, values in self._settings.items() for k, v in sorted(values.items())
            ))
        return Result(stdout="ACTIVITY MANAGER (dumpsys activity)\n  (nothing)\n")

    def _cmd(self, args: list[str], request: dict) -> Result:
        if not args:
            return usage_error("cmd: No service specified; use -l to list all running services. Use -w to start and wait for a service.", 20)
        if args[0] == "-l":
            return Result(stdout="Currently running services:\n" + "".join(f"  {s}\n" for s in SERVICES))
        service, rest = args[0], args[1:]
        if service == "battery":
            return self.battery.command(rest) if rest else Result(stdout=self.battery._help())
        if service == "thermalservice":
            return self.thermal.command(rest)
        if service == "package":
            return self._pm(rest, request)
        if service == "activity":
            return self._am(rest)
        if service == "settings":
            return self._settings_command(rest)
        if service == "power":
            return self.power_service.command(rest)
        if service in SERVICES:
            return usage_error(f"cmd: {service} has no shell commands on a virtual device", 255)
        return usage_error(f"cmd: Can't find service: {service}", 20)

    def _service(self, args: list[str]) -> Result:
        if args[:1] == ["list"]:
            lines = [f"Found {len(SERVICES)} services:"]
            lines += [f"{i}\t{s}: [android.os.I{s.capitalize()}]" for i, s in enumerate(SERVICES)]
            return Result(stdout="\n".join(lines) + "\n")
        if args[:1] == ["check"] and len(args) == 2:
            found = "found" if args[1] in SERVICES else "not found"
            return Result(stdout=f"Service {args[1]}: {found}\n")
        return usage_error("Usage: service [-h|-?]\n       service list\n       service check SERVICE")

    def _cpuinfo(self) -> str:
        reading = self._power.last
        load = os.getloadavg()
        return (
            f"Load: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n"
            f"CPU usage of this virtual device: {reading.busy_cores * 100:.0f}% "
            f"({reading.busy_cores:.2f} busy cores, simulated power {reading.power_w:.2f} W)\n"
        )

    # settings ---------------------------------------------------------------------------

    def _settings_command(self, args: list[str]) -> Result:
        if args[:1] == ["--user"]:
            args = args[2:]  # one user on a virtual device
        if len(args) < 2 or args[1] not in self._settings:
            return usage_error("usage:  settings [--user <USER_ID> | current] get namespace key\n"
                                "        settings [--user <USER_ID> | current] put namespace key value\n"
                                "        settings [--user <USER_ID> | current] delete namespace key\n"
                                "        settings [--user <USER_ID> | current] list namespace\n"
                                "\n'namespace' is one of {system, secure, global}, case-insensitive")
        verb, namespace, rest = args[0], args[1], args[2:]
        values = self._settings[namespace]
        if verb == "get" and len(rest) == 1:
            return Result(stdout=values.get(rest[0], "null") + "\n")
        if verb == "put" and len(rest) >= 2:
            values[rest[0]] = rest[1]
            self._save_state()
            return Result()
        if verb == "delete" and len(rest) == 1:
            deleted = values.pop(rest[0], None) is not None
            self._save_state()
            return Result(stdout=f"Deleted {1 if deleted else 0} rows\n")
        if verb == "list" and not rest:
            return Result(stdout="".join(f"{k}={v}\n" for k, v in sorted(values.items())))
        return usage_error(f"settings: invalid command {verb!r}")

    # pm / am ----------------------------------------------------------------------------

    def _pm(self, args: list[str], request: dict) -> Result:
        if not args:
            return usage_error("usage: pm [list|path|install|uninstall|clear] ...")
        verb, rest = args[0], args[1:]
        if verb == "list" and rest[:1] == ["packages"]:
            return Result(stdout=self._list_packages(rest[1:]))
        if verb == "list" and rest[:1] == ["features"]:
            return Result(stdout="feature:android.hardware.touchscreen\nfeature:android.hardware.usb.accessory\n")
        if verb == "path" and len(rest) == 1:
            path = self._all_packages().get(rest[0])
            return Result(stdout=f"package:{path}\n") if path else Result(exit_code=1)
        if verb == "install":
            return self._install(request)
        if verb == "uninstall" and rest:
            package = rest[-1]
            if self._packages.pop(package, None) is None:
                return Result(stdout="Failure [DELETE_FAILED_INTERNAL_ERROR]\n", exit_code=1)
            self._save_state()
            self.log.add("I", "PackageManager", f"uninstalled {package}")
            return Result(stdout="Success\n")
        if verb == "clear" and rest:
            known = rest[-1] in self._all_packages()
            return Result(stdout="Success\n") if known else Result(stdout="Failed\n", exit_code=1)
        return usage_error(f"pm: unknown command {' '.join(args)!r}", 1)

    def _all_packages(self) -> dict[str, str]:
        return {**SYSTEM_PACKAGES, **self._packages}

    def _list_packages(self, options: list[str]) -> str:
        third_party_only = "-3" in options
        system_only = "-s" in options
        show_path = "-f" in options
        filters = [o for o in options if not o.startswith("-")]
        lines = []
        for package, path in sorted(self._all_packages().items()):
            is_system = package in SYSTEM_PACKAGES
            if (third_party_only and is_system) or (system_only and not is_system):
                continue
            if filters and filters[0] not in package:
                continue
            lines.append(f"package:{path}={package}" if show_path else f"package:{package}")
        return "".join(line + "\n" for line in lines)

    def _install(self, request: dict) -> Result:
        # The stand-in inside read the APK and parsed its manifest (it sees the device's files).
        apk = request.get("apk") or {}
        if apk.get("error"):
            return Result(stdout=f"Failure [{apk['error']}]\n", exit_code=1)
        package = apk.get("package")
        if not isinstance(package, str) or not package:
            return Result(stdout="Failure [INSTALL_FAILED_INVALID_APK]\n", exit_code=1)
        self._packages[package] = f"/data/app/{package}-1/base.apk"
        self._save_state()
        self.log.add("I", "PackageManager", f"installed {package}")
        return Result(stdout="Success\n")

    def _am(self, args: list[str]) -> Result:
        if not args:
            return usage_error("usage: am [start|force-stop|broadcast|kill] ...")
        verb = args[0]
        if verb in ("force-stop", "kill", "kill-all", "stop-app"):
            return Result()
        if verb == "broadcast":
            action = _option_value(args, "-a") or "null"
            return Result(stdout=f"Broadcasting: Intent {{ act={action} flg=0x400000 }}\nBroadcast completed: result=0\n")
        if verb == "start":
            component = _option_value(args, "-n") or ""
            package = component.split("/", 1)[0]
            lines = [f"Starting: Intent {{ cmp={component} }}"]
            if package not in self._all_packages():
                lines += ["Error type 3", f"Error: Activity class {{{component}}} does not exist."]
            else:
                lines.append("Error: Activity not started, a squeezebench virtual device cannot run app code")
            return Result(stdout="\n".join(lines) + "\n", exit_code=1)
        return usage_error(f"am: unknown command {verb!r}", 1)

    # logcat / log -----------------------------------------------------------------------

    def _logcat(self, args: list[str], request: dict) -> Result:
        if "-c" in args:
            self.log.clear()
            return Result()
        cursor = request.get("cursor", 0)
        if not isinstance(cursor, int):
            cursor = 0
        lines, next_cursor = self.log.since(cursor)
        lines = [line for line in lines if _logcat_filter_accepts(line, args)]
        tail = _option_value(args, "-t")
        if tail and tail.isdigit() and cursor == 0:
            lines = lines[-int(tail):]
        return Result(stdout="".join(line + "\n" for line in lines), extra={"cursor": next_cursor})

    def _log_command(self, args: list[str]) -> Result:
        priority, tag, words = "I", "log", []
        i = 0
        while i < len(args):
            if args[i] == "-p" and i + 1 < len(args):
                priority = args[i + 1][:1].upper()
                i += 2
            elif args[i] == "-t" and i + 1 < len(args):
                tag = args[i + 1]
                i += 2
            else:
                words.append(args[i])
                i += 1
        if len(priority) != 1 or priority not in PRIORITIES:  # "" is "in" every string
            return usage_error(f"log: invalid priority {priority!r}")
        self.log.add(priority, tag, " ".join(words), pid=0)
        return Result()

    # Persistence ------------------------------------------------------------------------

    def _save_state(self) -> None:
        changed_settings = {
            ns: {k: v for k, v in values.items() if DEFAULT_SETTINGS[ns].get(k) != v}
            for ns, values in self._settings.items()
        }
        write_json_atomic(self._state_file, {
            **VIRTUAL_SYSTEM_STATE.stamp(),
            "settings": changed_settings, "packages": self._packages,
        })


def _read_state(path: Path) -> dict:
    """Settings and packages kept from the device's last run; none on its first, or when the
    file is not one this version wrote (the device then starts as new)."""
    try:
        return VIRTUAL_SYSTEM_STATE.load(path)
    except ResultsError:
        return {}


def _option_value(args: list[str], option: str) -> str | None:
    for i, arg in enumerate(args[:-1]):
        if arg == option:
            return args[i + 1]
    return None


def _logcat_filter_accepts(line: str, args: list[str]) -> bool:
    """logcat filterspecs (`TAG:P`, `*:S`): a line passes if its tag's minimum priority allows it."""
    specs = {}
    for arg in args:
        if ":" in arg and not arg.startswith("-"):
            tag, _, priority = arg.partition(":")
            specs[tag] = priority[:1].upper()
    if not specs:
        return True
    fields = line.split(None, 5)
    priority, tag = fields[4], fields[5].split(":", 1)[0].strip()
    minimum = specs.get(tag, specs.get("*", "V"))
    if minimum == "S":
        return False
    return PRIORITIES.index(priority) >= PRIORITIES.index(minimum)
