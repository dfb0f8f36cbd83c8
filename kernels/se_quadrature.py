"""Quadrature for the state evolution: Gaussian expectations of piecewise-affine prox maps.

Given the truth X, an activation factor's two messages are independent Gaussians,
a ~ N(ma, va) and c ~ N(mc, vc), and its prox (x*, z*) is piecewise affine in (a, c).

- Conic factors (``activations.CONIC``: relu, leaky relu, identity, the lifted relu):
  the prox is positively homogeneous, so it is linear on the sectors of the (a, c)
  plane between the rays through its breakpoints a = beta c and the axes.  With
  a = ma + sa u, c = mc + sc v, a sector is a wedge of the (u, v) plane with apex
  p = (-ma/sa, -mc/sc), and its Gaussian moments E[u^i v^j; wedge], i + j <= 2, are
  closed form (:func:`wedge_moments`): the mass is a bivariate normal orthant
  probability (:func:`bvn_upper`), and the first and second moments follow from the
  divergence theorem as integrals of the density along the wedge's two rays.
  One adaptive Gauss-Kronrod (7-15) integral over the truth remains (relative
  tolerance ``tol``, split at phi's kinks).
- Other factors (hardtanh), or a message without noise: exact over a (truncated
  moments on each piece between its breakpoints), adaptive Gauss-Kronrod over c, and a
  composite Gauss-Legendre rule over the truth with its panels doubled until two rules
  agree to ``tol`` (two different rules: numba cannot cache a recursive call graph).
- The prior: exact over r given the truth, adaptive over the truth.
  Moments are accumulated in error form
(d = zhat - z0, q = r - z0), so small errors are not lost to cancellation.  The
integrands are chosen by an integer code, never passed as functions, so every
function here is compiled once and cached on disk.
"""
import math

import numpy as np
from numba import njit

from .activations import CONIC, MAX_BREAKS, N_PAR, activation_breakpoints_into, activation_prox, kinks, phi
from .priors import prior_breakpoints, prior_prox

TAIL = 10.0  # Gaussian mass beyond 10 sd: 1.5e-23
LAPLACE_TAIL = 55.0  # exponential mass beyond 55 scales: 1.3e-24
MAX_INTERVALS = 4000
ROUNDOFF = 1e-13  # absolute floor of the error target, relative to the largest component
SQRT2 = math.sqrt(2.0)
INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
TWO_PI = 2.0 * math.pi

# Gauss-Kronrod 15 / Gauss 7 on [-1, 1]
_XK = np.array([0.991455371120812639, 0.949107912342758525, 0.864864423359769073, 0.741531185599394440,
                0.586087235467691130, 0.405845151377397167, 0.207784955007898468, 0.0])
_WK = np.array([0.022935322010529225, 0.063092092629978553, 0.104790010322250184, 0.140653259715525919,
                0.169004726639267903, 0.190350578064785410, 0.204432940075298892, 0.209482141084727828])
_WG = np.array([0.0, 0.129484966168869693, 0.0, 0.279705391489276668, 0.0, 0.381830050505118945, 0.0,
                0.417959183673469388])
# Gauss-Legendre rules on [-1, 1] for the bivariate normal (6, 12, 20 points) and the pieces path over X (10)
_GL6, _GL12, _GL20, _GL10 = (np.polynomial.legendre.leggauss(n) for n in (6, 12, 20, 10))


@njit(cache=True)
def _pdf(t):
    return INV_SQRT2PI * math.exp(-0.5 * t * t)


@njit(cache=True)
def _sf(t):
    """P(N(0, 1) > t)."""
    return 0.5 * math.erfc(t / SQRT2)


