"""The linear step against a dense solve (its naive twin), and the Haar sampler's law."""
import numpy as np
import pytest
from scipy.stats import ks_2samp, norm

from mcsim.kernels.linear import linear_backward, linear_forward
from mcsim.orthogonal import haar_factor, haar_orthogonal

pytestmark = pytest.mark.kernels  # also run without the JIT, with coverage (.ci/run)


@pytest.mark.parametrize("n_in,n_out,nv", [(30, 50, 0.2), (50, 30, 0.0), (40, 40, 0.5)])
def test_linear_step_matches_dense_joint_prox(n_in, n_out, nv):
    """The SVD-basis formulas equal argmin |z - Wx - b|^2/(2nv) + gm/2|z - c|^2 + gp/2|x - a|^2."""
    rng = np.random.default_rng(1)
    U, V = haar_orthogonal(rng, n_out), haar_orthogonal(rng, n_in)
    k = min(n_in, n_out)
    sigma = rng.uniform(0.3, 2.0, k)
    W = U[:, :k] @ np.diag(sigma) @ V[:, :k].T
    a, c, b = rng.normal(size=n_in), rng.normal(size=n_out), 0.4
    gp, gm = 1.3, 0.7
    # dense solve of the quadratic; nv = 0 means z = W x + b exactly
    if nv > 0:
        H = np.block([[gp * np.eye(n_in) + W.T @ W / nv, -W.T / nv], [-W / nv, (1 / nv + gm) * np.eye(n_out)]])
        rhs = np.concatenate([gp * a - W.T @ np.full(n_out, b) / nv, gm * c + np.full(n_out, b) / nv])
        sol = np.linalg.solve(H, rhs)
        x_ref, z_ref = sol[:n_in], sol[n_in:]
    else:
        x_ref = np.linalg.solve(gp * np.eye(n_in) + gm * W.T @ W, gp * a + gm * W.T @ (c - b))
        z_ref = W @ x_ref + b
    zhat, xhat, alpha_p, alpha_m = _linear_step(U, V, sigma, b, nv, gp, gm, a, c)
    np.testing.assert_allclose(zhat, z_ref, atol=1e-10)
    np.testing.assert_allclose(xhat, x_ref, atol=1e-10)
    # divergences: traces of the Jacobians d zhat / d c and d xhat / d a, by finite differences of the linear map
    J_z = np.column_stack([linear_jac(U, V, sigma, b, nv, gp, gm, a, c, i, "c") for i in range(n_out)])
    J_x = np.column_stack([linear_jac(U, V, sigma, b, nv, gp, gm, a, c, i, "a") for i in range(n_in)])
    assert alpha_p == pytest.approx(np.trace(J_z) / n_out, abs=1e-8)
    assert alpha_m == pytest.approx(np.trace(J_x) / n_in, abs=1e-8)


def _linear_step(U, V, sigma, b, nv, gp, gm, a, c):
    """zhat^+ = U uhat + b, zhat^- = V shat and the divergences, as the ML-VAMP kernel composes them."""
    s_t, u_t = V.T @ a, U.T @ (c - b)
    uhat, shat = np.zeros(c.size), np.zeros(a.size)
    alpha_p = linear_forward(sigma, nv, gp, gm, s_t, u_t, uhat)
    alpha_m = linear_backward(sigma, nv, gp, gm, s_t, u_t, shat)
    return U @ uhat + b, V @ shat, alpha_p, alpha_m


def linear_jac(U, V, sigma, b, nv, gp, gm, a, c, i, which):
    """Column i of the Jacobian of zhat (w.r.t. c) or xhat (w.r.t. a): the maps are affine."""
    def out(a_, c_):
        z, x, _, _ = _linear_step(U, V, sigma, b, nv, gp, gm, a_, c_)
        return z if which == "c" else x
    e = np.zeros((c if which == "c" else a).size)
    e[i] = 1.0
    if which == "c":
        return out(a, c + e) - out(a, c)
    return out(a + e, c) - out(a, c)


def test_haar_is_orthogonal():
    rng = np.random.default_rng(2)
    for n in (1, 7, 200):
        Q = haar_orthogonal(rng, n)
        np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=1e-12)


