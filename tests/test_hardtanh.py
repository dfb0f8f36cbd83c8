"""The hardtanh factor, added as one factor module (``mcsim/factors/hardtanh.py``) and
its kernel (``kernels/hardtanh.py``): prox, divergence, breakpoints, SE moments, spec,
and the SE against Monte Carlo."""
import copy

import numpy as np
import pytest
from scipy.stats import norm

import mcsim
from mcsim.kernels.activations import HARDTANH, activation_breakpoints, activation_prox
from mcsim.kernels import se_quadrature as sq
from mcsim.ensembles import draw_network

from . import naive
from .conftest import TALK
from .naive import mlvamp_records
from .se_check import assert_se_agrees
from .test_se_moments import ALPHA, JUMP_STEP, _assert_moments

PAR = np.zeros(2)
HARDTANH_NET = copy.deepcopy(TALK)
for _layer in HARDTANH_NET["layers"]:
    if _layer["kind"] == "relu":
        _layer.update(kind="hardtanh", noise_var=0.01)


def _cases(n=200):
    rng = np.random.default_rng(7)
    return zip(rng.normal(0, 2, n), rng.normal(0, 1.2, n), rng.uniform(0.2, 5, n), rng.uniform(0.2, 5, n))


@pytest.mark.kernels
@pytest.mark.parametrize("nv", [0.0, 0.3])
def test_prox_is_the_global_argmin(nv):
    """x* minimises kappa/2 (clip(x) - c)^2 + gp/2 (x - a)^2 against a fine grid, and z*
    follows from it (the joint argmin over (z, x) when nv > 0)."""
    grid = np.linspace(-12, 12, 240001)
    for a, c, gp, gm in _cases(60):
        x, z, _, _ = activation_prox(HARDTANH, PAR, nv, a, c, gp, gm)
        kappa = gm / (1 + nv * gm)
        cost = 0.5 * kappa * (np.clip(grid, -1, 1) - c) ** 2 + 0.5 * gp * (grid - a) ** 2
        mine = 0.5 * kappa * (np.clip(x, -1, 1) - c) ** 2 + 0.5 * gp * (x - a) ** 2
        assert mine <= cost.min() + 1e-9
        assert z == pytest.approx((np.clip(x, -1, 1) + nv * gm * c) / (1 + nv * gm), abs=1e-12)


@pytest.mark.kernels
def test_prox_equals_its_twin_and_jumps():
    a, c = np.linspace(-4, 4, 4001), np.full(4001, 0.4)
    x = np.array([activation_prox(HARDTANH, PAR, 0.0, ai, 0.4, 1.0, 2.0)[0] for ai in a])
    np.testing.assert_allclose(x, naive.hardtanh_prox(a, c, 1.0, 2.0)[0], atol=1e-12)
    assert np.abs(np.diff(x)).max() > 0.1  # a jump (|c| < 1: the kinks are concave)


@pytest.mark.kernels
def test_divergences_are_derivatives_away_from_the_breakpoints():
    h = 1e-6
    for a, c, gp, gm in _cases():
        brk = activation_breakpoints(HARDTANH, PAR, 0.2, c, gp, gm)
        if np.min(np.abs(brk - a)) < 1e-3:
            continue
        _, _, dxa, dzc = activation_prox(HARDTANH, PAR, 0.2, a, c, gp, gm)
        fd = (activation_prox(HARDTANH, PAR, 0.2, a + h, c, gp, gm)[0]
              - activation_prox(HARDTANH, PAR, 0.2, a - h, c, gp, gm)[0]) / (2 * h)
        assert dxa == pytest.approx(fd, abs=1e-6)
        hc = 1e-7
        if np.min(np.abs(activation_breakpoints(HARDTANH, PAR, 0.2, c + 1e-4, gp, gm) - a)) > 1e-3:
            fdc = (activation_prox(HARDTANH, PAR, 0.2, a, c + hc, gp, gm)[1]
                   - activation_prox(HARDTANH, PAR, 0.2, a, c - hc, gp, gm)[1]) / (2 * hc)
            assert dzc == pytest.approx(fdc, abs=1e-5)


@pytest.mark.kernels
def test_breakpoints_cover_every_change_of_piece():
    """Between consecutive breakpoints x*(a) is affine: its second difference on a fine
    grid vanishes away from them."""
    for _, c, gp, gm in list(_cases(20)):
        brk = np.sort(activation_breakpoints(HARDTANH, PAR, 0.0, c, gp, gm))
        a = np.linspace(-8, 8, 8001)
        x = np.array([activation_prox(HARDTANH, PAR, 0.0, ai, c, gp, gm)[0] for ai in a])
        second = np.abs(x[2:] - 2 * x[1:-1] + x[:-2])
        near = np.min(np.abs(a[1:-1, None] - brk[None, :]), axis=1) < 5e-3
        assert second[~near].max() < 1e-9


