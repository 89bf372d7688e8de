"""`compare A B`: the same cells in two runs, what changed, and whether it is more than noise.

Cells match by (model, level, device identity, threads, delegate); a device's identity survives a
new serial (harness.report.load.device_base_identity).

Noise, for the median latency, from repeated runs when the cells have them (`--repeat N`: N fresh
runner processes per cell, as pyperf's worker processes): the between-run spread of their medians
gives each comparison a noise floor, the smallest change a two-sided t-test at ALPHA on the repeat
medians resolves (harness.stats.detectable_change); a change is beyond noise when it is larger.

Without repeats, each cell is one run, and an unchanged model measured twice moves
by more than its within-run statistics admit (measured with the bundled runner on a shared 2-core host:
medians of 12 identical runs of a 60 µs model differ by up to 6.5%, and a Mann-Whitney test on their
thousands of samples calls most of those pairs "significant"). So a change is beyond noise only when
both hold:
- it is statistically real: with per-iteration samples in both cells, a two-sided Mann-Whitney U
  test gives p < ALPHA; otherwise the two 95% confidence intervals in the summaries do not overlap;
- it is larger than the run-to-run noise floor: SPREAD_FRACTION of the wider relative p5-p95 spread
  of single inferences of the two cells (half of it: a shift that moves the median by less than
  that stays inside the band where most inferences of both runs fall).
With neither samples nor intervals the floor alone decides; with no spread at all, the noise is
unknown and the threshold alone decides.
Peak memory, energy and size have no spread in the results: their thresholds alone decide (and
energy is only compared when both numbers are valid, taken with the same method and over the same
window: results written before bench.json 2 divided the runner's whole life by every run).

A regression is a metric that got worse by more than its --fail-on threshold and is not within
noise, or a cell that was ok in A and failed, crashed, timed out, became unsupported or was skipped
in B (when any --fail-on is given). A median threshold below a cell's noise floor cannot be
resolved: unless the change is a regression anyway or clearly faster, that cell is "inconclusive
at 5% (floor 54%)", and compare exits with ExitCode.INCONCLUSIVE (no regression elsewhere).

`agreement` gates on the outputs checked on the device: the top-1 agreement with the host's fp32
model falling by more than its threshold in percentage points, or a cell newly flagged numerics.
`sustained-p90` gates on the p90 latency over a whole sustained run, as a relative increase.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from harness.errors import ExitCode, InputError, UsageError
from harness.report.escape import one_line
from harness.report.page import Cell, Table
from harness.report.text import table_text
from harness.report.load import CellRecord, ResultSet, latency_samples, result_set
from harness.stats import detectable_change, intervals_overlap, mann_whitney_p, relative_change, relative_spread
from harness.store.records import CellStatus
from harness.store.run import RunStore
from harness.units import fmt_signed_pct, fmt_us

ALPHA = 0.01
SPREAD_FRACTION = 0.5
METRICS = {
    "median": "median latency",
    "memory": "peak memory",
    "energy": "energy per inference",
    "size": "model file size",
    "agreement": "on-device top-1 agreement with host fp32",
    "sustained-p90": "p90 latency of a sustained run",
}
# Metrics whose threshold and change are percentage points, not a share of A.
POINT_METRICS = ("agreement",)


class NothingToCompareError(InputError):
    exit_code = ExitCode.NOTHING_RAN


def parse_fail_on(text: str | None) -> dict[str, float]:
    """'median:5%,energy:10%' -> {'median': 0.05, 'energy': 0.10}."""
    if not text:
        return {}
    thresholds = {}
    for item in text.split(","):
        metric, sep, value = item.strip().partition(":")
        if not sep or metric not in METRICS:
            raise UsageError(
                f"--fail-on item {item.strip()!r} is not METRIC:PERCENT",
                f"metrics: {', '.join(METRICS)}; e.g. --fail-on median:5%,energy:10%",
            )
        try:
            percent = float(value.strip().removesuffix("%"))
        except ValueError:
            raise UsageError(f"--fail-on {metric}: {value!r} is not a percentage", "e.g. median:5%") from None
        if not math.isfinite(percent) or percent < 0:
            raise UsageError(f"--fail-on {metric}: {value!r} must be a percentage of at least 0", "e.g. median:5%")
        thresholds[metric] = percent / 100
    return thresholds


@dataclass
class MetricChange:
    metric: str
    a: float | None
    b: float | None
    change: float | None  # (b - a) / a
    beyond_noise: bool | None  # None: no spread known
    noise: str  # how that was decided, for people
    threshold: float | None = None
    regression: bool = False
    floor: float | None = None  # the noise floor this change was judged against
    inconclusive: bool = False  # the threshold is below the floor: the gate cannot see it

    @property
    def verdict(self) -> str:
        if self.inconclusive:
            return f"inconclusive at {100 * self.threshold:g}% (floor {100 * self.floor:.0f}%)"
        return "regression" if self.regression else "ok"


@dataclass
class CellChange:
    model: str
    level: str
    device: str  # A's device label
    device_id: str
    threads: int
    delegate: str
    status_a: str
    status_b: str
    reason_b: str | None
    flags_a: list[str]
    flags_b: list[str]
    metrics: dict[str, MetricChange] = field(default_factory=dict)
    status_regression: bool = False

    @property
    def regressions(self) -> list[str]:
        found = [m.metric for m in self.metrics.values() if m.regression]
        return (["status"] if self.status_regression else []) + found

    @property
    def inconclusive(self) -> list[MetricChange]:
        return [m for m in self.metrics.values() if m.inconclusive]


@dataclass
class Comparison:
    run_a: str
    run_b: str
    thresholds: dict[str, float]
    cells: list[CellChange]
    only_in_a: list[str]
    only_in_b: list[str]

    @property
    def regressions(self) -> list[CellChange]:
        return [c for c in self.cells if c.regressions]

    @property
    def inconclusive(self) -> list[CellChange]:
        return [c for c in self.cells if c.inconclusive and not c.regressions]

    @property
    def exit_code(self) -> ExitCode:
        if self.regressions:
            return ExitCode.REGRESSION
        return ExitCode.INCONCLUSIVE if self.inconclusive else ExitCode.OK

    def to_dict(self) -> dict:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "thresholds": {k: v for k, v in self.thresholds.items()},
            "noise_rule": {"alpha": ALPHA, "spread_fraction": SPREAD_FRACTION},
            "cells": [{**asdict(c), "regressions": c.regressions,
                       "inconclusive": [m.metric for m in c.inconclusive]} for c in self.cells],
            "only_in_a": self.only_in_a,
            "only_in_b": self.only_in_b,
            "regression_count": len(self.regressions),
            "inconclusive_count": len(self.inconclusive),
            "exit_code": int(self.exit_code),
        }


def match_key(record: CellRecord) -> tuple:
    return (record.model, record.level, record.device_id, record.threads, record.delegate)


def _key_text(key: tuple) -> str:
    model, level, device_id, threads, delegate = key
    return f"{model} {level} on {device_id} t{threads} {delegate}"


def noise_floor(a: CellRecord, b: CellRecord) -> float | None:
    """SPREAD_FRACTION of the wider relative p5-p95 spread of the two cells (a fraction)."""
    spreads = [s for r in (a, b) if (s := relative_spread(r.latency_p5_us, r.latency_p95_us, r.latency_median_us)) is not None]
    return SPREAD_FRACTION * max(spreads) if spreads else None


def separation(results_a: ResultSet, a: CellRecord, results_b: ResultSet, b: CellRecord) -> tuple[bool | None, str]:
    """Whether the two medians differ by more than sampling error, and how that was judged."""
    samples_a = latency_samples(results_a.store(a.run_id), a)
    samples_b = latency_samples(results_b.store(b.run_id), b)
    if samples_a and samples_b and len(samples_a) >= 3 and len(samples_b) >= 3:
        p = mann_whitney_p(samples_a, samples_b)
        return p < ALPHA, f"Mann-Whitney p={p:.2g}, n={len(samples_a)}/{len(samples_b)}"
    ci_a = (a.latency_ci_low_us, a.latency_ci_high_us)
    ci_b = (b.latency_ci_low_us, b.latency_ci_high_us)
    if None not in ci_a and None not in ci_b:
        overlap = intervals_overlap(ci_a, ci_b)
        of = "/".join(dict.fromkeys(str(r.latency_ci_of) for r in (a, b)))
        return (not overlap), f"95% CIs of the {of} {'overlap' if overlap else 'do not overlap'}"
    return None, "no samples or intervals"


def repeat_floor(a: CellRecord, b: CellRecord) -> float | None:
    """The smallest change the two cells' repeated runs resolve (None without repeats)."""
    if not ((a.repeat_count or 0) >= 2 or (b.repeat_count or 0) >= 2):
        return None
    return detectable_change(a.repeat_spread, a.repeat_count or 1, b.repeat_spread, b.repeat_count or 1, ALPHA)


