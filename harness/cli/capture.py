"""squeezebench capture: record what a phone answers, for a bug report or a replay."""

from __future__ import annotations

from pathlib import Path

from harness.cli.common import add_adb_server_option, add_output_options, print_json, say, the_one_device
from harness.errors import ExitCode

HELP = "record what a device answers (getprop, dumpsys, /sys, ...) into a directory, for bug reports and replays"
DESCRIPTION = (
    "Records getprop, dumpsys battery/thermalservice/power, /proc/cpuinfo, uname -a, toybox "
    "--version, every /sys/class/power_supply node, the thermal zones, cpufreq nodes of each "
    "policy and which CPUs are online, and whether the device's adbd offers shell_v2, exactly as "
    "the device sends them, into DIR (docs/captures.md). It says what it collected and what the "
    "device refused or lacks: attach DIR to a bug report. 'squeezebench virtual start --capture "
    "DIR' replays it as a virtual device."
)


def add_arguments(parser):
    parser.add_argument("directory", type=Path, metavar="DIR", help="where to write the capture (new or empty)")
    parser.add_argument("--device", "-s", metavar="SERIAL", help="device serial (default: the only connected device)")
    add_adb_server_option(parser)
    add_output_options(parser)


def run(args) -> int:
    from harness.device.capture import record
    from harness.device.connection import Device

    server, serial = the_one_device(args.adb_server, args.device)
    report = record(Device(server, serial), args.directory)
    if args.json:
        print_json(report.to_dict())
    say(args, describe(report))
    return ExitCode.OK


def describe(report) -> str:
    lines = [f"captured {report.serial} into {report.directory}"]
    lines += [f"  {name:<28} {size_bytes:>8} bytes" for name, size_bytes in report.files.items()]
    lines.append(f"  {'sys/':<28} {report.nodes:>8} nodes, {report.links} links")
    lines.append(f"  shell_v2: {'yes' if report.shell_v2 else 'no (old adbd: one stream, CRLF, no exit status)'}")
    for title, entries in (("denied", report.denied), ("missing", report.missing), ("unreadable", report.errors)):
        lines += [f"  {title}: {what}: {said}" for what, said in sorted(entries.items())]
    lines.append(f"attach {report.directory} to a bug report; replay it with "
                 f"'squeezebench virtual start --capture {report.directory}'")
    return "\n".join(lines)
