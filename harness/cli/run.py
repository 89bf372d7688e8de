"""squeezebench run: the main job. Models x levels x devices x settings, into a results store."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.common import (
    add_adb_server_option,
    add_measurement_options,
    add_output_options,
    csv_list,
    int_list,
    non_negative_float,
    print_json,
    say,
)
from harness.errors import UsageError
from harness.sweep.spec import (
    BATTERY_FLOOR_MARGIN_PCT, DEFAULT_BATTERY_FLOOR_PCT, DEFAULT_IDLE_BASELINE_REUSE_S, DEFAULT_RECOVER_WAIT_S,
)

HELP = "sweep models x compression levels x devices x settings; resumable; ends in a summary table"
DESCRIPTION = (
    "Convert each model at every requested level (cached), push each variant once per device, "
    "benchmark every cell on every device in parallel (one benchmark at a time per device), and "
    "record everything in results/<run-id>/run.json, rewritten after every cell. With no device "
    "connected, a virtual device is started for the run (its results are marked virtual)."
)

# The options that still mean something with --resume; every other one defines the sweep, which
# --resume takes from the interrupted run.
_RESUME_OPTIONS = ("resume", "results", "report", "json", "quiet")


def add_arguments(parser):
    parser.add_argument("models", nargs="*", metavar="MODEL", help="zoo name (digits-cnn, mobilenet_v2, ...), .keras, .h5, SavedModel dir or .tflite")
    parser.add_argument("--levels", help="comma-separated levels, or 'all' (default all)")
    parser.add_argument("--data", type=Path, help=".npz with calibration/evaluation data (see docs/levels.md)")
    parser.add_argument("--random-calibration", action="store_true", help="calibrate int8 on random data (ruins accuracy; recorded)")
    parser.add_argument("--devices", help="comma-separated serials, SERIAL@HOST:PORT for another host's (default: every connected device)")
    parser.add_argument("--threads", help="comma-separated thread counts (default: each device's profile)")
    parser.add_argument("--delegates", help="comma-separated: cpu (XNNPACK), xnnpack-off, gpu, nnapi; or 'auto' for each device profile's list (default cpu)")
    add_adb_server_option(parser, repeatable=True)
    add_measurement_options(parser)
    parser.add_argument(
        "--idle-baseline-reuse",
        dest="idle_baseline_reuse_s",
        type=non_negative_float,
        default=DEFAULT_IDLE_BASELINE_REUSE_S,
        metavar="SECONDS",
        help="measure a device's idle power baseline once and use it for its later cells (and the next run's) for this long, "
        "while its thermal status and charging state stay the same; each cell's energy says which cell "
        f"measured its baseline (default {DEFAULT_IDLE_BASELINE_REUSE_S:g}; 0: one before every cell)",
    )
    parser.add_argument(
        "--battery-floor",
        dest="battery_floor_pct",
        type=non_negative_float,
        default=DEFAULT_BATTERY_FLOOR_PCT,
        metavar="PERCENT",
        help="a device's queue keeps charging suspended: below this battery level, charging is restored "
        f"until {BATTERY_FLOOR_MARGIN_PCT:g} points above it before the next cell (default {DEFAULT_BATTERY_FLOOR_PCT:g}; 0: never)",
    )
    parser.add_argument("--resume", metavar="RUN", help="finish an interrupted run (its id or directory)")
    parser.add_argument("--results", type=Path, help="results directory (default ./results)")
    parser.add_argument("--virtual-profile", default="virtual-default", help="profile of an auto-started virtual device")
    parser.add_argument("--no-virtual", dest="auto_virtual", action="store_false", help="fail instead of starting a virtual device when none is connected")
    parser.add_argument(
        "--virtual-parallel",
        action="store_true",
        help="let virtual devices on this host measure at the same time (they share its CPUs: latencies interfere)",
    )
    parser.add_argument("--no-report", dest="report", action="store_false", help="skip writing results/<run-id>/report/ at the end")
    parser.add_argument("--device-wait", type=non_negative_float, metavar="SECONDS", help="how long to wait for a device another squeezebench holds (default: as long as it takes)")
    parser.add_argument(
        "--recover-wait",
        type=non_negative_float,
        default=DEFAULT_RECOVER_WAIT_S,
        metavar="SECONDS",
        help=f"how long to wait for a lost device or adb server to come back (a local server is restarted) "
        f"before its remaining cells are marked device-lost for --resume (default {DEFAULT_RECOVER_WAIT_S:g})",
    )
    add_output_options(parser)


def spec_from_args(args):
    from harness.convert.levels import parse_levels
    from harness.bench.settings import Measurement
    from harness.device.profiles import DELEGATES
    from harness.sweep.spec import SweepSpec

    if not args.models:
        raise UsageError("no model given", "e.g. squeezebench run digits-cnn (or --resume RUN)")
    levels = args.levels or "all"
    if levels != "all":
        parse_levels(levels)  # unknown names fail now, not after the conversions
    delegates = tuple(csv_list(args.delegates)) if args.delegates else ("cpu",)
    for delegate in delegates:
        if delegate not in (*DELEGATES, "auto") or (delegate == "auto" and len(delegates) > 1):
            raise UsageError(f"unknown delegate {delegate!r}", f"use 'auto' or some of {', '.join(DELEGATES)}")
    return SweepSpec(
        models=tuple(_model_ref(m) for m in args.models),
        levels=levels,
        data=str(args.data.resolve()) if args.data else None,
        random_calibration=args.random_calibration,
        devices=tuple(csv_list(args.devices)) if args.devices else None,
        threads=tuple(int_list(args.threads, "--threads")) if args.threads else None,
        delegates=delegates,
        measurement=Measurement.from_options(args),
        adb_servers=tuple(args.adb_server),
        virtual_profile=args.virtual_profile,
        virtual_parallel=args.virtual_parallel,
        auto_virtual=args.auto_virtual,
        device_wait_s=args.device_wait,
        recover_wait_s=args.recover_wait,
        idle_baseline_reuse_s=args.idle_baseline_reuse_s,
        battery_floor_pct=args.battery_floor_pct,
    )


def _model_ref(text: str) -> str:
    """Paths are stored absolute so --resume works from another directory; zoo names as they are."""
    path = Path(text)
    return str(path.resolve()) if path.exists() else text


def run(args) -> int:
    from harness.sweep.engine import run_sweep
    from harness.sweep.progress import Reporter

    if args.resume:
        given = options_given_besides(args, _RESUME_OPTIONS)
        if given:
            raise UsageError(
                f"--resume takes the sweep from the interrupted run; drop {', '.join(given)}",
                "or start a new run without --resume",
            )
        spec = None
    else:
        spec = spec_from_args(args)
    reporter = Reporter(quiet=args.quiet)
    outcome = run_sweep(
        spec,
        results_root=args.results,
        command_line=["squeezebench", *sys.argv[1:]],
        resume=args.resume,
        reporter=reporter,
        while_settling=_import_report_modules if args.report else None,
    )
    from harness.report.load import result_set
    from harness.report.summary import summary_text

    document = outcome.store.document
    results = result_set([outcome.store])
    report_dir = write_run_report(results, outcome.store.root) if args.report else None
    if args.json:
        print_json({"run_dir": str(outcome.store.root), "counts": outcome.counts, "run": document})
    else:
        say(args, "\n" + summary_text(results))
        counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts.items()))
        say(args, f"\n{len(document['cells'])} cells: {counts}")
        say(args, f"results: {outcome.store.root}")
        if report_dir:
            say(args, f"report:  {report_dir / 'report.md'} and {report_dir / 'report.html'}")
    return outcome.exit_code


def options_given_besides(args, allowed: tuple[str, ...]) -> list[str]:
    """The options (as typed: --levels, MODEL, ...) set to something other than their default,
    except `allowed`."""
    import argparse

    reference = argparse.ArgumentParser()
    add_arguments(reference)
    defaults = vars(reference.parse_args([]))
    given = []
    for action in reference._actions:  # noqa: SLF001 - argparse has no public list of its options
        if action.dest in allowed or action.dest not in defaults:
            continue
        if getattr(args, action.dest, defaults[action.dest]) != defaults[action.dest]:
            given.append(action.option_strings[-1] if action.option_strings else action.metavar or action.dest)
    return given


def _import_report_modules() -> None:
    from harness.report.build import import_report_modules

    import_report_modules()


def write_run_report(results, run_dir: Path) -> Path:
    """Every run ends in a report (Markdown + plots, CSV, JSON, HTML) beside its results."""
    from harness.report.build import FORMATS, write_report

    out_dir = run_dir / "report"
    write_report(results, out_dir, list(FORMATS))
    return out_dir
