"""`--op-profile`: the runner once more, in a pass of its own with `--enable_op_profiling=true`
(profiling perturbs timing, so the cell's latency stays the normal pass's), its tables parsed
(harness/bench/op_profile.py) and summed up by node type. A runner that cannot profile says why,
and the cell records that instead of numbers."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

from harness.bench.agent import new_cell_dir, pulled_agent_output, run_agent
from harness.bench.logparse import ParsedLog, parse_benchmark_log
from harness.store import cell_files
from harness.store.records import NodeTypeTime, OpProfileSummary

# Profiled runs: at least this many and this long. The profiler reports means, so a few slow
# runs of a busy device would dominate a short pass (digits-cnn int8 on a shared 2-core host: 20
# runs of 12 µs and one of 16.6 ms); a second of runs dilutes them.
PROFILE_RUNS = 20
PROFILE_MIN_S = 1.0
NOT_AVAILABLE = "op profile: not available on this runner"


def profile_settings(settings):
    """One runner process of at least PROFILE_RUNS runs and PROFILE_MIN_S, no cool-down or idle phase."""
    return dataclasses.replace(settings, runs=PROFILE_RUNS, min_secs=PROFILE_MIN_S, cooldown_s=0.0, idle_baseline_s=0.0,
                               sustained_s=0.0, repeat=1)


def run_profile_pass(session, settings, runner_argv: list[str], out_dir: Path) -> tuple[OpProfileSummary, dict]:
    """`runner_argv`: the runner, its graph and the pass's flags (BenchSettings.runner_flags of
    profile_settings); the profiling flag is added here."""
    local = Path(out_dir) / cell_files.OP_PROFILE_DIR
    device_dir = new_cell_dir()
    run_agent(session.device, profile_settings(settings), device_dir, [*runner_argv, "--enable_op_profiling=true"],
              rails_hal=session.rails_hal)
    with pulled_agent_output(session.device, device_dir, local):
        parsed = parse_benchmark_log(cell_files.read_text(local, cell_files.RUNNER_LOG_FILE))
    return summarize_profile(parsed), parsed.op_profile.to_dict() if parsed.op_profile else {}


def _is_delegated(node_type: str, name: str | None) -> bool:
    # A delegate's own operators are named Delegate/<op> (XNNPACK since TF 2.10); a delegated
    # partition is a node of type TfLite<X>Delegate (or <X>Delegate in old builds).
    return (name or "").startswith("Delegate/") or node_type.endswith(("Delegate", "DelegateV2", "DelegateKernel"))


def summarize_profile(parsed: ParsedLog) -> OpProfileSummary:
    block = parsed.op_profile.runs if parsed.op_profile else None
    if block is None or not (block.by_node_type or block.run_order):
        why = parsed.op_profile_unavailable or "the runner printed no op profile for its regular runs"
        return OpProfileSummary(available=False, reason=f"{NOT_AVAILABLE}: {why}")
    delegated_types = {row.node_type for row in block.run_order if _is_delegated(row.node_type, row.name)}
    delegated_types |= {row.node_type for row in block.by_node_type if _is_delegated(row.node_type, None)}
    if block.by_node_type:
        rows = [NodeTypeTime(row.node_type, row.count, row.avg_ms, row.percent, row.node_type in delegated_types)
                for row in block.by_node_type]
    else:  # Run Order only (some builds): summed here
        totals: dict[str, list] = defaultdict(lambda: [0, 0.0])
        for row in block.run_order:
            totals[row.node_type][0] += 1
            totals[row.node_type][1] += row.avg_ms or 0.0
        grand = sum(ms for _, ms in totals.values())
        rows = [NodeTypeTime(kind, n, ms, 100 * ms / grand if grand else None, kind in delegated_types)
                for kind, (n, ms) in sorted(totals.items(), key=lambda item: -item[1][1])]
    total_ms = sum(row.avg_ms or 0.0 for row in rows)
    delegated_ms = sum(row.avg_ms or 0.0 for row in rows if row.delegated)
    timings = block.timings_us
    return OpProfileSummary(
        available=True,
        node_types=tuple(rows),
        total_us=timings.mean if timings is not None and timings.mean is not None else total_ms * 1000 or None,
        nodes=block.nodes_executed or block.nodes_observed or sum(row.count or 0 for row in rows) or None,
        delegated_time_share=delegated_ms / total_ms if total_ms else None,
    )
