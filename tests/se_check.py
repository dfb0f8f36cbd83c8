"""The SE-versus-Monte-Carlo check with a derived tolerance.

For a quantity Q at (t, l), the mean over N networks has CLT standard error
se = sd / sqrt(N).  With K checks and overall false-failure rate ALPHA, each check
allows z = Phi^-1(1 - ALPHA / (2K)) standard errors (Bonferroni), plus a finite-n
bias allowance BIAS / n_l * |SE| for the O(1/n) corrections of a finite network
(the limit laws replace empirical spectra and norms).

Every SE checked here is deterministic (its quadrature error, below 1e-6 relative, is
not in the tolerance).  :func:`population_se` gives the population SE's mean and
standard error over SEEDS seeds, against which ``tests/test_se_cross.py`` checks the
deterministic SE with memory.
"""
import numpy as np
import xarray as xr
from scipy.stats import norm

from mcsim.state_evolution import state_evolution

ALPHA = 1e-3
BIAS = 2.0


def se_gaps(ds, se, names, index=None):
    """z-scores and relative gaps of the MC mean against the SE, per quantity."""
    out = {}
    n_net = ds.sizes["network"]
    for name in names:
        mc = ds[name].mean("network")
        err = ds[name].std("network", ddof=1) / np.sqrt(n_net)
        gap = mc - se[name]
        if index is not None:
            mc, err, gap = mc.isel(index), err.isel(index), gap.isel(index)
        out[name] = (gap / err, gap / np.abs(se[name] if index is None else se[name].isel(index)))
    return out


SEEDS = 8


def population_se(spec, iterations, population=2**16):
    """(mean, standard error) over SEEDS population SEs of ``spec`` (Datasets)."""
    runs = [state_evolution(spec, iterations, memory=True, cross="population", population=population, seed=s)
            for s in range(SEEDS)]
    stacked = xr.concat(runs, "seed")
    return stacked.mean("seed"), stacked.std("seed", ddof=1) / np.sqrt(SEEDS)


def assert_se_agrees(ds, se, names, index=None):
    """Assert |mean - SE| <= z se + BIAS / n_l |SE| at every checked (t, l), all finite."""
    checks = []
    for name in names:
        assert np.isfinite(ds[name].values).all(), f"{name}: non-finite Monte Carlo values"
        assert np.isfinite(se[name].values).all(), f"{name}: non-finite SE values"
        mc = ds[name].mean("network")
        err = ds[name].std("network", ddof=1) / np.sqrt(ds.sizes["network"])
        ref = se[name]
        if index is not None:
            mc, err, ref = mc.isel(index), err.isel(index), ref.isel(index)
        checks.append((name, mc, err, ref))
    k = sum(c[1].size for c in checks)
    z = norm.isf(ALPHA / (2 * k))
    for name, mc, err, ref in checks:
        allowed = z * err + BIAS / ref["width"] * np.abs(ref)
        bad = np.abs(mc - ref) > allowed
        assert not bad.any(), (
            f"{name}: MC mean leaves the SE at {int(bad.sum())} of {bad.size} points "
            f"(z = {z:.2f}, K = {k}):\nMC\n{mc.values}\nSE\n{ref.values}\nallowed\n{allowed.values}")
