"""Quadrature for the state evolution: Gaussian expectations of piecewise-affine prox maps.

Every prox map here is piecewise affine in its message (a = r^+ for an activation,
r for the prior) with known breakpoints, so the innermost Gaussian expectation is
exact: on each piece (p, q) the truncated moments E[t^k; p < m + t < q], k = 0, 1, 2,
are closed form (erf).  The outer integrals (over the truth X and the other message
c) are smooth between known kinks but may have sharp features where narrow message
noise meets a breakpoint, so they use adaptive Gauss-Kronrod (7-15) with a relative
tolerance ``tol``.  Moments are accumulated in error form (d = zhat - z0,
q = r - z0), so small errors are not lost to cancellation.
"""
import math

import numpy as np
from numba import njit

from .activations import MAX_BREAKS, activation_breakpoints_into, activation_prox, kinks, phi
from .priors import prior_breakpoints, prior_prox

TAIL = 10.0  # Gaussian mass beyond 10 sd: 1.5e-23
LAPLACE_TAIL = 55.0  # exponential mass beyond 55 scales: 1.3e-24
MAX_INTERVALS = 4000
ROUNDOFF = 1e-13  # absolute floor of the error target, relative to the largest component
SQRT2 = math.sqrt(2.0)
INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Gauss-Kronrod 15 / Gauss 7 on [-1, 1]
_XK = np.array([0.991455371120812639, 0.949107912342758525, 0.864864423359769073, 0.741531185599394440,
                0.586087235467691130, 0.405845151377397167, 0.207784955007898468, 0.0])
_WK = np.array([0.022935322010529225, 0.063092092629978553, 0.104790010322250184, 0.140653259715525919,
                0.169004726639267903, 0.190350578064785410, 0.204432940075298892, 0.209482141084727828])
_WG = np.array([0.0, 0.129484966168869693, 0.0, 0.279705391489276668, 0.0, 0.381830050505118945, 0.0,
                0.417959183673469388])


@njit  # takes or calls a jitted function as an argument: numba cannot cache it
def _gk(func, args, lo, hi, f):
    """Kronrod-15 estimate and |K15 - G7| on [lo, hi]; ``func(u, args, f)`` fills f."""
    nout = f.size
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    k = np.zeros(nout)
    g = np.zeros(nout)
    for i in range(8):
        for sign in (-1.0, 1.0):
            if i == 7 and sign > 0:
                continue
            func(mid + sign * half * _XK[i], args, f)
            wk, wg = _WK[i], _WG[i]
            for j in range(nout):
                k[j] += wk * f[j]
                g[j] += wg * f[j]
    err = np.empty(nout)
    for j in range(nout):
        err[j] = half * abs(k[j] - g[j])
        k[j] *= half
    return k, err


@njit  # takes or calls a jitted function as an argument: numba cannot cache it
def adaptive(func, args, lo, hi, breaks, tol, nout):
    """Integral of the vector function func(u, args, f) (which fills f) over [lo, hi],
    split at ``breaks``.

    Bisects until every interval's |K15 - G7| <= scale_k * width / (hi - lo) with
    scale_k = max(tol |I_k|, ROUNDOFF max_j |I_j|) from the first pass (whose estimates
    are kept): the summed error estimate is below tol relative per component, down to
    round-off.
    """
    f = np.empty(nout)
    inner = breaks[(breaks > lo) & (breaks < hi)]
    edges = np.sort(np.concatenate((np.array([lo, hi]), inner)))
    est, err = _gk(func, args, edges[0], edges[1], f)
    stack_lo, stack_hi, stack_est, stack_err = [edges[0]], [edges[1]], [est], [err]
    total = est.copy()
    for i in range(1, edges.size - 1):
        est, err = _gk(func, args, edges[i], edges[i + 1], f)
        total += est
        stack_lo.append(edges[i])
        stack_hi.append(edges[i + 1])
        stack_est.append(est)
        stack_err.append(err)
    big = np.abs(total).max()
    scale = np.maximum(tol * np.abs(total), ROUNDOFF * big) + 1e-300
    result = np.zeros(nout)
    done = 0
    while stack_lo:
        a = stack_lo.pop()
        b = stack_hi.pop()
        est = stack_est.pop()
        err = stack_err.pop()
        done += 1
        if done > MAX_INTERVALS or np.all(err <= scale * (b - a) / (hi - lo)) or np.isnan(err).any():
            result += est
        else:
            m = 0.5 * (a + b)
            for lo_, hi_ in ((a, m), (m, b)):
                est, err = _gk(func, args, lo_, hi_, f)
                stack_lo.append(lo_)
                stack_hi.append(hi_)
                stack_est.append(est)
                stack_err.append(err)
    return result