def test_haar_first_entry_law():
    """P(Q00 > 0) = 1/2 and n E[Q00^2] = 1 within CLT bounds (Bonferroni over 2 checks, alpha = 1e-3).

    Q00^2 ~ Beta(1/2, (n-1)/2), so Var(n Q00^2) = 2 (n - 1) / (n + 2).  The sign fix is
    what makes P(Q00 > 0) = 1/2: plain QR of numpy (Householder) biases the signs.
    """
    rng = np.random.default_rng(3)
    n, draws = 6, 20000
    q00 = np.array([haar_orthogonal(rng, n)[0, 0] for _ in range(draws)])
    z = norm.isf(1e-3 / 4)
    assert abs(np.mean(q00 > 0) - 0.5) <= z * 0.5 / np.sqrt(draws)
    assert abs(np.mean(n * q00**2) - 1.0) <= z * np.sqrt(2 * (n - 1) / (n + 2) / draws)


@pytest.mark.parametrize("method, size", [("householder", lambda n: n + n * (n + 1) // 2 - 1),
                                          ("lazy", lambda n: 2 * (2 * n) * n + 3 * (2 * n) + n)])
@pytest.mark.parametrize("n", [1, 2, 3, 64, 300])
def test_factor_is_orthogonal_and_applies_as_its_matrix(n, method, size):
    rng = np.random.default_rng(n)
    f = haar_factor(rng, n, method)
    Q = f.matrix()
    np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=1e-12)
    x = rng.standard_normal(n)
    np.testing.assert_allclose(f.apply(x), Q @ x, atol=1e-12)
    np.testing.assert_allclose(f.apply(x, transpose=True), Q.T @ x, atol=1e-12)
    assert f.data.size == size(n)  # reflectors, or pair rows for n products each way: not the matrix


def _statistics(method, n, draws, rng):
    """Q00, Q_{n-1,n-1}, Q_{0,n-1}, tr Q, tr Q^2 and det Q of ``draws`` factors."""
    out = np.empty((draws, 6))
    for i in range(draws):
        Q = haar_factor(rng, n, method).matrix()
        out[i] = Q[0, 0], Q[-1, -1], Q[0, -1], np.trace(Q), np.trace(Q @ Q), np.linalg.det(Q)
    return out


@pytest.mark.parametrize("method, seed", [("householder", 11), ("lazy", 13)])
def test_factor_has_the_haar_law_of_the_qr_path(method, seed):
    """Householder draws (Stewart), and lazy ones revealed column by column, vs QR + sign
    fix, n = 6, 8000 draws each.

    Exact Haar facts, each within CLT bounds: n E[Q_ij^2] = 1 at three entries (variance
    of n Q_ij^2 = 2 (n-1)/(n+2)), E[tr Q] = 0 and E[(tr Q)^2] = E[tr Q^2] = 1 (Diaconis-
    Shahshahani; their variances estimated from the sample), P(det Q = 1) = 1/2; and a
    two-sample Kolmogorov-Smirnov test against the QR path for each of the 5 continuous
    statistics (det is +-1 up to rounding, where KS would test the rounding).
    Bonferroni over all 12 checks at alpha = 1e-3.
    """
    n, draws, checks = 6, 8000, 12
    z = norm.isf(1e-3 / (2 * checks))
    hh = _statistics(method, n, draws, np.random.default_rng(seed))
    qr = _statistics("dense", n, draws, np.random.default_rng(12))
    for col in range(3):
        assert abs(np.mean(n * hh[:, col] ** 2) - 1) <= z * np.sqrt(2 * (n - 1) / (n + 2) / draws)
    for values, mean in ((hh[:, 3], 0.0), (hh[:, 3] ** 2, 1.0), (hh[:, 4], 1.0)):
        assert abs(values.mean() - mean) <= z * values.std(ddof=1) / np.sqrt(draws)
    assert abs(np.mean(hh[:, 5] > 0) - 0.5) <= z * 0.5 / np.sqrt(draws)
    for col in range(5):
        assert ks_2samp(hh[:, col], qr[:, col]).pvalue > 1e-3 / checks
