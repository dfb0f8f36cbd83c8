"""Slow, obviously-correct NumPy twins of the kernels, for tests to compare the jitted
kernels and the SE quadrature against: the prox maps (vectorised over components), the
linear step in the SVD basis with dense factors, and a whole ML-VAMP run
(:func:`mlvamp_records`, also the yardstick of ``benchmarks/``: a Python loop over
layers and iterations, as an anchor library such as vampyre runs it).

Each twin restates its formula from the model (docs/algorithm.md), not from the
kernel's code.
"""
import numpy as np

from mcsim.kernels.mlvamp import ROW


def phi(x, slope):
    """phi(x) = x (x >= 0), slope x (x < 0)."""
    return np.where(x >= 0, x, slope * x)


def hardtanh_prox(a, c, gp, kappa):
    """x* = argmin_x kappa/2 (clip(x, -1, 1) - c)^2 + gp/2 (x - a)^2 by comparing the
    minimisers on x <= -1, -1 <= x <= 1 and x >= 1, with dx*/da, dx*/dc, phi'(x*)."""
    cost = lambda x: 0.5 * kappa * (np.clip(x, -1, 1) - c) ** 2 + 0.5 * gp * (x - a) ** 2  # noqa: E731
    mid = (kappa * c + gp * a) / (kappa + gp)
    inner = np.abs(mid) < 1
    cands = [(np.clip(mid, -1, 1), np.where(inner, gp / (kappa + gp), 0.0), np.where(inner, kappa / (kappa + gp), 0.0),
              inner.astype(float)),
             (np.minimum(a, -1.0), (a < -1).astype(float), np.zeros_like(a), np.zeros_like(a)),
             (np.maximum(a, 1.0), (a > 1).astype(float), np.zeros_like(a), np.zeros_like(a))]
    costs = np.stack([cost(x) for x, *_ in cands])
    pick = np.argmin(costs, axis=0)  # first of equal costs: the middle piece
    return tuple(np.choose(pick, [cand[k] for cand in cands]) for k in range(4))


def prior_prox(code, par, r, gam):
    """(zhat, d zhat / d r) of argmin_z f_0(z) + gam/2 (z - r)^2: f_0 = z^2 / (2 par)
    (code "gaussian") or par |z| (code "l1")."""
    if code == "gaussian":
        d = gam / (gam + 1.0 / par)
        return d * r, np.full(r.shape, d)
    t = par / gam
    return np.sign(r) * np.maximum(np.abs(r) - t, 0.0), (np.abs(r) > t).astype(float)


def pwl_prox(a, c, gp, kappa, slope):
    """x* = argmin_x kappa/2 (phi(x) - c)^2 + gp/2 (x - a)^2 by comparing the minimisers
    over x >= 0 and over x <= 0, with the a.e. derivatives dx*/da, dx*/dc and phi'(x*)."""
    def branch(s, inside):
        den = kappa * s * s + gp
        x = (kappa * s * c + gp * a) / den
        ok = inside(x)
        return np.where(ok, x, 0.0), np.where(ok, gp / den, 0.0), np.where(ok, kappa * s / den, 0.0)

    x1, da1, dc1 = branch(1.0, lambda x: x >= 0)
    x2, da2, dc2 = branch(slope, lambda x: x <= 0)
    cost = lambda x: 0.5 * kappa * (phi(x, slope) - c) ** 2 + 0.5 * gp * (x - a) ** 2  # noqa: E731
    first = cost(x1) <= cost(x2)
    return (np.where(first, x1, x2), np.where(first, da1, da2), np.where(first, dc1, dc2),
            np.where(first, 1.0, slope))