@njit(cache=True)
def _pdf(t):
    return INV_SQRT2PI * math.exp(-0.5 * t * t)


@njit(cache=True)
def truncated_moments(sd, lo, hi):
    """(E[1], E[t], E[t^2]) over lo < t < hi for t ~ N(0, sd^2) (lo, hi may be infinite)."""
    al = lo / sd
    be = hi / sd
    pa = 0.0 if math.isinf(al) else _pdf(al)
    pb = 0.0 if math.isinf(be) else _pdf(be)
    m0 = 0.5 * (math.erf(be / SQRT2) - math.erf(al / SQRT2))
    m1 = sd * (pa - pb)
    la = 0.0 if math.isinf(al) else al * pa
    lb = 0.0 if math.isinf(be) else be * pb
    return m0, m1, sd * sd * (m0 + la - lb)


@njit(cache=True)
def _aff(f0, f1, g0, g1, m0, m1, m2):
    """E[(f0 + f1 t)(g0 + g1 t)] on a piece with moments m0, m1, m2 of t."""
    return f0 * g0 * m0 + (f0 * g1 + f1 * g0) * m1 + f1 * g1 * m2


@njit(cache=True)
def _add_error_moments(out, k, d0, d1, q0, q1, T, m0, m1, m2):
    """out[k:k+5] += E[dd, dq, qq, dT, qT] on a piece, for d = d0 + d1 t, q = q0 + q1 t, T fixed."""
    out[k] += _aff(d0, d1, d0, d1, m0, m1, m2)
    out[k + 1] += _aff(d0, d1, q0, q1, m0, m1, m2)
    out[k + 2] += _aff(q0, q1, q0, q1, m0, m1, m2)
    out[k + 3] += (d0 * m0 + d1 * m1) * T
    out[k + 4] += (q0 * m0 + q1 * m1) * T


@njit(cache=True)
def _pieces(mean, var, brk, nb, edges, p1, p2):
    """Piece edges in t = a - mean (-inf, the sorted brk[:nb] - mean, inf) into ``edges``
    and two sample points inside each piece into p1, p2; returns (pieces, sd)."""
    sd = math.sqrt(var)
    edges[0] = -np.inf
    for i in range(nb):  # insertion sort into edges[1 : nb + 1]
        v = brk[i] - mean
        j = i
        while j >= 1 and edges[j] > v:
            edges[j + 1] = edges[j]
            j -= 1
        edges[j + 1] = v
    edges[nb + 1] = np.inf
    step = max(sd, 1e-3 * (abs(mean) + 1.0))
    for i in range(nb + 1):
        lo, hi = edges[i], edges[i + 1]
        if math.isinf(lo) and math.isinf(hi):
            p1[i], p2[i] = 0.0, step
        elif math.isinf(lo):
            p1[i], p2[i] = hi - 2 * step, hi - step
        elif math.isinf(hi):
            p1[i], p2[i] = lo + step, lo + 2 * step
        else:
            p1[i], p2[i] = lo + 0.25 * (hi - lo), lo + 0.75 * (hi - lo)
    return nb + 1, sd


B0, E0, S0, T0 = 0, MAX_BREAKS, 2 * MAX_BREAKS + 2, 3 * MAX_BREAKS + 3  # offsets into the work space
WORK = 4 * MAX_BREAKS + 4


@njit(cache=True)
def scratch():
    """Work space of ``_act_given_xc`` / ``_prior_given_z``: breakpoints (MAX_BREAKS),
    piece edges (MAX_BREAKS + 2), two samples per piece (MAX_BREAKS + 1 each)."""
    return np.empty(WORK)


