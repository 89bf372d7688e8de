"""`squeezebench publish`: a static site with relative links, flagged results left out unless
asked for, and then marked."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from harness.errors import ExitCode
from harness.report.publish import SITE_MARKER, model_page_path, run_page_path
from tests.report.html_tables import PageContents
from tests.report.report_runs import DIGITS, PIXEL, build_run
from tests.support.cli import one_line_error, run_cli_in_process


def pages(site: Path) -> dict[str, PageContents]:
    return {str(p.relative_to(site)): PageContents(p.read_text()) for p in site.rglob("*.html")}


def test_site_hides_flagged_results_by_default(mixed_run, tmp_path):
    site = tmp_path / "site"
    assert "flagged cells left out" in run_cli_in_process("publish", mixed_run.root, "--out", site, check=True).stdout
    site_pages = pages(site)
    assert set(site_pages) == {
        "index.html",
        model_page_path("digits-cnn"),
        model_page_path("mobilenet_v2"),
        run_page_path(mixed_run.run_id),
    }
    leaderboard = site_pages[model_page_path("digits-cnn")].table("leaderboard")
    devices = {row[headers_index(leaderboard, "device")] for row in leaderboard["rows"]}
    assert devices == {"Pixel 7"}  # the virtual device and the charging phone are left out
    ranked = [row for row in leaderboard["rows"] if row[0] != "-"]
    medians = [float(row[headers_index(leaderboard, "median latency (ms)")]) for row in ranked]
    assert medians == sorted(medians) and len(ranked) == 3
    unranked = [row[headers_index(leaderboard, "status")] for row in leaderboard["rows"] if row[0] == "-"]
    assert sorted(s.split(":")[0] for s in unranked) == ["failed", "skipped"]  # shown with reasons, last
    index_text = (site / "index.html").read_text()
    assert "--include-flagged" in index_text
    run_page = site_pages[run_page_path(mixed_run.run_id)]
    assert all("virtual" not in str(t["rows"]) for t in run_page.tables if t["id"] not in ("runs", "devices"))


def headers_index(table: dict, header: str) -> int:
    return table["headers"].index(header)


def test_include_flagged_marks_every_flagged_row(flagged_site):
    leaderboard = pages(flagged_site)[model_page_path("mobilenet_v2")].table("leaderboard")
    flags = headers_index(leaderboard, "flags")
    device = headers_index(leaderboard, "device")
    expected = {"Virtual phone": "virtual", "Galaxy S23": "charging", "Pixel 7": ""}
    assert len(leaderboard["rows"]) == 9
    assert all(row[flags] == expected[row[device]] for row in leaderboard["rows"])


def test_links_are_relative_and_resolve(flagged_site):
    site = flagged_site
    checked = 0
    for relative, page in pages(site).items():
        for link in page.links:
            if link.startswith("data:"):
                continue
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc and not link.startswith("/"), (relative, link)
            assert (site / relative).parent.joinpath(unquote(parts.path)).resolve().is_file(), (relative, link)
            checked += 1
    assert checked >= 10


def test_republish_replaces_the_site_but_never_a_foreign_directory(results_root, tmp_path):
    run = build_run(results_root, "2026-01-05T000000Z-pub1", [PIXEL], [DIGITS])
    site = tmp_path / "site"
    run_cli_in_process("publish", run.root, "--out", site, check=True)
    (site / "stale.html").write_text("old")
    run_cli_in_process("publish", run.root, "--out", site, check=True)
    assert (site / SITE_MARKER).exists() and not (site / "stale.html").exists()
    foreign = tmp_path / "docs"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    refused = run_cli_in_process("publish", run.root, "--out", foreign)
    one_line_error(refused.returncode, refused.stderr, ExitCode.BAD_INPUT, "not a site written by squeezebench publish")
    assert (foreign / "keep.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
