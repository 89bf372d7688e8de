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
    """Two-sided Student-t quantile, by Newton's method on the distribution function. Not scipy's:
    importing scipy.stats costs a second or more here, paid in the middle of every sweep."""
    if dof <= 0:
        return math.inf
    p = 0.5 + confidence / 2
    # From the normal quantile Newton climbs to the root without overshooting: the CDF is
    # concave beyond 0, and the t quantile lies above the normal one.
    x = statistics.NormalDist().inv_cdf(p)
    for _ in range(200):
        step = (_t_cdf(x, dof) - p) / _t_pdf(x, dof)
        x -= step
        # Converged: Newton's error is then about step², and below 1e-11 the steps are the
        # distribution function's rounding noise (a 3e-12 step back and forth with 50,000
        # degrees of freedom, for 200 rounds).
        if abs(step) <= 1e-11 * abs(x):
            break
    return x


def _t_pdf(x: float, dof: int) -> float:
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    return math.exp(log_norm - (dof + 1) / 2 * math.log1p(x * x / dof))


def _t_cdf(x: float, dof: int) -> float:
    """P(T <= x) for x >= 0."""
    return 1 - 0.5 * _regularized_beta(dof / 2, 0.5, dof / (dof + x * x))


def _regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), by its continued fraction (Numerical Recipes, betai), on the side where it converges."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_fraction(a, b, x) / a
    return 1 - front * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function, by the modified Lentz method."""
    tiny = 1e-300

    def nonzero(value: float) -> float:
        return value if abs(value) > tiny else tiny

    c, d = 1.0, 1 / nonzero(1 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 100_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1 / nonzero(1 + numerator * d)
            c = nonzero(1 + numerator / c)
            fraction *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return fraction


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
    mean = math.fsum(ordered) / n
    # Two passes in floats, as accurate here as statistics.pstdev's exact fractions and 4x
    # quicker: a 3 s cell of a small model has 50,000 samples.
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in ordered) / n) if n > 1 else 0.0
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