def latency_noise(results_a: ResultSet, a: CellRecord, results_b: ResultSet, b: CellRecord
                  ) -> tuple[bool | None, str, float | None]:
    """Whether the median moved beyond noise, how that was judged, and the noise floor."""
    change = relative_change(a.latency_median_us, b.latency_median_us)
    floor = repeat_floor(a, b)
    if floor is not None and change is not None:
        beyond = abs(change) > floor
        counts = f"{a.repeat_count or 1}/{b.repeat_count or 1}"
        return beyond, (f"{'beyond' if beyond else 'within'} noise (noise floor {100 * floor:.1f}% = what a t-test "
                        f"at p < {ALPHA} resolves between {counts} repeated runs' medians)"), floor
    separated, how = separation(results_a, a, results_b, b)
    floor = noise_floor(a, b)
    if change is None or (separated is None and floor is None):
        return None, f"noise unknown ({how}, no spread recorded)", None
    floor_text = (
        f"noise floor {100 * floor:.1f}% = half the p5-p95 spread" if floor is not None else "no spread recorded"
    )
    beyond = separated is not False and (floor is None or abs(change) > floor)
    return beyond, f"{'beyond' if beyond else 'within'} noise ({how}; {floor_text})", floor


def _metric(
    metric: str, a: float | None, b: float | None, beyond: bool | None, noise: str, threshold: float | None,
    floor: float | None = None,
) -> MetricChange:
    change = relative_change(a, b)
    worse = change is not None and threshold is not None and change > threshold
    regression = worse and beyond is not False
    clearly_faster = beyond and change is not None and change < 0
    inconclusive = (threshold is not None and floor is not None and threshold < floor and not regression
                    and not clearly_faster)
    return MetricChange(metric, a, b, change, beyond, noise, threshold, regression=regression, floor=floor,
                        inconclusive=inconclusive)


