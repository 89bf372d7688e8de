"""Parse the text output of LiteRT / TFLite `benchmark_model` (and of the bundled runner).

`parse_benchmark_log(text)` accepts every output variant of the tool seen in the wild
(reference: /work/shared/reference/benchmark-model-output.md):

- lines with no prefix, with `INFO: ` / `VERBOSE: ` / `WARN: ` / `ERROR: ` prefixes, with logcat
  prefixes (`07-14 13:14:52.097 22838 22838 I tflite  : `, `I/tflite  (22838): `, Android
  Studio's `2023-04-04 17:24:18.428 19036-19036 tflite   pid-19036   I  `), indented pastes,
  blank lines anywhere;
- the two `Running benchmark for at least ...` phases (the first is warm-up, the second the
  measured runs), with or without the old "but terminate if exceeding" clause;
- stats lines in every form `Stat::OutputToStream` has printed: full, with and without
  `p5=/median=/p95=`, scientific notation, `count=1 curr=X`, `count=7 curr=X(all same)`,
  `count=0`, and very old builds that put `curr=` before `count=`;
- the summary (`Inference timings in us: ...` and the older `Average inference timings in us:`),
  `Initialized session in ...`, model size, the old and new memory lines and the periodic peak;
- delegate lines: `Replacing N out of M node(s) with delegate (X) node, yielding K partitions
  for subgraph S.` in every form printed (no "out of M" in older builds, no partitions clause
  from LiteRT accelerators, "for the whole graph" or no subgraph), fully / partially / not
  executed by the delegate, `... acceleration is unsupported on this platform`, `Failed to apply
  ... delegate`, `Created ... delegate`;
- op-profiling tables (harness/bench/op_profile.py describes every layout): read into
  `op_profile`; nothing inside them is taken for run statistics (their
  `Timings (microseconds): count=...` line in particular);
- errors, and output cut short by a crash: the result then has what was printed before the cut,
  `complete=False` and an error saying so, never a number the log does not contain.

What the result means (`ParsedLog.to_dict()` is what `squeezebench parse-log --json` prints):

- `latency_us` / `warmup_us`: the measured and warm-up runs, keys `count, first, min, max, mean,
  std, median, p5, p95, curr` (µs; `std` is the tool's population standard deviation). A key is
  null when the log does not give it. For a constant series (`count=1 curr=X`,
  `curr=X(all same)`) every statistic is X and `std` is 0, so they are filled in. When the stats
  line is missing but the summary line gives the average, only `mean` is set.
- `init_us`, `first_inference_us`: from the summary line, else from `Initialized session in`
  and the first warm-up run (which is what the tool itself reports as first inference).
- `memory_mb`: `init` and `overall` (getrusage max-RSS deltas of the whole tool, either memory
  line), `peak` (the periodic monitor, only with `--report_peak_memory_footprint`).
- `delegation`: `delegate` (the explicitly applied one, else one that failed to apply, one
  unsupported here, the first that took nodes, the first created), and that delegate's
  `nodes_delegated`/`nodes_total`/`partitions` (from its `Replacing ...` lines, summed over
  subgraphs; partitions also from "w/ N delegate kernels"; null where the log's form does not
  say), `fallback_to_cpu` (True when a requested delegate runs none of the graph: the tool's
  silent fallback), `fully_delegated`. `by_delegate`: the same fields per delegate named in the
  log, plus `outcome` (`full`/`partial`/`none`/`unsupported`/`failed`/null): with two delegates
  applied one after the other (GPU, then XNNPACK on what is left) each keeps its own share and
  its own fallback.
- `op_profile`: null, or `{"init": block|null, "runs": block|null}`, the tool's profile of its
  initialization and of its regular runs. A block: `run_order`, `top_by_time`, `top_by_memory`
  (rows `{node_type, name, first_ms, avg_ms, percent, cdf_percent, mem_kb, times_called,
  start_ms}`, `start_ms` null in builds without that column), `by_node_type` (rows `{node_type,
  count, avg_ms, percent, cdf_percent, mem_kb, times_called}`: `count` nodes of that type taking
  `avg_ms` per run together), `nodes_executed`, `nodes_observed`, `timings_us` and
  `memory_bytes` (the profiler's per-run totals, stats keys as `latency_us`), `subgraphs` (index
  -> block, for models whose other subgraphs ran) and `delegate_internal` (a block, for
  delegates that profile their own operators that way). Tables the log does not have are [].
- `op_profile_unavailable`: why a run asked for an op profile (`Enable op profiling: [1]`) has
  none: the bundled runner's `op profiling is not available ...` line, or a cut output.
- `errors`: error messages the tool printed, then the parser's own findings (cut output, a
  stats line it could not read). `warnings`: the tool's warnings.
- `complete`: the log reached the end of the measured run (its stats line or the summary).
- `settings`: the echoed parameters (`Num threads: [4]` -> `{"Num threads": "4"}`).
- `runner_version`: set when the squeezebench bundled runner printed its version line.
- `runs_in_log`: a capture holding several runs (e.g. a logcat dump) is parsed for the LAST run,
  which is the one just launched; this says how many were found.

Pass the raw output: a last line without a newline is taken to be cut off by a crash.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from harness.bench.op_profile import NUMBER, OpProfile, ProfileReader
from harness.bench.delegation_log import DelegationLines
from harness.store.records import Delegation, MemoryMB, RunStats

RUNNER_VERSION_RE = re.compile(r"\bsqueezebench-litert-runner \S+ \(LiteRT [^)]*\)")

# --- line prefixes -------------------------------------------------------------------------

_LOGCAT_THREADTIME = re.compile(
    r"^\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+(?P<level>[VDIWEF])\s+(?P<tag>[^:]*?)\s*:\s?"
)
_LOGCAT_STUDIO = re.compile(
    r"^\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+-\d+\s+(?P<tag>\S+)\s+\S+\s+(?P<level>[VDIWEF])\s{1,2}"
)
_LOGCAT_BRIEF = re.compile(r"^(?P<level>[VDIWEF])/(?P<tag>[^(\s]+)\s*\(\s*\d+\):\s?")
_LEVEL_PREFIX = re.compile(r"^(?P<level>INFO|VERBOSE|DEBUG|WARN|WARNING|ERROR|FATAL): ?")

_LOGCAT_LEVELS = {"V": "VERBOSE", "D": "DEBUG", "I": "INFO", "W": "WARN", "E": "ERROR", "F": "FATAL"}
_ERROR_LEVELS = {"ERROR", "FATAL"}
# Logcat tags whose lines belong to a benchmark run: the tool's own, and crash reports.
_RELEVANT_TAG = re.compile(r"^(tflite\w*|AndroidRuntime|libc|DEBUG)$")

# Old builds printed TFLITE_LOG(ERROR) without a prefix; these are the messages they used.
_UNPREFIXED_ERROR = re.compile(
    r"^(Failed to |Benchmarking failed|nnapi error|Disallowed CPU fallback|"
    r"Please specify the name of your TF Lite input file|Segmentation fault|Aborted|"
    r"Fatal signal|Could not |Unable to |Error |Invalid )"
)

# --- benchmark events --------------------------------------------------------------------

_PHASE_HEADER = re.compile(r"^Running benchmark for (?:at least )?\d+ iterations")
_STATS_START = re.compile(r"^(count|curr)=")
_STATS_TOKEN = re.compile(r"^(?P<key>[a-z0-9]+)=(?P<value>\S+)$")
_ALL_SAME = "(all same)"

_SUMMARY_NEW = re.compile(r"^Inference timings in us: (?P<pairs>.*)$")
_SUMMARY_OLD = re.compile(r"^Average inference timings in us: (?P<pairs>.*)$")
_SUMMARY_PAIR = re.compile(rf"(?P<key>[^:,]+?):\s*(?P<value>{NUMBER})")
_INIT_SESSION = re.compile(rf"^Initialized session in (?P<ms>{NUMBER}) ?ms\.?$")
_MODEL_SIZE = re.compile(rf"^The input model file size \(MB\): (?P<mb>{NUMBER})$")
_MEMORY_DELTA = re.compile(
    rf"^(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): "
    rf"init=(?P<init>{NUMBER}) overall=(?P<overall>{NUMBER})$"
)
_MEMORY_PEAK = re.compile(
    rf"^Overall peak memory footprint \(MB\) via periodic monitoring: (?P<peak>{NUMBER})$"
)

_SETTING = re.compile(r"^(?P<key>[^\[\]:]+?)\s*:\s*\[(?P<value>[^\]]*)\]$")

# The bundled runner's line when it cannot profile operators (see its docstring).
_OP_PROFILE_UNAVAILABLE = re.compile(r"^op profiling is not available\b.*$")
_RUN_MARKERS = (
    re.compile(r"^STARTING!$"),
    re.compile(r"^Running TensorFlow Lite benchmark with args:"),
    re.compile(r"^Log parameter values verbosely:"),
)

CUT_OUTPUT_ERROR = (
    "the output ends before the end of the measured run and shows no error: "
    "the runner crashed, hung or its output was cut off"
)


# --- the result ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ParsedLog:
    latency_us: RunStats
    warmup_us: RunStats
    init_us: float | None
    first_inference_us: float | None
    memory_mb: MemoryMB
    model_size_mb: float | None
    delegation: Delegation
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    complete: bool
    runner_version: str | None
    settings: Mapping[str, str]
    runs_in_log: int
    op_profile: OpProfile | None = None
    op_profile_unavailable: str | None = None

    def to_dict(self) -> dict:
        return {
            "latency_us": self.latency_us.to_dict(),
            "warmup_us": self.warmup_us.to_dict(),
            "init_us": self.init_us,
            "first_inference_us": self.first_inference_us,
            "memory_mb": self.memory_mb.to_dict(),
            "model_size_mb": self.model_size_mb,
            "delegation": self.delegation.to_dict(),
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "complete": self.complete,
            "runner_version": self.runner_version,
            "settings": dict(self.settings),
            "runs_in_log": self.runs_in_log,
            "op_profile": self.op_profile.to_dict() if self.op_profile else None,
            "op_profile_unavailable": self.op_profile_unavailable,
        }


# --- lines -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Line:
    level: str | None  # INFO, WARN, ERROR, ... when a prefix said so
    message: str


def _split_prefix(raw: str) -> _Line | None:
    """The message and its severity; None for logcat lines of unrelated tags."""
    text = raw.strip()
    level = None
    for pattern in (_LOGCAT_THREADTIME, _LOGCAT_STUDIO, _LOGCAT_BRIEF):
        match = pattern.match(text)
        if match:
            if not _RELEVANT_TAG.match(match["tag"].strip()):
                return None
            level = _LOGCAT_LEVELS[match["level"]]
            text = text[match.end():].strip()
            break
    match = _LEVEL_PREFIX.match(text)
    if match:
        level = "WARN" if match["level"] == "WARNING" else match["level"]
        text = text[match.end():].strip()
    return _Line(level, text)


def _lines(text: str) -> tuple[list[_Line], str | None]:
    """Prefix-free lines, and the last line if the output stops in the middle of it."""
    raw_lines = text.splitlines()
    cut_line = None
    if raw_lines and not text.endswith(("\n", "\r")) and raw_lines[-1].strip():
        cut_line = raw_lines.pop().strip()
    lines = [line for line in map(_split_prefix, raw_lines) if line is not None and line.message]
    return lines, cut_line


def _split_runs(lines: list[_Line]) -> list[list[_Line]]:
    """Separate runs. The markers come in order (STARTING!, the APK's args line, the first echoed
    parameter) with flag warnings and the like between them: a marker opens a new run when the
    current run already had that marker or a later one, or when the current run has no marker
    but some text (the end of an earlier run, a shell prompt)."""
    runs: list[list[_Line]] = [[]]
    seen_markers: set[int] = set()
    has_text = False
    for line in lines:
        marker = next((i for i, p in enumerate(_RUN_MARKERS) if p.match(line.message)), None)
        if marker is not None:
            if any(seen >= marker for seen in seen_markers) or (not seen_markers and has_text):
                runs.append([])
                seen_markers, has_text = set(), False
            seen_markers.add(marker)
        else:
            has_text = True
        runs[-1].append(line)
    return [run for run in runs if run] or [[]]


# --- numbers -----------------------------------------------------------------------------


def _number(token: str) -> float | int | None:
    """Default ostream formatting: integers stay ints, `2.95034e+06` becomes a float."""
    if re.fullmatch(r"[-+]?\d+", token):
        return int(token)
    value = float(token)
    return value if math.isfinite(value) else None


def _ms_to_us(ms: float) -> float:
    return round(ms * 1000, 3)


# --- stats lines -------------------------------------------------------------------------

_PERCENTILE_KEYS = {"p5", "median", "p95"}
_FULL_KEYS = {"count", "first", "curr", "min", "max", "avg", "std"}


def _parse_stats(message: str) -> RunStats | None:
    """One `Stat::OutputToStream` line; None if it is incomplete or not one."""
    all_same = _ALL_SAME in message
    values: dict[str, Any] = {}
    for token in message.replace(_ALL_SAME, " ").split():
        match = _STATS_TOKEN.match(token)
        if not match or match["key"] in values:
            return None
        try:
            values[match["key"]] = _number(match["value"])
        except ValueError:
            return None
    keys = set(values)
    percentiles = keys & _PERCENTILE_KEYS
    if percentiles and percentiles != _PERCENTILE_KEYS:
        return None
    base = keys - _PERCENTILE_KEYS
    count = values.get("count")
    if not isinstance(count, int):
        return None
    if base == {"count"} and count == 0:
        return RunStats(count=0)
    if base == {"count", "curr"} and count >= 1:
        # A constant series: the tool prints only curr, and every statistic equals it.
        curr = values["curr"]
        return RunStats(count=count, first=curr, min=curr, max=curr, mean=curr, std=0,
                        median=curr, p5=curr, p95=curr, curr=curr)
    if base == _FULL_KEYS and not all_same:
        return RunStats(
            count=count, first=values["first"], min=values["min"], max=values["max"],
            mean=values["avg"], std=values["std"], median=values.get("median"),
            p5=values.get("p5"), p95=values.get("p95"), curr=values["curr"],
        )
    return None


# --- the parse of one run ----------------------------------------------------------------


@dataclasses.dataclass
class _Phase:
    stats: RunStats | None = None


@dataclasses.dataclass
class _RunState:
    phases: list[_Phase] = dataclasses.field(default_factory=list)
    headless_stats: list[RunStats] = dataclasses.field(default_factory=list)
    in_profiler: bool = False
    summary: dict[str, float] = dataclasses.field(default_factory=dict)
    summary_seen: bool = False
    session_init_ms: float | None = None
    model_size_mb: float | None = None
    memory: dict[str, float | None] = dataclasses.field(default_factory=dict)
    delegation: DelegationLines = dataclasses.field(default_factory=DelegationLines)
    profile: ProfileReader = dataclasses.field(default_factory=lambda: ProfileReader(_parse_stats))
    op_profile_unavailable: str | None = None
    settings: dict[str, str] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)
    runner_version: str | None = None


def _handle_stats(state: _RunState, message: str) -> None:
    stats = _parse_stats(message)
    if stats is None:
        state.errors.append(f"unreadable stats line (ignored): {message}")
        return
    if not state.phases:
        state.headless_stats.append(stats)
    elif state.phases[-1].stats is None:
        state.phases[-1].stats = stats


def _handle_summary(state: _RunState, pairs: str, *, old_format: bool) -> None:
    state.summary_seen = True
    for match in _SUMMARY_PAIR.finditer(pairs):
        key, value = match["key"].strip(), _number(match["value"])
        if key == "Init":
            state.summary["init"] = value
        elif key == "First inference":
            state.summary["first"] = value
        elif key in ("Warmup (avg)", "Warmup"):
            state.summary["warmup_mean"] = value
        elif key in ("Inference (avg)", "Inference") or old_format:
            # Old builds labelled the measured average with the benchmark name ("no stats").
            state.summary["mean"] = value


def _handle_line(state: _RunState, line: _Line) -> None:
    message = line.message
    if line.level in _ERROR_LEVELS or (line.level is None and _UNPREFIXED_ERROR.match(message)):
        state.errors.append(message)
    elif line.level == "WARN":
        state.warnings.append(message)

    if _PHASE_HEADER.match(message):
        state.phases.append(_Phase())
        state.profile.pause()
    elif state.profile.feed(message):
        pass
    elif _STATS_START.match(message):
        # Inside the op profile a stats line is the profiler's, never the run's.
        if not state.profile.active:
            _handle_stats(state, message)
    elif _OP_PROFILE_UNAVAILABLE.match(message):
        state.op_profile_unavailable = message
    elif match := _SUMMARY_NEW.match(message):
        _handle_summary(state, match["pairs"], old_format=False)
    elif match := _SUMMARY_OLD.match(message):
        _handle_summary(state, match["pairs"], old_format=True)
    elif match := _INIT_SESSION.match(message):
        state.session_init_ms = _number(match["ms"])
    elif match := _MODEL_SIZE.match(message):
        state.model_size_mb = _number(match["mb"])
    elif match := _MEMORY_DELTA.match(message):
        state.memory["init"], state.memory["overall"] = _number(match["init"]), _number(match["overall"])
    elif match := _MEMORY_PEAK.match(message):
        state.memory["peak"] = _number(match["peak"])
    elif state.delegation.feed(message):
        pass
    elif match := _SETTING.match(message):
        state.settings[match["key"].strip()] = match["value"]
    elif match := RUNNER_VERSION_RE.search(message):
        state.runner_version = match[0]


# --- assembling the result ---------------------------------------------------------------


def _phase_stats(state: _RunState) -> tuple[RunStats | None, RunStats | None]:
    """(warm-up, measured). Trimmed pastes may lack the phase headers: then the last stats
    line is the measured one and the one before it the warm-up."""
    if state.phases:
        warmup = state.phases[0].stats
        measured = state.phases[1].stats if len(state.phases) > 1 else None
        if len(state.phases) > 2:
            state.warnings.append(f"{len(state.phases)} benchmark phases in one run; the first two were used")
        return warmup, measured
    headless = state.headless_stats
    if not headless:
        return None, None
    return (headless[-2] if len(headless) > 1 else None), headless[-1]


def _with_summary_mean(stats: RunStats | None, mean: float | None) -> RunStats:
    if stats is not None:
        return stats
    return RunStats(mean=mean) if mean is not None else RunStats()


def _parse_run(lines: Iterable[_Line], cut_line: str | None, runs_in_log: int) -> ParsedLog:
    state = _RunState()
    for line in lines:
        _handle_line(state, line)
    warmup, measured = _phase_stats(state)
    complete = measured is not None or state.summary_seen
    errors = list(state.errors) + state.profile.problems
    if cut_line is not None:
        errors.append(f"the output stops in the middle of a line (ignored): {cut_line}")
    if not complete and not errors:
        errors.append(CUT_OUTPUT_ERROR)

    init_us = state.summary.get("init")
    if init_us is None and state.session_init_ms is not None:
        init_us = _ms_to_us(state.session_init_ms)
    first_us = state.summary.get("first")
    if first_us is None and warmup is not None:
        first_us = warmup.first

    return ParsedLog(
        latency_us=_with_summary_mean(measured, state.summary.get("mean")),
        warmup_us=_with_summary_mean(warmup, state.summary.get("warmup_mean")),
        init_us=init_us,
        first_inference_us=first_us,
        memory_mb=MemoryMB(**state.memory),
        model_size_mb=state.model_size_mb,
        delegation=state.delegation.result(),
        errors=tuple(errors),
        warnings=tuple(state.warnings),
        complete=complete,
        runner_version=state.runner_version,
        settings=MappingProxyType(dict(state.settings)),
        runs_in_log=runs_in_log,
        op_profile=(op_profile := state.profile.result()),
        op_profile_unavailable=_op_profile_unavailable(state, op_profile, complete),
    )


def _op_profile_unavailable(state: _RunState, op_profile: OpProfile | None, complete: bool) -> str | None:
    """Why a run that was asked for an op profile has none."""
    if op_profile is not None:
        return None
    if state.op_profile_unavailable:
        return state.op_profile_unavailable
    if state.settings.get("Enable op profiling") not in ("1", "true"):
        return None
    if not complete:
        return "the run did not finish, and the tool prints its op profile at the end"
    if state.profile.started:
        return "the output stops right after the op profile's header: it was cut"
    return "op profiling was enabled, but the output holds no op profile tables (printed last: was it cut?)"


def _is_benchmark_run(run: list[_Line]) -> bool:
    """Whether a stretch of lines is a run, not a shell prompt or other text around one."""
    return any(
        _PHASE_HEADER.match(line.message)
        or _STATS_START.match(line.message)
        or _SUMMARY_NEW.match(line.message)
        or _SUMMARY_OLD.match(line.message)
        or any(marker.match(line.message) for marker in _RUN_MARKERS)
        for line in run
    )


def parse_benchmark_log(text: str) -> ParsedLog:
    """Parse `benchmark_model` output (raw, as printed); see the module docstring."""
    lines, cut_line = _lines(text)
    runs = _split_runs(lines)
    return _parse_run(runs[-1], cut_line, runs_in_log=sum(map(_is_benchmark_run, runs)))
