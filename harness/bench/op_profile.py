"""The op-profiling tables of `benchmark_model --enable_op_profiling=true`, read back.

Where they come from (LiteRT tflite/profiling/profile_summarizer.cc and
profile_summary_formatter.cc, tflite/tools/benchmark/profiling_listener.cc, and the
StatsCalculator of tensorflow/core/util/stats_calculator.cc, now xla/tsl/util/stats_calculator.cc):
at the end of a run the tool prints up to two sections,

    Profiling Info for Benchmark Initialization:          (events before the first run)
    Operator-wise Profiling Info for Regular Benchmark Runs:   (every measured run)

and each holds, per subgraph, up to four tables followed by a short summary:

    ============================== Run Order ==============================
    \t[node type]\t[start]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]
    ============================== Top by Computation Time ==============================   (top 10)
    ============================== Top by Memory Use ==============================        (some builds)
    Number of nodes executed: 31
    ============================== Summary by node type ==============================
    \t[Node type]\t[count]\t[avg ms]\t[avg %]\t[cdf %]\t[mem KB]\t[times called]
    Timings (microseconds): count=50 first=79449 curr=81350 min=77385 max=88213 avg=79732 std=1929
    Memory (bytes): count=0
    31 nodes observed

Variants this reader handles, all read by the column names of each table's header line:
`[start]` (older builds; dropped around TF 2.9) or not; tab-separated cells, or cells separated
by spaces only (pastes that lost their tabs, LiteRT's CompiledModel summarizer); names with or
without the `:<node index>` suffix; no section header at all (LiteRT's `benchmark_model` for
CompiledModel, TF 1.x, README excerpts: the tables are then taken for the regular runs); several
subgraphs (`Primary graph (name: X) profile:` / `Subgraph (index: N, name: X) profile:`, or
without names in older builds, with the subgraph's short summary prefixed by its
`Subgraph (index: N...) `); and a `Delegate internal:` part (delegates that profile their own
ops). CSV output (`--op_profiling_output_mode=csv`) goes to a file, not to the log, and is not read.

What a row means: `first_ms` is the node's time in the first profiled run, `avg_ms` its mean per
call, `percent` its share of the summed node time, `times_called` calls per run (0 in builds that
counted runs differently). In "Summary by node type", `count` is the number of nodes of that type
and `avg_ms` their summed time per run. `mem_kb` is 0 for operators (only init events carry a
memory delta). Delegate nodes are rows like any other: `TfLiteXNNPackDelegate`,
`TfLiteGpuDelegateV2`, `TfLiteNnapiDelegate` (a whole delegated partition), or, when a delegate
profiles its own operators (XNNPACK since TF 2.10), one row per delegate operator whose node type
is the delegate's name for it (`Convolution (NHWC, F32) IGEMM`) and whose name starts `Delegate/`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

# A number as a default std::ostream prints it (also nan/inf); shared with logparse.
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)"

_SECTIONS = (
    (re.compile(r"^Profiling Info for Benchmark Initialization:?$"), "init"),
    (re.compile(r"^Operator-wise Profiling Info for Regular Benchmark Runs:?$"), "runs"),
)
_TABLE_TITLE = re.compile(
    r"^={5,} (?P<title>Run Order|Top by Computation Time|Top by Memory Use|Summary by node type) ={5,}$"
)
_TABLE_KEYS = {
    "Run Order": "run_order",
    "Top by Computation Time": "top_by_time",
    "Top by Memory Use": "top_by_memory",
    "Summary by node type": "by_node_type",
}
_PRIMARY_GRAPH = re.compile(r"^Primary graph(?: \(name: [^)]*\))? (?:profile|summary):$")
_SUBGRAPH = re.compile(r"^Subgraph \(index: (?P<index>\d+)(?:, name: [^)]*)?\) (?:profile|summary):$")
_DELEGATE_INTERNAL = re.compile(r"^Delegate internal:$")
_SUBGRAPH_PREFIX = r"(?:Subgraph \(index: \d+(?:, name: [^)]*)?\) )?"
_TIMINGS = re.compile(rf"^{_SUBGRAPH_PREFIX}Timings \(microseconds\): (?P<stats>.*)$")
_MEMORY = re.compile(r"^Memory \(bytes\): (?P<stats>.*)$")
_NODES_EXECUTED = re.compile(r"^Number of nodes executed: (?P<n>\d+)$")
_NODES_OBSERVED = re.compile(r"^(?P<n>\d+) nodes observed$")
_COLUMN_LABEL = re.compile(r"\[([^\]]+)\]")

# Header label (lower case) -> (field, kind). Kinds: text, number, percent (printed with '%'), int.
_COLUMNS = {
    "node type": ("node_type", "text"),
    "start": ("start_ms", "number"),
    "first": ("first_ms", "number"),
    "avg ms": ("avg_ms", "number"),
    "%": ("percent", "percent"),
    "avg %": ("percent", "percent"),
    "cdf%": ("cdf_percent", "percent"),
    "cdf %": ("cdf_percent", "percent"),
    "mem kb": ("mem_kb", "number"),
    "times called": ("times_called", "int"),
    "count": ("count", "int"),
    "name": ("name", "text"),
}
_CELL_PATTERN = {"number": rf"({NUMBER})", "percent": rf"((?:{NUMBER})%)", "int": r"(\d+)"}


# --- the result --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OpRow:
    """One node of Run Order / Top by Computation Time / Top by Memory Use."""

    node_type: str
    name: str
    first_ms: float | None
    avg_ms: float | None
    percent: float | None
    cdf_percent: float | None
    mem_kb: float | None
    times_called: int | None
    start_ms: float | None = None  # only in builds that printed [start]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class NodeTypeRow:
    """One node type of "Summary by node type": `count` nodes, `avg_ms` summed per run."""

    node_type: str
    count: int | None
    avg_ms: float | None
    percent: float | None
    cdf_percent: float | None
    mem_kb: float | None
    times_called: int | None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ProfileBlock:
    """The tables of one section (init or regular runs) for the primary graph, with the other
    subgraphs and the delegate-internal part beside it. `timings_us` is the profiler's per-run
    total of node time (not the benchmark's latency); `memory_bytes` its memory statistic."""

    run_order: tuple[OpRow, ...] = ()
    top_by_time: tuple[OpRow, ...] = ()
    top_by_memory: tuple[OpRow, ...] = ()
    by_node_type: tuple[NodeTypeRow, ...] = ()
    nodes_executed: int | None = None
    nodes_observed: int | None = None
    timings_us: Any = None  # a logparse.RunStats, or None
    memory_bytes: Any = None
    subgraphs: Mapping[str, ProfileBlock] = dataclasses.field(default_factory=lambda: MappingProxyType({}))
    delegate_internal: ProfileBlock | None = None

    def to_dict(self) -> dict:
        return {
            "run_order": [row.to_dict() for row in self.run_order],
            "top_by_time": [row.to_dict() for row in self.top_by_time],
            "top_by_memory": [row.to_dict() for row in self.top_by_memory],
            "by_node_type": [row.to_dict() for row in self.by_node_type],
            "nodes_executed": self.nodes_executed,
            "nodes_observed": self.nodes_observed,
            "timings_us": self.timings_us.to_dict() if self.timings_us is not None else None,
            "memory_bytes": self.memory_bytes.to_dict() if self.memory_bytes is not None else None,
            "subgraphs": {index: block.to_dict() for index, block in self.subgraphs.items()},
            "delegate_internal": self.delegate_internal.to_dict() if self.delegate_internal else None,
        }


@dataclasses.dataclass(frozen=True)
class OpProfile:
    """`init`: the initialization section; `runs`: the regular (measured) runs. Either is None
    when the log does not have it."""

    init: ProfileBlock | None
    runs: ProfileBlock | None

    def to_dict(self) -> dict:
        return {
            "init": self.init.to_dict() if self.init else None,
            "runs": self.runs.to_dict() if self.runs else None,
        }


# --- reading -------------------------------------------------------------------------------


@dataclasses.dataclass
class _Tables:
    """What has been read of one subgraph's (or the delegate part's) tables."""

    tables: dict[str, list] = dataclasses.field(default_factory=dict)
    nodes_executed: int | None = None
    nodes_observed: int | None = None
    timings: Any = None
    memory: Any = None

    def has_content(self) -> bool:
        return any(self.tables.values()) or any(
            value is not None for value in (self.nodes_executed, self.nodes_observed, self.timings, self.memory)
        )

    def block(self, subgraphs: Mapping[str, ProfileBlock] | None = None,
              delegate_internal: ProfileBlock | None = None) -> ProfileBlock:
        return ProfileBlock(
            run_order=tuple(self.tables.get("run_order", ())),
            top_by_time=tuple(self.tables.get("top_by_time", ())),
            top_by_memory=tuple(self.tables.get("top_by_memory", ())),
            by_node_type=tuple(self.tables.get("by_node_type", ())),
            nodes_executed=self.nodes_executed,
            nodes_observed=self.nodes_observed,
            timings_us=self.timings,
            memory_bytes=self.memory,
            subgraphs=MappingProxyType(dict(subgraphs or {})),
            delegate_internal=delegate_internal,
        )


_DELEGATE_PART = "delegate"
_PRIMARY = "0"


class ProfileReader:
    """Fed the prefix-free lines of one run in order; `feed` says whether a line belonged to the
    op profile. `parse_stats` reads a `Stat::OutputToStream` line (logparse's reader)."""

    def __init__(self, parse_stats: Callable[[str], Any]):
        self._parse_stats = parse_stats
        self._sections: dict[str, dict[str, _Tables]] = {}
        self._section: str | None = None
        self._part = _PRIMARY
        self._table: str | None = None
        self._columns: list[tuple[str, str]] | None = None
        self.active = False
        self.problems: list[str] = []

    def pause(self) -> None:
        """A new benchmark phase began: what follows is not profile output."""
        self.active = False
        self._table = None

    def feed(self, message: str) -> bool:
        for pattern, section in _SECTIONS:
            if pattern.match(message):
                self._start_section(section)
                return True
        if match := _TABLE_TITLE.match(message):
            if not self.active:
                self._start_section("runs")  # tables without a section header
            self._table, self._columns = _TABLE_KEYS[match["title"]], None
            self._tables().tables.setdefault(self._table, [])
            return True
        if not self.active:
            return False
        if self._table is not None and self._read_table_line(message):
            return True
        self._table = None
        return self._read_summary_line(message)

    @property
    def started(self) -> bool:
        """A section or table header was seen (whether or not anything followed it)."""
        return bool(self._sections)

    def result(self) -> OpProfile | None:
        """The profile, or None when no section has any content (a paste cut after a header)."""
        blocks = {
            name: _assemble(parts) for name, parts in self._sections.items()
            if any(tables.has_content() for tables in parts.values())
        }
        if not blocks:
            return None
        return OpProfile(init=blocks.get("init"), runs=blocks.get("runs"))

    # --- internals ---

    def _start_section(self, section: str) -> None:
        self.active = True
        self._section, self._part, self._table = section, _PRIMARY, None
        self._sections.setdefault(section, {})

    def _tables(self) -> _Tables:
        return self._sections[self._section].setdefault(self._part, _Tables())

    def _read_table_line(self, message: str) -> bool:
        if self._columns is None:
            labels = _COLUMN_LABEL.findall(message)
            if not labels or labels[0].lower() != "node type":
                return False
            unknown = [label for label in labels if label.lower() not in _COLUMNS]
            if unknown:
                self.problems.append(f"op profile table with columns this parser does not know: {message}")
                return False
            self._columns = [_COLUMNS[label.lower()] for label in labels]
            return True
        cells = _split_cells(message, self._columns)
        if cells is None:
            return False
        row_type = NodeTypeRow if self._table == "by_node_type" else OpRow
        fields = {f.name for f in dataclasses.fields(row_type)}
        values = {name: value for name, value in cells.items() if name in fields}
        self._tables().tables[self._table].append(row_type(**{f: values.get(f) for f in fields}))
        return True

    def _read_summary_line(self, message: str) -> bool:
        if _PRIMARY_GRAPH.match(message):
            self._part = _PRIMARY
        elif match := _SUBGRAPH.match(message):
            self._part = match["index"]
        elif _DELEGATE_INTERNAL.match(message):
            self._part = _DELEGATE_PART
        elif match := _NODES_EXECUTED.match(message):
            self._tables().nodes_executed = int(match["n"])
        elif match := _TIMINGS.match(message):
            self._tables().timings = self._parse_stats(match["stats"])
        elif match := _MEMORY.match(message):
            self._tables().memory = self._parse_stats(match["stats"])
        elif match := _NODES_OBSERVED.match(message):
            self._tables().nodes_observed = int(match["n"])
        else:
            return False
        return True


def _assemble(parts: dict[str, _Tables]) -> ProfileBlock:
    delegate = parts.get(_DELEGATE_PART)
    subgraphs = {
        index: tables.block() for index, tables in sorted(parts.items(), key=lambda item: _index_order(item[0]))
        if index not in (_PRIMARY, _DELEGATE_PART)
    }
    primary = parts.get(_PRIMARY, _Tables())
    return primary.block(subgraphs, delegate.block() if delegate else None)


def _index_order(index: str) -> int:
    return int(index) if index.isdigit() else -1


def _split_cells(message: str, columns: list[tuple[str, str]]) -> dict[str, Any] | None:
    """The cells of a row, by tabs when the row has them, else by a pattern built from the
    columns (the node type is the only cell before the numbers; the name is the rest of the line)."""
    texts = [cell.strip() for cell in message.split("\t")]
    if len(texts) != len(columns):
        texts = _cells_by_pattern(message, columns)
        if texts is None:
            return None
    values: dict[str, Any] = {}
    for (field, kind), text in zip(columns, texts):
        value = _cell_value(text, kind)
        if value is _BAD:
            return None
        values[field] = value
    return values


def _cells_by_pattern(message: str, columns: list[tuple[str, str]]) -> list[str] | None:
    parts = []
    for _field, kind in columns:
        parts.append(r"(.+?)" if kind == "text" else _CELL_PATTERN[kind])
    pattern = r"\s+".join(parts)
    match = re.fullmatch(pattern, message.strip())
    return list(match.groups()) if match else None


_BAD = object()


def _cell_value(text: str, kind: str):
    if kind == "text":
        return text if text else _BAD
    if kind == "percent":
        if not text.endswith("%"):
            return _BAD
        text = text[:-1]
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        return _BAD
    # A percentage of a zero total prints as nan/inf: not a number JSON (or anyone) can use.
    return value if kind == "int" or math.isfinite(value) else None