def _agreement(a: CellRecord, b: CellRecord, threshold: float | None) -> MetricChange:
    """Top-1 agreement of the device's outputs with the host's fp32: a drop of more than the
    threshold (percentage points), or numerics in B and not in A, is a regression."""
    value_a, value_b = a.device_top1_agreement_fp32, b.device_top1_agreement_fp32
    if value_a is None or value_b is None:
        return MetricChange("agreement", value_a, value_b, None, None, "outputs not checked on the device in both")
    drop = value_a - value_b
    newly_numerics = bool(b.numerics) and not a.numerics
    regression = threshold is not None and (drop > threshold or newly_numerics)
    noise = "exact (same inputs)" + ("; B flagged numerics" if newly_numerics else "")
    return MetricChange("agreement", value_a, value_b, value_b - value_a, None, noise, threshold, regression=regression)


def _energy(a: CellRecord, b: CellRecord, threshold: float | None) -> MetricChange:
    valid = a.energy_validity == "valid" and b.energy_validity == "valid"
    same_method = a.energy_method == b.energy_method
    if a.energy_mj_per_inference is None or b.energy_mj_per_inference is None:
        return MetricChange(
            "energy", a.energy_mj_per_inference, b.energy_mj_per_inference, None, None, "not measured in both"
        )
    if not valid or not same_method:
        why = f"A {a.energy_method} ({a.energy_validity}), B {b.energy_method} ({b.energy_validity})"
        return MetricChange(
            "energy", a.energy_mj_per_inference, b.energy_mj_per_inference, None, None, f"not comparable: {why}"
        )
    if a.energy_window != b.energy_window:
        why = f"A covers the {a.energy_window}, B the {b.energy_window}"
        return MetricChange(
            "energy", a.energy_mj_per_inference, b.energy_mj_per_inference, None, None, f"not comparable: {why}"
        )
    return _metric(
        "energy", a.energy_mj_per_inference, b.energy_mj_per_inference, None, "no spread recorded", threshold
    )


