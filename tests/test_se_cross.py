"""The deterministic cross-time moments of the SE with memory (``kernels.se_cross``,
``mcsim.cross``) against independent computations.

- the bivariate normal lower-orthant moments E[1, u, v, uv; u < h, v < k] against a 1-D
  scipy integral over u of the closed-form conditional moments in v: 1e-11 absolute
  (moments of order 1; the integral's own error is below 1e-13);
- E[e_t e_k] at k = t (the same update twice: the degenerate limit of every level)
  against the update's own E[e^2] from the adaptive quadrature (``se_quadrature``, at
  tolerance 1e-11): 1e-6 relative, the self-check threshold ``SELF_CHECK`` (measured
  3e-8 to 8e-7 at the default density);
- E[e_t e_k] for two different updates against Monte Carlo over the same joint law:
  N = 2^24 samples per case, the CLT standard error of the sample mean, 3.66 standard
  errors (two-sided 1e-3 over 4 checks, Bonferroni; the rule's own error, below 1e-7
  relative, is negligible against se of about 2e-4);
- the rule against a rule of twice the density: 1e-7 relative (the stated rule error);
- the SE with memory: deterministic (two calls equal bitwise), and equal to the
  population SE within the population's own error.
"""
import copy
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm
from scipy.stats import t as student

import mcsim
from mcsim.cross import DEFAULT_DENSITY, MAX_TRUTH_DENSITY, ONE_LEVEL, SELF_CHECK, breakpoint_slopes, piece_rate, truth_density
from mcsim.factors.extrinsic import extrinsic
from mcsim.kernels import activations
from mcsim.kernels import se_cross as sc
from mcsim.kernels import se_quadrature as sq
from mcsim.kernels.priors import L1

from .conftest import TALK
from .se_check import SEEDS, population_se

PAR = {"relu": np.array([0.0, 0.0]), "leaky": np.array([0.2, 0.0]), "lifted": np.array([0.0, 4.0])}
CODE = {"relu": activations.PWL, "leaky": activations.PWL, "lifted": activations.LIFTED_RELU}
# (kind, nv, b, chi, (gp, gm, beta_in, v_in, beta_out, v_out) at t, the same at k, correlations (a, c))
PAIRS = [
    ("relu", 0.01, 0.1, 1.3, (2.0, 3.0, -0.1, 0.4, -0.2, 0.3), (1.7, 2.5, -0.15, 0.5, -0.25, 0.35), (0.9, 0.9)),
    ("relu", 0.0, 0.0, 1.0, (20.0, 15.0, -0.05, 0.02, 0.0, 0.03), (25.0, 18.0, -0.04, 0.015, 0.0, 0.02),
     (0.97, 0.95)),  # precise messages: the truth rule's density grows
    ("leaky", 0.05, -0.1, 1.2, (0.8, 1.2, 0.0, 0.6, 0.0, 0.5), (1.0, 1.5, 0.05, 0.5, 0.0, 0.4), (0.6, 0.7)),
    ("lifted", 0.0, 0.0, 1.0, (1.0, 2.0, -0.3, 0.5, 0.1, 0.3), (1.2, 2.4, -0.25, 0.45, 0.1, 0.25), (0.8, 0.5)),
]


def _update(case, kind, moments):
    """The kernel's record of one update (``U_*``) and its own E[e^2] from the quadrature."""
    name, nv, b, chi, _, _, _ = case
    gp, gm, beta_in, v_in, beta_out, v_out = moments
    m = sq.activation_moments(CODE[name], PAR[name], nv, b, chi, nv, beta_in, v_in, beta_out, v_out, gp, gm,
                              1e-11, 0.0)
    if kind == sc.PLUS:
        al, out = m[sq.J_ZC], extrinsic(m[sq.J_ZC], *m[sq.F_DD:sq.F_QT + 1], beta_out, v_out)
    else:
        al, out = m[sq.J_XA], extrinsic(m[sq.J_XA], *m[sq.B_DD:sq.B_QT + 1], beta_in, v_in)
    return np.array([gp, gm, al, 1.0 + beta_in, 1.0 + beta_out]), out.gram[-1]


def _cross(case, kind, same=False, density=DEFAULT_DENSITY):
    """E[e_t e_k] of ``case`` (k = t if ``same``) by the kernel."""
    name, nv, b, chi, mt, mk, (ra, rc) = case
    if same:
        mk, ra, rc = mt, 1.0, 1.0
    Ut, _ = _update(case, kind, mt)
    Uk, _ = _update(case, kind, mk)
    va, vc = np.array([mt[3], mk[3]]), np.array([mt[5], mk[5]])
    dx = truth_density(density, math.sqrt(chi), [_rate(name, nv, U, v) for U, v in ((Ut, va[0]), (Uk, va[1]))])
    return sc.activation_cross(CODE[name], PAR[name], nv, kind, b, chi, nv, Ut, Uk, va, ra * math.sqrt(va.prod()),
                               vc, rc * math.sqrt(vc.prod()), False, 0.0, density, dx)


