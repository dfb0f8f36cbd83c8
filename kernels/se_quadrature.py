"""Quadrature for the state evolution: Gaussian expectations of prox maps with kinks.

Every 1-D Gaussian expectation E[h(m + s T)], T ~ N(0, 1), is a composite
Gauss-Legendre rule on [-TAIL, TAIL] (in units of s) whose pieces have width at
most ``h`` and are split at the integrand's breakpoints, so each piece integrates
a smooth function: the error falls exponentially with ``order``.
"""
import numpy as np
from numba import njit

from .activations import activation_breakpoints, activation_prox
from .priors import prior_breakpoints, prior_prox

TAIL = 10.0  # Gaussian mass beyond 10 sd: 1.5e-23
LAPLACE_TAIL = 55.0  # exponential mass beyond 55 scales: 1.3e-24


@njit(cache=True)
def _legendre(order):
    """Gauss-Legendre nodes and weights on [-1, 1] (Newton on P_order)."""
    x = np.zeros(order)
    w = np.zeros(order)
    for i in range(order):
        z = np.cos(np.pi * (i + 0.75) / (order + 0.5))
        for _ in range(100):
            p0, p1 = 1.0, z
            for k in range(2, order + 1):
                p0, p1 = p1, ((2 * k - 1) * z * p1 - (k - 1) * p0) / k
            dp = order * (z * p1 - p0) / (z * z - 1.0)
            dz = p1 / dp
            z -= dz
            if abs(dz) < 1e-16:
                break
        p0, p1 = 1.0, z
        for k in range(2, order + 1):
            p0, p1 = p1, ((2 * k - 1) * z * p1 - (k - 1) * p0) / k
        dp = order * (z * p1 - p0) / (z * z - 1.0)
        x[i] = z
        w[i] = 2.0 / ((1.0 - z * z) * dp * dp)
    return x, w


@njit(cache=True)
def _composite(lo, hi, breaks, h, gx, gw):
    """Composite GL nodes/weights on [lo, hi], pieces <= h, split at ``breaks`` inside."""
    inner = breaks[(breaks > lo) & (breaks < hi)]
    edges = np.sort(np.concatenate((np.array([lo, hi]), inner)))
    count = 0
    npieces = np.zeros(edges.size - 1, np.int64)
    for i in range(edges.size - 1):
        npieces[i] = max(1, int(np.ceil((edges[i + 1] - edges[i]) / h)))
        count += npieces[i]
    nodes = np.empty(count * gx.size)
    weights = np.empty(count * gx.size)
    k = 0
    for i in range(edges.size - 1):
        width = (edges[i + 1] - edges[i]) / npieces[i]
        for p in range(npieces[i]):
            left = edges[i] + p * width
            for q in range(gx.size):
                nodes[k] = left + 0.5 * width * (gx[q] + 1.0)
                weights[k] = 0.5 * width * gw[q]
                k += 1
    return nodes, weights


@njit(cache=True)
def gauss_nodes(mean, var, breaks, h, gx, gw):
    """Nodes/weights for E[f(Y)], Y ~ N(mean, var), split where f has ``breaks``."""
    if var <= 1e-300:
        return np.array([mean]), np.array([1.0])
    sd = np.sqrt(var)
    t, w = _composite(-TAIL, TAIL, (breaks - mean) / sd, h, gx, gw)
    return mean + sd * t, w * np.exp(-0.5 * t * t) / np.sqrt(2.0 * np.pi)


# ------------------------------------------------------------------ activations
A_DZC, A_DXA = 0, 1
F_ZZ, F_ZC, F_CC, F_ZM, F_CM, F_MM = 2, 3, 4, 5, 6, 7
B_XX, B_XA, B_AA, B_XZ, B_AZ, B_ZZ, B_XX0, B_AX0, B_ZX0 = 8, 9, 10, 11, 12, 13, 14, 15, 16
N_ACT_MOMENTS = 17