# ------------------------------------------------------------------ activations
A_DZC, A_DXA = 0, 1
F_DD, F_DQ, F_QQ, F_DT, F_QT = 2, 3, 4, 5, 6  # forward output z_l: d = z* - Zout, q = c - Zout, T = Zout
B_DD, B_DQ, B_QQ, B_DT, B_QT = 7, 8, 9, 10, 11  # backward output z_{l-1}: d = x* - Zin, q = a - Zin, T = X
N_ACT_MOMENTS = 12


@njit(cache=True)
def _act_given_xc(c, x, m, vz, zin, ma, va, p, work, out):
    """Moments given X = x and c, exact over a ~ N(ma, va), into ``out`` (p = prox
    parameters, ``work`` from :func:`scratch`)."""
    code, par, nv_hat, gp, gm = p
    out[:] = 0.0
    brk, edges, s1, s2 = work[B0:E0], work[E0:S0], work[S0:T0], work[T0:WORK]
    nb = activation_breakpoints_into(code, par, nv_hat, c, gp, gm, brk) if va > 0.0 else 0
    pieces, sd = _pieces(ma, va, brk, nb, edges, s1, s2)
    for i in range(pieces):
        if va > 0.0:
            m0, m1, m2 = truncated_moments(sd, edges[i], edges[i + 1])
        else:
            m0, m1, m2 = 1.0, 0.0, 0.0
        if m0 == 0.0 and m2 == 0.0:
            continue
        xa, za, dxa, dzc = activation_prox(code, par, nv_hat, ma + s1[i], c, gp, gm)
        xb, zb, _, _ = activation_prox(code, par, nv_hat, ma + s2[i], c, gp, gm)
        gap = s2[i] - s1[i]  # 0 only on a piece narrower than round-off (coincident breakpoints)
        x1 = (xb - xa) / gap if gap > 0.0 else 0.0
        z1 = (zb - za) / gap if gap > 0.0 else 0.0
        x0 = xa - x1 * s1[i]  # x*(ma + t) = x0 + x1 t on this piece
        z0 = za - z1 * s1[i]
        out[A_DZC] += dzc * m0
        out[A_DXA] += dxa * m0
        # forward: d = z* - Zout, q = c - Zout, T = Zout, with Zout | (x, c) ~ N(m, vz)
        _add_error_moments(out, F_DD, z0 - m, z1, c - m, 0.0, m, m0, m1, m2)
        out[F_DD] += vz * m0
        out[F_DQ] += vz * m0
        out[F_QQ] += vz * m0
        out[F_DT] -= vz * m0
        out[F_QT] -= vz * m0
        # backward: d = x* - Zin, q = a - Zin, T = X
        _add_error_moments(out, B_DD, x0 - zin, x1, ma - zin, 1.0, x, m0, m1, m2)


@njit(cache=True)
def _scale(f, w):
    for j in range(f.size):
        f[j] *= w


@njit  # takes or calls a jitted function as an argument: numba cannot cache it
def _act_c_integrand(u, args, f):
    """Integrand over c = mc + sd_c u: pdf(u) times the exact a-expectation."""
    mc, sdc, x, h, gain, vz, zin, ma, va, p, work = args
    c = mc + sdc * u
    _act_given_xc(c, x, h + gain * (c - mc), vz, zin, ma, va, p, work, f)
    _scale(f, _pdf(u))


@njit  # takes or calls a jitted function as an argument: numba cannot cache it
def _act_x_integrand(u, args, f):
    """Integrand over X = sd_x u: pdf(u) times the c- and a-expectations given X."""
    sx, b, nv_true, g, v_out, beta_in, v_in, tol, p, work = args
    x = sx * u
    zin = b + x
    h = phi(p[0], p[1], zin)
    mc = g * h
    vc = g * g * nv_true + v_out
    ma = zin + beta_in * x
    if vc <= 1e-300:
        _act_given_xc(mc, x, h, 0.0, zin, ma, v_in, p, work, f)
    else:
        gain = g * nv_true / vc
        sdc = math.sqrt(vc)
        f[:] = adaptive(_act_c_integrand, (mc, sdc, x, h, gain, nv_true - g * nv_true * gain, zin, ma, v_in, p,
                                           work), -TAIL, TAIL, np.array([-mc / sdc]), tol, N_ACT_MOMENTS)
    _scale(f, _pdf(u))