# ------------------------------------------------------------ bivariate normal
@njit(cache=True)
def bvn_upper(h, k, r):
    """P(X > h, Y > k) for standard normals with correlation r.

    Drezner & Wesolowsky (1990) with Genz's double-precision treatment of |r| >= 0.925
    (A. Genz, Statistics and Computing 14, 2004): for |r| < 0.925 the Gauss-Legendre
    integral of d/dr P = pdf2(h, k; r) from 0 to r, in the variable asin r; beyond, the integral from r to
    +-1 of the same density in the variable sqrt(1 - r^2), with its singular part
    subtracted in closed form.  Absolute error about 1e-15.
    """
    if h == np.inf or k == np.inf:
        return 0.0
    if h == -np.inf:
        return 1.0 if k == -np.inf else _sf(k)
    if k == -np.inf:
        return _sf(h)
    ar = abs(r)
    x, w = (_GL6 if ar < 0.3 else _GL12) if ar < 0.75 else _GL20
    hk = h * k
    if ar < 0.925:
        hs = 0.5 * (h * h + k * k)
        asr = math.asin(r)
        total = 0.0
        for i in range(x.size):
            sn = math.sin(0.5 * asr * (1.0 + x[i]))
            total += w[i] * math.exp((sn * hk - hs) / (1.0 - sn * sn))
        return max(0.0, min(1.0, total * asr / (2.0 * TWO_PI) + _sf(h) * _sf(k)))
    if r < 0.0:
        k, hk = -k, -hk
    total = 0.0
    if ar < 1.0:
        as_ = (1.0 - r) * (1.0 + r)
        a = math.sqrt(as_)
        bs = (h - k) ** 2
        c = (4.0 - hk) / 8.0
        d = (12.0 - hk) / 16.0
        asr = -0.5 * (bs / as_ + hk)
        if asr > -100.0:
            total = a * math.exp(asr) * (1.0 - c * (bs - as_) * (1.0 - d * bs / 5.0) / 3.0 + c * d * as_ * as_ / 5.0)
        if hk > -100.0:
            b = math.sqrt(bs)
            total -= math.exp(-0.5 * hk) * math.sqrt(TWO_PI) * _sf(b / a) * b * (1.0 - c * bs * (1.0 - d * bs / 5.0) / 3.0)
        a *= 0.5
        for i in range(x.size):
            xs = (a * (1.0 + x[i])) ** 2
            rs = math.sqrt(1.0 - xs)
            asr = -0.5 * (bs / xs + hk)
            if asr > -100.0:
                sp = 1.0 + c * xs * (1.0 + d * xs)
                ep = math.exp(-hk * (1.0 - rs) / (2.0 * (1.0 + rs))) / rs
                total += a * w[i] * math.exp(asr) * (ep - sp)
        total = -total / TWO_PI
    if r > 0.0:
        total += _sf(max(h, k))
    else:
        total = -total + max(0.0, _sf(h) - _sf(k))
    return max(0.0, min(1.0, total))


# ---------------------------------------------------------------------- wedges
W_P, W_U, W_V, W_UU, W_UV, W_VV = 0, 1, 2, 3, 4, 5
N_WEDGE = 6


@njit(cache=True)
def wedge_moments(pu, pv, e1u, e1v, e2u, e2v, second, out):
    """out[W_*] = E[1, u, v, uu, uv, vv; W] for (u, v) ~ N(0, I) over the wedge W with
    apex p between the unit directions e1 and e2 (counter-clockwise, angle < pi);
    second moments only if ``second``.

    W = {n1.(x - p) >= 0, n2.(x - p) >= 0} with inward normals n1, n2, so its mass is
    P(n1.x >= n1.p, n2.x >= n2.p), correlation n1.n2.  With phi2 the density, x_j phi2 =
    -d_j phi2 and x_j x_k phi2 = d_j d_k phi2 + delta_jk phi2, and the divergence theorem
    on the two rays p + s e_i (outward normal -n_i):

        E[x_j; W]     = sum_i n_ij J0_i,          J0_i = int_0^inf phi2(p + s e_i) ds = pdf(D_i) Phi(-t_i)
        E[x_j x_k; W] = delta_jk P + sum_i n_ij (p_k J0_i + e_ik J1_i),   J1_i = int_0^inf s phi2 ds
                      = pdf(D_i) (pdf(t_i) - t_i Phi(-t_i)),

    with t_i = p.e_i and D_i = |p x e_i| the distance of ray i's line from the origin.
    """
    n1u, n1v = -e1v, e1u
    n2u, n2v = e2v, -e2u
    out[W_P] = bvn_upper(n1u * pu + n1v * pv, n2u * pu + n2v * pv, n1u * n2u + n1v * n2v)
    t1, t2 = pu * e1u + pv * e1v, pu * e2u + pv * e2v
    g1, g2 = _pdf(pu * e1v - pv * e1u), _pdf(pu * e2v - pv * e2u)
    j01, j02 = g1 * _sf(t1), g2 * _sf(t2)
    out[W_U] = n1u * j01 + n2u * j02
    out[W_V] = n1v * j01 + n2v * j02
    if second:
        j11, j12 = g1 * (_pdf(t1) - t1 * _sf(t1)), g2 * (_pdf(t2) - t2 * _sf(t2))
        out[W_UU] = out[W_P] + n1u * (pu * j01 + e1u * j11) + n2u * (pu * j02 + e2u * j12)
        out[W_VV] = out[W_P] + n1v * (pv * j01 + e1v * j11) + n2v * (pv * j02 + e2v * j12)
        out[W_UV] = n1u * (pv * j01 + e1v * j11) + n2u * (pv * j02 + e2v * j12)


