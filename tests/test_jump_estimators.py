"""The kernel estimators of the relu MAP prox's jump term ("kernel", "flattop"; issue 17):
their kernels, the jump lines they sum over, the run variant, and their expectation at an
SE state against the SE's deterministic Stein divergence."""
import numpy as np
import pytest
from scipy import integrate, stats

import mcsim
from mcsim.estimators import divergence_draws
from mcsim.kernels.activations import (CENTRAL, FLAT_TOP, GAUSS_KERNEL, MAX_BREAKS, PWL, activation_prox_vector,
                                       jump_kernel, jump_lines)
from mcsim.run import RunSpec
from mcsim.spec import NetworkSpec, SpecError

from .conftest import TALK
from .se_check import assert_se_agrees


def _fourier(kernel, w, X=4000.0):
    """The Fourier transform 2 int_0^X K(u) cos(w u) du of an even kernel, by quadrature over
    intervals of length pi.  The flat-top's tail beyond X is O(1 / (f X^2)) for its lowest
    frequency f = |w - 1/2| or |w - 1| in the product, below 1e-5 at the w tested."""
    f = lambda u: jump_kernel(kernel, u) * np.cos(w * u)  # noqa: E731
    return 2.0 * sum(integrate.quad(f, k, k + np.pi)[0] for k in np.arange(0.0, X, np.pi))


@pytest.mark.kernels
@pytest.mark.parametrize("w", [0.0, 0.2, 0.4, 0.75, 1.5])
def test_kernels_have_their_fourier_transforms(w):
    """Gaussian: exp(-w^2 / 2); flat-top: 1 on |w| <= 1/2, 2 (1 - |w|) on 1/2..1, 0 beyond
    (so it integrates to 1 and its transform is flat at 0: infinite order)."""
    assert _fourier(GAUSS_KERNEL, w) == pytest.approx(np.exp(-0.5 * w * w), abs=1e-10)
    flat = 1.0 if w <= 0.5 else max(0.0, 2.0 * (1.0 - w))
    assert _fourier(FLAT_TOP, w) == pytest.approx(flat, abs=1e-5)


@pytest.mark.kernels
def test_flat_top_kernel_near_zero():
    """The product form has no cancellation: K(u) -> 3 / (4 pi) smoothly."""
    for u in (1e-12, 1e-6, 1e-3):
        assert jump_kernel(FLAT_TOP, u) == pytest.approx(0.75 / np.pi * (1 - 15 / 144 * u * u), rel=1e-12)


@pytest.mark.parametrize("slope,gm", [(0.0, 3.0), (0.1, 3.0), (1e-4, 0.2), (0.0, np.inf), (0.0, 0.2), (1.0, 3.0)])
def test_jump_lines_are_every_jump_of_the_prox(slope, gm):
    """On fine grids of sections (x*(., c) for fixed c, z*(a, .) for fixed a), every step of the
    prox larger than its smooth change is on a jump line, with the jump |c| J(sign c)
    (|a| J(sign a)); identity (slope 1) has none."""
    par, nv, gp = np.array([slope, 0.0]), 0.01, 2.0
    rng = np.random.default_rng(5)
    grid = np.linspace(-12.0, 12.0, 240001)  # spacing 1e-4; the prox's slopes are <= 1, so smooth steps <= 1e-4
    x, z = np.empty(grid.size), np.empty(grid.size)
    for along_a in (True, False) if np.isfinite(gm) else (True,):
        lines = np.empty((MAX_BREAKS, 3))
        count = jump_lines(PWL, par, nv, gp, gm, along_a, lines)
        assert count == (0 if slope == 1.0 else 1)
        for fixed in rng.normal(0.0, 2.0, 6):
            a, c = (grid, np.full(grid.size, fixed)) if along_a else (np.full(grid.size, fixed), grid)
            activation_prox_vector(PWL, par, nv, a, c, gp, gm, x, z, 0.0, CENTRAL)
            g = x if along_a else z
            found = np.flatnonzero(np.abs(np.diff(g)) > 1e-3)
            expected = [(fixed * beta if along_a else fixed / beta, abs(fixed) * (jp if fixed >= 0 else jm))
                        for beta, jp, jm in lines[:count]]
            expected = sorted((s, j) for s, j in expected if abs(j) > 1e-3 and abs(s) < 11.0)
            assert len(found) == len(expected), (fixed, found, expected)
            for (s, j), k in zip(expected, found):
                assert grid[k] <= s <= grid[k + 1]
                assert g[k + 1] - g[k] == pytest.approx(j, abs=2e-4)


