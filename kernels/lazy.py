"""A Haar-orthogonal n x n factor Q drawn lazily: each product is drawn when it is asked
for, conditioned on the products taken before (docs/lazy_haar.md).

State: orthonormal rows x_1..x_k (input side) and y_1..y_k (output side) with
Q x_i = y_i.  By the conditioning lemma (a Haar Q given Q X = Y is a uniform isometry
from span(X)^perp onto span(Y)^perp), a product with a vector v that is a function of
the earlier products and of independent randomness is drawn exactly as

    v = X c + v_perp                                (two passes of classical Gram-Schmidt)
    y_new = g_perp / |g_perp|,  g ~ N(0, I_n),  g_perp = g - Y^T Y g   (two passes)
    Q v = Y^T c + |v_perp| y_new,   then append the pair (v_perp / |v_perp|, y_new),

and Q^T w the same way with the roles of X and Y exchanged.  A residual |v_perp| <=
``DROP`` |v| is rounding error: it adds no pair (Q v = Y^T c).

Storage, from ``offset`` in the flat array ``data``, with capacities capf (pairs made
by products Q v) and capt (by Q^T w), cap = capf + capt:

    X: cap rows of n,  Y: cap rows of n,  3 cap numbers of scratch.

Pairs of Q v products are rows 0..kf-1, those of Q^T w products rows capf..capf+kt-1.
The fresh Gaussian directions are drawn outside (from the network's Generator) before
the run: Y rows 0..capf-1 and X rows capf..cap-1, each used (and orthogonalised in
place) by the product that makes its pair.  A product costs about 7 k n multiply-adds
(three passes over the k rows of each side), k = kf + kt.
"""
import numpy as np
from numba import njit

DROP = 1e-12  # |v_perp| / |v| at or below which a residual is rounding error and adds no pair
BLOCK = 512   # entries per block: the rows' block stays in cache across the fused passes


@njit(cache=True)
def lazy_size(n, capf, capt):
    """Stored numbers of a lazy factor of width n with capacities capf, capt."""
    cap = capf + capt
    return 2 * cap * n + 3 * cap


@njit(cache=True)
def _row(r, k1, s2):
    """Row of the r-th active pair: rows 0..k1-1, then s2, s2+1, ..."""
    return r if r < k1 else s2 + r - k1


@njit(cache=True, fastmath=True)
def _project_out(A, k1, s2, m, v, out, c, t):
    """out = v - A_R^T c with c = A_R v + A_R (v - A_R^T A_R v): two passes of classical
    Gram-Schmidt against the m active rows R of A (``_row``), fused so that each block of
    the rows is read three times in all.  ``out`` may be ``v``.  Returns |out|^2."""
    n = v.size
    for r in range(m):
        c[r] = 0.0
        t[r] = 0.0
    for b0 in range(0, n, BLOCK):  # c = A_R v
        b1 = min(b0 + BLOCK, n)
        for r in range(m):
            a = A[_row(r, k1, s2)]
            s = 0.0
            for i in range(b0, b1):
                s += a[i] * v[i]
            c[r] += s
    for b0 in range(0, n, BLOCK):  # out = v - A_R^T c, then t = A_R out (the block in cache)
        b1 = min(b0 + BLOCK, n)
        for i in range(b0, b1):
            out[i] = v[i]
        for r in range(m):
            a = A[_row(r, k1, s2)]
            cr = c[r]
            for i in range(b0, b1):
                out[i] -= cr * a[i]
        for r in range(m):
            a = A[_row(r, k1, s2)]
            s = 0.0
            for i in range(b0, b1):
                s += a[i] * out[i]
            t[r] += s
    norm2 = 0.0
    for b0 in range(0, n, BLOCK):  # out -= A_R^T t
        b1 = min(b0 + BLOCK, n)
        for r in range(m):
            a = A[_row(r, k1, s2)]
            tr = t[r]
            for i in range(b0, b1):
                out[i] -= tr * a[i]
        for i in range(b0, b1):
            norm2 += out[i] * out[i]
    for r in range(m):
        c[r] += t[r]
    return norm2


@njit(cache=True, fastmath=True)
def _combine(B, k1, s2, m, c, out):
    """out = B_R^T c over the m active rows R of B."""
    n = out.size
    for b0 in range(0, n, BLOCK):
        b1 = min(b0 + BLOCK, n)
        for i in range(b0, b1):
            out[i] = 0.0
        for r in range(m):
            b = B[_row(r, k1, s2)]
            cr = c[r]
            for i in range(b0, b1):
                out[i] += cr * b[i]


@njit(cache=True)
def lazy_apply(data, offset, n, state, transpose, x, out):
    """out = Q x (or Q^T x) of the lazy factor at ``data[offset:]`` (module docstring),
    appending the new pair; ``state`` = [capf, capt, kf, kt] (counts updated).
    ``out`` must not be ``x``.  ValueError if a pair is needed beyond the capacity."""
    capf, capt, kf, kt = state[0], state[1], state[2], state[3]
    cap = capf + capt
    X = data[offset:offset + cap * n].reshape((cap, n))
    Y = data[offset + cap * n:offset + 2 * cap * n].reshape((cap, n))
    scratch = data[offset + 2 * cap * n:offset + 2 * cap * n + 3 * cap]
    c, t, d = scratch[:cap], scratch[cap:2 * cap], scratch[2 * cap:]
    A, B = (Y, X) if transpose else (X, Y)  # A: the side x lives on, B: the side of the result
    slot = capf + kt if transpose else kf
    full = kt == capt if transpose else kf == capf
    m = kf + kt
    x2 = 0.0
    for i in range(n):
        x2 += x[i] * x[i]
    r2 = _project_out(A, kf, capf, m, x, out, c, t)
    if x2 == 0.0 or r2 <= DROP * DROP * x2:
        _combine(B, kf, capf, m, c, out)
        return
    if full:
        raise ValueError("lazy Haar factor: more products than its planned capacity")
    r = np.sqrt(r2)
    fresh = A[slot]
    for i in range(n):
        fresh[i] = out[i] / r
    g = B[slot]  # the pre-drawn Gaussian direction, orthogonalised in place
    g2 = _project_out(B, kf, capf, m, g, g, d, t)
    scale = 1.0 / np.sqrt(g2)
    _combine(B, kf, capf, m, c, out)
    for i in range(n):
        g[i] *= scale
        out[i] += r * g[i]
    if transpose:
        state[3] = kt + 1
    else:
        state[2] = kf + 1


def fresh_rows(n, capf, capt):
    """Slices of a lazy factor's block (from its offset) that hold the pre-drawn Gaussian
    directions: Y rows 0..capf-1 and X rows capf..cap-1 (module docstring)."""
    cap = capf + capt
    return slice(cap * n, (cap + capf) * n), slice(capf * n, cap * n)