@pytest.mark.parametrize("case", [(0.0, 1.0, -0.3, 0.5, 0.1, 0.3, 1.0, 2.0, 0.01),
                                  (0.3, 2.0, 0.1, 0.4, -0.2, 0.2, 1.5, 3.0, 0.05),
                                  (0.0, 1.5, -0.2, 0.4, 0.0, 0.0, 1.0, np.inf, 0.05)])
def test_se_moments_equal_monte_carlo(case):
    """As tests/test_se_moments.py, for hardtanh (the SE's pieces path): hidden (noisy),
    biased, measurement; the 12 moments, the means and the jump divergences (Bonferroni
    over these 3 x 16)."""
    b, chi, beta_in, v_in, beta_out, v_out, gp, gm, nv = case
    rng = np.random.default_rng(11)
    n = 2**20
    x0 = rng.normal(0, np.sqrt(chi), n)
    zin = b + x0
    zout = np.clip(zin, -1, 1) + rng.normal(0, np.sqrt(nv), n)
    a = zin + beta_in * x0 + rng.normal(0, np.sqrt(v_in), n)
    c = zout if np.isinf(gm) else (1 + beta_out) * zout + rng.normal(0, np.sqrt(v_out), n)
    x, z, dxa, dzc = naive.activation_prox("hardtanh", 0.0, 0.0, nv, a, c, gp, gm)
    prox = lambda a_, c_: naive.activation_prox("hardtanh", 0.0, 0.0, nv, a_, c_, gp, gm)  # noqa: E731
    ha = JUMP_STEP / np.sqrt(gp)
    jxa = (prox(a + ha, c)[0] - prox(a - ha, c)[0]) / (2 * ha)
    hc = 0.0 if np.isinf(gm) else JUMP_STEP / np.sqrt(gm)
    jzc = dzc if np.isinf(gm) else (prox(a, c + hc)[1] - prox(a, c - hc)[1]) / (2 * hc)
    df, qf, db, qb = z - zout, c - zout, x - zin, a - zin
    samples = np.stack([dzc, dxa, df * df, df * qf, qf * qf, df * zout, qf * zout,
                        db * db, db * qb, qb * qb, db * x0, qb * x0, x, z, jzc, jxa], axis=1)
    quad = sq.activation_moments(HARDTANH, PAR, nv, b, chi, nv, beta_in, v_in, beta_out, v_out, gp, gm, 1e-7,
                                 JUMP_STEP)
    _assert_moments(quad, samples, [str(k) for k in range(sq.N_ACT_MOMENTS)],
                    z=norm.isf(ALPHA / (2 * 3 * sq.N_ACT_MOMENTS)))  # Bonferroni


def test_spec_and_second_moment():
    spec = mcsim.NetworkSpec.from_dict(HARDTANH_NET)
    assert spec.layers[1].kind == "hardtanh" and spec.layers[1].code == HARDTANH
    with pytest.raises(mcsim.SpecError, match=r"layers\[1\].slope"):
        mcsim.NetworkSpec.from_dict({**HARDTANH_NET, "layers": [HARDTANH_NET["layers"][0],
                                                                 {"kind": "hardtanh", "slope": 0.1},
                                                                 HARDTANH_NET["layers"][-1]]})
    rng = np.random.default_rng(3)
    y = 0.4 + rng.normal(0, 1.3, 2**22)
    mc = np.mean(np.clip(y, -1, 1) ** 2)
    assert spec.layers[1].output_second_moment(0.4, 1.3**2) == pytest.approx(mc, abs=5 * np.std(np.clip(y, -1, 1) ** 2) / 2**11)


@pytest.mark.kernels
def test_kernel_run_equals_its_twin():
    net = draw_network(mcsim.NetworkSpec.from_dict(HARDTANH_NET).scaled(0.5), np.random.default_rng(4))
    records, valid = mcsim.montecarlo.run_trajectory(net, 6)
    assert valid == 6
    np.testing.assert_allclose(mlvamp_records(net, 6), records, rtol=1e-9, atol=1e-13)


def test_se_exact_before_the_first_hardtanh_message():
    """The hardtanh MAP prox jumps (|c| < 1), as the relu's does, so with the a.e.
    divergence the SE is asserted where the relu's is: every estimate computed before an
    extrinsic message leaving a hardtanh factor is used (t = 0: z_0, z_1 and z_2 forward);
    after it the a.e. divergence falls short of the Stein divergence."""
    spec = mcsim.NetworkSpec.from_dict(HARDTANH_NET)
    ds = mcsim.simulate(spec, 150, 2, seed=17, n_jobs=1)
    se = mcsim.state_evolution(spec, 2)
    assert (ds.valid_iterations == 2).all()
    assert_se_agrees(ds, se, ("tau_plus",), index={"iteration": [0], "layer": [0, 1, 2]})
    assert float((se.alpha_minus_stein - se.alpha_minus).sel(layer=[1, 3]).min()) > 1e-4