@njit(cache=True)
def _bilinear(f0, fu, fv, g0, gu, gv, m):
    """E[(f0 + fu u + fv v)(g0 + gu u + gv v); W] from the wedge moments m."""
    return (f0 * g0 * m[W_P] + (f0 * gu + fu * g0) * m[W_U] + (f0 * gv + fv * g0) * m[W_V]
            + fu * gu * m[W_UU] + (fu * gv + fv * gu) * m[W_UV] + fv * gv * m[W_VV])


# ------------------------------------------------------------------ activations
A_DZC, A_DXA = 0, 1  # a.e. divergences
F_DD, F_DQ, F_QQ, F_DT, F_QT = 2, 3, 4, 5, 6  # forward output z_l: d = z* - Zout, q = c - Zout, T = Zout
B_DD, B_DQ, B_QQ, B_DT, B_QT = 7, 8, 9, 10, 11  # backward output z_{l-1}: d = x* - Zin, q = a - Zin, T = X
M_X, M_Z = 12, 13  # E[x*], E[z*]
J_ZC, J_XA = 14, 15  # E[(z*(c + hc) - z*(c - hc)) / 2hc], E[(x*(a + ha) - x*(a - ha)) / 2ha] (h = 0: a.e.)
N_ACT_MOMENTS = 16

# the activation's parameter record (``_act_record``)
P_CODE, P_PAR, P_NVHAT, P_GP, P_GM, P_SX, P_B, P_NV, P_G, P_VOUT, P_BETA, P_VIN, P_TOL, P_HA, P_HC, P_NSEC = (
    0, 1, 1 + N_PAR, 2 + N_PAR, 3 + N_PAR, 4 + N_PAR, 5 + N_PAR, 6 + N_PAR, 7 + N_PAR, 8 + N_PAR, 9 + N_PAR,
    10 + N_PAR, 11 + N_PAR, 12 + N_PAR, 13 + N_PAR, 14 + N_PAR)
N_RECORD = 15 + N_PAR
# one sector: its directions in (u, v), x* = qx a + rx c, z* = qz a + rz c, a.e. derivatives
S_E1U, S_E1V, S_E2U, S_E2V, S_QX, S_RX, S_QZ, S_RZ, S_DXA, S_DZC = range(10)
N_SECTOR = 10
MAX_SECTORS = 2 * MAX_BREAKS + 4

# work space: breakpoints, piece edges, two samples per piece, wedge moments, a moment
# buffer, the sector table
B0, E0, S0, T0 = 0, MAX_BREAKS, 2 * MAX_BREAKS + 2, 3 * MAX_BREAKS + 3
WM0 = 4 * MAX_BREAKS + 4
BUF0 = WM0 + N_WEDGE
SEC0 = BUF0 + N_ACT_MOMENTS
WORK = SEC0 + N_SECTOR * MAX_SECTORS


@njit(cache=True)
def scratch():
    """The work space of the integrands (module constants B0 ... WORK)."""
    return np.zeros(WORK)


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
    """Piece edges in t = a - mean (-inf, the sorted finite brk[:nb] - mean, inf) into
    ``edges`` and two sample points inside each piece into p1, p2; returns (pieces, sd)."""
    sd = math.sqrt(var)
    edges[0] = -np.inf
    n = 0
    for i in range(nb):  # insertion sort of the finite breakpoints into edges[1 : n + 1]
        v = brk[i] - mean
        if not np.isfinite(v):
            continue
        j = n
        while j >= 1 and edges[j] > v:
            edges[j + 1] = edges[j]
            j -= 1
        edges[j + 1] = v
        n += 1
    nb = n
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


@njit(cache=True)
def _prox(P, a, c):
    """(x*, z*, dx*/da, dz*/dc) of the activation in the record P."""
    return activation_prox(int(P[P_CODE]), P[P_PAR:P_PAR + N_PAR], P[P_NVHAT], a, c, P[P_GP], P[P_GM])


