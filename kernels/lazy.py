"""A Haar-orthogonal n x n factor Q drawn lazily: each product is drawn when it is asked
for, conditioned on the products taken before (docs/lazy_haar.md).

State: orthonormal rows x_1..x_k (input side) and y_1..y_k (output side) with
Q x_i = y_i.  By the conditioning lemma (a Haar Q given Q X = Y is a uniform isometry
from span(X)^perp onto span(Y)^perp), a product with a vector v that is a function of
the earlier products and of independent randomness is drawn exactly as

    v = X c + v_perp                                (classical Gram-Schmidt, ``_project_out``)
    y_new = g_perp / |g_perp|,  g ~ N(0, I_n),  g_perp = g - Y^T Y g   (the same)
    Q v = Y^T c + |v_perp| y_new,   then append the pair (v_perp / |v_perp|, y_new),

and Q^T w the same way with the roles of X and Y exchanged.  A residual |v_perp| <=
``DROP`` |v| is rounding error, and once n pairs span the space every residual is:
neither adds a pair (Q v = Y^T c).  A non-finite v (a signal that has stopped) gives a
non-finite product and leaves the factor as it was.

Storage, from ``offset`` in the flat array ``data``, with capacities capf (pairs made
by products Q v) and capt (by Q^T w), cap = capf + capt:

    X: cap rows of n,  Y: cap rows of n,  3 cap + n numbers of scratch.

Pairs of Q v products are rows 0..kf-1, those of Q^T w products rows capf..capf+kt-1.
The fresh Gaussian directions are drawn outside (from the network's Generator) before
the run: Y rows 0..capf-1 and X rows capf..cap-1, each used (and orthogonalised in
place) by the product that makes its pair.  A product costs 5 k n multiply-adds as
BLAS matrix-vector products (two over the k rows of each side, one more for the
result; two more for each second Gram-Schmidt pass), k = kf + kt.
"""
import numpy as np
from numba import njit

DROP = 1e-12  # |v_perp| / |v| at or below which a residual is rounding error and adds no pair
SMALL = 1 << 12  # rows x width of a product from which BLAS beats plain loops (benchmarks/haar.py)
REORTHOGONALISE = 0.5  # a second Gram-Schmidt pass when |v_perp|^2 < this |v|^2 after the first


@njit(cache=True)
def lazy_size(n, capf, capt):
    """Stored numbers of a lazy factor of width n with capacities capf, capt."""
    cap = capf + capt
    return 2 * cap * n + 3 * cap + n


@njit(cache=True)
def _add_rows(A, c, out, sign):
    """out += sign A^T c, row by row (small products: no BLAS call overhead)."""
    for r in range(c.size):
        cr = sign * c[r]
        a = A[r]
        for i in range(out.size):
            out[i] += cr * a[i]


@njit(cache=True)
def _dot_rows(A, v, c):
    """c = A v, row by row."""
    for r in range(c.size):
        a = A[r]
        s = 0.0
        for i in range(v.size):
            s += a[i] * v[i]
        c[r] = s


@njit(cache=True)
def _add_combination(A1, A2, c1, c2, out, tmp, sign):
    """out += sign (A1^T c1 + A2^T c2): BLAS gemv from ``SMALL`` numbers on (``tmp``: n
    numbers of scratch), else loops."""
    for A, c in ((A1, c1), (A2, c2)):
        if c.size * out.size >= SMALL:
            np.dot(A.T, c, tmp)
            for i in range(out.size):
                out[i] += sign * tmp[i]
        else:
            _add_rows(A, c, out, sign)


@njit(cache=True)
def _coefficients(A1, A2, v, c1, c2):
    """c1 = A1 v, c2 = A2 v: BLAS gemv from ``SMALL`` numbers on, else loops."""
    for A, c in ((A1, c1), (A2, c2)):
        if c.size * v.size >= SMALL:
            np.dot(A, v, c)
        else:
            _dot_rows(A, v, c)


