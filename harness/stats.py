"""Statistics of measurements, all in one place: spread and confidence intervals of latency
samples, and the tests that tell two sets of measurements apart.

With raw per-iteration samples (the bundled runner writes them) the median gets a
distribution-free confidence interval from order statistics; with only the summary line of the
official runner, the mean gets a Student-t interval from count, mean and std.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

CONFIDENCE = 0.95
# Coefficient of variation above which runs are called noisy (the reference's "run-to-run
# variance above 10%" pain point).
NOISY_CV = 0.10


def _z(confidence: float) -> float:
    return statistics.NormalDist().inv_cdf(0.5 + confidence / 2)


def t_quantile(confidence: float, dof: int) -> float:
    """Two-sided Student-t quantile."""
    if dof <= 0:
        return math.inf
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, dof))


def median_ci(samples: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Order-statistic interval for the median: no assumption about the distribution's shape."""
    n = len(samples)
    if n < 6:
        return None
    ordered = sorted(samples)
    half_width = _z(confidence) * math.sqrt(n) / 2
    lo_rank = max(0, math.floor(n / 2 - half_width) - 1)
    hi_rank = min(n - 1, math.ceil(n / 2 + half_width))
    return ordered[lo_rank], ordered[hi_rank]


def mean_ci(mean: float | None, std: float | None, count: int | None, confidence: float = CONFIDENCE):
    if mean is None or std is None or not count or count < 2:
        return None
    half = t_quantile(confidence, count - 1) * std / math.sqrt(count)
    return mean - half, mean + half


def percentile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile of already sorted samples (q in 0..100)."""
    if not ordered:
        raise ValueError("no samples")
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize_samples(samples_us: Sequence[float]) -> dict:
    """The same fields the runner prints, recomputed from raw samples, plus intervals."""
    ordered = sorted(samples_us)
    n = len(ordered)
    mean = statistics.fmean(ordered)
    std = statistics.pstdev(ordered) if n > 1 else 0.0
    return {
        "count": n,
        "first": samples_us[0],
        "min": ordered[0],
        "max": ordered[-1],
        "mean": mean,
        "std": std,
        "median": percentile(ordered, 50),
        "p5": percentile(ordered, 5),
        "p90": percentile(ordered, 90),
        "p95": percentile(ordered, 95),
        "ci95_median": median_ci(ordered),
        "ci95_mean": mean_ci(mean, std, n),
        "cv": std / mean if mean else None,
    }


def summary_intervals(mean: float | None, std: float | None, count: int | None) -> dict:
    """What can be said of the spread from the runner's stats line alone (no raw samples): the
    mean's interval and the coefficient of variation; the median's interval needs samples."""
    return {
        "ci95_median": None,
        "ci95_mean": mean_ci(mean, std, count),
        "cv": std / mean if mean and std is not None else None,
    }


def is_noisy(cv: float | None) -> bool:
    return cv is not None and cv > NOISY_CV


def relative_change(a: float | None, b: float | None) -> float | None:
    """(b - a) / a, None when either is unknown or a is 0."""
    if a is None or b is None or a == 0:
        return None
    return (b - a) / a


def relative_spread(p5: float | None, p95: float | None, median: float | None) -> float | None:
    """The p5-p95 spread of single measurements relative to their median."""
    if p5 is None or p95 is None or not median:
        return None
    return (p95 - p5) / median


def mann_whitney_p(samples_a: Sequence[float], samples_b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U test: the chance of samples this far apart from one distribution."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(samples_a, samples_b, alternative="two-sided").pvalue)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def relative_std(values: Sequence[float]) -> float | None:
    """Sample standard deviation over the mean: the spread of repeated measurements (None below 2)."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if mean else None


def detectable_change(spread_a: float | None, count_a: int, spread_b: float | None, count_b: int,
                      alpha: float) -> float | None:
    """The smallest relative change of the mean of `count_b` repeated medians against the mean
    of `count_a` that a two-sided t-test at level `alpha` tells from noise, given each side's
    relative spread (relative_std). One side without a spread of its own (one run) is taken to
    be as noisy as the other; None when neither has one."""
    spreads = [(s, n) for s, n in ((spread_a, count_a), (spread_b, count_b)) if s is not None]
    if not spreads:
        return None
    pooled = math.sqrt(sum((n - 1) * s * s for s, n in spreads) / sum(n - 1 for _, n in spreads))
    dof = sum(n - 1 for _, n in spreads)
    return t_quantile(1 - alpha, dof) * pooled * math.sqrt(1 / count_a + 1 / count_b)
