"""Peaceman-Rachford ADMM for the MAP problem (the seed's Theorem 1), a dense reference.

Split each variable z_l (l = 0..L-1) into z_l^+ (held by factor l, which produces
it) and z_l^- (held by factor l+1, which consumes it), subject to z_l^+ = z_l^-:

    F(z^+, z^-) = f_0(z_0^+) + sum_{l=1}^{L-1} f_l(z_l^+, z_{l-1}^-) + f_L(y, z_{L-1}^-)
    Lagr(z^+, z^-, lam) = F + sum_l lam_l^T (z_l^+ - z_l^-) + rho_l / 2 |z_l^+ - z_l^-|^2

with penalty rho_l = gm_l when z_l^+ moves and rho_l = gp_l when z_l^- moves (fixed
precisions).  One iteration:

    forward,  l = 0..L-1:  (z_l^+, .) = argmin_{z_l, z_{l-1}} f_l + lam_l^T z_l + gm_l/2 |z_l - z_l^-|^2
                                         - lam_{l-1}^T z_{l-1} + gp_{l-1}/2 |z_{l-1} - z_{l-1}^+|^2
                           lam_l <- lam_l + gm_l (z_l^+ - z_l^-)
    backward, l = L..1:    (., z_{l-1}^-) = the same argmin (with the current lam, z)
                           lam_{l-1} <- lam_{l-1} + gp_{l-1} (z_{l-1}^+ - z_{l-1}^-)

Completing the squares, each argmin is factor l's proximal operator at centres
r_l^- = z_l^- - lam_l / gm_l and r_{l-1}^+ = z_{l-1}^+ + lam_{l-1} / gp_{l-1}, and the
multiplier steps are ML-VAMP's extrinsic updates r^+ = (gam zhat^+ - gm r^-) / gp,
r^- = (gam zhat^- - gp r^+) / gm (gam = gp + gm): ML-VAMP with frozen precisions
(``mcsim.montecarlo.run_mlvamp(frozen=...)``) is this algorithm.  Here everything is
computed from the Lagrangian in the original basis (dense W, linear solves), so the
two implementations share only the scalar prox maps of the separable factors.
"""
from __future__ import annotations

import numpy as np

from mcsim.kernels.activations import activation_prox
from mcsim.kernels.linear import kappa_of
from mcsim.kernels.priors import prior_prox_vector

from .ensembles import Network
from .packing import network_arrays


def _linear_prox(W, b, nv, gp, gm, a, c):
    """argmin_{z, x} |z - W x - b|^2 / (2 nv) + gm/2 |z - c|^2 + gp/2 |x - a|^2 (gm = inf: z = c;
    nv = 0: z = W x + b), by a dense solve: (kappa W^T W + gp I) x = kappa W^T (c - b) + gp a."""
    kappa = kappa_of(gm, nv)
    x = np.linalg.solve(kappa * W.T @ W + gp * np.eye(W.shape[1]), kappa * W.T @ (c - b) + gp * a)
    z = c if np.isinf(gm) else (W @ x + b + nv * gm * c) / (1.0 + nv * gm)
    return z, x


def _input_prox(penalty, gm, c):
    """argmin_z f_0(z) + gm/2 |z - c|^2 (the kernel's scalar prox, ``kernels.priors``)."""
    out = np.empty_like(c)
    prior_prox_vector(penalty.code, float(penalty.par), np.ascontiguousarray(c, float), gm, out)
    return out


class PeacemanRachford:
    """PR-ADMM on signal ``signal`` of ``net`` with fixed precisions gp, gm (length L),
    started from z^- = r^-_0 (the network's initial messages) and lam = 0."""

    def __init__(self, net: Network, gp, gm, signal: int = 0):
        self.net, self.spec = net, net.spec
        self.gp, self.gm = np.asarray(gp, float), np.asarray(gm, float)
        L = self.spec.depth
        self.W = [None if net.U[j] is None else self._dense(j) for j in range(L)]
        self.y = net.y[signal]
        self.zm = [np.array(r[signal], float) for r in net.r_minus0]
        self.zp = [np.zeros_like(z) for z in self.zm]
        self.lam = [np.zeros_like(z) for z in self.zm]
        self.codes = network_arrays(net)

    def _dense(self, j):
        U, V, s = self.net.U[j].matrix(), self.net.V[j].matrix(), self.net.sigma[j]
        return (U[:, :s.size] * s) @ V[:, :s.size].T

    def _factor(self, j):
        """Factor of map l = j + 1 (z_j -> z_{j+1}) at the current centres: (z_{j+1}, z_j)."""
        L, layer = self.spec.depth, self.spec.layers[j]
        a = self.zp[j] + self.lam[j] / self.gp[j]
        measured = j == L - 1
        c = self.y if measured else self.zm[j + 1] - self.lam[j + 1] / self.gm[j + 1]
        gm = np.inf if measured else self.gm[j + 1]
        if layer.kind == "linear":
            return _linear_prox(self.W[j], self.net.bias[j], layer.noise_var, self.gp[j], gm, a, c)
        k = self.codes
        pairs = [activation_prox(k.act_code[j], k.act_par[j], k.nv[j], ai, ci, self.gp[j], gm)
                 for ai, ci in zip(a, c)]
        return np.array([p[1] for p in pairs]), np.array([p[0] for p in pairs])

    def step(self):
        """One iteration (forward then backward); returns copies of (z^+, z^-)."""
        L = self.spec.depth
        for l in range(L):
            if l == 0:
                c = self.zm[0] - self.lam[0] / self.gm[0]
                self.zp[0] = _input_prox(self.spec.input.penalty, self.gm[0], c)
            else:
                self.zp[l] = self._factor(l - 1)[0]
            self.lam[l] = self.lam[l] + self.gm[l] * (self.zp[l] - self.zm[l])
        for j in range(L - 1, -1, -1):
            self.zm[j] = self._factor(j)[1]
            self.lam[j] = self.lam[j] + self.gp[j] * (self.zp[j] - self.zm[j])
        return [z.copy() for z in self.zp], [z.copy() for z in self.zm]
