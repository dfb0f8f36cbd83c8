"""Every proximal map equals a numerical argmin; every divergence equals a finite difference."""
import numpy as np
import pytest
from scipy.optimize import minimize, minimize_scalar

from mcsim.kernels.activations import LIFTED_RELU, PWL, activation_breakpoints, activation_prox
from mcsim.kernels.priors import GAUSSIAN, L1, prior_prox

pytestmark = pytest.mark.kernels  # also run without the JIT, with coverage (.ci/run)

RNG_SEED = 20261127


def _par(slope, nu):
    """The parameter record of a PWL or lifted-relu factor (``kernels.activations``)."""
    return np.array([slope, nu])
STARTS = (-3.0, -0.5, 0.0, 0.5, 3.0)


def _argmin_1d(f):
    """Global argmin of a 1-D function: a dense grid, then a bounded local refine."""
    grid = np.linspace(-20, 20, 40001)
    vals = np.array([f(x) for x in grid])
    i = int(np.argmin(vals))
    res = minimize_scalar(f, bounds=(grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]), method="bounded",
                          options={"xatol": 1e-12})
    return res.x


def _cases(rng, n=60):
    for _ in range(n):
        yield (rng.normal(0, 2), rng.normal(0, 2), rng.uniform(0.2, 5), rng.uniform(0.2, 5))


