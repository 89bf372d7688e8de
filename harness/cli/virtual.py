"""squeezebench virtual: start, list and stop virtual devices (simulated phones on loopback)."""

from __future__ import annotations

import argparse
import json

HELP = "start, list and stop virtual devices (a simulated Android device for runs without a phone)"
DESCRIPTION = """\
A virtual device is the device side of ADB on 127.0.0.1:PORT, registered with an adb server,
whose shell runs in a bubblewrap sandbox laid out like Android, with a simulated battery and
thermal state. Latency and memory measured on it are the host CPU's; every result from it is
marked virtual (ro.squeezebench.virtual=1).

  squeezebench virtual start [--count N] [--profile NAME] [--port P] [--capture DIR]
  squeezebench virtual list [--json]      (OWNER: the run that started a device, '-' if by hand)
  squeezebench virtual stop [--all | SERIAL...] [--delete]

`stop` keeps a device's /data (start one on the same --port to get it back); `stop --delete`
removes it. `--capture DIR` makes the device answer as a captured phone (made by 'squeezebench
capture', see docs/captures.md): its properties, dumpsys texts and /sys, its adb features;
what the capture lacks is simulated from the profile, and `virtual list` says which parts."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    start = actions.add_parser("start", help="start virtual devices and register them with the adb server")
    start.add_argument("--count", type=int, default=1, help="how many devices (default 1)")
    start.add_argument("--profile", default="virtual-default",
                       help="a virtual profile from device_profiles/ or a path to one (default virtual-default)")
    start.add_argument("--port", type=int, help="first port (default: the first free from 6520 up)")
    start.add_argument("--adb-server", metavar="HOST:PORT",
                       help="adb server to register with (default: $ANDROID_ADB_SERVER_PORT or 5037 on 127.0.0.1)")
    start.add_argument("--unauthorized", action="store_true",
                       help="emulate a device that never accepts this computer's key (stays 'unauthorized')")
    start.add_argument("--storage-mb", type=int, metavar="N",
                       help="make /data full past N MB: pushes beyond it fail as on a full phone")
    start.add_argument("--capture", metavar="DIR",
                       help="answer as this captured phone (a directory made by 'squeezebench capture')")
    listing = actions.add_parser("list", help="list running virtual devices")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    stop = actions.add_parser("stop", help="stop virtual devices (their /data is kept unless --delete)")
    stop.add_argument("serials", nargs="*", metavar="SERIAL", help="e.g. 127.0.0.1:6520 (or just 6520)")
    stop.add_argument("--all", action="store_true", help="stop every running virtual device")
    stop.add_argument("--delete", action="store_true", help="also delete the devices' /data")


def run(args) -> int:
    from harness.errors import UsageError

    if args.action == "start":
        return _start(args)
    if args.action == "list":
        return _list(args)
    if args.action == "stop":
        return _stop(args)
    raise UsageError("squeezebench virtual: say what to do", "use start, list or stop; see 'squeezebench virtual --help'")


def _start(args) -> int:
    from harness.device.adb import AdbServerAddress
    from harness.virtual import fleet

    devices = fleet.start(
        args.count, args.profile,
        adb_server=AdbServerAddress.from_environment(args.adb_server),
        port=args.port, unauthorized=args.unauthorized, storage_mb=args.storage_mb, capture=args.capture,
    )
    for device in devices:
        print(f"{device.serial}\t{device.profile}\t{'unauthorized' if device.unauthorized else 'device'}"
              f"\tadb server {device.adb_server}\t{device.state_dir}")
        if device.capture:
            print(f"  answers as {device.capture}; simulated: {', '.join(device.simulated) or 'nothing'}")
    return 0


def _list(args) -> int:
    from harness.virtual import fleet

    devices = fleet.list_running()
    if args.json:
        print(json.dumps([_as_json(d) for d in devices], indent=2))
        return 0
    if not devices:
        print("no virtual devices are running (start one with 'squeezebench virtual start')")
        return 0
    print(f"{'SERIAL':<18} {'PROFILE':<20} {'PID':>7}  ADB SERVER       {'OWNER':<24} STATE DIR")
    for d in devices:
        print(f"{d.serial:<18} {d.profile:<20} {d.pid:>7}  {str(d.adb_server):<16} {_owner_text(d):<24} {d.state_dir}")
        if d.capture:
            print(f"  answers as capture {d.capture}; simulated: {', '.join(d.simulated) or 'nothing'}")
    return 0


def _as_json(device) -> dict:
    return {
        "serial": device.serial, "port": device.port, "pid": device.pid, "profile": device.profile,
        "adb_server": str(device.adb_server), "state_dir": str(device.state_dir),
        "unauthorized": device.unauthorized, "storage_mb": device.storage_mb,
        "started_at": device.started_at, "capture": device.capture, "parts": device.parts,
        "simulated": device.simulated, "owner": _owner_json(device),
    }


def _owner_json(device) -> dict | None:
    from harness.virtual import fleet

    owner = fleet.owner_of(device)
    if owner is None:
        return None
    return {"run_id": owner.run_id, "run_dir": owner.run_dir, "pid": owner.pid, "alive": owner.is_alive()}


def _owner_text(device) -> str:
    """Which run the device belongs to: '-' when started by hand; a gone run's device stops itself."""
    owner = _owner_json(device)
    if owner is None:
        return "-"
    return f"run {owner['run_id']}" + ("" if owner["alive"] else " (gone)")


def _stop(args) -> int:
    from harness.errors import UsageError
    from harness.virtual import fleet

    if args.all == bool(args.serials):
        raise UsageError("virtual stop: name devices or pass --all (not both)",
                         "e.g. 'squeezebench virtual stop 127.0.0.1:6520' or 'virtual stop --all'")
    if args.all:
        stopped = [d.serial for d in fleet.stop_all(delete=args.delete)]
    else:
        for serial in args.serials:
            fleet.stop(serial, delete=args.delete)
        stopped = list(args.serials)
    verb = "stopped and deleted" if args.delete else "stopped"
    for serial in stopped:
        print(f"{verb} {serial}")
    if not stopped:
        print("no virtual devices were running")
    return 0
