"""Captured devices: what a real phone answers, kept as a directory (docs/captures.md).

One file per command, named after it (COMMAND_FILES); a `sys/` tree mirroring the device's
paths; `capture.toml` for what the files cannot say (whether adbd offers shell_v2, what was
denied or missing, the gauge's current unit and sign when known, free notes). Every file may be
absent: a directory holding only `getprop.txt` is a capture.

`record` makes one from a connected device (`squeezebench capture`); `Capture.load` reads one
(the parsers' tests, and `squeezebench virtual start --capture`, which replays it). Bytes are
kept exactly as the device sent them; decoding happens when reading (`decode_text`).
"""

from __future__ import annotations

import codecs
import json
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness import __version__
from harness.errors import InputError, ResultsError
from harness.jsonfile import utc_now, write_bytes_atomic
from harness.schemas import CAPTURE

CAPTURE_TOML = "capture.toml"
# file -> the command whose output it holds, as run in `adb shell`.
COMMAND_FILES = {
    "getprop.txt": "getprop",
    "dumpsys-battery.txt": "dumpsys battery",
    "dumpsys-thermalservice.txt": "dumpsys thermalservice",
    "dumpsys-power.txt": "dumpsys power",
    "proc-cpuinfo.txt": "cat /proc/cpuinfo",
    "uname.txt": "uname -a",
    "toybox-version.txt": "toybox --version",
}
SYS_DIR = "sys"
POWER_SUPPLY_DIR = "/sys/class/power_supply"
THERMAL_DIR = "/sys/class/thermal"
CPU_DIR = "/sys/devices/system/cpu"
# What a replay answers from the capture, by part; a part the capture lacks is simulated.
PARTS = {
    "properties": "getprop.txt",
    "battery": "dumpsys-battery.txt",
    "thermalservice": "dumpsys-thermalservice.txt",
    "power": "dumpsys-power.txt",
    "cpuinfo": "proc-cpuinfo.txt",
    "uname": "uname.txt",
    "toybox": "toybox-version.txt",
    "power_supply": POWER_SUPPLY_DIR,
    "thermal_zones": THERMAL_DIR,
    "cpus": CPU_DIR,
}
CURRENT_UNITS = ("uA", "mA")
# How the gauge signs current_now: the Linux power-supply ABI (and Android's BatteryManager)
# make discharge negative; some drivers report it positive.
CURRENT_SIGNS = ("negative-discharging", "positive-discharging")
_TOML_KEYS = {
    "schema_version": int, "shell_v2": bool, "denied": list, "missing": list, "errors": dict,
    "current_unit": str, "current_sign": str, "charging_suspend_works": bool, "notes": str, "properties": dict,
    "captured_utc": str, "captured_with": str, "serial": str,
}
SHELL_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class CaptureInfo:
    """capture.toml. `denied`: paths and commands the device refused (`dumpsys batterystats`);
    `missing`: what the device does not have (`dumpsys thermalservice`, `toybox`); `errors`: the
    device's words for either, by path or command; `properties`: single `getprop NAME` answers
    for a capture without a full getprop.txt."""

    schema_version: int = CAPTURE.version
    shell_v2: bool | None = None
    denied: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    errors: dict[str, str] = field(default_factory=dict)
    current_unit: str | None = None
    current_sign: str | None = None
    # Whether the phone acts on `power.battery_input.suspended` (False: it only echoes it, as a
    # phone held on its charger by something else may); None: not known, replayed as acting on it.
    charging_suspend_works: bool | None = None
    notes: str = ""
    properties: dict[str, str] = field(default_factory=dict)
    captured_utc: str | None = None
    captured_with: str | None = None
    serial: str | None = None


@dataclass(frozen=True)
class SysLink:
    path: str  # the device path, e.g. /sys/devices/system/cpu/cpu4/cpufreq
    target: str  # relative, as the device's readlink gave it (../cpufreq/policy4)


