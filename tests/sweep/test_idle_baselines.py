"""An idle baseline kept at the end of one run's queue is lent to the next run on the same device,
named as coming from that run, and never to another device."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest

from harness.bench.energy import IdleBaseline, PowerConditions
from harness.bench.session import LentBaseline
from harness.sweep import idle_baselines

CONDITIONS = PowerConditions(0, "suspended, not charging, chargers online: none")
BASELINE = IdleBaseline(
    source="battery-gauge", power_mw=439.2, duration_s=1.78, samples=8, normalisation=("current sign flipped",),
    rails=(), taken_at_uptime_s=19538.59, conditions=CONDITIONS, taken_in="cell c1",
)


def session(fingerprint: str = "squeezebench/sb_virtual:14/SQZB.34/1", lent=None):
    passport = SimpleNamespace(props={"ro.build.fingerprint": fingerprint, "ro.product.model": "Virtual Device"},
                               kernel="6.18.44")
    return SimpleNamespace(passport=passport, lent_baseline=lent, last_conditions=CONDITIONS if lent else None)


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_STATE", str(tmp_path / "state"))


def test_the_next_run_on_the_device_borrows_the_kept_baseline_named_by_its_run():
    idle_baselines.keep_for_next_run(session(lent=LentBaseline(BASELINE, 123.5, (2.0, 250, True))), "dev", "run-1")
    next_run = session()
    idle_baselines.lend_from_last_run(next_run, "dev")
    assert next_run.lent_baseline == LentBaseline(replace(BASELINE, taken_in="cell c1 of run run-1"), 123.5,
                                                  (2.0, 250, True))
    assert next_run.last_conditions == CONDITIONS


def test_another_device_or_none_kept_lends_nothing():
    idle_baselines.keep_for_next_run(session(lent=LentBaseline(BASELINE, 123.5, (2.0, 250, True))), "dev", "run-1")
    for key, other in (("dev", session(fingerprint="another/build:15")), ("other-dev", session())):
        idle_baselines.lend_from_last_run(other, key)
        assert other.lent_baseline is None and other.last_conditions is None
    idle_baselines.keep_for_next_run(session(), "dev", "run-2")  # a run that ended with none on loan
    after = session()
    idle_baselines.lend_from_last_run(after, "dev")
    assert after.lent_baseline is None