@njit  # takes or calls a jitted function as an argument: numba cannot cache it
def activation_moments(code, par, nv_hat, b, chi, nv_true, beta_in, v_in, beta_out, v_out, gp, gm, tol):
    """Error moments of one activation factor's prox under the SE joint law.

    Truth: X ~ N(0, chi), Zin = b + X, Zout = phi(Zin) + N(0, nv_true) (``code``, ``par``:
    the factor, ``kernels.activations``).
    Messages: a = Zin + beta_in X + N(0, v_in),  c = (1 + beta_out) Zout + N(0, v_out)
    (for the measurement gm = inf, beta_out = v_out = 0 and c = y = Zout).
    Returns E[...] indexed by the module constants; Zout is integrated out given (X, c).
    """
    p = (code, par, nv_hat, gp, gm)
    sx = math.sqrt(chi)
    args = (sx, b, nv_true, 1.0 + beta_out, v_out, beta_in, v_in, tol, p, scratch())
    return adaptive(_act_x_integrand, args, -TAIL, TAIL, (kinks(code) - b) / sx, tol, N_ACT_MOMENTS)


# ----------------------------------------------------------------------- priors
P_DZR, P_DD, P_DQ, P_QQ, P_DT, P_QT = 0, 1, 2, 3, 4, 5  # d = zhat - Z0, q = r - Z0, T = Z0
N_PRIOR_MOMENTS = 6
GAUSSIAN_LAW, BG_LAW, LAPLACE_LAW = 0, 1, 2


@njit(cache=True)
def _prior_given_z(z, mr, v, pen_code, pen_par, gam, work, out):
    """Moments given Z0 = z, exact over r ~ N(mr, v), into ``out``."""
    out[:] = 0.0
    brk = prior_breakpoints(pen_code, pen_par, gam)
    nb = brk.size if v > 0.0 else 0
    edges, s1, s2 = work[E0:S0], work[S0:T0], work[T0:WORK]
    pieces, sd = _pieces(mr, v, brk, nb, edges, s1, s2)
    for i in range(pieces):
        m0, m1, m2 = truncated_moments(sd, edges[i], edges[i + 1]) if v > 0.0 else (1.0, 0.0, 0.0)
        za, dz = prior_prox(pen_code, pen_par, mr + s1[i], gam)
        zb, _ = prior_prox(pen_code, pen_par, mr + s2[i], gam)
        gap = s2[i] - s1[i]
        z1 = (zb - za) / gap if gap > 0.0 else 0.0
        out[P_DZR] += dz * m0
        _add_error_moments(out, P_DD, za - z1 * s1[i] - z, z1, mr - z, 1.0, z, m0, m1, m2)


@njit  # takes or calls a jitted function as an argument: numba cannot cache it
def _prior_integrand(u, args, f):
    """Integrand over the standardised input: density times the exact r-expectation."""
    law, scale, beta, v, pen_code, pen_par, gam, work = args
    z = scale * u
    _prior_given_z(z, (1.0 + beta) * z, v, pen_code, pen_par, gam, work, f)
    _scale(f, _pdf(u) if law != LAPLACE_LAW else 0.5 * math.exp(-abs(u)))


@njit  # takes or calls a jitted function as an argument: numba cannot cache it
def prior_moments(law, p1, p2, pen_code, pen_par, beta, v, gam, tol):
    """Error moments of the input prox: Z0 ~ law, r = (1 + beta) Z0 + N(0, v), zhat = prox(r; gam).

    Laws: gaussian (var = p1), Bernoulli-Gaussian (rho = p1, var = p2: an atom at 0
    plus rho N(0, var)), laplace (scale = p1)."""
    work = scratch()
    if law == LAPLACE_LAW:
        lim = LAPLACE_TAIL
        args = (law, p1, beta, v, pen_code, pen_par, gam, work)
    else:
        lim = TAIL
        args = (law, math.sqrt(p1 if law == GAUSSIAN_LAW else p2), beta, v, pen_code, pen_par, gam, work)
    cont = adaptive(_prior_integrand, args, -lim, lim, np.array([0.0]), tol, N_PRIOR_MOMENTS)
    if law == BG_LAW:
        atom = np.empty(N_PRIOR_MOMENTS)
        _prior_given_z(0.0, 0.0, v, pen_code, pen_par, gam, work, atom)
        return p1 * cont + (1.0 - p1) * atom
    return cont
