"""Confidence intervals behave as intervals should: right coverage, right quantiles."""

import random
import statistics

import pytest

from harness import stats
from harness.store.cell_files import parse_latency_samples


def test_median_interval_covers_the_true_median_about_95_percent_of_the_time():
    rng = random.Random(7)
    true_median = 1000.0  # lognormal(mu=ln 1000): its median is exactly 1000
    trials, covered = 600, 0
    for _ in range(trials):
        samples = [rng.lognormvariate(6.907755, 0.3) for _ in range(60)]
        lo, hi = stats.median_ci(samples)
        covered += lo <= true_median <= hi
    assert 0.91 <= covered / trials <= 0.99


def test_mean_interval_uses_student_t():
    # Two-sided 95% values from any t table.
    for dof, table_value in ((3, 3.182), (10, 2.228), (30, 2.042), (1000, 1.962)):
        assert stats.t_quantile(0.95, dof) == pytest.approx(table_value, abs=1e-3)
    lo, hi = stats.mean_ci(100.0, 10.0, 25)
    assert (lo, hi) == pytest.approx((100 - 2.0639 * 2, 100 + 2.0639 * 2), rel=1e-3)


@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_the_t_quantile_is_scipys_for_every_sample_count(confidence):
    """Computed without scipy (its import costs a second in every sweep), checked against it."""
    from scipy.stats import t

    for dof in [*range(1, 40), 99, 500, 4999, 20000, 10**6]:
        assert stats.t_quantile(confidence, dof) == pytest.approx(t.ppf(0.5 + confidence / 2, dof), rel=1e-8)


def test_too_few_samples_give_no_interval():
    assert stats.median_ci([1, 2, 3]) is None
    assert stats.mean_ci(1.0, 0.5, 1) is None


def test_summary_from_samples_matches_definitions():
    samples = [float(x) for x in range(1, 101)]
    summary = stats.summarize_samples(samples)
    assert summary["median"] == 50.5
    assert summary["p5"] == pytest.approx(5.95)
    assert summary["p95"] == pytest.approx(95.05)
    assert summary["min"] == 1 and summary["max"] == 100 and summary["first"] == 1
    lo, hi = summary["ci95_median"]
    assert lo < 50.5 < hi


def test_mean_and_std_are_the_exact_ones_for_many_samples():
    # Latencies as a 3 s cell of a small model has them: 50,000, close together, far from 0.
    rng = random.Random(7)
    samples = [60.0 + rng.gauss(0, 3) for _ in range(50_000)]
    summary = stats.summarize_samples(samples)
    assert summary["mean"] == pytest.approx(statistics.fmean(samples), rel=1e-15)
    assert summary["std"] == pytest.approx(statistics.pstdev(samples), rel=1e-12)


def test_latency_samples_are_read_with_or_without_comments_and_warmup_lines():
    assert parse_latency_samples("61.5\n60.25\n") == [61.5, 60.25]
    assert parse_latency_samples("# µs\nwarmup 80.0\n61.5\n\nnot a number\n60.25\n") == [61.5, 60.25]


def test_noisy_is_a_coefficient_of_variation_above_ten_percent():
    assert stats.is_noisy(stats.summary_intervals(100.0, 11.0, 50)["cv"])
    assert not stats.is_noisy(stats.summary_intervals(100.0, 9.0, 50)["cv"])


def test_the_t_quantile_stops_at_the_distribution_functions_rounding_noise(monkeypatch):
    # A 3 s cell of a small model has 50,000 samples: Newton reaches the root in a few steps, then
    # its steps are the CDF's rounding noise (3e-12), which a tighter bound chased for 200 rounds.
    calls = []
    cdf = stats._t_cdf
    monkeypatch.setattr(stats, "_t_cdf", lambda x, dof: calls.append(x) or cdf(x, dof))
    assert stats.t_quantile(0.95, 59_061) == pytest.approx(1.9600041518, rel=1e-10)
    assert len(calls) <= 5