def _rate(name, nv, U, va):
    """The truth rule's rate of an update, as the SE computes it (``mcsim.cross.piece_rate``)."""
    slopes = breakpoint_slopes(CODE[name], PAR[name], nv, U[sc.U_GP], U[sc.U_GM])
    return piece_rate(U[sc.U_GA], U[sc.U_GC], slopes, math.sqrt(va))


@pytest.mark.kernels
def test_lower_orthant_moments_equal_an_independent_integral():
    """v | u ~ N(r u, s^2): E[1{v<k}] = Phi(z), E[v 1{v<k}] = r u Phi(z) - s pdf(z), z = (k - r u)/s."""
    out = np.empty(4)
    for h, k, r in ((0.3, -0.5, -0.97), (-1.2, 0.4, 0.95), (0.8, 1.1, -0.6), (-0.2, -2.0, 0.2), (1.5, np.inf, 0.7),
                    (np.inf, 0.4, -0.3), (0.1, 0.2, 0.999), (np.inf, np.inf, 0.5)):
        s = math.sqrt(1 - r * r)
        z = lambda u: (k - r * u) / s  # noqa: E731
        f = (lambda u: norm.cdf(z(u)), lambda u: u * norm.cdf(z(u)),
             lambda u: r * u * norm.cdf(z(u)) - s * norm.pdf(z(u)),
             lambda u: u * (r * u * norm.cdf(z(u)) - s * norm.pdf(z(u))))
        ref = [integrate.quad(lambda u: g(u) * norm.pdf(u), -40, min(h, 40), epsabs=1e-14, epsrel=1e-13, limit=200)[0]
               for g in f]
        sc.lower_orthant(h, k, r, out)
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-11, err_msg=f"{(h, k, r)}")
    sc.lower_orthant(-np.inf, 0.3, 0.5, out)
    assert (out == 0).all()
    sc.lower_orthant(0.4, 0.9, 1.0, out)  # u = v: E[1, u, u, u^2; u < 0.4]
    np.testing.assert_allclose(out, [norm.cdf(0.4), -norm.pdf(0.4), -norm.pdf(0.4),
                                     norm.cdf(0.4) - 0.4 * norm.pdf(0.4)], atol=1e-15)


@pytest.mark.parametrize("case", [pytest.param(PAIRS[0], marks=pytest.mark.kernels), *PAIRS[1:]],
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(PAIRS)])
@pytest.mark.parametrize("kind", [sc.PLUS, sc.MINUS], ids=["plus", "minus"])
def test_the_same_update_twice_is_its_own_second_moment(case, kind):
    """(The first case also runs without the JIT, for coverage: two levels, the third degenerate.)"""
    _, e2 = _update(case, kind, case[4])
    assert abs(_cross(case, kind, same=True) / e2 - 1) <= SELF_CHECK


@pytest.mark.kernels
@pytest.mark.parametrize("nv", [0.05, 0.01])
def test_the_measurement_is_its_own_second_moment(nv):
    """The measurement (c = y for both updates, gm = inf): one level over c; at the default
    density, with the truth rule the SE takes (its breakpoints a = c / (nv gp) move fast
    with X when nv is small)."""
    code, par, b, chi, gp, beta_in, v_in = activations.PWL, PAR["relu"], 0.1, 1.3, 2.0, -0.1, 0.4
    m = sq.activation_moments(code, par, nv, b, chi, nv, beta_in, v_in, 0.0, 0.0, gp, np.inf, 1e-11, 0.0)
    e2 = extrinsic(m[sq.J_XA], *m[sq.B_DD:sq.B_QT + 1], beta_in, v_in).gram[-1]
    U = np.array([gp, np.inf, m[sq.J_XA], 1.0 + beta_in, 1.0])
    dx = truth_density(DEFAULT_DENSITY, math.sqrt(chi), [_rate("relu", nv, U, v_in)])
    got = sc.activation_cross(code, par, nv, sc.MINUS, b, chi, nv, U, U, np.array([v_in, v_in]), v_in, np.zeros(2),
                              0.0, True, 0.0, DEFAULT_DENSITY, dx)
    assert abs(got / e2 - 1) <= SELF_CHECK