@njit(cache=True)
def activation_moments(code, slope, nu, nv_hat, b, chi, nv_true, beta_in, v_in, beta_out, v_out,
                       gp, gm, h, order):
    """Raw moments of one activation factor's prox under the SE joint law.

    Truth: X ~ N(0, chi), Zin = b + X, Zout = pwl(Zin; slope) + N(0, nv_true).
    Messages: a = Zin + beta_in X + N(0, v_in),  c = (1 + beta_out) Zout + N(0, v_out)
    (for the measurement gm = inf, beta_out = v_out = 0 and c = y = Zout).
    Returns E[...] of the products indexed by the module constants, with
    m = E[Zout | X, c] and F_MM = E[Zout^2]; Zout is integrated out analytically.
    """
    gx, gw = _legendre(order)
    out = np.zeros(N_ACT_MOMENTS)
    xs, xw = gauss_nodes(0.0, chi, np.array([-b]), h, gx, gw)
    g = 1.0 + beta_out
    vc = g * g * nv_true + v_out
    for i in range(xs.size):
        x = xs[i]
        zin = b + x
        phi = zin if zin >= 0.0 else slope * zin
        mc = g * phi
        if vc > 1e-300:
            gain = g * nv_true / vc
            vz = nv_true - g * nv_true * gain
        else:
            gain = 0.0
            vz = 0.0
        ma = zin + beta_in * x
        cs, cw = gauss_nodes(mc, vc, np.array([0.0]), h, gx, gw)
        for jc in range(cs.size):
            c = cs[jc]
            m = phi + gain * (c - mc)
            brk = activation_breakpoints(code, slope, nu, nv_hat, c, gp, gm)
            as_, aw = gauss_nodes(ma, v_in, brk, h, gx, gw)
            wxc = xw[i] * cw[jc]
            for ja in range(as_.size):
                a = as_[ja]
                xh, zh, dxa, dzc = activation_prox(code, slope, nu, nv_hat, a, c, gp, gm)
                w = wxc * aw[ja]
                out[A_DZC] += w * dzc
                out[A_DXA] += w * dxa
                out[F_ZZ] += w * zh * zh
                out[F_ZC] += w * zh * c
                out[F_CC] += w * c * c
                out[F_ZM] += w * zh * m
                out[F_CM] += w * c * m
                out[F_MM] += w * (m * m + vz)
                out[B_XX] += w * xh * xh
                out[B_XA] += w * xh * a
                out[B_AA] += w * a * a
                out[B_XZ] += w * xh * zin
                out[B_AZ] += w * a * zin
                out[B_ZZ] += w * zin * zin
                out[B_XX0] += w * xh * x
                out[B_AX0] += w * a * x
                out[B_ZX0] += w * zin * x
    return out


# ----------------------------------------------------------------------- priors
P_DZR, P_ZZ, P_ZR, P_RR, P_ZT, P_RT, P_TT = 0, 1, 2, 3, 4, 5, 6
N_PRIOR_MOMENTS = 7
GAUSSIAN_LAW, BG_LAW, LAPLACE_LAW = 0, 1, 2


@njit(cache=True)
def _prior_nodes(law, p1, p2, h, gx, gw):
    """Nodes/weights of the input law (gaussian var=p1; BG rho=p1, var=p2; laplace scale=p1)."""
    if law == GAUSSIAN_LAW:
        return gauss_nodes(0.0, p1, np.empty(0), h, gx, gw)
    if law == BG_LAW:
        s, w = gauss_nodes(0.0, p2, np.array([0.0]), h, gx, gw)
        return np.concatenate((np.array([0.0]), s)), np.concatenate((np.array([1.0 - p1]), p1 * w))
    u, w = _composite(0.0, LAPLACE_TAIL, np.empty(0), h, gx, gw)
    dens = 0.5 * np.exp(-u) * w
    return np.concatenate((-p1 * u, p1 * u)), np.concatenate((dens, dens))


@njit(cache=True)
def prior_moments(law, p1, p2, pen_code, pen_par, beta, v, gam, h, order):
    """Raw moments of the input prox: Z0 ~ law, r = (1 + beta) Z0 + N(0, v), zhat = prox(r; gam)."""
    gx, gw = _legendre(order)
    out = np.zeros(N_PRIOR_MOMENTS)
    zs, zw = _prior_nodes(law, p1, p2, h, gx, gw)
    brk = prior_breakpoints(pen_code, pen_par, gam)
    for i in range(zs.size):
        z0 = zs[i]
        rs, rw = gauss_nodes((1.0 + beta) * z0, v, brk, h, gx, gw)
        for j in range(rs.size):
            r = rs[j]
            zh, d = prior_prox(pen_code, pen_par, r, gam)
            w = zw[i] * rw[j]
            out[P_DZR] += w * d
            out[P_ZZ] += w * zh * zh
            out[P_ZR] += w * zh * r
            out[P_RR] += w * r * r
            out[P_ZT] += w * zh * z0
            out[P_RT] += w * r * z0
            out[P_TT] += w * z0 * z0
    return out
