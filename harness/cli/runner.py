"""squeezebench runner: register the official benchmark_model binaries used on real devices."""

from __future__ import annotations

from pathlib import Path

from harness.cli.common import print_json, say
from harness.errors import ExitCode

HELP = "download, register or list benchmark_model runner binaries (one per device ABI)"
DESCRIPTION = (
    "Real phones and emulators run Google's prebuilt benchmark_model for their ABI. 'runner fetch "
    "--abi ABI' downloads the official build (--base-url: a mirror holding the same file names) "
    "and registers it; 'runner add PATH --abi ABI' registers one you have. Either checks the ELF "
    "header against the ABI and records the sha256 and the date. Or set "
    "SQUEEZEBENCH_BENCHMARK_MODEL_<ABI>, or drop it into <cache>/runners/<abi>/benchmark_model. "
    "Virtual devices use the bundled LiteRT runner."
)
ABIS = ["arm64-v8a", "armeabi-v7a", "x86_64", "x86"]


def add_arguments(parser):
    sub = parser.add_subparsers(dest="runner_command", metavar="ACTION", required=True, parser_class=type(parser))
    add = sub.add_parser("add", help="register a benchmark_model binary for an ABI")
    add.add_argument("path", type=Path)
    add.add_argument("--abi", required=True, choices=ABIS)
    fetch = sub.add_parser("fetch", help="download Google's official benchmark_model for an ABI and register it")
    fetch.add_argument("--abi", default="arm64-v8a", choices=ABIS, help="default arm64-v8a (most phones)")
    fetch.add_argument("--base-url", metavar="URL", help="a mirror of the official download directory")
    listing = sub.add_parser("list", help="show the runner each ABI would use")
    listing.add_argument("--json", action="store_true")


def run(args) -> int:
    from harness.device import runner_binaries

    if args.runner_command == "add":
        binary = runner_binaries.register_runner(args.path, args.abi)
        say(args, f"registered {args.path} for {args.abi}: sha256 {binary.sha256} (copied to {binary.path})")
        return ExitCode.OK
    if args.runner_command == "fetch":
        url = runner_binaries.official_url(args.abi, args.base_url)
        say(args, f"downloading {url}")
        binary = runner_binaries.fetch_official_runner(args.abi, args.base_url)
        say(args, f"registered the official runner for {args.abi}: sha256 {binary.sha256} ({binary.path})")
        return ExitCode.OK
    rows = []
    for abi in runner_binaries.ABI_ELF:
        try:
            binary = runner_binaries.find_official_runner(abi)
            rows.append({"abi": abi, "source": binary.source, "path": str(binary.path), "sha256": binary.sha256})
        except Exception as e:  # noqa: BLE001 - every lookup failure is shown as that ABI's state
            rows.append({"abi": abi, "source": None, "path": None, "sha256": None, "missing": str(e)})
    bundled = runner_binaries.bundled_runner()
    rows.append({"abi": "virtual devices", "source": "bundled", "path": str(bundled.path), "sha256": bundled.sha256})
    if args.json:
        print_json(rows)
        return ExitCode.OK
    for row in rows:
        where = f"{row['source']}: {row['path']} (sha256 {row['sha256'][:12]})" if row["source"] else "missing - " + runner_binaries.official_download_hint(row["abi"])
        say(args, f"{row['abi']:<16} {where}")
    return ExitCode.OK