def activation_prox(kind, slope, nu, nv, a, c, gp, gm):
    """(x*, z*, dx*/da, dz*/dc) of argmin f(z, x) + gm/2 (z - c)^2 + gp/2 (x - a)^2.

    kind "matched": f = (z - phi(x))^2 / (2 nv) (z = phi(x) + noise); eliminating z,
    kappa = gm / (1 + nv gm), z* = (phi(x*) + nv gm c) / (1 + nv gm); for the
    measurement (gm = inf) kappa = 1 / nv and z* = c.
    kind "hardtanh": the matched factor of z = clip(x, -1, 1) + noise;
    kind "lifted_relu": f = nu/2 (z - x)^2 + I(z >= 0)."""
    if kind == "hardtanh":
        kappa = 1.0 / nv if np.isinf(gm) else gm / (1.0 + nv * gm)
        x, dxa, dxc, dphi = hardtanh_prox(a, c, gp, kappa)
        if np.isinf(gm):
            return x, c, dxa, np.ones_like(c)
        rho = nv * gm
        return x, (np.clip(x, -1, 1) + rho * c) / (1 + rho), dxa, (dphi * dxc + rho) / (1 + rho)
    if kind == "lifted_relu":
        k2 = nu * gp / (nu + gp)
        t = (k2 * a + gm * c) / (k2 + gm)
        z = np.maximum(t, 0.0)
        dza, dzc = np.where(t > 0, k2 / (k2 + gm), 0.0), np.where(t > 0, gm / (k2 + gm), 0.0)
        return (nu * z + gp * a) / (nu + gp), z, (nu * dza + gp) / (nu + gp), dzc
    if np.isinf(gm):
        x, dxa, _, _ = pwl_prox(a, c, gp, 1.0 / nv, slope)
        return x, c, dxa, np.ones_like(c)
    rho = nv * gm
    x, dxa, dxc, dphi = pwl_prox(a, c, gp, gm / (1.0 + rho), slope)
    return x, (phi(x, slope) + rho * c) / (1 + rho), dxa, (dphi * dxc + rho) / (1 + rho)


def linear_step(U, V, sigma, b, nv, gp, gm, a, c):
    """(zhat^+, zhat^-, alpha^+, alpha^-) of a linear map W = U diag(sigma) V^T (dense U, V)
    in its SVD basis: s~ = V^T a, u~ = U^T (c - b), kappa = gm / (1 + nv gm), rho = nv gm,
    shat_i = (gp s~_i + kappa sigma_i u~_i) / (gp + kappa sigma_i^2) (= s~_i beyond k),
    uhat_i = (sigma_i shat_i + rho u~_i) / (1 + rho); the measurement (gm = inf) has
    kappa = 1 / nv, rho = 0 and zhat^+ = y."""
    k = sigma.size
    measured = np.isinf(gm)
    kappa = 1.0 / nv if measured else gm / (1.0 + nv * gm)
    rho = 0.0 if measured else nv * gm
    s_t, u_t = V.T @ a, U.T @ (c - b)
    den = gp + kappa * sigma**2
    shat = s_t.copy()
    shat[:k] = (gp * s_t[:k] + kappa * sigma * u_t[:k]) / den
    uhat = rho * u_t / (1.0 + rho)
    uhat[:k] = (sigma * shat[:k] + rho * u_t[:k]) / (1.0 + rho)
    alpha_p = (np.sum((kappa * sigma**2 / den + rho) / (1.0 + rho)) + (c.size - k) * rho / (1.0 + rho)) / c.size
    alpha_m = (np.sum(gp / den) + a.size - k) / a.size
    return U @ uhat + b, V @ shat, alpha_p, alpha_m


