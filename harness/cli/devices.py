"""squeezebench devices: what is connected, which profile it matches, whether it is ready."""

from __future__ import annotations

from harness.cli.common import add_adb_server_option, print_json, say
from harness.errors import ExitCode, UsageError

HELP = "list devices with state, battery, thermal status, ABI, runner and what to fix; connect remote ones"
DESCRIPTION = (
    "'squeezebench devices' lists every device of the adb server (local USB, Wi-Fi, 'adb connect' "
    "targets, or another host's server with --adb-server). 'devices connect HOST:PORT' adds a "
    "network device (device labs, Wi-Fi debugging); 'devices disconnect HOST:PORT' removes it."
)


def add_arguments(parser):
    parser.add_argument("action", nargs="?", default="list", choices=["list", "connect", "disconnect"])
    parser.add_argument("target", nargs="?", help="HOST:PORT for connect / disconnect")
    add_adb_server_option(parser)
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def run(args) -> int:
    from harness.device import adb, discovery

    server = adb.AdbServerAddress.from_environment(args.adb_server)
    if args.action in ("connect", "disconnect"):
        if not args.target:
            raise UsageError(f"devices {args.action} needs HOST:PORT", f"e.g. squeezebench devices {args.action} 192.168.1.20:5555")
        adb.ensure_server(server)
        if args.action == "connect":
            adb.connect(server, args.target)
            say(args, f"connected {args.target} via adb server {server}")
        else:
            adb.disconnect(server, args.target)
            say(args, f"disconnected {args.target}")
        return ExitCode.OK
    if args.target:
        raise UsageError("'devices list' takes no target")
    adb.ensure_server(server)
    statuses = discovery.survey(server)
    if args.json:
        print_json([s.to_dict() for s in statuses])
    else:
        say(args, format_table(statuses, str(server)))
    return ExitCode.OK if statuses else ExitCode.NOTHING_RAN


def format_table(statuses, server: str) -> str:
    from harness.device.passport import THERMAL_STATUS

    if not statuses:
        return f"no devices on adb server {server} (plug in a phone, 'squeezebench devices connect HOST:PORT', or 'squeezebench virtual start')"
    lines = [f"{'SERIAL':<22} {'STATE':<13} {'DEVICE':<30} {'ABI':<11} {'BATTERY':<16} {'THERMAL':<9} {'RUNNER':<10} READY"]
    for s in statuses:
        p = s.passport
        battery = thermal = abi = "-"
        if p:
            level = p.battery.get("level_pct")
            battery = f"{level}% {p.battery.get('status')}" if level is not None else "-"
            thermal = THERMAL_STATUS.get(p.thermal_status, "-") if p.thermal_status is not None else "-"
            abi = p.abi or "-"
        name = (s.friendly_name or "-") + (" [virtual]" if p and p.is_virtual else "")
        lines.append(
            f"{s.serial:<22} {s.state:<13} {name[:30]:<30} {abi:<11} {battery:<16} {thermal:<9} "
            f"{(s.runner or 'missing'):<10} {'yes' if s.ready else 'no'}"
        )
        for problem in s.problems:
            lines.append(f"    fix: {problem}")
        for warning in s.warnings:
            lines.append(f"    note: {warning}")
    return "\n".join(lines)