@pytest.mark.parametrize("case", PAIRS, ids=["relu", "relu-precise", "leaky", "lifted"])
def test_the_rule_error_is_below_1e_7(case):
    for kind in (sc.PLUS, sc.MINUS):
        coarse, fine = _cross(case, kind), _cross(case, kind, density=2 * DEFAULT_DENSITY)
        assert abs(coarse / fine - 1) < 1e-7, (kind, coarse, fine)


def _monte_carlo(case, kind, n, rng):
    """Samples of e_t e_k under the kernel's joint law."""
    name, nv, b, chi, mt, mk, (ra, rc) = case
    Ut, _ = _update(case, kind, mt)
    Uk, _ = _update(case, kind, mk)
    X = rng.normal(0, math.sqrt(chi), n)
    Z = np.empty(n)
    activations.phi_vector(CODE[name], PAR[name], b + X, Z)
    Z += rng.normal(0, math.sqrt(nv), n)
    va, vc = np.array([mt[3], mk[3]]), np.array([mt[5], mk[5]])
    La = np.linalg.cholesky([[va[0], ra * math.sqrt(va.prod())], [ra * math.sqrt(va.prod()), va[1]]])
    Lc = np.linalg.cholesky([[vc[0], rc * math.sqrt(vc.prod())], [rc * math.sqrt(vc.prod()), vc[1]]])
    wa, wc = La @ rng.standard_normal((2, n)), Lc @ rng.standard_normal((2, n))
    e = []
    for i, U in enumerate((Ut, Uk)):
        a, c = b + U[sc.U_GA] * X + wa[i], U[sc.U_GC] * Z + wc[i]
        x, z = np.empty(n), np.empty(n)
        activations.activation_prox_vector(CODE[name], PAR[name], nv, a, c, U[sc.U_GP], U[sc.U_GM], x, z, 0.0,
                                           activations.CENTRAL)
        al = U[sc.U_ALPHA]
        e.append((z - al * c) / (1 - al) - Z if kind == sc.PLUS else (x - b - al * (a - b)) / (1 - al) - X)
    return e[0] * e[1]


@pytest.mark.parametrize("case", [PAIRS[0], PAIRS[2]], ids=["relu", "leaky"])
def test_two_updates_equal_monte_carlo(case):
    rng = np.random.default_rng(7)
    z = norm.ppf(1 - 1e-3 / (2 * 4))
    for kind in (sc.PLUS, sc.MINUS):
        chunks = [_monte_carlo(case, kind, 2**21, rng) for _ in range(8)]
        samples = np.concatenate(chunks)
        se = samples.std(ddof=1) / math.sqrt(samples.size)
        got = _cross(case, kind)
        assert abs(got - samples.mean()) <= z * se, (kind, got, samples.mean(), se)


PRIORS = [(sq.BG_LAW, 0.2, 1.0, 1.0), (sq.LAPLACE_LAW, 0.7, 0.0, 0.7), (sq.GAUSSIAN_LAW, 1.0, 0.0, 1.0)]


def _prior_density(U, v, scale):
    return truth_density(ONE_LEVEL * DEFAULT_DENSITY, scale, [piece_rate(U[sc.U_GA], 0.0, (), math.sqrt(v))],
                         ONE_LEVEL * MAX_TRUTH_DENSITY)


@pytest.mark.kernels
@pytest.mark.parametrize("law, p1, p2, scale", PRIORS)
@pytest.mark.parametrize("v, lam", [(0.2, 0.5), (1e-4, 0.15)], ids=["noisy", "precise"])
def test_the_prior_update_twice_is_its_own_second_moment(law, p1, p2, scale, v, lam):
    """At the density the SE takes (``ONE_LEVEL``, the truth rule of ``truth_density``)."""
    gam, beta = 3.0, -0.1
    m = sq.prior_moments(law, p1, p2, L1, lam, beta, v, gam, 1e-11)
    e2 = extrinsic(m[sq.P_DZR], *m[sq.P_DD:], beta, v).gram[-1]
    U = np.array([gam, np.inf, m[sq.P_DZR], 1.0 + beta, 1.0])
    got = sc.prior_cross(law, p1, p2, L1, lam, U, U, np.array([v, v]), v, _prior_density(U, v, scale))
    assert abs(got / e2 - 1) <= SELF_CHECK