def test_kernel_run_variants():
    """"kernel" and "flattop" read back, their bandwidth rules, and a refusal for an activation
    whose breakpoints are not lines through 0."""
    d = dict(TALK, run={"divergence": "flattop"})
    run = NetworkSpec.from_dict(d).run
    assert run.consistent and RunSpec.from_dict(run.to_dict()) == run
    for n in (1000, 10 ** 4, 10 ** 6):
        assert run.step(n) == pytest.approx(1.0 / np.sqrt(8.0 * np.log(n)), rel=1e-12)
    run = NetworkSpec.from_dict(dict(TALK, run={"divergence": "kernel", "jump_step": 0.25})).run
    assert run.consistent and run.step(32000) == pytest.approx(0.25 / 2)
    assert not NetworkSpec.from_dict(dict(TALK, run={"divergence": "jump"})).run.consistent
    hard = dict(TALK, layers=[dict(m, kind="hardtanh") if m["kind"] == "relu" else m for m in TALK["layers"]])
    NetworkSpec.from_dict(dict(hard, run={"divergence": "stein"}))
    with pytest.raises(SpecError, match=r"layers\[1\]\.kind.*conic"):
        NetworkSpec.from_dict(dict(hard, run={"divergence": "flattop"}))


# Expectation at an SE state: iteration t = 9 of the undamped Stein SE of the stochastic
# relu network, R = 200 draws of n = 10^4 components per hidden relu map and direction,
# each from the law of the messages that update saw (``mcsim.estimators.message_law``).
# The flat-top estimator's bias is bounded by its kernel's Fourier tail, about
# 1.6 (h sqrt(gam)) exp(-1 / (8 h^2 gam)) = 0.2 / n = 2e-5 of the jump density, below 1/10
# of the standard error of the mean (3e-4 of alpha or more), so no allowance.  Bonferroni
# over the 4 checks at alpha = 1e-3: |z| <= 3.48.  Power: the a.e. estimator, which misses
# the jump term (1.5-6.5 % of alpha here), must fail the same test.
R, N = 200, 10 ** 4
Z_MAX = stats.norm.ppf(1 - 1e-3 / (2 * 4))


@pytest.fixture(scope="module")
def draws():
    spec = NetworkSpec.from_toml("studies/networks/relu_stochastic.toml")
    se = mcsim.state_evolution(spec, iterations=10, run={"divergence": "flattop"})
    return [divergence_draws(spec, se, j, 9, N, R, seed=17 + j) for j in (1, 3)]


def _z(ds, divergence):
    a = ds.alpha.sel(divergence=divergence)
    return ((a.mean("draw") - ds.alpha_stein) / (a.std("draw", ddof=1) / np.sqrt(R))).values


def test_flat_top_estimates_the_stein_divergence(draws):
    for ds in draws:
        z = _z(ds, "flattop")
        assert np.all(np.abs(z) <= Z_MAX), z
        assert np.all(np.abs(_z(ds, "ae")) > Z_MAX), _z(ds, "ae")


def test_flat_top_is_less_noisy_than_the_central_difference(draws):
    """Its bandwidth shrinks as (ln n)^(-1/2), the central difference's step as n^(-1/5): at
    n = 10^4 its spread is below stein's (measured ratio 0.89-0.90).  The estimators see the
    same draws, so the ratio of spreads is tested paired: its bootstrap standard error
    (2000 resamples of the draws) puts the ratio's one-sided 99.95 % bound below 1
    (z 3.29, Bonferroni over the 2 maps at 1e-3)."""
    rng = np.random.default_rng(3)
    for ds in draws:
        f, s = (ds.alpha.sel(divergence=d, direction="minus").values for d in ("flattop", "stein"))
        boot = rng.integers(0, R, (2000, R))
        ratios = f[boot].std(1, ddof=1) / s[boot].std(1, ddof=1)
        ratio = f.std(ddof=1) / s.std(ddof=1)
        assert ratio + 3.29 * ratios.std(ddof=1) < 1.0, (ratio, ratios.std(ddof=1))


@pytest.mark.kernels
@pytest.mark.parametrize("divergence,K", [
    ("kernel", lambda u: np.exp(-u * u / 2) / np.sqrt(2 * np.pi)),
    ("flattop", lambda u: 4 * np.sin(0.75 * u) * np.sin(0.25 * u) / (np.pi * u * u))])
