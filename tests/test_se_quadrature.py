"""The SE quadrature's closed forms (``kernels.se_quadrature``) against independent integrators.

- the bivariate normal orthant probability against scipy's (a port of the same Genz
  routine) and against an independent 1-D integral, and the
  wedge moments against scipy's adaptive cubature in polar coordinates: both to
  round-off (1e-13 absolute: each is a probability or moment of order 1);
- the moments given the truth (closed form over the sectors) against scipy's adaptive
  quadrature over c of the exact a-expectation, on sampled states: 1e-8 relative;
- the whole factor moments against the pieces path (exact over a, adaptive over c,
  Gauss-Legendre doubling over the truth), both at tolerance 1e-9: 1e-7 relative;
- the Stein divergence E[d w] / v (from the moments) against a Richardson-extrapolated
  finite difference of the SE's own E[x*] in the message mean: 1e-6;
- the compilation is cached: a second process compiles nothing and gets identical values.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import multivariate_normal

from mcsim.kernels import activations
from mcsim.kernels import se_quadrature as sq

# (code, slope, nu, nv, b, chi, beta_in, v_in, beta_out, v_out, gp, gm): relu MAP hidden, noisy
# biased relu, leaky relu, relu measurement, lifted relu
CASES = [
    (activations.PWL, 0.0, 0.0, 0.0, 0.0, 1.0, -0.3, 0.5, 0.1, 0.3, 1.0, 2.0),
    (activations.PWL, 0.0, 0.0, 0.05, 0.2, 0.8, 0.2, 0.4, -0.2, 0.2, 1.5, 3.0),
    (activations.PWL, 0.2, 0.0, 0.05, -0.1, 1.2, 0.0, 0.6, 0.0, 0.5, 0.8, 1.2),
    (activations.PWL, 0.0, 0.0, 0.05, 0.0, 1.0, -0.2, 0.4, 0.0, 0.0, 1.0, np.inf),
    (activations.LIFTED_RELU, 0.0, 4.0, 0.0, 0.0, 1.0, -0.3, 0.5, 0.1, 0.3, 1.0, 2.0),
    (activations.PWL, 0.0, 0.0, 0.0, 0.0, 1.0, -0.05, 1e-4, 0.02, 2e-4, 40.0, 30.0),  # precise messages
]


def _args(case, tol=1e-7, step=0.0):
    code, slope, nu, nv, b, chi, beta_in, v_in, beta_out, v_out, gp, gm = case
    return code, np.array([slope, nu]), nv, b, chi, nv, beta_in, v_in, beta_out, v_out, gp, gm, tol, step


@pytest.mark.kernels  # also run without the JIT, with coverage (.ci/run); the others are too slow there
def test_bivariate_normal_equals_scipy():
    rng = np.random.default_rng(0)
    worst = 0.0
    for r in np.concatenate([rng.uniform(-0.999, 0.999, 200), [-1 + 1e-9, 1 - 1e-7, -0.93, 0.93, 0.0]]):
        h, k = rng.normal(0, 1.5, 2)
        ref = multivariate_normal([0, 0], [[1, r], [r, 1]]).cdf([-h, -k])  # P(X > h, Y > k)
        worst = max(worst, abs(sq.bvn_upper(h, k, r) - ref))
    assert worst < 1e-13
    assert sq.bvn_upper(np.inf, 0.0, 0.5) == 0.0 and sq.bvn_upper(-np.inf, -np.inf, 0.5) == 1.0
    # scipy's bivariate cdf is a port of the same Genz routine: also against an independent
    # integral, P = int_h^inf pdf(x) P(Y > k | x) dx, Y | x ~ N(r x, 1 - r^2)
    for h, k, r in ((0.3, -0.5, -0.97), (-1.2, 0.4, 0.95), (0.8, 1.1, -0.6), (-0.2, -2.0, 0.2)):
        s = math.sqrt(1 - r * r)
        ref = integrate.quad(lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
                             * 0.5 * math.erfc((k - r * x) / s / math.sqrt(2)), h, 40, epsabs=1e-15, epsrel=1e-13)[0]
        assert abs(sq.bvn_upper(h, k, r) - ref) < 1e-13


@pytest.mark.kernels
def test_wedge_moments_equal_scipy_cubature():
    rng = np.random.default_rng(1)
    out = np.zeros(sq.N_WEDGE)
    for _ in range(6):
        p = rng.normal(0, 1.5, 2)
        t1 = rng.uniform(-np.pi, np.pi)
        t2 = t1 + rng.uniform(0.05, np.pi / 2)
        sq.wedge_moments(p[0], p[1], np.cos(t1), np.sin(t1), np.cos(t2), np.sin(t2), True, out)
        for j in range(sq.N_WEDGE):
            def f(r, th):
                x, y = p[0] + r * np.cos(th), p[1] + r * np.sin(th)
                return r * np.exp(-(x * x + y * y) / 2) / (2 * np.pi) * (1, x, y, x * x, x * y, y * y)[j]
            ref = integrate.dblquad(f, t1, t2, 0, 40, epsabs=1e-14, epsrel=1e-12)[0]
            assert abs(out[j] - ref) < 1e-13, (j, out[j], ref)


@pytest.mark.kernels
@pytest.mark.parametrize("case", range(len(CASES)))
def test_moments_given_the_truth_equal_scipy(case):
    """On sampled truths X, the closed form equals scipy's quad over c (split at the
    breakpoints of the c-integrand) of the exact a-expectation (``_act_given_xc``)."""
    code, slope, nu, nv, b, chi, beta_in, v_in, beta_out, v_out, gp, gm = CASES[case]
    work = sq.scratch()
    P = sq.activation_record(*_args(CASES[case]), True, work)
    assert P[sq.P_NSEC] > 0
    g = 1 + beta_out
    vc = g * g * nv + v_out
    gain = g * nv / vc
    sdc = math.sqrt(vc)
    rng = np.random.default_rng(case)
    closed, f = np.zeros(sq.N_ACT_MOMENTS), np.zeros(sq.N_ACT_MOMENTS)
    for x in rng.normal(0, math.sqrt(chi), 3):
        zin = b + x
        h = activations.phi(code, np.array([slope, nu]), zin)
        ma, mc = zin + beta_in * x, g * h
        sq._act_given_x(P, x, h, zin, ma, mc, True, work, closed)

        def integrand(u, j):
            c = mc + sdc * u
            sq._act_given_xc(P, c, x, h + gain * (c - mc), nv - g * nv * gain, zin, ma, v_in, work, f)
            return f[j] * math.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)

        cuts = sorted({-mc / sdc, *(ma / beta / sdc - mc / sdc for beta in
                                     activations.activation_breakpoints(code, np.array([slope, nu]), nv, 1.0, gp, gm)
                                     if np.isfinite(beta) and beta != 0)})
        cuts = [u for u in cuts if -12 < u < 12]
        for j in range(sq.M_Z + 1):
            ref = integrate.quad(integrand, -12, 12, args=(j,), points=cuts or None, limit=400, epsabs=1e-14,
                                 epsrel=1e-12)[0]
            assert abs(closed[j] - ref) <= 1e-8 * abs(ref) + 1e-13, (j, closed[j], ref)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_sectors_equal_the_pieces_path(case):
    sectors = sq.activation_moments(*_args(CASES[case], tol=1e-9, step=0.02))
    pieces = sq.activation_moments(*_args(CASES[case], tol=1e-9, step=0.02), False)
    np.testing.assert_allclose(sectors, pieces, rtol=1e-7, atol=1e-13)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_stein_divergence_is_the_derivative_of_the_mean(case):
    """d/dm E[x*(a + m)] at m = 0 is the Stein divergence E[dx*/da] in the sense of
    distributions (a.e. part + density on each jump x jump size), which the SE's
    moments give as E[d w] / v.  J_XA(h) = (E[x*(a+h)] - E[x*(a-h)]) / 2h is that finite
    difference; Richardson over h and h/2 leaves O(h^4)."""
    code, slope, nu, nv, b, chi, beta_in, v_in, beta_out, v_out, gp, gm = CASES[case]
    h = 0.02 * math.sqrt(v_in)
    m = sq.activation_moments(*_args(CASES[case], tol=1e-11, step=h * math.sqrt(gp)))
    m2 = sq.activation_moments(*_args(CASES[case], tol=1e-11, step=0.5 * h * math.sqrt(gp)))
    richardson = (4 * m2[sq.J_XA] - m[sq.J_XA]) / 3
    stein = (m[sq.B_DQ] - beta_in * m[sq.B_DT]) / v_in
    assert abs(stein - richardson) <= 1e-6 * abs(stein)
    jump_term = stein - m[sq.A_DXA]
    if code == activations.LIFTED_RELU:  # Lipschitz: no jumps
        assert abs(jump_term) < 1e-7
    elif code == activations.PWL and nv == 0.0 and not np.isinf(gm):  # relu MAP jumps: the a.e. part misses it
        assert jump_term > 1e-3


CHILD = """
import json, sys
import mcsim
from mcsim.kernels import se_quadrature as sq
spec = mcsim.NetworkSpec.from_dict(json.loads(sys.argv[1]))
ds = mcsim.state_evolution(spec, 4)
misses = sum(sum(f.stats.cache_misses.values()) for f in (sq.activation_moments, sq.prior_moments))
print(json.dumps({"misses": misses, "tau": ds.tau_minus.values.tolist(), "alpha": ds.alpha_plus.values.tolist()}))
"""


def test_compilation_is_cached_and_processes_agree(tmp_path):
    from .conftest import TALK
    spec = dict(TALK, input=dict(TALK["input"], prior={"law": "laplace", "scale": 0.7}), run={"divergence": "jump"})
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = [json.loads(subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], env=env, check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    if os.environ.get("NUMBA_DISABLE_JIT") != "1":
        assert runs[0]["misses"] > 0 and runs[1]["misses"] == 0  # the second process loaded everything
    assert runs[0]["tau"] == runs[1]["tau"] and runs[0]["alpha"] == runs[1]["alpha"]  # bitwise
