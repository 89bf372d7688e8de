"""Multi-call stand-in for Android's getprop, setprop, dumpsys, cmd, settings, pm, am, logcat,
log, service and taskset inside a virtual device (/system/bin/NAME runs main() with argv[0]).

Most of them ask the daemon (the virtual device's "system_server") over
/dev/socket/squeezebench and print its answer. Two need the device's side of things:
- `taskset` pins the process inside the sandbox. The profile may give the device more cores
  than the host has: virtual CPU N runs on host CPU N modulo the host's count, so a phone's
  big-core mask still works (the mapping is printed to stderr when it folds).
- `pm install` / `cmd package install` read the APK here (from a path, or `-S SIZE` bytes of
  stdin) and send the daemon the package name from its manifest.
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import sys
import time

SYSTEM_SERVER_SOCKET = "/dev/socket/squeezebench"
LOGCAT_POLL_S = 0.5


def main(argv: list[str]) -> int:
    name = os.path.basename(argv[0])
    args = argv[1:]
    try:
        if name == "taskset":
            return taskset(args)
        if name == "logcat" and not {"-d", "-c", "-t"} & set(args):
            return follow_logcat(args)
        request = {"command": name, "args": args}
        if _is_install(name, args):
            request["apk"] = read_apk_for_install(args)
        return print_answer(ask(request))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


def ask(request: dict) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(SYSTEM_SERVER_SOCKET)
        sock.sendall(json.dumps(request).encode() + b"\n")
        with sock.makefile("rb") as reply:
            return json.loads(reply.readline())


def print_answer(answer: dict) -> int:
    sys.stdout.write(answer.get("stdout", ""))
    sys.stdout.flush()
    sys.stderr.write(answer.get("stderr", ""))
    return int(answer.get("exit_code", 1))


def follow_logcat(args: list[str]) -> int:
    """`logcat` without -d keeps printing new lines until it is killed, as on a phone."""
    cursor = 0
    while True:
        answer = ask({"command": "logcat", "args": args, "cursor": cursor})
        if answer.get("exit_code"):
            return print_answer(answer)
        sys.stdout.write(answer.get("stdout", ""))
        sys.stdout.flush()
        cursor = answer.get("cursor", cursor)
        time.sleep(LOGCAT_POLL_S)


# taskset -----------------------------------------------------------------------------------


def taskset(args: list[str]) -> int:
    usage = "usage: taskset [-ap] [mask] [PID | cmd [args...]]\n"
    show_pid = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        flags, args = args[0], args[1:]
        if set(flags[1:]) - {"a", "p"}:
            sys.stderr.write(usage)
            return 1
        show_pid = show_pid or "p" in flags
    if show_pid and len(args) == 1:
        return _print_affinity(int(args[0]))
    if len(args) < 2:
        sys.stderr.write(usage)
        return 1
    try:
        virtual_mask = int(args[0], 16)
    except ValueError:
        sys.stderr.write(f"taskset: bad mask '{args[0]}'\n")
        return 1
    host_cpus = _fold_onto_host(virtual_mask)
    if not host_cpus:
        sys.stderr.write(f"taskset: mask '{args[0]}' selects no CPU\n")
        return 1
    target_pid = int(args[1]) if show_pid else 0
    try:
        os.sched_setaffinity(target_pid, host_cpus)
    except OSError as e:
        sys.stderr.write(f"taskset: failed to set pid {target_pid}'s affinity: {e.strerror}\n")
        return 1
    if show_pid:
        return 0
    try:
        os.execvp(args[1], args[1:])
    except OSError as e:
        sys.stderr.write(f"taskset: {args[1]}: {e.strerror}\n")
        return 127


def _fold_onto_host(virtual_mask: int) -> set[int]:
    host_cpus = _device_cpus()
    count = len(host_cpus)
    chosen = {host_cpus[bit % count] for bit in range(virtual_mask.bit_length()) if virtual_mask >> bit & 1}
    if virtual_mask.bit_length() > count:
        sys.stderr.write(f"taskset: virtual CPUs folded onto the host's {count}: {sorted(chosen)}\n")
    return chosen


def _device_cpus() -> list[int]:
    """The host CPUs this device may use: those of its PID 1 (a shell may have narrowed its own)."""
    try:
        with open("/proc/1/status") as status:
            for line in status:
                if line.startswith("Cpus_allowed_list:"):
                    return _parse_cpu_list(line.split(":", 1)[1])
    except OSError:
        pass
    return sorted(os.sched_getaffinity(0))


def _parse_cpu_list(text: str) -> list[int]:
    cpus = []
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def _print_affinity(pid: int) -> int:
    try:
        cpus = os.sched_getaffinity(pid)
    except OSError as e:
        sys.stderr.write(f"taskset: failed to get pid {pid}'s affinity: {e.strerror}\n")
        return 1
    mask = sum(1 << cpu for cpu in cpus)
    sys.stdout.write(f"pid {pid}'s affinity mask: {mask:x}\n")
    return 0


# APK install -------------------------------------------------------------------------------


def _is_install(name: str, args: list[str]) -> bool:
    return (name == "pm" and args[:1] == ["install"]) or (
        name == "cmd" and args[:2] == ["package", "install"]
    )


def read_apk_for_install(args: list[str]) -> dict:
    """{"package": NAME} from the APK's AndroidManifest.xml, or {"error": CODE}."""
    options = args[args.index("install") + 1 :]
    size = None
    path = None
    i = 0
    while i < len(options):
        if options[i] == "-S" and i + 1 < len(options):
            size = int(options[i + 1])
            i += 2
        elif options[i] in ("--user", "-i", "--install-location") and i + 1 < len(options):
            i += 2
        elif options[i].startswith("-"):
            i += 1
        else:
            path = options[i]
            i += 1
    try:
        if size is not None:
            data = sys.stdin.buffer.read(size)
        elif path is not None:
            with open(path, "rb") as f:
                data = f.read()
        else:
            return {"error": "INSTALL_FAILED_INVALID_URI"}
    except OSError:
        return {"error": "INSTALL_FAILED_INVALID_APK"}
    import zipfile  # only here: every getprop pays for what is imported at the top

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as apk:
            manifest = apk.read("AndroidManifest.xml")
        return {"package": manifest_package(manifest)}
    except (zipfile.BadZipFile, KeyError, ValueError, IndexError, struct.error):
        return {"error": "INSTALL_PARSE_FAILED_NOT_APK: Failed to parse the APK's manifest"}


