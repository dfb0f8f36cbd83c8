"""The SE quadrature's factor moments equal Monte Carlo averages over the scalar model.

``kernels.se_quadrature`` computes, per factor, expectations over the truth and the two
incoming messages (prior_moments, activation_moments).  Here the same scalar model is
sampled (N = 2^20 draws, seeded) and pushed through the NumPy twins of the prox maps
(``tests/naive.py``).  Tolerance: the quadrature's own error (1e-7 relative) is
negligible, so each moment must lie within z CLT standard errors of the sample mean,
z = Phi^-1(1 - ALPHA / (2 K)) with K all moments checked in the module (Bonferroni,
ALPHA = 1e-3).  This is what catches an integrand with a wrong density or a prox piece
integrated across a jump the quadrature was not told about.  The activations' cases
also check the means E[x*], E[z*] and the expected central differences (the "jump"
divergence, with a step of JUMP_STEP / sqrt(gam)) against the same differences of the
twin on the samples.
"""
import math

import numpy as np
import pytest
from scipy.stats import norm

from mcsim.kernels import activations, priors
from mcsim.kernels import se_quadrature as sq
from mcsim.factors.prior import LAWS

from . import naive

pytestmark = pytest.mark.kernels  # also run without the JIT, with coverage (.ci/run)

N = 2**20
ALPHA = 1e-3
JUMP_STEP = 0.1  # large enough that the samples' central differences have power
PRIOR_CASES = [  # (law, penalty, beta, v, gam)
    (("gaussian", {"var": 1.0}), ("gaussian", {"var": 1.0}), -0.2, 0.6, 1.3),
    (("laplace", {"scale": 0.7}), ("l1", {"lam": 1 / 0.7}), 0.1, 0.4, 2.0),
    (("bernoulli_gaussian", {"rho": 0.2, "var": 1.0}), ("l1", {"lam": 0.5}), -0.1, 0.3, 1.5),
    (("gaussian", {"var": 2.0}), ("l1", {"lam": 0.8}), 0.0, 1.0, 0.9),
]
ACT_CASES = [  # (kind, slope, nu, nv, b, chi, beta_in, v_in, beta_out, v_out, gp, gm)
    ("matched", 0.0, 0.0, 0.0, 0.0, 1.0, -0.3, 0.5, 0.1, 0.3, 1.0, 2.0),     # relu MAP, hidden (jumps)
    ("matched", 0.0, 0.0, 0.05, 0.2, 0.8, 0.2, 0.4, -0.2, 0.2, 1.5, 3.0),   # noisy relu, biased input
    ("matched", 0.2, 0.0, 0.05, -0.1, 1.2, 0.0, 0.6, 0.0, 0.5, 0.8, 1.2),   # leaky relu
    ("matched", 0.0, 0.0, 0.05, 0.0, 1.0, -0.2, 0.4, 0.0, 0.0, 1.0, np.inf),  # relu measurement
    ("lifted_relu", 0.0, 4.0, 0.0, 0.0, 1.0, -0.3, 0.5, 0.1, 0.3, 1.0, 2.0),  # convex lifted relu
]
K = len(PRIOR_CASES) * sq.N_PRIOR_MOMENTS + len(ACT_CASES) * (sq.N_ACT_MOMENTS + 2)
Z = norm.isf(ALPHA / (2 * K))


def _assert_moments(quad, samples, names, z=Z):
    mean = samples.mean(axis=0)
    err = samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
    bad = np.abs(quad - mean) > z * err + 1e-9 * np.abs(mean)  # round-off of a constant sample
    assert not bad.any(), "\n".join(f"{n}: quadrature {q:.6g}, MC {m:.6g} +- {e:.2g}"
                                    for n, q, m, e, b in zip(names, quad, mean, err, bad) if b)