def compare_cells(
    results_a: ResultSet, a: CellRecord, results_b: ResultSet, b: CellRecord, thresholds: dict[str, float]
) -> CellChange:
    change = CellChange(
        a.model,
        a.level,
        a.device_label,
        a.device_id,
        a.threads,
        a.delegate,
        a.status,
        b.status,
        b.reason,
        list(a.flags),
        list(b.flags),
    )
    if a.ok and CellStatus(b.status).is_failure:
        change.status_regression = bool(thresholds)
    size_same = a.size_bytes == b.size_bytes
    change.metrics["size"] = _metric(
        "size", a.size_bytes, b.size_bytes, not size_same, "exact (file sizes)", thresholds.get("size")
    )
    if not (a.ok and b.ok):
        return change
    beyond, noise, floor = latency_noise(results_a, a, results_b, b)
    change.metrics["median"] = _metric(
        "median", a.latency_median_us, b.latency_median_us, beyond, noise, thresholds.get("median"), floor
    )
    change.metrics["memory"] = _metric(
        "memory", a.memory_peak_mb, b.memory_peak_mb, None, "no spread recorded", thresholds.get("memory")
    )
    change.metrics["energy"] = _energy(a, b, thresholds.get("energy"))
    change.metrics["agreement"] = _agreement(a, b, thresholds.get("agreement"))
    change.metrics["sustained-p90"] = _metric("sustained-p90", a.sustained_p90_us, b.sustained_p90_us, None,
                                              "no spread recorded", thresholds.get("sustained-p90"))
    return change


def compare_runs(store_a: RunStore, store_b: RunStore, thresholds: dict[str, float] | None = None) -> Comparison:
    thresholds = thresholds or {}
    results_a, results_b = result_set([store_a]), result_set([store_b])
    by_key_b = {match_key(r): r for r in results_b.records}
    keys_a = {match_key(r) for r in results_a.records}
    cells = [
        compare_cells(results_a, record, results_b, by_key_b[match_key(record)], thresholds)
        for record in results_a.records
        if match_key(record) in by_key_b
    ]
    if not cells:
        raise NothingToCompareError(
            f"runs {store_a.run_id} and {store_b.run_id} have no cell in common "
            "(same model, level, device, threads and delegate)",
            "compare two runs of the same sweep",
        )
    return Comparison(
        store_a.run_id,
        store_b.run_id,
        thresholds,
        cells,
        only_in_a=[_key_text(match_key(r)) for r in results_a.records if match_key(r) not in by_key_b],
        only_in_b=[_key_text(match_key(r)) for r in results_b.records if match_key(r) not in keys_a],
    )


def _short_noise(metric: MetricChange | None) -> str:
    if metric is None:
        return "-"
    if metric.beyond_noise is None:
        return "unknown"
    return "beyond noise" if metric.beyond_noise else "within noise"


def _delta_cell(metric: MetricChange | None) -> Cell:
    if metric is None:
        return Cell("-")
    if metric.change is None:
        return Cell("n/a" if metric.noise.startswith("not comparable") else "-")
    if metric.metric in POINT_METRICS:
        return Cell(f"{100 * metric.change:+.1f} pp", sort=metric.change)
    return Cell(fmt_signed_pct(metric.change), sort=metric.change)


