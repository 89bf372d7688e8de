"""The runner processes of one benchmark, read back: one (the usual case) or several started one
after the other by the agent (`--repeat N`, or a sustained run's intervals), each with its log,
its per-iteration latencies when the runner wrote them, and the agent's record of it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from harness import stats
from harness.bench.agent_result import AgentResult, RunRecord
from harness.bench.logparse import ParsedLog, parse_benchmark_log
from harness.store import cell_files
from harness.store.records import LatencyStats, Repeats, RunStats


@dataclass(frozen=True)
class RunOutput:
    index: int  # 1-based
    directory: Path
    log_text: str
    parsed: ParsedLog
    samples_us: tuple[float, ...]
    record: RunRecord | None  # the agent's run.N record (several runs only)

    @property
    def ok(self) -> bool:
        status = self.record.status if self.record else None
        return status in (None, "ok") and self.parsed.complete and not self.parsed.errors

    @cached_property
    def latency(self) -> LatencyStats | None:
        return latency_of(self.parsed.latency_us, list(self.samples_us))

    @property
    def inferences(self) -> int:
        """Every inference of the process: warm-up and measured."""
        return (self.parsed.latency_us.count or 0) + (self.parsed.warmup_us.count or 0)


def read_runs(cell_dir: Path, agent: AgentResult) -> list[RunOutput]:
    """The runs the agent started, in order (run 1 alone when it ran one)."""
    records = {record.index: record for record in agent.runs}
    count = max(agent.runner.runs or 1, max(records, default=1))
    runs = []
    for index in range(1, count + 1):
        directory = cell_files.run_dir(cell_dir, index)
        log_text = cell_files.read_text(directory, cell_files.RUNNER_LOG_FILE)
        runs.append(RunOutput(index, directory, log_text, parse_benchmark_log(log_text),
                              tuple(cell_files.read_latency_samples(directory)), records.get(index)))
    return runs


def latency_of(summary: RunStats, samples_us: list[float]) -> LatencyStats | None:
    """From per-iteration samples when the runner wrote them, else from its stats line."""
    if samples_us:
        return LatencyStats(**stats.summarize_samples(samples_us), source="samples")
    if summary.count:
        intervals = stats.summary_intervals(summary.mean, summary.std, summary.count)
        return LatencyStats(**summary.to_dict(), **intervals, source="runner-summary")
    return None


def pooled_latency(runs: list[RunOutput]) -> LatencyStats | None:
    """Every measured inference of the finished runs: their samples pooled when each run wrote
    them; else (the official runner) the one run's stats line, or for several runs the counts and
    means combined and the median of their medians (no percentiles: the lines cannot be pooled)."""
    finished = [run for run in runs if run.ok]
    if not finished:
        return None
    if len(finished) == 1:
        return finished[0].latency
    if all(run.samples_us for run in finished):
        return latency_of(RunStats(), [sample for run in finished for sample in run.samples_us])
    lines = [run.parsed.latency_us for run in finished if run.parsed.latency_us.count and run.parsed.latency_us.mean]
    if not lines:
        return None
    count = sum(line.count for line in lines)
    mean = sum(line.count * line.mean for line in lines) / count
    medians = [line.median for line in lines if line.median is not None]
    return LatencyStats(
        count=count, mean=mean, min=min((line.min for line in lines if line.min is not None), default=None),
        max=max((line.max for line in lines if line.max is not None), default=None),
        median=statistics.median(medians) if len(medians) == len(lines) else None,
        source=f"runner-summary of {len(lines)} runs",
    )


def repeats_record(runs: list[RunOutput]) -> Repeats | None:
    """The spread of the medians of several runs (None for one run)."""
    if len(runs) < 2:
        return None
    medians = tuple(latency.median for run in runs if run.ok and (latency := run.latency) and latency.median)
    return Repeats(count=len(medians), medians_us=medians, spread=stats.relative_std(medians))