@njit(cache=True)
def _act_given_xc(P, c, x, m, vz, zin, ma, va, work, out):
    """Moments given X = x and c, exact over a ~ N(ma, va), into ``out``; Zout | (x, c) ~ N(m, vz)."""
    out[:] = 0.0
    brk, edges, s1, s2 = work[B0:E0], work[E0:S0], work[S0:T0], work[T0:WM0]
    nb = activation_breakpoints_into(int(P[P_CODE]), P[P_PAR:P_PAR + N_PAR], P[P_NVHAT], c, P[P_GP], P[P_GM],
                                     brk) if va > 0.0 else 0
    pieces, sd = _pieces(ma, va, brk, nb, edges, s1, s2)
    for i in range(pieces):
        if va > 0.0:
            m0, m1, m2 = truncated_moments(sd, edges[i], edges[i + 1])
        else:
            m0, m1, m2 = 1.0, 0.0, 0.0
        if m0 == 0.0 and m2 == 0.0:
            continue
        xa, za, dxa, dzc = _prox(P, ma + s1[i], c)
        xb, zb, _, _ = _prox(P, ma + s2[i], c)
        gap = s2[i] - s1[i]  # 0 only on a piece narrower than round-off (coincident breakpoints)
        x1 = (xb - xa) / gap if gap > 0.0 else 0.0
        z1 = (zb - za) / gap if gap > 0.0 else 0.0
        x0 = xa - x1 * s1[i]  # x*(ma + t) = x0 + x1 t on this piece
        z0 = za - z1 * s1[i]
        out[A_DZC] += dzc * m0
        out[A_DXA] += dxa * m0
        out[M_X] += x0 * m0 + x1 * m1
        out[M_Z] += z0 * m0 + z1 * m1
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
def _c_record(P, x, h, zin, ma, mc):
    """The record of the c-integrand given X = x (P extended by x, h, zin, ma, mc)."""
    Q = np.empty(N_RECORD + 5)
    Q[:N_RECORD] = P
    Q[N_RECORD:] = x, h, zin, ma, mc
    return Q


@njit(cache=True)
def _c_integrand(u, Q, work, f):
    """Integrand over c = mc + sd_c u given X (``_c_record``): pdf(u) times the exact
    a-expectation, with the central differences of the means at this node."""
    x, h, zin, ma, mc = Q[N_RECORD], Q[N_RECORD + 1], Q[N_RECORD + 2], Q[N_RECORD + 3], Q[N_RECORD + 4]
    g, nv = Q[P_G], Q[P_NV]
    vc = g * g * nv + Q[P_VOUT]
    gain = g * nv / vc
    c = mc + math.sqrt(vc) * u
    m, vz = h + gain * (c - mc), nv - g * nv * gain
    _act_given_xc(Q, c, x, m, vz, zin, ma, Q[P_VIN], work, f)
    buf = work[BUF0:SEC0]
    shifted = np.zeros(4)
    for j in range(4):  # the central differences at the same node: their difference is what is integrated
        da, dc, k = _shift(Q, j)
        if da != 0.0 or dc != 0.0:
            _act_given_xc(Q, c + dc, x, m, vz, zin, ma + da, Q[P_VIN], work, buf)
            shifted[j] = buf[k]
    _set_jumps(Q, f, shifted)
    f *= _pdf(u)


