"""squeezebench publish: many runs into a static site any web host can serve."""

from __future__ import annotations

from pathlib import Path

from harness.errors import ExitCode

HELP = "a static site from many runs: index of devices and models, a leaderboard per model, a page per run"
DESCRIPTION = (
    "Write SITE/index.html, SITE/models/<model>.html (leaderboard: each device's latest result per "
    "level, ranked by median latency) and SITE/runs/<run-id>.html (the full report of each run). "
    "Pages are self-contained HTML with relative links only. Results from virtual devices, emulators, "
    "or taken while charging or throttled are left out unless --include-flagged, and then carry "
    "their flags wherever they appear. SITE is replaced as a whole; it must be new, empty, or a "
    "previous publish's output."
)


def add_arguments(parser):
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories (or run ids under ./results)")
    parser.add_argument("--out", type=Path, required=True, metavar="SITE", help="directory of the site")
    parser.add_argument(
        "--include-flagged", action="store_true", help="also show virtual/emulator/charging/throttled results, marked"
    )


def run(args) -> int:
    from harness.report.publish import publish_site

    summary = publish_site(args.runs, args.out, include_flagged=args.include_flagged)
    hidden = (
        f", {summary.hidden_cells} flagged cells left out (--include-flagged shows them)"
        if summary.hidden_cells
        else ""
    )
    print(
        f"wrote {len(summary.pages)} pages to {summary.out_dir} ({summary.shown_cells} cells shown{hidden}); "
        f"open {summary.out_dir / 'index.html'}"
    )
    return int(ExitCode.OK)