def _median_cell(metric: MetricChange | None, side: str, status: str) -> Cell:
    if metric is None:
        return Cell(status)
    value = metric.a if side == "a" else metric.b
    return Cell(fmt_us(value), sort=value)


def _verdict(cell: CellChange) -> str:
    if cell.regressions:
        return "REGRESSION: " + ", ".join(cell.regressions)
    if cell.inconclusive:
        return "INCONCLUSIVE: " + ", ".join(f"{m.metric} {m.verdict}" for m in cell.inconclusive)
    if cell.status_a != "ok" or cell.status_b != "ok":
        return f"status {cell.status_a} -> {cell.status_b}"
    median = cell.metrics.get("median")
    if median and median.beyond_noise and median.change is not None:
        return "slower" if median.change > 0 else "faster"
    return "no change beyond noise" if median and median.beyond_noise is False else "ok"


def comparison_table(comparison: Comparison) -> Table:
    headers = ["model", "level", "device", "setting", "median A", "median B", "Δ median", "noise",
               "Δ memory", "Δ energy", "Δ size", "Δ agreement", "Δ sustained p90", "verdict"]  # fmt: skip
    rows = []
    for cell in comparison.cells:
        median = cell.metrics.get("median")
        rows.append([
            Cell(cell.model), Cell(cell.level), Cell(cell.device), Cell(f"t{cell.threads} {cell.delegate}"),
            _median_cell(median, "a", cell.status_a), _median_cell(median, "b", cell.status_b),
            _delta_cell(median), Cell(_short_noise(median)), _delta_cell(cell.metrics.get("memory")),
            _delta_cell(cell.metrics.get("energy")), _delta_cell(cell.metrics.get("size")),
            _delta_cell(cell.metrics.get("agreement")), _delta_cell(cell.metrics.get("sustained-p90")),
            Cell(_verdict(cell)),
        ])  # fmt: skip
    return Table("comparison", f"compare {comparison.run_a} (A) -> {comparison.run_b} (B)", headers, rows)


def render_text(comparison: Comparison) -> str:
    lines = [table_text(comparison_table(comparison), with_title=True), ""]
    for cell in comparison.cells:
        where = f"{one_line(cell.model)} {one_line(cell.level)} on {one_line(cell.device)}"
        for metric in cell.metrics.values():
            if metric.metric == "median" or metric.regression or metric.inconclusive:
                verdict = f": {metric.verdict}" if metric.inconclusive else ""
                lines.append(f"{where}: {METRICS[metric.metric]} {_delta_cell(metric).text}, {metric.noise}{verdict}")
        if cell.status_regression:
            lines.append(f"{where}: ok in A, {cell.status_b} in B: {one_line(cell.reason_b or '')}")
    for side, keys in (("A", comparison.only_in_a), ("B", comparison.only_in_b)):
        if keys:
            lines.append(f"only in {side}: " + "; ".join(one_line(k) for k in keys))
    thresholds = ", ".join(f"{m} {100 * t:g}%" for m, t in comparison.thresholds.items()) or "none (report only)"
    lines.append("")
    if comparison.inconclusive:
        lines.append(f"{len(comparison.inconclusive)} cell(s) inconclusive: a threshold is below their noise floor; "
                     "measure with --repeat N (N fresh runner processes per cell) to lower it, or raise the threshold.")
    lines.append(
        f"{len(comparison.cells)} cells compared, {len(comparison.regressions)} regression(s); thresholds: {thresholds}. "
        f"Beyond noise = with repeated runs, larger than what a t-test at p < {ALPHA} resolves between their medians; "
        f"else statistically separated (Mann-Whitney p < {ALPHA} on the samples, else non-overlapping 95% CIs) "
        f"and larger than {SPREAD_FRACTION:g} x the p5-p95 spread of single inferences."
    )
    return "\n".join(lines) + "\n"