@njit(cache=True)
def _sector_table(P, work):
    """The sectors of a conic factor's prox in the (a, c) plane, between the rays through
    its breakpoints at c = 1 and at c = -1 and the axes, with the prox's linear
    coefficients on each, in work[SEC0:]; their directions in (u, v) = ((a - ma)/sa,
    (c - mc)/sc).  Returns their count."""
    sa, sc = math.sqrt(P[P_VIN]), math.sqrt(P[P_G] ** 2 * P[P_NV] + P[P_VOUT])
    brk = work[B0:E0]
    ang = np.empty(2 * MAX_BREAKS + 4)
    n = 0
    for q in range(4):
        ang[n] = 0.5 * math.pi * q - math.pi
        n += 1
    for side in (1.0, -1.0):  # the rays through the breakpoints (beta, side)
        nb = activation_breakpoints_into(int(P[P_CODE]), P[P_PAR:P_PAR + N_PAR], P[P_NVHAT], side, P[P_GP],
                                         P[P_GM], brk)
        for i in range(nb):
            if np.isfinite(brk[i]):
                ang[n] = math.atan2(side, brk[i])
                n += 1
    ang = np.sort(ang[:n])
    rays = np.empty(n + 1)
    m = 0
    for i in range(n):
        if m == 0 or ang[i] - rays[m - 1] > 1e-12:
            rays[m] = ang[i]
            m += 1
    if rays[m - 1] - rays[0] > TWO_PI - 1e-12:
        m -= 1
    rays[m] = rays[0] + TWO_PI
    for s in range(m):
        lo, hi = rays[s], rays[s + 1]
        row = work[SEC0 + s * N_SECTOR:SEC0 + (s + 1) * N_SECTOR]
        a1, c1 = math.cos(lo + (hi - lo) / 3.0), math.sin(lo + (hi - lo) / 3.0)
        a2, c2 = math.cos(lo + 2.0 * (hi - lo) / 3.0), math.sin(lo + 2.0 * (hi - lo) / 3.0)
        x1, z1, _, _ = _prox(P, a1, c1)
        x2, z2, _, _ = _prox(P, a2, c2)
        _, _, dxa, dzc = _prox(P, math.cos(0.5 * (lo + hi)), math.sin(0.5 * (lo + hi)))
        det = a1 * c2 - a2 * c1
        row[S_QX], row[S_RX] = (x1 * c2 - x2 * c1) / det, (a1 * x2 - a2 * x1) / det
        row[S_QZ], row[S_RZ] = (z1 * c2 - z2 * c1) / det, (a1 * z2 - a2 * z1) / det
        row[S_DXA], row[S_DZC] = dxa, dzc
        for k, t in ((S_E1U, lo), (S_E2U, hi)):
            u, v = math.cos(t) / sa, math.sin(t) / sc
            norm = math.hypot(u, v)
            row[k], row[k + 1] = u / norm, v / norm
    return m


@njit(cache=True)
def _act_given_x_sectors(P, x, h, zin, ma, mc, second, work, out):
    """Moments given X = x, in closed form over the sectors (module docstring); only the
    divergences and M_X, M_Z unless ``second``."""
    out[:] = 0.0
    g, nv = P[P_G], P[P_NV]
    sa, vc = math.sqrt(P[P_VIN]), g * g * nv + P[P_VOUT]
    sc = math.sqrt(vc)
    gain = g * nv / vc
    vz = nv - g * nv * gain
    gs = gain * sc  # Zout | c ~ N(h + gs v, vz)
    wm = work[WM0:BUF0]
    pu, pv = -ma / sa, -mc / sc
    for s in range(int(P[P_NSEC])):
        row = work[SEC0 + s * N_SECTOR:SEC0 + (s + 1) * N_SECTOR]
        wedge_moments(pu, pv, row[S_E1U], row[S_E1V], row[S_E2U], row[S_E2V], second, wm)
        x0, xu, xv = row[S_QX] * ma + row[S_RX] * mc, row[S_QX] * sa, row[S_RX] * sc
        z0, zu, zv = row[S_QZ] * ma + row[S_RZ] * mc, row[S_QZ] * sa, row[S_RZ] * sc
        p = wm[W_P]
        out[A_DZC] += row[S_DZC] * p
        out[A_DXA] += row[S_DXA] * p
        out[M_X] += x0 * p + xu * wm[W_U] + xv * wm[W_V]
        out[M_Z] += z0 * p + zu * wm[W_U] + zv * wm[W_V]
        if second:
            # forward: d = z* - Zout, q = c - Zout, T = Zout; Zout = h + gs v + N(0, vz)
            d0, du, dv = z0 - h, zu, zv - gs
            q0, qv = mc - h, sc - gs
            out[F_DD] += _bilinear(d0, du, dv, d0, du, dv, wm) + vz * p
            out[F_DQ] += _bilinear(d0, du, dv, q0, 0.0, qv, wm) + vz * p
            out[F_QQ] += _bilinear(q0, 0.0, qv, q0, 0.0, qv, wm) + vz * p
            out[F_DT] += _bilinear(d0, du, dv, h, 0.0, gs, wm) - vz * p
            out[F_QT] += _bilinear(q0, 0.0, qv, h, 0.0, gs, wm) - vz * p
            # backward: d = x* - Zin, q = a - Zin, T = X
            out[B_DD] += _bilinear(x0 - zin, xu, xv, x0 - zin, xu, xv, wm)
            out[B_DQ] += _bilinear(x0 - zin, xu, xv, ma - zin, sa, 0.0, wm)
            out[B_QQ] += _bilinear(ma - zin, sa, 0.0, ma - zin, sa, 0.0, wm)
            out[B_DT] += x * (x0 - zin) * p + x * xu * wm[W_U] + x * xv * wm[W_V]
            out[B_QT] += x * ((ma - zin) * p + sa * wm[W_U])