def manifest_package(axml: bytes) -> str:
    """The `package` attribute of <manifest> in Android's binary XML (AXML)."""
    chunk_type, header_size, _size = struct.unpack_from("<HHI", axml, 0)
    if chunk_type != 0x0003:
        raise ValueError("not binary XML")
    offset = header_size
    strings: list[str] = []
    while offset < len(axml):
        chunk_type, header_size, size = struct.unpack_from("<HHI", axml, offset)
        if size < 8:
            raise ValueError("corrupt chunk")
        if chunk_type == 0x0001:
            strings = _string_pool(axml, offset)
        elif chunk_type == 0x0102:
            _ns, name, attribute_start, attribute_size, attribute_count = struct.unpack_from(
                "<IIHHH", axml, offset + 16
            )
            if strings[name] == "manifest":
                first = offset + 16 + attribute_start
                for index in range(attribute_count):
                    attribute = first + index * attribute_size
                    _attr_ns, attr_name, raw_value = struct.unpack_from("<IIi", axml, attribute)
                    if strings[attr_name] == "package" and raw_value >= 0:
                        return strings[raw_value]
                raise ValueError("<manifest> has no package attribute")
        offset += size
    raise ValueError("no <manifest> element")


def _string_pool(data: bytes, offset: int) -> list[str]:
    _type, header_size, _size, count, _styles, flags, strings_start, _styles_start = struct.unpack_from(
        "<HHIIIIII", data, offset
    )
    utf8 = bool(flags & 0x100)
    offsets = struct.unpack_from(f"<{count}I", data, offset + header_size)
    base = offset + strings_start
    result = []
    for string_offset in offsets:
        position = base + string_offset
        if utf8:
            position += 2 if data[position] & 0x80 else 1  # length in UTF-16 units
            length = data[position]
            position += 1
            if length & 0x80:
                length = ((length & 0x7F) << 8) | data[position]
                position += 1
            result.append(data[position : position + length].decode("utf-8"))
        else:
            length = struct.unpack_from("<H", data, position)[0]
            position += 2
            if length & 0x8000:
                length = ((length & 0x7FFF) << 16) | struct.unpack_from("<H", data, position)[0]
                position += 2
            result.append(data[position : position + 2 * length].decode("utf-16-le"))
    return result
