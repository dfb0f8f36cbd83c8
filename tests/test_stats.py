"""Convergence statistics on synthetic data with known answers."""
import numpy as np
import pytest

from mcsim.stats import mean_deviation, rate_fit, verdict

WIDTHS = np.array([100, 200, 400, 800, 1600])


def _synthetic(rng, bias=0.0, networks=400, scale=2.0):
    """Samples SE + bias + scale n^-1/2 N(0, 1) at each width (the theory's fluctuation law)."""
    return [1.0 + bias + scale * rng.standard_normal(networks) / np.sqrt(n) for n in WIDTHS]


def test_rate_fit_recovers_the_slope():
    """The fitted slope's 95% interval contains -1/2 (seeded: one fixed draw)."""
    rng = np.random.default_rng(7)
    devs = [mean_deviation(x, 1.0) for x in _synthetic(rng)]
    fit = rate_fit(WIDTHS, [d.rms for d in devs])
    assert fit.low <= -0.5 <= fit.high, fit
    assert fit.high - fit.low < 0.2


def test_unbiased_data_is_consistent():
    rng = np.random.default_rng(8)
    dev = mean_deviation(_synthetic(rng)[-1], 1.0)
    assert dev.low <= 0 <= dev.high
    assert verdict(dev, checks=len(WIDTHS)).startswith("consistent")


def test_constant_bias_deviates():
    """A bias of 0.02 against a fluctuation 2/sqrt(1600) = 0.05 per network, 400 networks:
    the mean's standard error is 0.0025, so the bias is 8 standard errors."""
    rng = np.random.default_rng(9)
    dev = mean_deviation(_synthetic(rng, bias=0.02)[-1], 1.0)
    assert verdict(dev, checks=len(WIDTHS)).startswith("deviates")
    assert dev.low <= 0.02 <= dev.high


def test_bad_inputs():
    with pytest.raises(ValueError, match="at least 2"):
        mean_deviation([np.nan, 1.0], 0.0)
    with pytest.raises(ValueError, match="at least 3"):
        rate_fit([1, 2], [1, 2])