def decode_text(raw: bytes) -> str:
    """A captured file as text: UTF-16 with a BOM (a getprop saved by Windows PowerShell), else
    UTF-8; bytes that are neither become U+FFFD instead of failing."""
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
                          (codecs.BOM_UTF8, "utf-8")):
        if raw.startswith(bom):
            return raw[len(bom):].decode(encoding, "replace")
    return raw.decode("utf-8", "replace")


@dataclass(frozen=True)
class Capture:
    root: Path
    info: CaptureInfo

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Capture":
        root = Path(path).expanduser()
        if not root.is_dir():
            raise InputError(f"capture {root} is not a directory", "give a directory made by 'squeezebench capture'")
        toml_path = root / CAPTURE_TOML
        info = _read_info(toml_path) if toml_path.is_file() else CaptureInfo()
        if not toml_path.is_file() and not any((root / name).is_file() for name in COMMAND_FILES) \
                and not (root / SYS_DIR).is_dir():
            raise InputError(f"{root} holds no capture (no {CAPTURE_TOML}, getprop.txt, ... or sys/)",
                             "see docs/captures.md for the files a capture holds")
        return cls(root.resolve(), info)

    @property
    def name(self) -> str:
        return self.root.name

    def raw(self, file_name: str) -> bytes | None:
        path = self.root / file_name
        return path.read_bytes() if path.is_file() and not path.is_symlink() else None

    def text(self, file_name: str) -> str | None:
        raw = self.raw(file_name)
        return None if raw is None else decode_text(raw)

    def properties(self) -> dict[str, str] | None:
        """The phone's properties: getprop.txt, with capture.toml's single answers added."""
        from harness.device.connection import parse_getprop

        listing = self.text("getprop.txt")
        if listing is None and not self.info.properties:
            return None
        return {**self.info.properties, **(parse_getprop(listing) if listing is not None else {})}

    def sys_files(self) -> dict[str, bytes]:
        """Device path -> raw value of every node file under sys/."""
        return {path: (self.root / SYS_DIR / relative).read_bytes()
                for path, relative in self._sys_entries() if not (self.root / SYS_DIR / relative).is_symlink()}

    def sys_links(self) -> list[SysLink]:
        """Symlinks under sys/ that stay inside it (cpuN/cpufreq -> ../cpufreq/policyM); any
        other is left out, so a replay never reads past the capture."""
        links = []
        sys_root = (self.root / SYS_DIR).resolve()
        for path, relative in self._sys_entries():
            link = self.root / SYS_DIR / relative
            if link.is_symlink():
                target = os.readlink(link)
                resolved = (link.parent / target).resolve()
                if not os.path.isabs(target) and resolved.is_relative_to(sys_root):
                    links.append(SysLink(path, target))
        return links

    def _sys_entries(self) -> list[tuple[str, PurePosixPath]]:
        base = self.root / SYS_DIR
        entries = []
        for directory, dirs, files in os.walk(base):
            here = Path(directory)
            for name in sorted(files) + sorted(d for d in dirs if (here / d).is_symlink()):
                relative = PurePosixPath((here / name).relative_to(base).as_posix())
                entries.append((f"/sys/{relative}", relative))
        return sorted(entries)

    def has_part(self, part: str) -> bool:
        where = PARTS[part]
        if part == "properties":
            return self.properties() is not None
        if where.startswith("/sys/"):
            return (self.root / SYS_DIR / where[len("/sys/"):]).exists()
        return self.raw(where) is not None

    def is_missing(self, what: str) -> bool:
        return what in self.info.missing

    def is_denied(self, what: str) -> bool:
        return what in self.info.denied


