"""The HTML report and the published site in a real headless Chromium (Debian's), driven by
Playwright: no console errors, no network requests, tables with the expected rows, visible plots,
sorting by clicking a header, escaping that holds (no script runs), and a screenshot kept in
test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report.escape import one_line
from tests.report.report_runs import HOSTILE_DEVICE_NAME, HOSTILE_MODEL
from tests.support.cli import run_cli_in_process

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageWatch:
    """A page with every console message, page error, request and dialog recorded."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.console_errors, self.page_errors, self.requests, self.dialogs = [], [], [], []
        self.page.on(
            "console", lambda m: self.console_errors.append(m.text) if m.type in ("error", "warning") else None
        )
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.url = url
        self.page.goto(url, wait_until="load")
        self.page.wait_for_timeout(200)  # let late scripts or timers (an injected one) fire

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_clean(self, allowed_prefix: str | None = None):
        """allowed_prefix: pages the test itself navigated to by clicking links (a site)."""
        assert self.console_errors == [], self.console_errors
        assert self.page_errors == [], self.page_errors
        assert self.dialogs == [], self.dialogs
        foreign = [
            u for u in self.requests
            if u != self.url and not u.startswith("data:") and not (allowed_prefix and u.startswith(allowed_prefix))
        ]  # fmt: skip
        assert foreign == [], f"requests beyond the page itself: {foreign}"

    def close(self):
        self.context.close()


def table_rows(page, table_id: str) -> list[list[str]]:
    return page.eval_on_selector(
        f"table[id='{table_id}']",
        "t => Array.from(t.tBodies[0].rows).map(r => Array.from(r.cells).map(c => c.textContent))",
    )


def column_index(page, table_id: str, header: str) -> int:
    headers = page.eval_on_selector(
        f"table[id='{table_id}']", "t => Array.from(t.tHead.rows[0].cells).map(c => c.textContent)"
    )
    return headers.index(header)


def test_report_html_in_chromium(browser, mixed_run, tmp_path):
    out = tmp_path / "report"
    run_cli_in_process("report", mixed_run.root, "--format", "html", "--out", out, check=True)
    watch = PageWatch(browser, (out / "report.html").as_uri())
    page = watch.page
    try:
        # Every model x device x setting table has one row per level, failures included.
        table_ids = page.eval_on_selector_all("table.sortable", "ts => ts.map(t => t.id)")
        levels_by_model = {
            "digits-cnn": ["fp32", "fp16", "int8-dynamic", "int8", "pruned-75"],
            "mobilenet_v2": ["fp32", "fp16", "int8"],
        }
        setup_tables = [t for t in table_ids if "-setup" in t]
        assert len(setup_tables) == 2 * 3
        for table_id in setup_tables:
            model = "digits-cnn" if "digits" in table_id else "mobilenet_v2"
            rows = table_rows(page, table_id)
            assert [r[0] for r in rows] == levels_by_model[model]
        pixel_digits = next(t for t in setup_tables if "digits" in t and t.endswith("setup1"))
        status_col = column_index(page, pixel_digits, "status")
        statuses = [r[status_col] for r in table_rows(page, pixel_digits)]
        assert statuses[2].startswith("failed: runner exited with code 1") and statuses[4].startswith(
            "skipped: conversion failed"
        )
        assert len(table_rows(page, "runs")) == 1 and len(table_rows(page, "devices")) == 3
        cross = [t for t in table_ids if t.endswith("-cross")]
        assert [len(table_rows(page, t)) for t in cross] == [5, 3]

        # Plots: real, decoded, visible images.
        images = page.eval_on_selector_all(
            "figure img",
            "imgs => imgs.map(i => [i.naturalWidth, i.naturalHeight, i.complete, i.getBoundingClientRect().width])",
        )
        assert len(images) == 8  # latency, trade-off, energy, memory for each of the 2 models
        assert all(w > 300 and h > 200 and complete and shown > 100 for w, h, complete, shown in images), images

        # Sorting: click the median latency header of the virtual device's digits table.
        table_id = next(t for t in setup_tables if "digits" in t and t.endswith("setup0"))
        median_col = column_index(page, table_id, "median latency (ms)")

        def medians():
            return [r[median_col] for r in table_rows(page, table_id)]

        header = page.locator(f"table[id='{table_id}'] thead th").nth(median_col)
        header.click()
        ascending = medians()
        numbers = [float(v) for v in ascending if v != "-"]
        assert numbers == sorted(numbers) and ascending[-1] == "-"  # missing values last
        assert header.get_attribute("aria-sort") == "ascending"
        header.click()
        descending = [float(v) for v in medians() if v != "-"]
        assert descending == sorted(numbers, reverse=True)

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-html.png"), full_page=True)
        assert (ARTIFACTS / "report-html.png").stat().st_size > 10_000
        watch.assert_clean()
    finally:
        watch.close()


def test_hostile_names_run_no_script_in_chromium(browser, hostile_run, tmp_path):
    out = tmp_path / "report"
    run_cli_in_process("report", hostile_run.root, "--format", "html", "--out", out, check=True)
    watch = PageWatch(browser, (out / "report.html").as_uri())
    try:
        page = watch.page
        assert page.evaluate("document.querySelectorAll('script').length") == 1  # only the sorter
        assert page.evaluate("document.querySelectorAll('main b, main i').length") == 0
        text = page.evaluate("document.body.innerText")
        assert HOSTILE_MODEL in text  # shown literally, as text
        assert one_line(HOSTILE_DEVICE_NAME) in text
        watch.assert_clean()
    finally:
        watch.close()


def test_published_site_in_chromium(browser, flagged_site):
    site = flagged_site
    watch = PageWatch(browser, (site / "index.html").as_uri())
    try:
        page = watch.page
        models = table_rows(page, "models")
        assert sorted(r[0] for r in models) == sorted(["digits-cnn", "mobilenet_v2", HOSTILE_MODEL])
        # Follow the relative link to a leaderboard, then to a run page, like a visitor.
        page.get_by_role("link", name="digits-cnn", exact=True).click()
        page.wait_for_load_state("load")
        rows = table_rows(page, "leaderboard")
        assert len(rows) == 3 * 5  # 3 devices x 5 levels of the latest run
        flags_col = column_index(page, "leaderboard", "flags")
        assert any("virtual" in r[flags_col] for r in rows) and any("charging" in r[flags_col] for r in rows)
        page.locator("table[id='leaderboard'] a").first.click()
        page.wait_for_load_state("load")
        assert page.title().startswith("Run ")
        watch.assert_clean(allowed_prefix=site.as_uri() + "/")
        assert len(watch.requests) == 3  # index, leaderboard, run page: nothing else
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "site-run-page.png"))
    finally:
        watch.close()
