"""Proximal maps of the input penalties f_0 with their derivatives.

prox(r; gam) = argmin_z f_0(z) + gam/2 (z - r)^2, returned with d prox / d r.
Codes: 0 gaussian penalty z^2 / (2 var) (par = var), 1 l1 penalty lam |z| (par = lam).
"""
import numpy as np
from numba import njit

GAUSSIAN, L1 = 0, 1


@njit(cache=True)
def prior_prox(code, par, r, gam):
    """(zhat, d zhat / d r) for one component.

    gaussian: zhat = gam r / (gam + 1/var);  l1: zhat = sign(r) max(|r| - lam/gam, 0).
    """
    if code == GAUSSIAN:
        d = gam / (gam + 1.0 / par)
        return d * r, d
    t = par / gam
    if r > t:
        return r - t, 1.0
    if r < -t:
        return r + t, 1.0
    return 0.0, 0.0


@njit(cache=True)
def prior_breakpoints(code, par, gam):
    """Values of r where the prox is not smooth (for quadrature)."""
    if code == GAUSSIAN:
        return np.empty(0)
    t = par / gam
    return np.array([-t, t])


@njit(cache=True)
def prior_prox_vector(code, par, r, gam, zhat):
    """zhat <- prox(r) componentwise; returns alpha = <d zhat / d r>."""
    total = 0.0
    for i in range(r.size):
        z, d = prior_prox(code, par, r[i], gam)
        zhat[i] = z
        total += d
    return total / r.size
