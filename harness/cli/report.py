"""squeezebench report: tables, plots and exports from run directories (never from devices)."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import ExitCode, UsageError

HELP = "tables and plots from run directories: Markdown, CSV, JSON and a self-contained HTML page"
DESCRIPTION = (
    "Read run directories (results/<run-id>) and write, per model and device, one row per "
    "compression level (size, accuracy or fidelity, latency with spread and CI, speedup, memory, "
    "energy with its method, delegation, status and flags), a cross-device table and plots. "
    "By default every format goes to RUN_DIR/report/ (report.md + plots/, cells.csv, report.json, "
    "report.html). With one --format and no --out, that format is printed to stdout, e.g. "
    "'squeezebench report results/a results/b --format md > table.md'."
)


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directory (or run id under ./results)")
    parser.add_argument(
        "--format",
        default="all",
        metavar="FORMAT",
        help="md, csv, json, html, a comma-separated list, or all (default all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="directory to write into (default RUN_DIR/report; required for several runs)",
    )
    parser.add_argument(
        "--baseline-device",
        metavar="SERIAL",
        help="device the cross-device table is relative to: serial, identity or name (default: the first device)",
    )


def run(args) -> int:
    from harness.report.build import ReportOptions, parse_formats, render, write_report
    from harness.report.load import load_results
    from harness.report.tables import resolve_baseline

    formats = parse_formats(args.format)
    results = load_results(args.runs)
    resolve_baseline(results.frame(), args.baseline_device)  # an unknown device fails before any work
    options = ReportOptions(baseline_device=args.baseline_device)
    if args.out is None and len(formats) == 1 and args.format != "all":
        sys.stdout.write(render(results, formats[0], options))
        return int(ExitCode.OK)
    out_dir = args.out or _default_out_dir(results)
    written = write_report(results, out_dir, formats, options)
    top_level = [path.name for path in written if path.parent == Path(out_dir)]
    plots = len(written) - len(top_level)
    print(f"wrote {len(written)} files to {out_dir}: {', '.join(top_level)}" + (f" and {plots} plot(s)" if plots else ""))
    return int(ExitCode.OK)


def _default_out_dir(results) -> Path:
    if len(results.stores) != 1:
        raise UsageError(
            "a report over several runs needs a place to go", "add --out DIR, or give one --format to print it"
        )
    return results.stores[0].root / "report"
