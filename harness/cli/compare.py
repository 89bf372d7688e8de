"""squeezebench compare: what changed between two runs, beyond noise; a CI gate with --fail-on."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.common import print_json

HELP = "compare two runs cell by cell (latency, memory, energy, size, on-device agreement, sustained p90), with a noise test; --fail-on makes it a CI gate"
DESCRIPTION = (
    "Match the cells of run A (before) and run B (after) by model, level, device identity, threads "
    "and delegate (a virtual device is the same device under a new serial), and report the change "
    "in median latency, peak memory, energy per inference, model size, on-device top-1 agreement "
    "with host fp32 (outputs checked on the device) and the p90 of sustained runs.\n\n"
    "Noise floor of a latency change: with repeated runs (--repeat N when measuring), the smallest "
    "change a t-test (p < 0.01) on their medians resolves; without, half the p5-p95 spread of single "
    "inferences, and the change must also be statistically real (Mann-Whitney p < 0.01 on the "
    "per-iteration samples, or non-overlapping 95% confidence intervals). Memory, energy, size and "
    "sustained p90 have no recorded spread: their threshold alone decides.\n\n"
    "--fail-on METRIC:PERCENT[,...] (metrics: median, memory, energy, size, agreement (percentage "
    "points), sustained-p90), e.g. --fail-on median:5%,energy:10%: a regression is a change above its "
    "threshold that is not within noise, a cell newly flagged numerics (with agreement), or a cell ok "
    "in A that failed (or was skipped) in B. A median threshold below a cell's noise floor is reported "
    "as 'inconclusive at 5% (floor 54%)'. Exit 2 on any regression, 8 when some cell is inconclusive "
    "and none regressed, 0 otherwise, 3 when the runs have no cell in common, 5 when a run cannot be read."
)


def add_arguments(parser):
    parser.add_argument("run_a", type=Path, metavar="A", help="the run before (baseline): a run directory or id")
    parser.add_argument("run_b", type=Path, metavar="B", help="the run after (candidate)")
    parser.add_argument("--fail-on", metavar="THRESHOLDS",
                        help="e.g. median:5%%,energy:10%%,memory:5%%,size:1%%,agreement:1%%,sustained-p90:10%%")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON on stdout")


def run(args) -> int:
    from harness.report.compare import compare_runs, parse_fail_on, render_text
    from harness.report.load import open_run_ref

    thresholds = parse_fail_on(args.fail_on)
    comparison = compare_runs(open_run_ref(args.run_a), open_run_ref(args.run_b), thresholds)
    if args.json:
        print_json(comparison.to_dict())
    else:
        sys.stdout.write(render_text(comparison))
    return int(comparison.exit_code)
