"""Deterministic cross-time moments of the SE with memory: E[e_t e_k] of one separable
factor's new errors at two updates t, k (docs/damped_se.md, section 5).

Given the truth, an activation's two input messages at the two updates are two
independent Gaussian pairs: (a_t, a_k), correlated through the history of the forward
message, and (c_t, c_k), through the backward message and the output noise.  For fixed
c the prox is piecewise affine in a (between its breakpoints), so given (X, c_t, c_k)
the expectation over (a_t, a_k) is a sum over the rectangles of the two breakpoint
grids of bivariate normal moments E[1, u, v, uv; rectangle], each an inclusion-exclusion
of lower-orthant moments (:func:`lower_orthant`) in closed form.  What remains is a
Gaussian integral over (X, c_t, c_k), smooth except where phi(b + X) has its kink and
where c_t or c_k is 0 (the conic proxes' breakpoints a = beta c change there): a tensor
rule, conditioned level by level (X, then c_t, then c_k given c_t), each level a
composite Gauss-Legendre rule on [-TAIL, TAIL] in its standardised variable, split at
its one non-smooth point, in panels of width at most ``width``.  The prior is the same
with one message: closed form over (r_t, r_k) given the truth, the rule over the truth.

Every function is compiled once and cached; the rule is fixed (no adaptivity), so its
error is stated by a finer rule (``tests/test_se_cross.py``, ``benchmarks/se.py``).
"""
import math

import numpy as np
from numba import njit

from .activations import MAX_BREAKS, activation_breakpoints_into, activation_prox, phi
from .priors import prior_breakpoints, prior_prox
from .se_quadrature import BG_LAW, GAUSSIAN_LAW, LAPLACE_LAW, _pdf, _pieces, bvn_upper

RULE_TAIL = 7.5  # each level's standardised variable is cut at +-7.5 sd: mass beyond 6.4e-14
RULE_DENSITY = 1.5  # Gauss-Legendre nodes per sd of each level's rule
DEGENERATE = 1e-15  # 1 - r below this: the two Gaussians are taken as equal
PLUS, MINUS = 0, 1  # the output of an activation factor: its forward z*, its backward x*

_SQRT2 = math.sqrt(2.0)


@njit(cache=True)
def _cdf(t):
    return 0.5 * math.erfc(-t / _SQRT2)


@njit(cache=True)
def lower_orthant(h, k, r, out):
    """out = E[1, u, v, uv; u < h, v < k] for standard normals (u, v) with correlation r
    (h, k may be infinite).  By Stein's lemma for correlated normals, with s = sqrt(1 - r^2),
    A = Phi((k - r h)/s), B = Phi((h - r k)/s):
        E[u; .]  = -pdf(h) A - r pdf(k) B,        E[v; .] = -pdf(k) B - r pdf(h) A,
        E[uv; .] = r P - r k pdf(k) B - r h pdf(h) A + s pdf(h) pdf((k - r h)/s);
    for 1 - r < DEGENERATE, u = v."""
    if h == -np.inf or k == -np.inf:
        out[:] = 0.0
        return
    if 1.0 - r < DEGENERATE:
        m = min(h, k)
        pm = 0.0 if m == np.inf else _pdf(m)
        out[0] = _cdf(m)
        out[1] = out[2] = -pm
        out[3] = out[0] - (0.0 if m == np.inf else m * pm)
        return
    s = math.sqrt((1.0 - r) * (1.0 + r))
    ph = 0.0 if h == np.inf else _pdf(h)
    pk = 0.0 if k == np.inf else _pdf(k)
    A = _cdf((k - r * h) / s) if ph > 0.0 else 0.0
    B = _cdf((h - r * k) / s) if pk > 0.0 else 0.0
    P = bvn_upper(-h, -k, r)
    out[0] = P
    out[1] = -ph * A - r * pk * B
    out[2] = -pk * B - r * ph * A
    g = ph * _pdf((k - r * h) / s) if (ph > 0.0 and k != np.inf) else 0.0
    out[3] = r * P - r * (0.0 if pk == 0.0 else k * pk) * B - r * (0.0 if ph == 0.0 else h * ph) * A + s * g