def _read_info(path: Path) -> CaptureInfo:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{path} cannot be read: {e}", "fix its TOML syntax (docs/captures.md)") from None
    for key, value in data.items():
        expected = _TOML_KEYS.get(key)
        if expected is None:
            raise InputError(f"{path}: unknown key {key!r}", f"known keys: {', '.join(_TOML_KEYS)}")
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise InputError(f"{path}: {key!r} must be a {expected.__name__}, got {value!r}", "see docs/captures.md")
    try:
        data = CAPTURE.upgrade(data, path, kind_required=False)
    except ResultsError as e:  # a capture is an input, not a result: same message, input's exit code
        raise InputError(e.problem, e.fix) from None
    for key, allowed in (("current_unit", CURRENT_UNITS), ("current_sign", CURRENT_SIGNS)):
        if key in data and data[key] not in allowed:
            raise InputError(f"{path}: {key} must be one of {', '.join(allowed)}, got {data[key]!r}", "see docs/captures.md")
    for key in ("denied", "missing"):
        if not all(isinstance(item, str) for item in data.get(key, [])):
            raise InputError(f"{path}: {key!r} must list strings", "see docs/captures.md")
    for key in ("errors", "properties"):
        if not all(isinstance(v, str) for v in data.get(key, {}).values()):
            raise InputError(f"{path}: [{key}] values must be strings", "see docs/captures.md")
    return CaptureInfo(**{**data, "denied": tuple(data.get("denied", ())), "missing": tuple(data.get("missing", ()))})


# Recording ----------------------------------------------------------------------------------


@dataclass
class CaptureReport:
    """What `record` collected, and what the device refused or lacks: what a bug report needs."""

    directory: Path
    serial: str
    shell_v2: bool
    files: dict[str, int] = field(default_factory=dict)  # file -> bytes
    nodes: int = 0
    links: int = 0
    denied: dict[str, str] = field(default_factory=dict)  # path or command -> the device's words
    missing: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # unreadable for another reason

    def to_dict(self) -> dict:
        return {"directory": str(self.directory), "serial": self.serial, "shell_v2": self.shell_v2,
                "files": self.files, "nodes": self.nodes, "links": self.links,
                "denied": self.denied, "missing": self.missing, "errors": self.errors}


# What old and new shells and services print when something is absent or refused.
_MISSING_WORDS = ("can't find service", "not found", "no such file", "inaccessible or not found")
_DENIED_WORDS = ("permission denial", "permission denied")


