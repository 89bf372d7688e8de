"""Options shared by several verbs, defined once so they read and behave the same everywhere."""

from __future__ import annotations

import argparse
import json
import sys

from harness.errors import UsageError


def add_adb_server_option(parser: argparse.ArgumentParser, *, repeatable: bool = False) -> None:
    help_text = (
        "adb server to use (default: $ADB_SERVER_SOCKET, $ANDROID_ADB_SERVER_PORT, or 127.0.0.1:5037); "
        "a remote host's server reaches the devices attached there"
    )
    if repeatable:
        parser.add_argument(
            "--adb-server", metavar="HOST:PORT", action="append", default=[],
            help=help_text + "; repeat to sweep devices of several hosts in one run",
        )  # fmt: skip
    else:
        parser.add_argument("--adb-server", metavar="HOST:PORT", help=help_text)


def the_one_device(adb_server: str | None, serial: str | None):
    """(server, serial) of the device a one-device verb works on: `--device`, else the only one
    connected; refused in one line when there is none or more than one."""
    from harness.device import adb, discovery

    server = adb.AdbServerAddress.from_environment(adb_server)
    adb.ensure_server(server)
    refs = discovery.select_devices([server], [serial] if serial else None)
    if not refs:
        raise UsageError("no device connected", "plug in a phone, or start one with 'squeezebench virtual start'")
    if len(refs) > 1:
        raise UsageError(f"{len(refs)} devices connected ({', '.join(r.key for r in refs)})", "pick one with --device SERIAL")
    return server, refs[0].serial


def add_measurement_options(parser: argparse.ArgumentParser) -> None:
    """How each benchmark is run; the same for `bench` and `run`. Every dest is a field of
    harness.bench.settings.Measurement, which `Measurement.from_options(args)` reads."""
    group = parser.add_argument_group("measurement")
    group.add_argument("--runs", type=positive_int, default=50, help="measured iterations, at least (default 50)")
    group.add_argument("--warmup-runs", type=non_negative_int, default=1, help="warm-up iterations (default 1)")
    group.add_argument("--min-secs", type=non_negative_float, default=3.0, help="measure for at least this long (default 3: what a battery gauge needs for energy)")
    group.add_argument("--max-secs", type=positive_float, default=150.0, help="stop a phase after this long (default 150)")
    group.add_argument(
        "--cooldown",
        dest="cooldown_s",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long for thermal status 0 and a cool battery before each benchmark (default: don't wait, flag)",
    )
    group.add_argument("--cooldown-temp", dest="cooldown_temp_c", type=non_negative_float, default=35.0, metavar="CELSIUS", help="battery temperature counted as cool (default 35)")
    group.add_argument("--taskset", metavar="MASK", help="pin the runner to a hex core mask, or 'big' for the profile's big cores")
    group.add_argument(
        "--no-suspend-charging",
        dest="suspend_charging",
        action="store_false",
        help="leave charging on during runs (energy numbers are then marked invalid)",
    )
    group.add_argument("--timeout", dest="timeout_s", type=positive_float, metavar="SECONDS", help="kill a runner after this long (default: derived from --max-secs)")
    group.add_argument("--no-energy", dest="energy", action="store_false",
                       help="measure no energy: leave charging as it is and take no idle baseline (quicker; the energy "
                       "then says 'not measured')")
    group.add_argument("--idle-baseline", dest="idle_baseline_s", type=non_negative_float, default=3.0, metavar="SECONDS", help="idle power baseline before each run (default 3)")
    group.add_argument("--runner-arg", dest="runner_args", action="append", default=[], metavar="ARG", help="extra benchmark_model flag, repeatable (e.g. --runner-arg=--use_xnnpack=false)")
    group.add_argument(
        "--peak-memory", action="store_true",
        help="measure peak memory (CPU-side RSS) in a second pass of its own: its polling thread can affect timing",
    )
    add_deeper_measurement_options(parser)


def add_deeper_measurement_options(parser: argparse.ArgumentParser) -> None:
    """The extra passes and modes of a benchmark (issue 14); Measurement fields as well."""
    from harness.bench.presets import preset_help
    from harness.bench.settings import DEFAULT_CHECK_SAMPLES, DEFAULT_SUSTAINED_INTERVAL_S

    group = parser.add_argument_group("deeper measurements")
    group.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                       help="run the benchmark in N fresh runner processes (default 1); the spread of their medians is "
                       "the between-run noise that 'compare' judges changes against")
    group.add_argument("--sustained", dest="sustained_s", type=duration_s, default=0.0, metavar="DURATION",
                       help="run the model continuously for DURATION (e.g. 3m, 90s, 1h) in back-to-back intervals, "
                       "recording latency, temperatures, clocks and battery per interval and when throttling began")
    group.add_argument("--sustained-interval", dest="sustained_interval_s", type=duration_s,
                       default=DEFAULT_SUSTAINED_INTERVAL_S, metavar="DURATION",
                       help=f"length of one sustained interval (default {DEFAULT_SUSTAINED_INTERVAL_S:g}s)")
    group.add_argument("--op-profile", action="store_true",
                       help="also run the runner with --enable_op_profiling=true, in a pass of its own (its latency is "
                       "not the cell's): time per node type and which ops ran in a delegate")
    group.add_argument("--check-outputs", action=argparse.BooleanOptionalAction, default=None,
                       help="compute real inputs on the device and compare the outputs with the host (same level and fp32): "
                       "top-1 agreement, errors, accuracy, the numerics flag (run: on when the model has evaluation "
                       "data; bench: with --inputs)")
    group.add_argument("--check-samples", type=positive_int, default=DEFAULT_CHECK_SAMPLES, metavar="N",
                       help=f"inputs checked on the device (default {DEFAULT_CHECK_SAMPLES})")
    group.add_argument("--recheck-outputs", action="store_true",
                       help="compute the checked outputs on the device again, even when a check of the same device "
                       "build, runner, file, flags and inputs computed them before (default: compare those again, "
                       "and say when they were computed)")
    group.add_argument("--preset", metavar="NAME", help=f"validity preset: {preset_help()}")


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors (and, with --json, the JSON)")


def _typed(convert, test, what):
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


_DURATION_UNITS_S = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    text = text.strip().lower()
    scale = _DURATION_UNITS_S.get(text[-1:], None)
    return float(text[:-1]) * scale if scale else float(text)


duration_s = _typed(_duration, lambda v: v >= 0, "a duration such as 3m, 90s, 1h or 180 (seconds)")
positive_int = _typed(int, lambda v: v > 0, "a positive integer")
non_negative_int = _typed(int, lambda v: v >= 0, "a non-negative integer")
positive_float = _typed(float, lambda v: v > 0, "a positive number")
non_negative_float = _typed(float, lambda v: v >= 0, "a non-negative number")


def csv_list(text: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"empty list {text!r}")
    return items


def int_list(text: str, option: str) -> list[int]:
    try:
        values = [int(item) for item in csv_list(text)]
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a comma-separated list of integers", f"e.g. {option} 1,4") from None
    if any(v < 1 for v in values):
        raise UsageError(f"{option} values must be at least 1")
    return values


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def say(args, text: str = "") -> None:
    """Human output, silenced by --quiet and moved to stderr under --json (stdout is the JSON)."""
    if getattr(args, "quiet", False):
        return
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    print(text, file=stream, flush=True)
