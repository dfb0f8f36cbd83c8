"""The yardstick: MAP ML-VAMP in plain vectorised numpy with the SVD trick.

This is what an anchor library such as vampyre does: dense Haar factors from a QR
decomposition, a Python loop over layers and iterations, numpy expressions over the
components (the relu MAP prox by comparing its two branches, as in
``kernels.activations``).  It runs on the same :class:`mcsim.ensembles.Network` as
the kernel and fills the same records, so ``tests/test_baseline.py`` can check that
the two implement the same algorithm.  Undamped; piecewise-linear activations and
the gaussian / l1 input penalties only.
"""
from __future__ import annotations

import numpy as np

from kernels import mlvamp
from mcsim.ensembles import Network


def _prior(penalty, r, gam):
    kind, par = penalty
    if kind == "gaussian":
        d = gam / (gam + 1.0 / par["var"])
        return d * r, d
    t = par["lam"] / gam
    zhat = np.sign(r) * np.maximum(np.abs(r) - t, 0.0)
    return zhat, np.mean(np.abs(r) > t)


def _pwl_prox(a, c, gp, kappa, slope):
    """argmin_x kappa/2 (phi(x) - c)^2 + gp/2 (x - a)^2 by branch comparison, with
    dx/da, dx/dc and phi'(x) of the selected branch."""
    den1, den2 = kappa + gp, kappa * slope**2 + gp
    x1, x2 = (kappa * c + gp * a) / den1, (kappa * slope * c + gp * a) / den2
    in1, in2 = x1 >= 0, x2 <= 0
    x1, x2 = np.where(in1, x1, 0.0), np.where(in2, x2, 0.0)

    def cost(x):
        return 0.5 * kappa * (np.where(x >= 0, x, slope * x) - c) ** 2 + 0.5 * gp * (x - a) ** 2
    first = cost(x1) <= cost(x2)
    x = np.where(first, x1, x2)
    dxa = np.where(first, np.where(in1, gp / den1, 0.0), np.where(in2, gp / den2, 0.0))
    dxc = np.where(first, np.where(in1, kappa / den1, 0.0), np.where(in2, kappa * slope / den2, 0.0))
    return x, dxa, dxc, np.where(first, 1.0, slope)


def _linear(U, V, sigma, b, nv, gp, gm, a, c, measured):
    """zhat^+ = U uhat + b, zhat^- = V shat and their divergences (DESIGN.md 3)."""
    k = sigma.size
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


def baseline_run(net: Network, iterations: int, damping=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """Records (N_RECORDS, iterations, L) of MAP ML-VAMP, as ``mcsim.montecarlo.run_trajectory``;
    ``damping`` = (d_r^+, d_r^-, d_gam^+, d_gam^-) as in ``kernels.mlvamp``."""
    spec = net.spec
    L = spec.depth
    if net.signals != 1:
        raise ValueError("the numpy baseline runs one signal per network")
    if any(layer.kind != "linear" and layer.penalty[0] != "matched" for layer in spec.layers):
        raise ValueError("the numpy baseline runs matched (piecewise-linear) activations only")
    U = [u.matrix() if u is not None else None for u in net.U]
    V = [v.matrix() if v is not None else None for v in net.V]
    z0, y = [z[0] for z in net.z0], net.y[0]
    r_minus, gam_minus = [r[0].copy() for r in net.r_minus0], net.gam_minus0.copy()
    r_plus, gam_plus = [None] * L, np.zeros(L)
    out = np.full((mlvamp.N_RECORDS, iterations, L), np.nan)
    bvar = [spec.bias_of_variable(l) for l in range(L)]

    def record(rows, t, l, zhat, alpha, gam, r):
        err = r - z0[l]
        for row, value in zip(rows, (np.mean((zhat - z0[l]) ** 2), alpha, gam, np.mean(err**2),
                                     np.mean(err * (z0[l] - bvar[l])))):
            out[row, t, l] = value

    def layer_step(j, forward):
        """(zhat, alpha) of map j's output (forward) or input (backward)."""
        layer = spec.layers[j]
        measured = j == L - 1
        c = y if measured else r_minus[j + 1]
        gm = np.inf if measured else gam_minus[j + 1]
        if layer.kind == "linear":
            zp, zm, ap, am = _linear(U[j], V[j], net.sigma[j], layer.bias, layer.noise_var, gam_plus[j], gm,
                                     r_plus[j], c, measured)
            return (zp, ap) if forward else (zm, am)
        kappa = 1.0 / layer.noise_var if measured else gm / (1.0 + layer.noise_var * gm)
        x, dxa, dxc, dphi = _pwl_prox(r_plus[j], c, gam_plus[j], kappa, layer.slope)
        if not forward:
            return x, np.mean(dxa)
        rho = layer.noise_var * gm
        phi = np.where(x >= 0, x, layer.slope * x)
        return (phi + rho * c) / (1.0 + rho), np.mean((dphi * dxc + rho) / (1.0 + rho))

    def accept(rows, t, l, zhat, alpha, r_in, gam_in, old, d_mean, d_prec):
        """Extrinsic message (r_out, gam_out) of one output, damped with the ``old`` one
        (None: not damped), recorded; None when alpha leaves (0, 1)."""
        if not 0.0 < alpha < 1.0:
            return None
        gam, r = gam_in * (1 - alpha) / alpha, (zhat - alpha * r_in) / (1 - alpha)
        if old is not None:
            r, gam = d_mean * r + (1 - d_mean) * old[0], d_prec * gam + (1 - d_prec) * old[1]
        record(rows, t, l, zhat, alpha, gam, r)
        return r, gam

    plus_rows = (mlvamp.TAU_PLUS, mlvamp.ALPHA_PLUS, mlvamp.GAMMA_PLUS, mlvamp.RP_MSE, mlvamp.RP_OVERLAP)
    minus_rows = (mlvamp.TAU_MINUS, mlvamp.ALPHA_MINUS, mlvamp.GAMMA_MINUS, mlvamp.RM_MSE, mlvamp.RM_OVERLAP)
    for t in range(iterations):
        for l in range(L):
            zhat, alpha = _prior(spec.input.penalty, r_minus[0], gam_minus[0]) if l == 0 else \
                layer_step(l - 1, forward=True)
            old = None if t == 0 else (r_plus[l], gam_plus[l])
            if (msg := accept(plus_rows, t, l, zhat, alpha, r_minus[l], gam_minus[l], old, damping[0],
                              damping[2])) is None:
                return out
            r_plus[l], gam_plus[l] = msg
        for j in range(L - 1, -1, -1):
            zhat, alpha = layer_step(j, forward=False)
            if (msg := accept(minus_rows, t, j, zhat, alpha, r_plus[j], gam_plus[j], (r_minus[j], gam_minus[j]),
                              damping[1], damping[3])) is None:
                return out
            r_minus[j], gam_minus[j] = msg
    return out