@njit(cache=True)
def rectangle_products(eu, nu, pu, qu, ev, nv, pv, qv, r, corner, shift=0.0):
    """sum_ij E[(pu_i - shift + qu_i u)(pv_j + qv_j v); eu_i < u < eu_{i+1}, ev_j < v < ev_{j+1}]
    over the pieces i < nu, j < nv of two piecewise-affine functions of standard normals
    with correlation r (edges eu[0] = ev[0] = -inf, eu[nu] = ev[nv] = inf); ``corner`` is
    scratch of (nu + 1) x (nv + 1) x 4."""
    for i in range(nu + 1):
        for j in range(nv + 1):
            lower_orthant(eu[i], ev[j], r, corner[i, j])
    total = 0.0
    for i in range(nu):
        for j in range(nv):
            m0 = corner[i + 1, j + 1, 0] - corner[i, j + 1, 0] - corner[i + 1, j, 0] + corner[i, j, 0]
            m1 = corner[i + 1, j + 1, 1] - corner[i, j + 1, 1] - corner[i + 1, j, 1] + corner[i, j, 1]
            m2 = corner[i + 1, j + 1, 2] - corner[i, j + 1, 2] - corner[i + 1, j, 2] + corner[i, j, 2]
            m3 = corner[i + 1, j + 1, 3] - corner[i, j + 1, 3] - corner[i + 1, j, 3] + corner[i, j, 3]
            p = pu[i] - shift
            total += p * pv[j] * m0 + qu[i] * pv[j] * m1 + p * qv[j] * m2 + qu[i] * qv[j] * m3
    return total


MAX_ORDER = 64
_GL_X = np.zeros((MAX_ORDER + 1, MAX_ORDER))  # row n: the n Gauss-Legendre nodes on [-1, 1]
_GL_W = np.zeros((MAX_ORDER + 1, MAX_ORDER))
for _n in range(1, MAX_ORDER + 1):
    _GL_X[_n, :_n], _GL_W[_n, :_n] = np.polynomial.legendre.leggauss(_n)
EXP_TAIL = 40.0  # the exponential rule's range [0, 40]: mass beyond 4.2e-18


PANEL_ORDER = 48  # the most Gauss-Legendre nodes of one panel


@njit(cache=True)
def _panels(a, b, total, f_weight, nodes, weights, n):
    """Append ``total`` Gauss-Legendre nodes on [a, b] in equal panels of at most
    PANEL_ORDER, their weights times the density (``f_weight``: 0 standard normal,
    1 e^-t); returns the new count."""
    panels = (total + PANEL_ORDER - 1) // PANEL_ORDER
    order = (total + panels - 1) // panels
    w = (b - a) / panels
    for p in range(panels):
        mid = a + (p + 0.5) * w
        for i in range(order):
            u = mid + 0.5 * w * _GL_X[order, i]
            nodes[n] = u
            weights[n] = 0.5 * w * _GL_W[order, i] * (_pdf(u) if f_weight == 0 else math.exp(-u))
            n += 1
    return n


@njit(cache=True)
def rule_size(density):
    """The most nodes :func:`line_rule` gives at ``density``."""
    return int(math.ceil(density * 2.0 * RULE_TAIL)) + 2 * (PANEL_ORDER + 4)


@njit(cache=True)
def line_rule(split, density, nodes, weights):
    """Nodes and weights (the standard normal density included) for int f(u) pdf(u) du
    over [-RULE_TAIL, RULE_TAIL], split at ``split`` (ignored outside): on each segment
    ceil(density x length) Gauss-Legendre nodes (at least 4), in equal panels of at most
    PANEL_ORDER; returns the node count (at most ``rule_size(density)``)."""
    n = 0
    lo, hi = -RULE_TAIL, RULE_TAIL
    inside = lo < split < hi
    for seg in range(2 if inside else 1):
        a = lo if seg == 0 else split
        b = (split if inside else hi) if seg == 0 else hi
        n = _panels(a, b, max(4, int(math.ceil(density * (b - a)))), 0, nodes, weights, n)
    return n


# ------------------------------------------------------------------ activations
# one update's record: the prox's precisions, alpha, the output, the messages' gains
U_GP, U_GM, U_ALPHA, U_GA, U_GC = range(5)