@pytest.mark.parametrize("slope", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("nv", [0.0, 0.3])
def test_pwl_prox_is_joint_argmin(slope, nv):
    """(x*, z*) minimise (z - phi(x))^2/(2 nv) + gm/2 (z - c)^2 + gp/2 (x - a)^2 (z = phi(x) if nv = 0)."""
    rng = np.random.default_rng(RNG_SEED)
    phi = lambda x: x if x >= 0 else slope * x  # noqa: E731
    for a, c, gp, gm in _cases(rng):
        x, z, _, _ = activation_prox(PWL, _par(slope, 0.0), nv, a, c, gp, gm)
        if nv == 0:
            def obj(v):
                return 0.5 * gm * (phi(v) - c) ** 2 + 0.5 * gp * (v - a) ** 2
            xr_ = _argmin_1d(obj)
            assert obj(x) <= obj(xr_) + 1e-10
            assert z == pytest.approx(phi(x), abs=1e-12)
        else:
            def obj2(v):
                return (v[1] - phi(v[0])) ** 2 / (2 * nv) + 0.5 * gm * (v[1] - c) ** 2 + 0.5 * gp * (v[0] - a) ** 2
            best = min((minimize(obj2, [s, s], method="Nelder-Mead",
                                 options={"xatol": 1e-11, "fatol": 1e-14, "maxiter": 20000}) for s in STARTS),
                       key=lambda r: r.fun)
            assert obj2([x, z]) <= best.fun + 1e-9
            if obj2([x, z]) > best.fun - 1e-7:  # a unique minimiser: the points coincide
                np.testing.assert_allclose([x, z], best.x, atol=1e-4)


def test_lifted_relu_prox_is_joint_argmin():
    """(x*, z*) minimise nu/2 (z - x)^2 + gm/2 (z - c)^2 + gp/2 (x - a)^2 over z >= 0."""
    rng = np.random.default_rng(RNG_SEED + 1)
    for a, c, gp, gm in _cases(rng):
        nu = rng.uniform(0.5, 8)
        x, z, _, _ = activation_prox(LIFTED_RELU, _par(0.0, nu), 0.0, a, c, gp, gm)

        def obj(v):
            return 0.5 * nu * (v[1] - v[0]) ** 2 + 0.5 * gm * (v[1] - c) ** 2 + 0.5 * gp * (v[0] - a) ** 2
        best = min((minimize(obj, [s, abs(s)], method="L-BFGS-B", bounds=[(None, None), (0, None)],
                             options={"ftol": 1e-15, "gtol": 1e-12}) for s in STARTS), key=lambda r: r.fun)
        np.testing.assert_allclose([x, z], best.x, atol=1e-5)


def test_measurement_prox_is_argmin():
    """With y observed (gm = inf): x* minimises (y - phi(x))^2 / (2 nv) + gp/2 (x - a)^2."""
    rng = np.random.default_rng(RNG_SEED + 2)
    for a, c, gp, _ in _cases(rng):
        nv = rng.uniform(0.05, 1)
        x, z, _, _ = activation_prox(PWL, _par(0.0, 0.0), nv, a, c, gp, np.inf)
        obj = lambda v: (c - max(v, 0.0)) ** 2 / (2 * nv) + 0.5 * gp * (v - a) ** 2  # noqa: E731
        assert obj(x) <= obj(_argmin_1d(obj)) + 1e-10
        assert z == c


@pytest.mark.parametrize("code,par", [(GAUSSIAN, 0.7), (L1, 0.8)])
def test_prior_prox_is_argmin(code, par):
    rng = np.random.default_rng(RNG_SEED + 3)
    pen = (lambda v: v * v / (2 * par)) if code == GAUSSIAN else (lambda v: par * abs(v))
    for r, _, gam, _ in _cases(rng):
        zh, _ = prior_prox(code, par, r, gam)
        obj = lambda v: pen(v) + 0.5 * gam * (v - r) ** 2  # noqa: E731
        assert zh == pytest.approx(_argmin_1d(obj), abs=1e-6)


def _fd(f, v, h=1e-6):
    return (f(v + h) - f(v - h)) / (2 * h)


@pytest.mark.parametrize("code,slope,nu,nv,gm", [
    (PWL, 0.0, 0.0, 0.0, 2.0), (PWL, 0.1, 0.0, 0.2, 1.5), (PWL, 1.0, 0.0, 0.2, 1.5),
    (PWL, 0.0, 0.0, 0.1, np.inf), (LIFTED_RELU, 0.0, 3.0, 0.0, 2.0)])
def test_activation_divergences_are_finite_differences(code, slope, nu, nv, gm):
    """dx*/da and dz*/dc equal central differences, away from the breakpoints."""
    rng = np.random.default_rng(RNG_SEED + 4)
    checked = 0
    for a, c, gp, _ in _cases(rng, 200):
        brk = activation_breakpoints(code, _par(slope, nu), nv, c, gp, gm)
        if brk.size and np.min(np.abs(brk - a)) < 1e-3:
            continue
        _, _, dxa, dzc = activation_prox(code, _par(slope, nu), nv, a, c, gp, gm)
        assert dxa == pytest.approx(_fd(lambda v: activation_prox(code, _par(slope, nu), nv, v, c, gp, gm)[0], a),
                                    abs=1e-6)
        if np.isfinite(gm):
            # moving c moves the c-breakpoints: check that none lies within the step
            if np.min(np.abs(activation_breakpoints(code, _par(slope, nu), nv, c + 1e-3, gp, gm) - a)) > 1e-3:
                assert dzc == pytest.approx(
                    _fd(lambda v: activation_prox(code, _par(slope, nu), nv, a, v, gp, gm)[1], c), abs=1e-6)
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("code,par", [(GAUSSIAN, 0.7), (L1, 0.8)])
def test_prior_divergence_is_finite_difference(code, par):
    rng = np.random.default_rng(RNG_SEED + 5)
    for r, _, gam, _ in _cases(rng):
        if code == L1 and abs(abs(r) - par / gam) < 1e-3:
            continue
        assert prior_prox(code, par, r, gam)[1] == pytest.approx(_fd(lambda v: prior_prox(code, par, v, gam)[0], r),
                                                                 abs=1e-6)


def test_relu_prox_jumps():
    """The relu MAP prox is discontinuous across the switching line a = -c / theta (docs/algorithm.md, section 5)."""
    gp, gm, c = 1.0, 3.0, 1.0
    theta = (np.sqrt(gp * (gm + gp)) + gp) / gm
    a0 = -c / theta
    left = activation_prox(PWL, _par(0.0, 0.0), 0.0, a0 - 1e-9, c, gp, gm)[0]
    right = activation_prox(PWL, _par(0.0, 0.0), 0.0, a0 + 1e-9, c, gp, gm)[0]
    assert left == pytest.approx(a0, abs=1e-8)
    assert right == pytest.approx((gm * c + gp * a0) / (gm + gp), abs=1e-8)


@pytest.mark.parametrize("code, slope, nu, nv, gm", [(PWL, 1.0, 0.0, 0.3, 2.0), (PWL, 1.0, 0.0, 0.3, np.inf),
                                                     (LIFTED_RELU, 0.0, 4.0, 0.0, 2.0)])
def test_jump_divergence_is_the_derivative_where_the_prox_is_affine(code, slope, nu, nv, gm):
    """The "jump" divergence (g(u + h) - g(u - h)) / 2h equals the a.e. derivative wherever g
    is affine on [u - h, u + h]: everywhere for the identity, away from the kink for the
    lifted relu (components within 2h of it are left out)."""
    from mcsim.kernels.activations import CENTRAL, FLAT_TOP, GAUSS_KERNEL, activation_prox_vector
    rng = np.random.default_rng(RNG_SEED)
    a, c = rng.normal(0, 2, 2000), rng.normal(0, 2, 2000)
    gp, step = 1.5, 0.02
    if code == LIFTED_RELU:  # the kink of z*(a, c) is at k2 a + gm c = 0
        k2 = nu * gp / (nu + gp)
        far = np.abs(k2 * a + gm * c) > 4 * step * (k2 / np.sqrt(gp) + gm / np.sqrt(gm))
        a, c = a[far], c[far]
    x, z = np.empty(a.size), np.empty(a.size)
    ae = activation_prox_vector(code, _par(slope, nu), nv, a, c, gp, gm, x, z, 0.0, CENTRAL)
    jump = activation_prox_vector(code, _par(slope, nu), nv, a, c, gp, gm, x, z, step, CENTRAL)
    np.testing.assert_allclose(jump, ae, rtol=1e-9)
    for kernel in (GAUSS_KERNEL, FLAT_TOP):  # a continuous prox has no jump lines: the kernel estimators are a.e.
        assert activation_prox_vector(code, _par(slope, nu), nv, a, c, gp, gm, x, z, 0.1, kernel) == ae
