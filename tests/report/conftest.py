"""Run directories for the report tests, built once per session through the store API."""

from __future__ import annotations

import dataclasses

import pytest

from tests.report.report_runs import (
    CHARGING_PHONE,
    DIGITS,
    FAILED_REASON,
    HOSTILE_DEVICE_NAME,
    HOSTILE_MODEL,
    MOBILENET,
    PIXEL,
    VIRTUAL,
    FakeDevice,
    build_run,
)  # fmt: skip
from tests.support.cli import run_cli_in_process


def _pixel_fails_int8_dynamic(model, level, device):
    if device.serial == PIXEL.serial and level == "int8-dynamic":
        return "failed", FAILED_REASON
    return "ok", None


@pytest.fixture(scope="session")
def results_root(tmp_path_factory):
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="session")
def mixed_run(results_root):
    """Two models (one trained, one random-weight) on a virtual device, a phone and a charging
    phone; one failed cell and one level that failed to convert (skipped cells)."""
    return build_run(
        results_root,
        "2026-01-01T000000Z-mix1",
        [VIRTUAL, PIXEL, CHARGING_PHONE],
        [DIGITS, MOBILENET],
        outcome=_pixel_fails_int8_dynamic,
    )


@pytest.fixture(scope="session")
def hostile_run(results_root):
    device = FakeDevice(
        "EVIL|1*", manufacturer="ACME <i>", model=HOSTILE_DEVICE_NAME, friendly_name=HOSTILE_DEVICE_NAME
    )
    model = dataclasses.replace(DIGITS, name=HOSTILE_MODEL)
    return build_run(
        results_root,
        "2026-01-01T000000Z-evil",
        [device, VIRTUAL],
        [model],
        outcome=lambda m, level, d: ("failed", FAILED_REASON) if level == "fp16" and d is device else ("ok", None),
    )


@pytest.fixture(scope="session")
def virtual_pair(results_root):
    """The same sweep twice on the same virtual device profile, under two serials; and a third
    run whose runner was 25% slower."""
    again = dataclasses.replace(VIRTUAL, serial="127.0.0.1:6523")
    first = build_run(results_root, "2026-01-02T000000Z-va01", [VIRTUAL], [DIGITS], seed=11, cv=0.05)
    second = build_run(results_root, "2026-01-02T000000Z-va02", [again], [DIGITS], seed=12, cv=0.05)
    slowed = build_run(results_root, "2026-01-02T000000Z-va03", [again], [DIGITS], seed=13, cv=0.05, slowdown=1.25)
    return first, second, slowed


@pytest.fixture(scope="session")
def flagged_site(mixed_run, hostile_run, tmp_path_factory):
    """`squeezebench publish --include-flagged` of the mixed and the hostile run."""
    site = tmp_path_factory.mktemp("published") / "site"
    run_cli_in_process("publish", mixed_run.root, hostile_run.root, "--out", site, "--include-flagged", check=True)
    return site