@njit(cache=True)
def _output_pieces(code, par, nvhat, out_kind, U, b, c, zhat, ma, sa, brk, edges, p1, p2, pc, qc):
    """The new error's affine pieces in u = (a - ma)/sa for fixed c: e = pc_i + qc_i u on
    edges[i] < u < edges[i + 1] (edges[0] = -inf); for PLUS e + Zout - zhat
    = (z* - alpha c)/(1 - alpha) - zhat, for MINUS (x* - b - alpha (a - b))/(1 - alpha) - zhat
    (zhat: the truth's conditional mean given the c's).  Returns the piece count."""
    gp, gm, al = U[U_GP], U[U_GM], U[U_ALPHA]
    nb = activation_breakpoints_into(code, par, nvhat, c, gp, gm, brk)
    pieces, _ = _pieces(ma, sa * sa, brk, nb, edges, p1, p2)
    for i in range(pieces):
        ya = _new_error(code, par, nvhat, out_kind, gp, gm, al, b, ma + p1[i], c)
        yb = _new_error(code, par, nvhat, out_kind, gp, gm, al, b, ma + p2[i], c)
        gap = p2[i] - p1[i]
        slope = (yb - ya) / gap if gap > 0.0 else 0.0
        pc[i] = ya - slope * p1[i] - zhat
        qc[i] = slope * sa
    return _compact(pieces, edges, pc, qc, sa)


@njit(cache=True)
def _compact(pieces, edges, pc, qc, sa):
    """Standardise the edges (u = t / sa) and drop those that are not breakpoints of this
    function (equal affine pieces on both sides, to round-off) or lie beyond RULE_TAIL
    (the pieces there carry mass below 3.2e-14); returns the remaining piece count."""
    n = 0
    for i in range(pieces):
        lo = -np.inf if i == 0 else edges[i] / sa
        if i > 0 and lo >= RULE_TAIL:
            break
        scale = 1.0 + abs(pc[n - 1]) + abs(qc[n - 1]) if n > 0 else 1.0
        same = n > 0 and abs(pc[i] - pc[n - 1]) <= 1e-12 * scale and abs(qc[i] - qc[n - 1]) <= 1e-12 * scale
        if n > 0 and (same or lo <= -RULE_TAIL):
            if not same:  # the pieces below lo carry no mass: this one starts at -inf
                pc[n - 1], qc[n - 1] = pc[i], qc[i]
            continue
        edges[n] = lo
        pc[n], qc[n] = pc[i], qc[i]
        n += 1
    edges[n] = np.inf
    return n


@njit(cache=True)
def _new_error(code, par, nvhat, out_kind, gp, gm, al, b, a, c):
    x, z, _, _ = activation_prox(code, par, nvhat, a, c, gp, gm)
    if out_kind == PLUS:
        return (z - al * c) / (1.0 - al)
    return (x - b - al * (a - b)) / (1.0 - al)


