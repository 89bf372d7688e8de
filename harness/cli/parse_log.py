"""squeezebench parse-log: read a benchmark_model output and say what it measured."""

from __future__ import annotations

import json
import sys

from harness.errors import ExitCode, InputError
from harness.units import fmt_ms

HELP = "parse a benchmark_model output (file, logcat dump or '-') into latency, memory, delegation, op profile"
DESCRIPTION = (
    "Parse the output of LiteRT/TFLite benchmark_model (native binary, APK logcat, desktop build, "
    "or squeezebench's bundled runner) and print what it measured: latency and warm-up statistics "
    "in microseconds, init time, memory, model size, delegation (nodes delegated, partitions, silent "
    "CPU fallback, per delegate when several were applied), the op profile of --enable_op_profiling "
    "(time by node type; --json has every table), errors, and whether the run completed. A capture with several runs is read for "
    "the last one. Exits 0 when the run completed, 1 when the output is cut short or the run failed."
)


def add_arguments(parser) -> None:
    parser.add_argument("file", metavar="FILE", help="the runner's output ('-' reads standard input)")
    parser.add_argument("--json", action="store_true", help="print the whole parse as JSON")


def run(args) -> int:
    from harness.bench.logparse import parse_benchmark_log

    parsed = parse_benchmark_log(_read_text(args.file))
    if parsed.runs_in_log == 0 and not _has_any_measurement(parsed):
        raise InputError(
            f"{_display_name(args.file)}: no benchmark_model output found",
            "pass the runner's stdout+stderr, or 'adb logcat -d -s tflite' for the APK",
        )
    if args.json:
        print(json.dumps(parsed.to_dict(), indent=2))
    else:
        print(format_summary(parsed))
    return int(ExitCode.OK if parsed.complete else ExitCode.PARTIAL)


def _display_name(path: str) -> str:
    return "standard input" if path == "-" else path


def _read_text(path: str) -> str:
    try:
        data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file", "check the path") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory", "pass the log file itself") from None
    except OSError as e:
        raise InputError(f"{path}: cannot be read ({e.strerror})", "check its permissions") from None
    # Logs pulled from devices can carry stray bytes; they must not stop the parse.
    return data.decode("utf-8", errors="replace")


def _has_any_measurement(parsed) -> bool:
    return any(
        value is not None
        for value in (
            parsed.latency_us.count, parsed.latency_us.mean, parsed.warmup_us.count, parsed.init_us,
            parsed.model_size_mb, parsed.memory_mb.overall, parsed.delegation.delegate,
        )
    ) or bool(parsed.settings) or parsed.op_profile is not None


# --- the human summary ---------------------------------------------------------------------


def _number(value, unit: str = "") -> str:
    return "-" if value is None else f"{value:g}{unit}"


def _stats_line(stats) -> str:
    if stats.count is None and stats.mean is None:
        return "not in the log"
    parts = [f"n={_number(stats.count)}"]
    parts += [f"{key}={fmt_ms(getattr(stats, key), 3)}" for key in ("median", "mean", "std", "min", "max", "p5", "p95")]
    return "  ".join(parts)


def _delegation_line(name: str | None, delegation) -> str:
    """`delegation`: the top-level Delegation or one DelegateShare (the same fields)."""
    if name is None:
        return "none reported (CPU kernels)"
    text = name
    if delegation.nodes_delegated is not None:
        text += f", {delegation.nodes_delegated}/{delegation.nodes_total} nodes"
    if delegation.partitions is not None:
        text += f", {delegation.partitions} partition(s)"
    if delegation.fallback_to_cpu:
        text += " -- NOT USED: the graph runs on the CPU (silent fallback)"
    elif delegation.fully_delegated is True:
        text += " (whole graph)"
    elif delegation.fully_delegated is False:
        text += " (part of the graph; the rest runs on the CPU)"
    return text


_NODE_TYPES_SHOWN = 8


def _node_type_table(block) -> str:
    """The slowest node types of the measured runs, as the tool's own summary ranks them."""
    from harness.report.page import Cell, Table
    from harness.report.text import table_text

    rows = [[Cell(row.node_type), Cell(_number(row.count), sort=row.count),
             Cell(_number(row.avg_ms), sort=row.avg_ms), Cell(_number(row.percent, "%"), sort=row.percent)]
            for row in block.by_node_type[:_NODE_TYPES_SHOWN]]  # fmt: skip
    hidden = len(block.by_node_type) - len(rows)
    table = table_text(Table("node-types", "", ["node type", "nodes", "ms/run", "share"], rows))
    return table + (f"\n({hidden} more node types in --json)" if hidden > 0 else "")


def _op_profile_text(parsed) -> str | None:
    if parsed.op_profile_unavailable:
        return f"op profile: not available ({parsed.op_profile_unavailable})"
    runs = parsed.op_profile.runs if parsed.op_profile else None
    if runs is None:
        return None
    if not runs.by_node_type:
        return f"op profile: {len(runs.run_order)} nodes in run order, no summary by node type (see --json)"
    return "op profile, time by node type (measured runs):\n" + _node_type_table(runs)


def format_summary(parsed) -> str:
    status = "complete" if parsed.complete else "INCOMPLETE"
    runs = f" (last of {parsed.runs_in_log} runs)" if parsed.runs_in_log > 1 else ""
    settings = parsed.settings
    rows = [
        ("run", f"{status}{runs}"),
        ("runner", parsed.runner_version or "benchmark_model"),
        ("model", f"{settings.get('Graph', '-')} ({_number(parsed.model_size_mb, ' MB')})"),
        ("threads", settings.get("Num threads", "not echoed (the tool's default)")),
        ("init", f"{fmt_ms(parsed.init_us, 3)} ms"),
        ("first run", f"{fmt_ms(parsed.first_inference_us, 3)} ms"),
        ("latency ms", _stats_line(parsed.latency_us)),
        ("warm-up ms", _stats_line(parsed.warmup_us)),
        ("memory MB", f"init={_number(parsed.memory_mb.init)}  overall={_number(parsed.memory_mb.overall)}  "
                      f"peak={_number(parsed.memory_mb.peak)}"),
        ("delegate", _delegation_line(parsed.delegation.delegate, parsed.delegation)),
    ]
    if len(parsed.delegation.by_delegate) > 1:
        rows += [("  each", _delegation_line(name, share)) for name, share in parsed.delegation.by_delegate.items()]
    rows += [("error", error) for error in parsed.errors]
    rows += [("warning", warning) for warning in parsed.warnings]
    text = "\n".join(f"{label + ':':<12} {value}" for label, value in rows)
    profile = _op_profile_text(parsed)
    return text if profile is None else f"{text}\n\n{profile}"