def mlvamp_records(net, iterations: int) -> np.ndarray:
    """Records (N_RECORDS, iterations, L) of MAP ML-VAMP on the one signal of ``net``, run
    as its spec's ``run`` says (damping; the a.e. divergence only), as the kernel fills them."""
    spec = net.spec
    L = spec.depth
    if net.signals != 1 or spec.run.divergence != "ae":
        raise ValueError("the numpy twin runs one signal per network, with the a.e. divergence")
    d_r_plus, d_r_minus, d_gam_plus, d_gam_minus = spec.run.damping
    U = [u.matrix() if u is not None else None for u in net.U]
    V = [v.matrix() if v is not None else None for v in net.V]
    z0, y = [z[0] for z in net.z0], net.y[0]
    r_minus, gam_minus = [r[0].copy() for r in net.r_minus0], net.gam_minus0.copy()
    r_plus, gam_plus = [None] * L, np.zeros(L)
    out = np.full((len(ROW), iterations, L), np.nan)
    bvar = [0.0] + [0.0 if b is None else b for b in net.bias[:L - 1]]  # the bias producing z_l

    def layer_step(j, forward):
        """(zhat, alpha) of map j's output (forward) or input (backward)."""
        layer = spec.layers[j]
        measured = j == L - 1
        c = y if measured else r_minus[j + 1]
        gm = np.inf if measured else gam_minus[j + 1]
        if layer.kind == "linear":
            zp, zm, ap, am = linear_step(U[j], V[j], net.sigma[j], net.bias[j], layer.noise_var, gam_plus[j], gm,
                                         r_plus[j], c)
            return (zp, ap) if forward else (zm, am)
        kind = "hardtanh" if layer.kind == "hardtanh" else layer.penalty[0]
        x, z, dxa, dzc = activation_prox(kind, getattr(layer, "slope", 0.0), layer.penalty[1].get("nu", 0.0),
                                         layer.noise_var, r_plus[j], c, gam_plus[j], gm)
        return (z, np.mean(dzc)) if forward else (x, np.mean(dxa))

    def accept(side, t, l, zhat, alpha, r_in, gam_in, old, d_mean, d_prec):
        """Extrinsic message (r_out, gam_out) of one output, damped with the ``old`` one
        (None: not damped), recorded; None when alpha leaves (0, 1)."""
        if not 0.0 < alpha < 1.0:
            return None
        gam, r = gam_in * (1 - alpha) / alpha, (zhat - alpha * r_in) / (1 - alpha)
        if old is not None:
            r, gam = d_mean * r + (1 - d_mean) * old[0], d_prec * gam + (1 - d_prec) * old[1]
        err = r - z0[l]
        message = "rp" if side == "plus" else "rm"
        for name, value in ((f"tau_{side}", np.mean((zhat - z0[l]) ** 2)), (f"alpha_{side}", alpha),
                            (f"gamma_{side}", gam), (f"{message}_mse", np.mean(err**2)),
                            (f"{message}_overlap", np.mean(err * (z0[l] - bvar[l])))):
            out[ROW[name], t, l] = value
        return r, gam

    for t in range(iterations):
        for l in range(L):
            if l == 0:
                zhat, dz = prior_prox(spec.input.penalty.name, spec.input.penalty.par, r_minus[0], gam_minus[0])
                alpha = np.mean(dz)
            else:
                zhat, alpha = layer_step(l - 1, forward=True)
            old = None if t == 0 else (r_plus[l], gam_plus[l])
            if (msg := accept("plus", t, l, zhat, alpha, r_minus[l], gam_minus[l], old, d_r_plus,
                              d_gam_plus)) is None:
                return out
            r_plus[l], gam_plus[l] = msg
        for j in range(L - 1, -1, -1):
            zhat, alpha = layer_step(j, forward=False)
            if (msg := accept("minus", t, j, zhat, alpha, r_plus[j], gam_plus[j], (r_minus[j], gam_minus[j]),
                              d_r_minus, d_gam_minus)) is None:
                return out
            r_minus[j], gam_minus[j] = msg
    return out


class LazyHaarTwin:
    """NumPy twin of ``kernels.lazy``: a Haar Q revealed product by product (pairs
    Q x_i = y_i; always two Gram-Schmidt passes, where the kernel makes the second when
    the first cancelled; a fresh Gaussian direction per new pair).
    ``project_fresh=False`` is the mutation that skips the projection of the fresh
    direction off span(Y): the law tests must reject it."""

    def __init__(self, n, rng, project_fresh=True):
        self.n, self.rng, self.project_fresh = n, rng, project_fresh
        self.X, self.Y = np.zeros((0, n)), np.zeros((0, n))

    @staticmethod
    def _residual(A, v):
        c = A @ v
        r = v - A.T @ c
        c2 = A @ r
        return c + c2, r - A.T @ c2

    def apply(self, v, transpose=False):
        A, B = (self.Y, self.X) if transpose else (self.X, self.Y)
        c, r = self._residual(A, v)
        nr = np.linalg.norm(r)
        if nr <= 1e-12 * np.linalg.norm(v):
            return B.T @ c
        g = self.rng.standard_normal(self.n)
        if self.project_fresh:
            g = self._residual(B, g)[1]
        g /= np.linalg.norm(g)
        new_a, new_b = r / nr, g
        if transpose:
            self.X, self.Y = np.vstack([self.X, new_b]), np.vstack([self.Y, new_a])
        else:
            self.X, self.Y = np.vstack([self.X, new_a]), np.vstack([self.Y, new_b])
        return B.T @ c + nr * g
