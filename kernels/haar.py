"""Orthogonal factors stored flat: dense (row-major n x n), Householder reflectors,
lazy (``kernels.lazy``: each product drawn when asked for, conditioned on the earlier ones),
or a permutation (n indices p stored as floats: Q e_j = e_{p_j}, so (Q^T x)_j = x_{p_j};
the factors of a selection map, whose SVD is a permutation).

Each factor of a network is a row of an int64 table (fields ``OFFSET`` .. ``KT``): where
it starts in the flat float array, its width n, its form, and for a lazy factor its
capacities and pair counts (which the products update).

Householder form (Stewart 1980): with independent x_k ~ N(0, I_{n-k}), k = 0..n-1,

    v_k = x_k + sign(x_k0) |x_k| e_0,   H_k = I - 2 u_k u_k^T,  u_k = v_k / |v_k|  (on coordinates k..n-1),
    Q = H_0 H_1 ... H_{n-2} D,          D_kk = -sign(x_k0) (k < n-1),  D_{n-1,n-1} = sign(x_{n-1,0}).

This is the Q of the Householder QR of a Gaussian matrix whose columns below the
diagonal are the x_k, times sign(diag R): the same Haar law as ``QR + sign fix``.
Storage: D (n numbers), then u_0 .. u_{n-2} (lengths n .. 2): n + n(n+1)/2 - 1
numbers.  Q x and Q^T x cost 4 n^2 flops over n^2/2 stored numbers (a dense product:
2 n^2 flops over n^2 numbers).
"""
import numpy as np
from numba import njit

from .lazy import lazy_apply, lazy_size

DENSE, HOUSEHOLDER, LAZY, PERMUTATION = 0, 1, 2, 3
OFFSET, WIDTH, FORM, CAPF, CAPT, KF, KT = range(7)  # fields of a factor's table row
FIELDS = 7


@njit(cache=True)
def householder_size(n):
    """Stored numbers of an n x n Householder factor (also the Gaussian draws it needs)."""
    return n + n * (n + 1) // 2 - 1


@njit(cache=True)
def _reflector_start(n, k):
    """Offset of u_k: after D (n) and u_0 .. u_{k-1} of lengths n, n-1, ..., n-k+1."""
    return n + k * n - k * (k - 1) // 2


@njit(cache=True)
def householder_build(gauss, n, out):
    """Fill ``out`` (householder_size(n)) from i.i.d. N(0, 1) ``gauss`` of the same size:
    gauss[_reflector_start(n, k) : + n - k] is x_k for k < n-1, gauss[n-1] the last sign."""
    for k in range(n - 1):
        a = _reflector_start(n, k)
        m = n - k
        norm2 = 0.0
        for i in range(m):
            norm2 += gauss[a + i] * gauss[a + i]
        x0 = gauss[a]
        s = 1.0 if x0 >= 0.0 else -1.0
        v0 = x0 + s * np.sqrt(norm2)
        vnorm = np.sqrt(norm2 - x0 * x0 + v0 * v0)
        out[a] = v0 / vnorm
        for i in range(1, m):
            out[a + i] = gauss[a + i] / vnorm
        out[k] = -s
    out[n - 1] = 1.0 if gauss[n - 1] >= 0.0 else -1.0


@njit(cache=True, fastmath=True)
def _reflect(u, v):
    """v <- (I - 2 u u^T) v.  Separate arrays, so both loops vectorise (fastmath lets the
    dot product's sum be reordered: deterministic on one machine, not across CPUs)."""
    d = 0.0
    for i in range(u.size):
        d += u[i] * v[i]
    d *= 2.0
    for i in range(u.size):
        v[i] -= d * u[i]


@njit(cache=True)
def householder_apply(q, n, transpose, x, out):
    """out = Q x (or Q^T x), Q = H_0 ... H_{n-2} D; ``out`` may be ``x``."""
    if transpose:
        out[:] = x
    else:
        for i in range(n):
            out[i] = q[i] * x[i]
    for step in range(n - 1):
        k = step if transpose else n - 2 - step
        a = _reflector_start(n, k)
        _reflect(q[a:a + n - k], out[k:])
    if transpose:
        for i in range(n):
            out[i] *= q[i]