@njit(cache=True)
def _act_given_x(P, x, h, zin, ma, mc, second, work, out):
    """Moments given X = x over a ~ N(ma, v_in) and c ~ N(mc, g^2 nv + v_out): in closed
    form over the sectors, or exact over a when c is fixed (vc = 0)."""
    if P[P_NSEC] > 0:
        _act_given_x_sectors(P, x, h, zin, ma, mc, second, work, out)
    else:
        _act_given_xc(P, mc, x, h, 0.0, zin, ma, P[P_VIN], work, out)


@njit(cache=True)
def _act_given_x_nested(P, x, h, zin, ma, mc, work, out):
    """Moments given X = x: exact over a, adaptive over c (split at c = 0)."""
    sdc = math.sqrt(P[P_G] ** 2 * P[P_NV] + P[P_VOUT])
    out[:] = adaptive(C_PIECES, _c_record(P, x, h, zin, ma, mc), work, -TAIL, TAIL, np.array([-mc / sdc]),
                      P[P_TOL], N_ACT_MOMENTS)


@njit(cache=True)
def _truth_node(P, u):
    """(X, phi(Zin), Zin, ma, mc) at X = sd_x u: the truth and the messages' means given it."""
    x = P[P_SX] * u
    zin = P[P_B] + x
    h = phi(int(P[P_CODE]), P[P_PAR:P_PAR + N_PAR], zin)
    return x, h, zin, zin + P[P_BETA] * x, P[P_G] * h


@njit(cache=True)
def _shift(P, j):
    """The j-th shifted evaluation of the central differences: (da, dc, the mean it needs)."""
    if j < 2:
        return (P[P_HA] if j == 0 else -P[P_HA]), 0.0, M_X
    return 0.0, (P[P_HC] if j == 2 else -P[P_HC]), M_Z


@njit(cache=True)
def _set_jumps(P, f, shifted):
    """The central-difference divergences J_* from the means at the four shifted messages
    (``_shift``); the a.e. ones where h = 0."""
    f[J_XA] = (shifted[0] - shifted[1]) / (2.0 * P[P_HA]) if P[P_HA] > 0.0 else f[A_DXA]
    f[J_ZC] = (shifted[2] - shifted[3]) / (2.0 * P[P_HC]) if P[P_HC] > 0.0 else f[A_DZC]


@njit(cache=True)
def _act_integrand(u, P, work, f):
    """Integrand over X = sd_x u: pdf(u) times the moments given X, with the jump
    divergences from the means M_X, M_Z at shifted message means."""
    x, h, zin, ma, mc = _truth_node(P, u)
    _act_given_x(P, x, h, zin, ma, mc, True, work, f)
    buf = work[BUF0:SEC0]
    shifted = np.zeros(4)
    for j in range(4):
        da, dc, k = _shift(P, j)
        if da != 0.0 or dc != 0.0:
            _act_given_x(P, x, h, zin, ma + da, mc + dc, False, work, buf)
            shifted[j] = buf[k]
    _set_jumps(P, f, shifted)
    f *= _pdf(u)


# ----------------------------------------------------------------------- priors
P_DZR, P_DD, P_DQ, P_QQ, P_DT, P_QT = 0, 1, 2, 3, 4, 5  # d = zhat - Z0, q = r - Z0, T = Z0
N_PRIOR_MOMENTS = 6
GAUSSIAN_LAW, BG_LAW, LAPLACE_LAW = 0, 1, 2
R_LAW, R_SCALE, R_BETA, R_V, R_PEN, R_PENPAR, R_GAM = range(7)  # the prior's parameter record


@njit(cache=True)
def _prior_given_z(z, mr, v, pen_code, pen_par, gam, work, out):
    """Moments given Z0 = z, exact over r ~ N(mr, v), into ``out``."""
    out[:] = 0.0
    brk = prior_breakpoints(pen_code, pen_par, gam)
    nb = brk.size if v > 0.0 else 0
    edges, s1, s2 = work[E0:S0], work[S0:T0], work[T0:WM0]
    pieces, sd = _pieces(mr, v, brk, nb, edges, s1, s2)
    for i in range(pieces):
        m0, m1, m2 = truncated_moments(sd, edges[i], edges[i + 1]) if v > 0.0 else (1.0, 0.0, 0.0)
        za, dz = prior_prox(pen_code, pen_par, mr + s1[i], gam)
        zb, _ = prior_prox(pen_code, pen_par, mr + s2[i], gam)
        gap = s2[i] - s1[i]
        z1 = (zb - za) / gap if gap > 0.0 else 0.0
        out[P_DZR] += dz * m0
        _add_error_moments(out, P_DD, za - z1 * s1[i] - z, z1, mr - z, 1.0, z, m0, m1, m2)


