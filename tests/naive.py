"""Slow, obviously-correct NumPy twins of the kernels' scalar maps, vectorised over
components, for tests to compare the jitted kernels and the SE quadrature against.

Each twin restates its formula from the model (docs/model.md, section 3), not from the
kernel's code.
"""
import numpy as np


def phi(x, slope):
    """phi(x) = x (x >= 0), slope x (x < 0)."""
    return np.where(x >= 0, x, slope * x)


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
    kind "lifted_relu": f = nu/2 (z - x)^2 + I(z >= 0)."""
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
