"""Convergence statistics of Monte Carlo trajectories against the SE.

For a quantity Q (e.g. ``tau_minus``) of networks i = 1..N at width n:

- mean deviation  D(n) = mean_i Q_i - SE, with a Student-t confidence interval;
- RMS deviation   R(n) = sqrt(mean_i (Q_i - SE)^2), the per-network fluctuation,
  which the theory predicts falls as n^(-1/2): log R = c + slope log n is fitted by
  least squares over the widths, with a t confidence interval on the slope;
- verdict: "consistent with SE" when the two-sided t-test of D = 0 at the largest
  width has p > alpha / K (Bonferroni over the K points judged together), else "deviates".
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["Deviation", "mean_deviation", "rate_fit", "RateFit", "verdict"]


@dataclass(frozen=True)
class Deviation:
    """Mean deviation of N samples from a prediction, its confidence interval and t-test p-value."""

    mean: float
    low: float
    high: float
    p_value: float
    rms: float
    n: int
    stderr: float  # standard error of the mean


def mean_deviation(samples, prediction: float, confidence: float = 0.95) -> Deviation:
    """D = mean(samples) - prediction with a Student-t interval; NaN samples are dropped."""
    x = np.asarray(samples, float)
    x = x[np.isfinite(x)] - prediction
    if x.size < 2:
        raise ValueError(f"need at least 2 finite samples, got {x.size}")
    m = x.mean()
    se = x.std(ddof=1) / np.sqrt(x.size)
    half = stats.t.ppf(0.5 + confidence / 2, x.size - 1) * se
    if se > 0:
        p = 2 * stats.t.sf(abs(m) / se, x.size - 1)
    else:  # every sample deviates by exactly m
        p = 1.0 if m == 0 else 0.0
    return Deviation(m, m - half, m + half, p, float(np.sqrt(np.mean(x**2))), x.size, se)


@dataclass(frozen=True)
class RateFit:
    """log R = intercept + slope log n, with a confidence interval on the slope."""

    slope: float
    low: float
    high: float
    intercept: float


def rate_fit(widths, rms, confidence: float = 0.95) -> RateFit:
    """Least-squares fit of log(rms) against log(width) (at least 3 widths)."""
    w = np.log(np.asarray(widths, float))
    r = np.log(np.asarray(rms, float))
    if w.size < 3:
        raise ValueError(f"a rate needs at least 3 widths, got {w.size}")
    fit = stats.linregress(w, r)
    half = stats.t.ppf(0.5 + confidence / 2, w.size - 2) * fit.stderr
    return RateFit(fit.slope, fit.slope - half, fit.slope + half, fit.intercept)


def verdict(deviation: Deviation, checks: int = 1, alpha: float = 0.01) -> str:
    """'consistent with SE' or 'deviates' for one point among ``checks`` judged together."""
    if deviation.p_value > alpha / checks:
        return f"consistent with SE (p = {deviation.p_value:.2g})"
    return f"deviates (p = {deviation.p_value:.2g}, mean {deviation.mean:+.3g} in [{deviation.low:+.3g}, " \
           f"{deviation.high:+.3g}])"