def test_two_prior_updates_equal_monte_carlo():
    """Bernoulli-Gaussian input, l1 penalty, two updates with correlated messages: 2^24
    samples, 3.29 standard errors (two-sided 1e-3, one check)."""
    from mcsim.kernels.priors import prior_prox_vector

    rho, var, lam, v = 0.2, 1.0, 0.5, np.array([0.2, 0.3])
    U = [np.array([3.0, np.inf, 0.0, 0.9, 1.0]), np.array([2.5, np.inf, 0.0, 0.85, 1.0])]
    for u, vs in zip(U, v):
        u[sc.U_ALPHA] = sq.prior_moments(sq.BG_LAW, rho, var, L1, lam, u[sc.U_GA] - 1, vs, u[sc.U_GP], 1e-11)[sq.P_DZR]
    cr = 0.8 * math.sqrt(v.prod())
    rng = np.random.default_rng(3)
    n = 2**24
    z = rng.normal(0, math.sqrt(var), n) * (rng.random(n) < rho)
    w = np.linalg.cholesky([[v[0], cr], [cr, v[1]]]) @ rng.standard_normal((2, n))
    e = []
    for i, u in enumerate(U):
        r, zhat = u[sc.U_GA] * z + w[i], np.empty(n)
        prior_prox_vector(L1, lam, r, u[sc.U_GP], zhat)
        e.append((zhat - z - u[sc.U_ALPHA] * (r - z)) / (1 - u[sc.U_ALPHA]))
    samples = e[0] * e[1]
    got = sc.prior_cross(sq.BG_LAW, rho, var, L1, lam, U[0], U[1], v, cr,
                         max(_prior_density(u, vs, math.sqrt(var)) for u, vs in zip(U, v)))
    assert abs(got - samples.mean()) <= 3.29 * samples.std(ddof=1) / math.sqrt(n)


def test_the_se_with_memory_is_deterministic_and_within_the_population_error():
    """Two calls agree bitwise.  Against 8 populations of 2^16 samples: |quadrature - mean|
    <= t_7 standard errors of the population mean (two-sided 1e-3 Bonferroni over the
    checked cells), on tau^- and tau^+ of the damped talk network."""
    d = dict(TALK, run={"damping": 0.5})
    spec = mcsim.NetworkSpec.from_dict(d)
    first, second = mcsim.state_evolution(spec, 4), mcsim.state_evolution(spec, 4)
    assert first.attrs["cross_moments"] == "quadrature" and first.attrs["cross_self_check"] <= 1e-6
    for v in ("tau_minus", "tau_plus", "rp_mse", "rm_mse"):
        np.testing.assert_array_equal(first[v].values, second[v].values)
    mean, err = population_se(spec, 4)
    cells = 0
    gaps = []
    for v in ("tau_minus", "tau_plus"):
        live = err[v].values > 0  # iterations without a cross term are exact in both
        cells += int(live.sum())
        gaps.append(np.abs(first[v].values - mean[v].values)[live] / err[v].values[live])
    assert np.concatenate(gaps).max() <= student.ppf(1 - 1e-3 / (2 * cells), SEEDS - 1)


def test_a_coarse_rule_refines_itself_to_the_self_check():
    """Started at density 0.5 (relative errors near 1e-2), the rule grows until every
    update's own second moment is within SELF_CHECK, and the SE then equals the default
    one to 1e-6."""
    spec = mcsim.NetworkSpec.from_dict(dict(TALK, run={"damping": 0.5}))
    coarse, default = mcsim.state_evolution(spec, 3, density=0.5), mcsim.state_evolution(spec, 3)
    assert coarse.attrs["cross_density"] > 0.5 and coarse.attrs["cross_self_check"] <= SELF_CHECK
    np.testing.assert_allclose(coarse.tau_minus, default.tau_minus, rtol=1e-6)


def test_hardtanh_layers_keep_the_population():
    """hardtanh is not conic (its breakpoints bend with c): its cross-time moments stay sampled, and the SE says so."""
    d = copy.deepcopy(TALK)
    for layer in d["layers"]:
        if layer.get("kind") == "relu":
            layer.update(kind="hardtanh", noise_var=0.01)
    d["run"] = {"damping": 0.5}
    se = mcsim.state_evolution(mcsim.NetworkSpec.from_dict(d), 2)
    assert se.attrs["cross_moments"] == "quadrature" and se.attrs["sampled_layers"] == "1 3"
    assert np.isfinite(se.tau_minus.values).all()


def test_a_failing_self_check_warns_and_is_recorded():
    """A rule that misses refines REFINEMENTS times, then warns; NaN is recorded as NaN."""
    from mcsim.cross import REFINEMENTS, Past, Update

    past, update = Past(2.5), Update(np.zeros(5), 0, 0, 1.0)
    with pytest.warns(RuntimeWarning, match="self-check"):
        past.record("plus", update, 1.0, lambda k, density: 1.1)
    assert past.self_check == pytest.approx(0.1) and past.density == pytest.approx(2.5 * 1.5 ** REFINEMENTS)
    with pytest.warns(RuntimeWarning, match="self-check"):
        past.record("minus", update, 1.0, lambda k, density: np.nan)
    assert np.isnan(past.self_check)