@njit(cache=True)
def _project_out(A1, A2, v, v2, out, c, t, tmp):
    """out = v - A_R^T c, c = A_R v, by classical Gram-Schmidt against the rows of A1 and
    A2 (the active pairs R; c = (c1, c2) split the same way), with a second pass
    (out -= A_R^T (A_R out), c += A_R out) when the first lost more than half of |v|^2
    to cancellation (Daniel, Gragg, Kaufman & Stewart 1976: "twice is enough").  ``out``
    must not be ``v``; ``v2`` = |v|^2.  Returns |out|^2."""
    k1 = A1.shape[0]
    c1, c2, t1, t2 = c[:k1], c[k1:], t[:k1], t[k1:]
    _coefficients(A1, A2, v, c1, c2)
    out[:] = v
    _add_combination(A1, A2, c1, c2, out, tmp, -1.0)
    r2 = np.dot(out, out)
    if c.size and r2 < REORTHOGONALISE * v2:
        _coefficients(A1, A2, out, t1, t2)
        _add_combination(A1, A2, t1, t2, out, tmp, -1.0)
        c += t
        r2 = np.dot(out, out)
    return r2


@njit(cache=True)
def lazy_apply(data, offset, n, state, transpose, x, out):
    """out = Q x (or Q^T x) of the lazy factor at ``data[offset:]`` (module docstring),
    appending the new pair, if any; ``state`` = [capf, capt, kf, kt] (counts updated).
    ``out`` must not be ``x``.  ValueError if a pair is needed beyond the capacity."""
    capf, capt, kf, kt = state[0], state[1], state[2], state[3]
    cap = capf + capt
    X = data[offset:offset + cap * n].reshape((cap, n))
    Y = data[offset + cap * n:offset + 2 * cap * n].reshape((cap, n))
    rest = offset + 2 * cap * n
    m = kf + kt
    c, t, d = data[rest:rest + m], data[rest + cap:rest + cap + m], data[rest + 2 * cap:rest + 2 * cap + m]
    tmp = data[rest + 3 * cap:rest + 3 * cap + n]
    A, B = (Y, X) if transpose else (X, Y)  # A: the side x lives on, B: the side of the result
    A1, A2, B1, B2 = A[:kf], A[capf:capf + kt], B[:kf], B[capf:capf + kt]
    slot = capf + kt if transpose else kf
    full = kt == capt if transpose else kf == capf
    x2 = np.dot(x, x)
    if not np.isfinite(x2):
        out[:] = np.nan
        return
    r2 = _project_out(A1, A2, x, x2, out, c, t, tmp)
    if x2 == 0.0 or r2 <= DROP * DROP * x2 or m >= n:
        out[:] = 0.0
        _add_combination(B1, B2, c[:kf], c[kf:], out, tmp, 1.0)
        return
    if full:
        raise ValueError("lazy Haar factor: more products than its planned capacity")
    r = np.sqrt(r2)
    fresh = A[slot]
    for i in range(n):
        fresh[i] = out[i] / r
    g = B[slot]  # the pre-drawn Gaussian direction: out <- g_perp, then g <- g_perp / |g_perp|
    g_norm = np.sqrt(_project_out(B1, B2, g, np.dot(g, g), out, d, t, tmp))
    for i in range(n):
        g[i] = out[i] / g_norm
        out[i] = r * g[i]
    _add_combination(B1, B2, c[:kf], c[kf:], out, tmp, 1.0)
    if transpose:
        state[3] = kt + 1
    else:
        state[2] = kf + 1


def fresh_rows(n, capf, capt):
    """Slices of a lazy factor's block (from its offset) that hold the pre-drawn Gaussian
    directions: Y rows 0..capf-1 and X rows capf..cap-1 (module docstring)."""
    cap = capf + capt
    return slice(cap * n, (cap + capf) * n), slice(capf * n, cap * n)