@njit(cache=True)
def _prior_integrand(u, R, work, f):
    """Integrand over the standardised input: density times the exact r-expectation."""
    z = R[R_SCALE] * u
    _prior_given_z(z, (1.0 + R[R_BETA]) * z, R[R_V], int(R[R_PEN]), R[R_PENPAR], R[R_GAM], work,
                   f[:N_PRIOR_MOMENTS])
    f *= _pdf(u) if int(R[R_LAW]) != LAPLACE_LAW else 0.5 * math.exp(-abs(u))


# ------------------------------------------------------------ adaptive driver
ACTIVATION, C_PIECES, PRIOR = 0, 1, 2  # integrands (none of them calls ``adaptive``)


@njit(cache=True)
def _integrand(kind, u, P, work, f):
    if kind == ACTIVATION:
        _act_integrand(u, P, work, f)
    elif kind == C_PIECES:
        _c_integrand(u, P, work, f)
    else:
        _prior_integrand(u, P, work, f)


@njit(cache=True)
def _gk(kind, P, work, lo, hi, f):
    """Kronrod-15 estimate and |K15 - G7| on [lo, hi] of the integrand ``kind``."""
    nout = f.size
    half = 0.5 * (hi - lo)
    mid = 0.5 * (hi + lo)
    k = np.zeros(nout)
    g = np.zeros(nout)
    for i in range(8):
        for sign in (-1.0, 1.0):
            if i == 7 and sign > 0:
                continue
            _integrand(kind, mid + sign * half * _XK[i], P, work, f)
            wk, wg = _WK[i], _WG[i]
            for j in range(nout):
                k[j] += wk * f[j]
                g[j] += wg * f[j]
    err = np.empty(nout)
    for j in range(nout):
        err[j] = half * abs(k[j] - g[j])
        k[j] *= half
    return k, err


@njit(cache=True)
def adaptive(kind, P, work, lo, hi, breaks, tol, nout):
    """Integral over [lo, hi] of the vector integrand ``kind`` (with record P), split at ``breaks``.

    Bisects until every interval's |K15 - G7| <= scale_k * width / (hi - lo) with
    scale_k = max(tol |I_k|, ROUNDOFF max_j |I_j|) from the first pass (whose estimates
    are kept): the summed error estimate is below tol relative per component, down to
    round-off.
    """
    f = np.empty(nout)
    inner = breaks[(breaks > lo) & (breaks < hi)]
    edges = np.sort(np.concatenate((np.array([lo, hi]), inner)))
    est, err = _gk(kind, P, work, edges[0], edges[1], f)
    stack_lo, stack_hi, stack_est, stack_err = [edges[0]], [edges[1]], [est], [err]
    total = est.copy()
    for i in range(1, edges.size - 1):
        est, err = _gk(kind, P, work, edges[i], edges[i + 1], f)
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
                est, err = _gk(kind, P, work, lo_, hi_, f)
                stack_lo.append(lo_)
                stack_hi.append(hi_)
                stack_est.append(est)
                stack_err.append(err)
    return result


# ------------------------------------------------------------------ entry points
@njit(cache=True)
def activation_record(code, par, nv_hat, b, chi, nv_true, beta_in, v_in, beta_out, v_out, gp, gm, tol, step,
                      sectors, work):
    """The parameter record of an activation factor's SE integrand (``P_*``); with
    ``sectors`` (and a conic factor with noisy messages) its sector table in ``work``."""
    P = np.zeros(N_RECORD)
    P[P_CODE] = code
    P[P_PAR:P_PAR + N_PAR] = par
    P[P_NVHAT], P[P_GP], P[P_GM] = nv_hat, gp, gm
    P[P_SX], P[P_B], P[P_NV], P[P_G], P[P_VOUT] = math.sqrt(chi), b, nv_true, 1.0 + beta_out, v_out
    P[P_BETA], P[P_VIN], P[P_TOL] = beta_in, v_in, tol
    if step > 0.0:
        P[P_HA] = step / math.sqrt(gp)
        P[P_HC] = 0.0 if np.isinf(gm) else step / math.sqrt(gm)
    vc = P[P_G] ** 2 * nv_true + v_out
    if sectors and CONIC[code] and v_in > 0.0 and vc > 0.0:
        P[P_NSEC] = _sector_table(P, work)
    return P