@pytest.mark.parametrize("case", range(len(PRIOR_CASES)))
def test_prior_moments_equal_monte_carlo(case):
    prior, (pen, par), beta, v, gam = PRIOR_CASES[case]
    rng = np.random.default_rng(20261201 + case)
    z0 = LAWS[prior[0]](**prior[1]).sample(rng, N)
    r = (1 + beta) * z0 + rng.normal(0, math.sqrt(v), N)
    zhat, dz = naive.prior_prox(pen, par[next(iter(par))], r, gam)
    d, q = zhat - z0, r - z0
    samples = np.stack([dz, d * d, d * q, q * q, d * z0, q * z0], axis=1)
    law = prior[0]  # the codes and parameters the SE passes, written out here
    codes = {"gaussian": sq.GAUSSIAN_LAW, "bernoulli_gaussian": sq.BG_LAW, "laplace": sq.LAPLACE_LAW}
    p = prior[1]
    p1, p2 = (p["rho"], p["var"]) if law == "bernoulli_gaussian" else (next(iter(p.values())), 0.0)
    quad = sq.prior_moments(codes[law], p1, p2, priors.GAUSSIAN if pen == "gaussian" else priors.L1,
                            par[next(iter(par))], beta, v, gam, 1e-7)
    _assert_moments(quad, samples, ["dzhat/dr", "dd", "dq", "qq", "dT", "qT"])


@pytest.mark.parametrize("case", range(len(ACT_CASES)))
def test_activation_moments_equal_monte_carlo(case):
    kind, slope, nu, nv, b, chi, beta_in, v_in, beta_out, v_out, gp, gm = ACT_CASES[case]
    rng = np.random.default_rng(20261211 + case)
    x0 = rng.normal(0, math.sqrt(chi), N)
    zin = b + x0
    zout = naive.phi(zin, slope) + rng.normal(0, math.sqrt(nv), N)
    a = zin + beta_in * x0 + rng.normal(0, math.sqrt(v_in), N)
    c = zout if np.isinf(gm) else (1 + beta_out) * zout + rng.normal(0, math.sqrt(v_out), N)
    x, z, dxa, dzc = naive.activation_prox(kind, slope, nu, nv, a, c, gp, gm)
    ha = JUMP_STEP / math.sqrt(gp)
    jxa = (naive.activation_prox(kind, slope, nu, nv, a + ha, c, gp, gm)[0]
           - naive.activation_prox(kind, slope, nu, nv, a - ha, c, gp, gm)[0]) / (2 * ha)
    if np.isinf(gm):
        jzc = dzc
    else:
        hc = JUMP_STEP / math.sqrt(gm)
        jzc = (naive.activation_prox(kind, slope, nu, nv, a, c + hc, gp, gm)[1]
               - naive.activation_prox(kind, slope, nu, nv, a, c - hc, gp, gm)[1]) / (2 * hc)
    df, qf, db, qb = z - zout, c - zout, x - zin, a - zin
    samples = np.stack([dzc, dxa, df * df, df * qf, qf * qf, df * zout, qf * zout,
                        db * db, db * qb, qb * qb, db * x0, qb * x0, x, z, jzc, jxa], axis=1)
    code = activations.LIFTED_RELU if kind == "lifted_relu" else activations.PWL
    args = (code, np.array([slope, nu]), nv, b, chi, nv, beta_in, v_in, beta_out, v_out, gp, gm, 1e-7)
    names = ["dz/dc", "dx/da", "F dd", "F dq", "F qq", "F dT", "F qT", "B dd", "B dq", "B qq", "B dT", "B qT",
             "E x*", "E z*", "jump dz/dc", "jump dx/da"]
    quad = sq.activation_moments(*args, JUMP_STEP)
    _assert_moments(quad, samples, names)
    ae = sq.activation_moments(*args, 0.0)  # the a.e. run: the same moments, within the rule's 1e-7
    np.testing.assert_allclose(ae[:sq.J_ZC], quad[:sq.J_ZC], rtol=1e-6, atol=1e-12)