def record(device, out_dir: Path) -> CaptureReport:
    """Capture `device` (a harness.device.connection.Device) into `out_dir`, which must be new
    or empty (one device per capture)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise InputError(f"{out_dir} exists and is not empty", "give a new directory: a capture holds one device")
    out_dir.mkdir(parents=True, exist_ok=True)
    report = CaptureReport(out_dir, device.serial, device.has_shell_v2)
    for file_name, command in COMMAND_FILES.items():
        _record_command(device, out_dir, file_name, command, report)
    _record_sys(device, out_dir, report)
    _write_info(out_dir / CAPTURE_TOML, report)
    return report


def _record_command(device, out_dir: Path, file_name: str, command: str, report: CaptureReport) -> None:
    result = device.shell_script_raw(command, timeout_s=SHELL_TIMEOUT_S)
    said = decode_text(result.stdout + result.stderr).strip()
    lowered = said.lower()
    if any(words in lowered for words in _DENIED_WORDS) and (result.exit_code or len(said) < 300):
        report.denied[command] = said
    elif result.exit_code == 127 or (not result.stdout.strip() and any(w in lowered for w in _MISSING_WORDS)):
        report.missing[command] = said or f"exit status {result.exit_code}"
    elif result.exit_code != 0 and not result.stdout.strip():
        report.errors[command] = said or f"exit status {result.exit_code}"
    else:
        write_bytes_atomic(out_dir / file_name, result.stdout)
        report.files[file_name] = len(result.stdout)


def _sys_script(marker: str) -> str:
    """Every node to capture, each framed: a `node PATH` line, the bytes `cat` gives (or its
    error), and an `end STATUS` line; cpuN/cpufreq symlinks as `link PATH TARGET` lines. Read
    with `cat` as the shell user, as the agent reads them."""
    nodes = " ".join([
        f"{POWER_SUPPLY_DIR}/*/*",
        f"{THERMAL_DIR}/thermal_zone*/type", f"{THERMAL_DIR}/thermal_zone*/temp",
        f"{CPU_DIR}/online", f"{CPU_DIR}/possible", f"{CPU_DIR}/present",
        f"{CPU_DIR}/cpu[0-9]*/online", f"{CPU_DIR}/cpufreq/policy*/*",
    ])
    read = f'[ -f "$f" ] || continue; echo "{marker} node $f"; cat "$f" 2>&1; echo "{marker} end $?"'
    return (
        f"for f in {nodes}; do {read}; done; "
        f"for d in {CPU_DIR}/cpu[0-9]*/cpufreq; do "
        f'if [ -L "$d" ]; then echo "{marker} link $d $(readlink "$d")"; '
        f'elif [ -d "$d" ]; then for f in "$d"/*; do {read}; done; fi; done; true'
    )


def _record_sys(device, out_dir: Path, report: CaptureReport) -> None:
    marker = f"@@squeezebench-{secrets.token_hex(6)}"
    result = device.shell_script_raw(_sys_script(marker), timeout_s=SHELL_TIMEOUT_S)
    for kind, path, payload, status in parse_sys_output(result.stdout, marker.encode()):
        if not _is_sys_path(path):
            continue
        if kind == "link":
            target = payload.decode("utf-8", "replace")
            if target.startswith("/sys/"):
                target = os.path.relpath(target, os.path.dirname(path))
            link = out_dir / SYS_DIR / path[len("/sys/"):]
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
            report.links += 1
            continue
        value = payload if result.shell_v2 else payload.replace(b"\r\n", b"\n")
        if status != 0:
            said = decode_text(value).strip()
            (report.denied if "permission denied" in said.lower() else report.errors)[path] = said
            continue
        write_bytes_atomic(out_dir / SYS_DIR / path[len("/sys/"):], value)
        report.nodes += 1


def parse_sys_output(output: bytes, marker: bytes) -> list[tuple[str, str, bytes, int]]:
    """(kind, path, payload, status) of every framed record of _sys_script's output: kind
    "node" (payload: the bytes read, status: cat's) or "link" (payload: the target)."""
    records = []
    position = 0
    while (start := output.find(marker + b" ", position)) >= 0:
        line_end = output.find(b"\n", start)
        if line_end < 0:
            break
        kind, _, rest = output[start + len(marker) + 1:line_end].rstrip(b"\r").partition(b" ")
        position = line_end + 1
        if kind == b"link":
            path, _, target = rest.partition(b" ")
            records.append(("link", path.decode("utf-8", "replace"), target, 0))
        elif kind == b"node":
            end = output.find(marker + b" end ", position)
            status_end = output.find(b"\n", end)
            if end < 0 or status_end < 0:
                break
            status_text = output[end + len(marker) + 5:status_end].strip()
            status = int(status_text) if status_text.isdigit() else 1
            records.append(("node", rest.decode("utf-8", "replace"), output[position:end], status))
            position = status_end + 1
    return records


def _is_sys_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return path.startswith("/sys/") and ".." not in parts and "\0" not in path and len(parts) > 2


def _write_info(path: Path, report: CaptureReport) -> None:
    lines = [
        f"schema_version = {CAPTURE.version}",
        f"shell_v2 = {'true' if report.shell_v2 else 'false'}",
        f"denied = {_toml_value(sorted(report.denied))}",
        f"missing = {_toml_value(sorted(report.missing))}",
        f"captured_utc = {_toml_value(utc_now())}",
        f"captured_with = {_toml_value(f'squeezebench {__version__}')}",
        f"serial = {_toml_value(report.serial)}",
        f"notes = {_toml_value('')}",
        "",
        "# What the device said where it refused or lacked something.",
        "[errors]",
    ]
    reasons = {**report.errors, **report.missing, **report.denied}
    lines += [f"{_toml_value(key)} = {_toml_value(value)}" for key, value in sorted(reasons.items())]
    write_bytes_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))


def _toml_value(value) -> str:
    """A TOML string or array of strings: JSON's escapes are a subset of TOML's basic string's."""
    return json.dumps(value, ensure_ascii=False)