@njit(cache=True)
def factor_size(n, form, capf, capt):
    """Stored numbers of a factor of width n in ``form`` (capacities: lazy only)."""
    if form == DENSE:
        return n * n
    if form == HOUSEHOLDER:
        return householder_size(n)
    if form == PERMUTATION:
        return n
    return lazy_size(n, capf, capt)


@njit(cache=True)
def permutation_apply(p, n, transpose, x, out):
    """out = Q x ((Q x)_{p_j} = x_j) or Q^T x ((Q^T x)_j = x_{p_j}); ``out`` must not be ``x``."""
    for j in range(n):
        if transpose:
            out[j] = x[int(p[j])]
        else:
            out[int(p[j])] = x[j]


@njit(cache=True)
def factor_apply(data, f, transpose, x, out):
    """out = Q x or Q^T x for the factor of table row ``f`` stored in ``data``
    (``out`` must not be ``x``; a lazy factor is conditioned on the product)."""
    offset, n, form = f[OFFSET], f[WIDTH], f[FORM]
    if form == DENSE:
        M = data[offset:offset + n * n].reshape((n, n))
        if transpose:
            np.dot(M.T, x, out)
        else:
            np.dot(M, x, out)
    elif form == HOUSEHOLDER:
        householder_apply(data[offset:offset + householder_size(n)], n, transpose, x, out)
    elif form == PERMUTATION:
        permutation_apply(data[offset:offset + n], n, transpose, x, out)
    else:
        lazy_apply(data, offset, n, f[CAPF:KT + 1], transpose, x, out)


@njit(cache=True)
def factor_matrix(data, f):
    """The n x n matrix of a stored factor (for tests and small checks; a lazy factor is
    revealed column by column, which conditions it on Q e_j for every j)."""
    n = f[WIDTH]
    out = np.empty((n, n))
    e = np.zeros(n)
    col = np.empty(n)
    for j in range(n):
        e[:] = 0.0
        e[j] = 1.0
        factor_apply(data, f, False, e, col)
        out[:, j] = col
    return out


@njit(cache=True)
def householder_apply_rows(q, n, transpose, T):
    """Each row of T (B x n, C-contiguous) <- Q row (or Q^T row), in place: every
    reflector is read once for all B rows (the same operations as row by row)."""
    B = T.shape[0]
    if not transpose:
        for b in range(B):
            for i in range(n):
                T[b, i] *= q[i]
    for step in range(n - 1):
        k = step if transpose else n - 2 - step
        a = _reflector_start(n, k)
        u = q[a:a + n - k]
        for b in range(B):
            _reflect(u, T[b, k:])
    if transpose:
        for b in range(B):
            for i in range(n):
                T[b, i] *= q[i]


@njit(cache=True)
def factor_apply_rows(data, f, transpose, X, xcol, OUT, ocol, buf, res):
    """OUT[b, ocol:ocol+n] = Q X[b, xcol:xcol+n] (or Q^T ...) for every row b of X.

    Several rows make matrix-matrix products: dense, one BLAS gemm; Householder, each
    reflector applied to all rows while it is in cache; lazy, one row after the other
    (each conditioned on the ones before); a permutation, row by row.  ``buf``, ``res``: flat work arrays of at
    least B n numbers.
    """
    B = X.shape[0]
    n, form, offset = f[WIDTH], f[FORM], f[OFFSET]
    if B == 1 or form == LAZY or form == PERMUTATION:
        for b in range(B):
            factor_apply(data, f, transpose, X[b, xcol:xcol + n], OUT[b, ocol:ocol + n])
        return
    T = buf[:B * n].reshape((B, n))
    for b in range(B):
        T[b] = X[b, xcol:xcol + n]
    if form == DENSE:
        M = data[offset:offset + n * n].reshape((n, n))
        R = res[:B * n].reshape((B, n))
        if transpose:
            np.dot(T, M, R)  # row b: (M^T x_b)^T = x_b^T M
        else:
            np.dot(T, M.T, R)
        for b in range(B):
            OUT[b, ocol:ocol + n] = R[b]
    else:
        householder_apply_rows(data[offset:offset + householder_size(n)], n, transpose, T)
        for b in range(B):
            OUT[b, ocol:ocol + n] = T[b]
