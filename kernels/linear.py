"""The linear step of ML-VAMP in the SVD basis of W = U diag(sigma) V^T (docs/algorithm.md, section 4).

With s~ = V^T r^+_{l-1}, u~ = U^T (r^-_l - b), kappa = gm / (1 + nv gm), rho = nv gm:

    shat_i = (gp s~_i + kappa sigma_i u~_i) / (gp + kappa sigma_i^2)
    uhat_i = (sigma_i shat_i + rho u~_i) / (1 + rho)

sigma_i = 0 beyond k = min(n_l, n_{l-1}).  zhat^+_l = U uhat + b, zhat^-_{l-1} = V shat
(the caller applies U and V, ``kernels.haar``).  For the measurement (gm = inf)
kappa = 1/nv and u~ = U^T (y - b).
"""
import numpy as np
from numba import njit


@njit(cache=True)
def kappa_of(gm, nv):
    """kappa = gm / (1 + nv gm), the precision of a noisy map's output as seen by its
    input; 1 / nv for the measurement (gm = inf)."""
    if np.isinf(gm):
        return 1.0 / nv
    return gm / (1.0 + nv * gm)


@njit(cache=True)
def _shat(gp, kappa, sg, s_t, u_t):
    """shat_i and its denominator gp + kappa sigma_i^2."""
    den = gp + kappa * sg * sg
    return (gp * s_t + kappa * sg * u_t) / den, den


@njit(cache=True)
def linear_forward(sigma, nv, gp, gm, s_t, u_t, uhat):
    """uhat from s~, u~; returns alpha^+ = <d zhat^+ / d r^-_l> (U is orthogonal: = <d uhat / d u~>).

    d uhat_i / d u~_i = (kappa sigma_i^2 / (gp + kappa sigma_i^2) + rho) / (1 + rho).
    """
    kappa = kappa_of(gm, nv)
    rho = nv * gm
    k = sigma.size
    m = u_t.size
    total = 0.0
    for i in range(k):
        sg = sigma[i]
        shat, den = _shat(gp, kappa, sg, s_t[i], u_t[i])
        uhat[i] = (sg * shat + rho * u_t[i]) / (1.0 + rho)
        total += (kappa * sg * sg / den + rho) / (1.0 + rho)
    for i in range(k, m):
        uhat[i] = rho * u_t[i] / (1.0 + rho)
    total += (m - k) * rho / (1.0 + rho)
    return total / m


@njit(cache=True)
def linear_backward(sigma, nv, gp, gm, s_t, u_t, shat):
    """shat from s~, u~; returns alpha^- = <d zhat^- / d r^+_{l-1}> (= <d shat / d s~>).

    d shat_i / d s~_i = gp / (gp + kappa sigma_i^2) (1 beyond k).
    """
    kappa = kappa_of(gm, nv)
    k = sigma.size
    n = s_t.size
    total = 0.0
    for i in range(k):
        shat[i], den = _shat(gp, kappa, sigma[i], s_t[i], u_t[i])
        total += gp / den
    for i in range(k, n):
        shat[i] = s_t[i]
    total += n - k
    return total / n