def test_one_component_adds_its_jump_times_the_run_kernel(divergence, K):
    """A single relu component at distance u h from its jump line, through the run variant's
    kernel code and bandwidth: <dx*/da> = a.e. derivative + J K(u) / h."""
    run = NetworkSpec.from_dict(dict(TALK, run={"divergence": divergence})).run
    par, nv, gp, gm, width = np.array([0.0, 0.0]), 0.01, 2.0, 3.0, 5000
    lines = np.empty((MAX_BREAKS, 3))
    assert jump_lines(PWL, par, nv, gp, gm, True, lines) == 1
    beta, jp = lines[0, 0], lines[0, 1]
    h = run.step(width) / np.sqrt(gp)
    for c, u in ((1.3, 0.7), (0.4, -2.5), (2.0, 9.0), (-1.1, 0.3)):  # c < 0: no jump along a (J(-1) = 0)
        a, x, z = np.array([beta * c + u * h]), np.empty(1), np.empty(1)
        ae = activation_prox_vector(PWL, par, nv, a, np.array([c]), gp, gm, x, z, 0.0, CENTRAL)[0]
        est = activation_prox_vector(PWL, par, nv, a, np.array([c]), gp, gm, x, z, run.step(width), run.kernel)[0]
        assert est - ae == pytest.approx(abs(c) * (jp if c >= 0 else lines[0, 2]) * K(u) / h, rel=1e-9, abs=1e-12)
    assert jump_lines(PWL, par, nv, gp, gm, False, lines) == 1  # along c: z*(a, .) jumps at c = a / beta
    beta, jm = lines[0, 0], lines[0, 2]
    h = run.step(width) / np.sqrt(gm)
    for a, u in ((-0.9, 0.4), (-2.0, -1.5)):
        c, x, z = np.array([a / beta + u * h]), np.empty(1), np.empty(1)
        ae = activation_prox_vector(PWL, par, nv, np.array([a]), c, gp, gm, x, z, 0.0, CENTRAL)[1]
        est = activation_prox_vector(PWL, par, nv, np.array([a]), c, gp, gm, x, z, run.step(width), run.kernel)[1]
        assert est - ae == pytest.approx(abs(a) * jm * K(u) / h, rel=1e-9)


@pytest.mark.parametrize("divergence", ["kernel", "flattop"])
def test_kernel_runs_follow_the_stein_se(divergence):
    """End to end: ML-VAMP with a kernel estimator on the talk network at x4 (40 networks,
    6 iterations) agrees with the Stein SE (``se_check``'s CLT bound with its finite-n
    allowance and Bonferroni), where the a.e. run, on the same networks, does not."""
    spec = NetworkSpec.from_dict(TALK).scaled(4)
    se = mcsim.state_evolution(spec, 6, run={"divergence": divergence})
    mc = mcsim.simulate(spec, 40, 6, seed=11, n_jobs=1, run={"divergence": divergence})
    assert_se_agrees(mc, se, ["tau_plus", "tau_minus"])
    with pytest.raises(AssertionError):
        assert_se_agrees(mcsim.simulate(spec, 40, 6, seed=11, n_jobs=1), se, ["tau_plus", "tau_minus"])


def test_kernel_runs_use_their_kernel():
    """The run passes its kernel to ML-VAMP: with one relu map of width 1000, where flattop's
    bandwidth equals its jump_step, a flattop run is not the central difference of that step."""
    net = {"input": {"dim": 20, "prior": {"law": "gaussian", "var": 1.0}},
           "layers": [{"kind": "linear", "dim": 1000, "spectrum": {"law": "uniform", "low": 0.5, "high": 1.5},
                       "bias": 0.2, "noise_var": 0.01},
                      {"kind": "relu", "noise_var": 0.01},
                      {"kind": "linear", "dim": 300, "spectrum": {"law": "constant", "value": 1.0}, "noise_var": 0.01}]}
    spec = NetworkSpec.from_dict(net)
    flat = RunSpec.from_dict({"divergence": "flattop"})
    assert flat.step(1000) == flat.jump_step
    runs = [mcsim.simulate(spec, 2, 3, seed=4, n_jobs=1, run=run).alpha_minus.values
            for run in (flat.to_dict(), {"divergence": "jump", "jump_step": flat.jump_step})]
    assert np.all(np.isfinite(runs[0])) and np.abs(runs[0] - runs[1]).max() > 1e-6