@njit(cache=True)
def activation_cross(code, par, nvhat, out_kind, b, chi, nv, Ut, Uk, va, ca, vc, cc, measured, kink, density, truth_density):
    """E[e_t e_k] of an activation factor's new errors (output ``out_kind``) at updates t, k.

    Truth X ~ N(0, chi), Zin = b + X, Zout = phi(Zin) + N(0, nv).  Messages at update s:
    a_s = Zin + (Us[U_GA] - 1) X + w^a_s, c_s = Us[U_GC] Zout + w^c_s, the w's Gaussian,
    independent of the truth, with Var(w^a) = va = (va_t, va_k), Cov(w^a_t, w^a_k) = ca,
    and vc, cc for w^c; ``measured``: c_t = c_k = Zout (the measurement).  Us holds the
    update's prox precisions and alpha (``U_*``).  ``kink``: phi's kink (the split of the
    rule over X); ``density``, ``truth_density``: the rules' nodes per sd over the messages c and over X
    (:func:`line_rule`).
    """
    size = max(rule_size(density), rule_size(truth_density))
    nodes = np.empty((3, size))
    weights = np.empty((3, size))
    brk = np.empty(MAX_BREAKS)
    et, pt, qt = np.empty(MAX_BREAKS + 2), np.empty(MAX_BREAKS + 1), np.empty(MAX_BREAKS + 1)
    ek, pk, qk = np.empty(MAX_BREAKS + 2), np.empty(MAX_BREAKS + 1), np.empty(MAX_BREAKS + 1)
    p1, p2 = np.empty(MAX_BREAKS + 1), np.empty(MAX_BREAKS + 1)
    corner = np.empty((MAX_BREAKS + 2, MAX_BREAKS + 2, 4))
    sx = math.sqrt(chi)
    sat, sak = math.sqrt(va[0]), math.sqrt(va[1])
    ra = ca / (sat * sak)
    # (c_t, c_k) given X: mean g h, covariance nv g g^T + Cov(w^c); Zout's regression on them
    gt, gk = Ut[U_GC], Uk[U_GC]
    s11, s22, s12 = nv * gt * gt + vc[0], nv * gk * gk + vc[1], nv * gt * gk + cc
    st, sk = math.sqrt(s11), math.sqrt(s22)
    rc = min(1.0, s12 / (st * sk))
    rc2 = math.sqrt((1.0 - rc) * (1.0 + rc)) if 1.0 - rc >= DEGENERATE else 0.0
    # Zout = h + zu u + zv v + N(0, zvar) in the standardised (u, v) of (c_t, c_k)
    zu = nv * gt / st
    zv = (nv * gk / sk - rc * zu) / rc2 if rc2 > 0.0 else 0.0
    zvar = max(nv - zu * zu - zv * zv, 0.0) if out_kind == PLUS else 0.0
    nx = line_rule((kink - b) / sx, truth_density, nodes[0], weights[0])
    total = 0.0
    for ix in range(nx):
        x = sx * nodes[0, ix]
        h = phi(code, par, b + x)
        mat, mak = b + Ut[U_GA] * x, b + Uk[U_GA] * x
        if measured:
            # c_t = c_k = Zout ~ N(h, nv): one level, Zout known given c
            if nv > 0.0:
                sd = math.sqrt(nv)
                nc = line_rule(-h / sd, density, nodes[1], weights[1])
            else:
                sd, nc = 0.0, 1
                nodes[1, 0], weights[1, 0] = 0.0, 1.0
            inner = 0.0
            for ic in range(nc):
                c = h + sd * nodes[1, ic]
                zhat = x if out_kind == MINUS else c
                nt = _output_pieces(code, par, nvhat, out_kind, Ut, b, c, zhat, mat, sat, brk, et, p1, p2, pt, qt)
                nk = _output_pieces(code, par, nvhat, out_kind, Uk, b, c, zhat, mak, sak, brk, ek, p1, p2, pk, qk)
                inner += weights[1, ic] * rectangle_products(et, nt, pt, qt, ek, nk, pk, qk, ra, corner)
            total += weights[0, ix] * inner
            continue
        mt, mk = gt * h, gk * h
        nu_ = line_rule(-mt / st, density, nodes[1], weights[1])
        outer = 0.0
        for iu in range(nu_):
            u = nodes[1, iu]
            ct = mt + st * u
            # update t's pieces given c_t; the truth's conditional mean enters as a shift
            nt = _output_pieces(code, par, nvhat, out_kind, Ut, b, ct, 0.0, mat, sat, brk, et, p1, p2, pt, qt)
            # the c_k rule given c_t: c_k = mk + sk (rc u + rc2 v)
            if rc2 > 0.0:
                nv_ = line_rule((-mk / sk - rc * u) / rc2, density, nodes[2], weights[2])
            else:
                nv_ = 1
                nodes[2, 0], weights[2, 0] = 0.0, 1.0
            inner = 0.0
            for iv in range(nv_):
                v = nodes[2, iv]
                ck = mk + sk * (rc * u + rc2 * v)
                zhat = h + zu * u + zv * v if out_kind == PLUS else x
                nk = _output_pieces(code, par, nvhat, out_kind, Uk, b, ck, zhat, mak, sak, brk, ek, p1, p2, pk, qk)
                inner += weights[2, iv] * (rectangle_products(et, nt, pt, qt, ek, nk, pk, qk, ra, corner, zhat) + zvar)
            outer += weights[1, iu] * inner
        total += weights[0, ix] * outer
    return total