@njit(cache=True)
def activation_moments(code, par, nv_hat, b, chi, nv_true, beta_in, v_in, beta_out, v_out, gp, gm, tol, step,
                       sectors=True):
    """Error moments of one activation factor's prox under the SE joint law.

    Truth: X ~ N(0, chi), Zin = b + X, Zout = phi(Zin) + N(0, nv_true) (``code``, ``par``:
    the factor, ``kernels.activations``).
    Messages: a = Zin + beta_in X + N(0, v_in),  c = (1 + beta_out) Zout + N(0, v_out)
    (for the measurement gm = inf, beta_out = v_out = 0 and c = y = Zout).
    Returns E[...] indexed by the module constants; J_* are the divergences of the
    central difference with step h = step / sqrt(gam) (the a.e. ones when step = 0).
    ``sectors`` False forces the pieces path (the tests' cross-check).
    """
    work = scratch()
    P = activation_record(code, par, nv_hat, b, chi, nv_true, beta_in, v_in, beta_out, v_out, gp, gm, tol, step,
                          sectors, work)
    breaks = (kinks(code) - b) / P[P_SX]
    if P[P_NSEC] > 0 or P[P_G] ** 2 * nv_true + v_out <= 1e-300:
        return adaptive(ACTIVATION, P, work, -TAIL, TAIL, breaks, tol, N_ACT_MOMENTS)
    return _nested(P, work, breaks)


@njit(cache=True)
def _nested(P, work, breaks):
    """The pieces path: composite Gauss-Legendre over X = sd_x u on [-TAIL, TAIL] (split at
    phi's kinks, where alone it is not smooth), the panels doubled until two rules agree
    to tol relative (down to round-off; an error if 10 doublings do not), of the moments
    given X by inner adaptive integrals over c (``_act_given_x_nested``)."""
    edges = np.sort(np.concatenate((np.array([-TAIL, TAIL]), breaks[(breaks > -TAIL) & (breaks < TAIL)])))
    xg, wg = _GL10
    f = np.empty(N_ACT_MOMENTS)
    prev = np.full(N_ACT_MOMENTS, np.nan)
    est = np.zeros(N_ACT_MOMENTS)
    panels = 2
    for _ in range(10):
        est = np.zeros(N_ACT_MOMENTS)
        for e in range(edges.size - 1):
            width = (edges[e + 1] - edges[e]) / panels
            for k in range(panels):
                for i in range(xg.size):
                    u = edges[e] + (k + 0.5 + 0.5 * xg[i]) * width
                    x, h, zin, ma, mc = _truth_node(P, u)
                    _act_given_x_nested(P, x, h, zin, ma, mc, work, f)
                    est += (0.5 * width * wg[i] * _pdf(u)) * f
        if np.all(np.abs(est - prev) <= P[P_TOL] * np.abs(est) + ROUNDOFF * np.abs(est).max()):
            return est
        prev = est
        panels *= 2
    raise RuntimeError("the SE quadrature over the truth did not converge (pieces path, 2^11 panels)")


@njit(cache=True)
def prior_moments(law, p1, p2, pen_code, pen_par, beta, v, gam, tol):
    """Error moments of the input prox: Z0 ~ law, r = (1 + beta) Z0 + N(0, v), zhat = prox(r; gam).

    Laws: gaussian (var = p1), Bernoulli-Gaussian (rho = p1, var = p2: an atom at 0
    plus rho N(0, var)), laplace (scale = p1)."""
    work = scratch()
    R = np.zeros(7)
    R[R_LAW], R[R_BETA], R[R_V], R[R_PEN], R[R_PENPAR], R[R_GAM] = law, beta, v, pen_code, pen_par, gam
    if law == LAPLACE_LAW:
        lim = LAPLACE_TAIL
        R[R_SCALE] = p1
    else:
        lim = TAIL
        R[R_SCALE] = math.sqrt(p1 if law == GAUSSIAN_LAW else p2)
    cont = adaptive(PRIOR, R, work, -lim, lim, np.array([0.0]), tol, N_PRIOR_MOMENTS)
    if law == BG_LAW:
        atom = np.empty(N_PRIOR_MOMENTS)
        _prior_given_z(0.0, 0.0, v, pen_code, pen_par, gam, work, atom)
        return p1 * cont + (1.0 - p1) * atom
    return cont