# ---------------------------------------------------------------------- prior
@njit(cache=True)
def _prior_pieces(pen_code, pen_par, gam, al, z, mr, sr, edges, p1, p2, pc, qc):
    """The prior's new error (zhat - z - alpha (r - z))/(1 - alpha) on its affine pieces in
    u = (r - mr)/sr, as in :func:`_output_pieces`; returns the piece count."""
    brk = prior_breakpoints(pen_code, pen_par, gam)
    pieces, _ = _pieces(mr, sr * sr, brk, brk.size, edges, p1, p2)
    for i in range(pieces):
        ya = (prior_prox(pen_code, pen_par, mr + p1[i], gam)[0] - z - al * (mr + p1[i] - z)) / (1.0 - al)
        yb = (prior_prox(pen_code, pen_par, mr + p2[i], gam)[0] - z - al * (mr + p2[i] - z)) / (1.0 - al)
        gap = p2[i] - p1[i]
        slope = (yb - ya) / gap if gap > 0.0 else 0.0
        pc[i] = ya - slope * p1[i]
        qc[i] = slope * sr
    return _compact(pieces, edges, pc, qc, sr)


@njit(cache=True)
def _prior_given_z(pen_code, pen_par, Ut, Uk, vr, cr, z, work, corner):
    """E[e_t e_k | z0 = z], exact over (r_t, r_k)."""
    et, pt, qt, ek, pk, qk, p1, p2 = work
    st, sk = math.sqrt(vr[0]), math.sqrt(vr[1])
    nt = _prior_pieces(pen_code, pen_par, Ut[U_GP], Ut[U_ALPHA], z, Ut[U_GA] * z, st, et, p1, p2, pt, qt)
    nk = _prior_pieces(pen_code, pen_par, Uk[U_GP], Uk[U_ALPHA], z, Uk[U_GA] * z, sk, ek, p1, p2, pk, qk)
    return rectangle_products(et, nt, pt, qt, ek, nk, pk, qk, cr / (st * sk), corner)


@njit(cache=True)
def prior_cross(law, p1, p2, pen_code, pen_par, Ut, Uk, vr, cr, density):
    """E[e_t e_k] of the input factor's new errors at updates t, k: z0 ~ law (as in
    ``se_quadrature.prior_moments``), r_s = Us[U_GA] z0 + w_s with Var(w) = vr, Cov = cr;
    Us[U_GP] the prox precision, Us[U_ALPHA] its alpha.  Exact over (r_t, r_k) given z0;
    over z0 the rule of :func:`line_rule` (Gaussian parts; the given z0 is smooth) or
    on each side of 0 (laplace) Gauss-Legendre over t = |z0| / scale in [0, EXP_TAIL]
    with weight e^-t, ``density`` nodes per sd or scale."""
    work = (np.empty(4), np.empty(3), np.empty(3), np.empty(4), np.empty(3), np.empty(3), np.empty(3),
            np.empty(3))
    corner = np.empty((4, 4, 4))
    total = 0.0
    if law == LAPLACE_LAW:  # density exp(-|z|/s) / 2s: e^-t on each side, t = |z| / s
        count = int(math.ceil(density * EXP_TAIL))
        nodes, weights = np.empty(count + PANEL_ORDER), np.empty(count + PANEL_ORDER)
        n = _panels(0.0, EXP_TAIL, count, 1, nodes, weights, 0)
        for i in range(n):
            for side in (-1.0, 1.0):
                total += 0.5 * weights[i] * _prior_given_z(pen_code, pen_par, Ut, Uk, vr, cr, side * p1 * nodes[i],
                                                           work, corner)
        return total
    nodes, weights = np.empty(rule_size(density)), np.empty(rule_size(density))
    sd = math.sqrt(p1 if law == GAUSSIAN_LAW else p2)
    n = line_rule(np.nan, density, nodes, weights)
    for i in range(n):
        total += weights[i] * _prior_given_z(pen_code, pen_par, Ut, Uk, vr, cr, sd * nodes[i], work, corner)
    if law == BG_LAW:
        return p1 * total + (1.0 - p1) * _prior_given_z(pen_code, pen_par, Ut, Uk, vr, cr, 0.0, work, corner)
    return total
