"""Haar-orthogonal factors: their forms, the cost model that chooses one, and their draws.

Three forms, one law (``kernels.haar``, ``kernels.lazy``; docs/lazy_haar.md):

- ``dense``: QR of a Gaussian matrix with the sign fix, O(n^3) to draw, n^2 numbers;
- ``householder``: n - 1 reflectors (Stewart 1980), O(n^2) to draw, n^2/2 numbers;
- ``lazy``: nothing drawn but Gaussian directions; each product is drawn when the run
  asks for it, conditioned on the earlier ones, O(n k) for the k-th product, 2 n P
  numbers for P products.

``haar = "auto"`` takes, per factor, the cheapest form under :func:`form_cost` for the
products of a reference run (``AUTO_ITERATIONS`` iterations, with the run's number of
signals) when the network is drawn for a run of known length, else dense below width
``HOUSEHOLDER_MIN_WIDTH`` and Householder from it.  The choice depends on the widths and
signals, not on the run's length, so a seed draws the same network for a run of any
length (lazy draws do not depend on their capacity).  Every form samples the same Haar
ensemble; the forms drawn are recorded in results (``factor_forms``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcsim.kernels import haar
from mcsim.kernels.lazy import fresh_rows

HAAR_METHODS = ("auto", "dense", "householder", "lazy")
FORM_NAMES = {haar.DENSE: "dense", haar.HOUSEHOLDER: "householder", haar.LAZY: "lazy", haar.PERMUTATION: "permutation"}
HOUSEHOLDER_MIN_WIDTH = 16
AUTO_ITERATIONS = 20  # the reference run's length for auto's choice of form
RETIRED = {"structured": "the structured (DCT) factors were not Haar and are retired: 'lazy' is exact at any width"}

# Seconds per unit of work, single thread, fitted by ``python -m benchmarks.haar --fit``
# on this project's reference machine (docs/lazy_haar.md, section 5): the model only ranks forms.
COST = {
    "qr": 7.6e-11,          # dense: per n^3 of the draw (QR of a Gaussian n x n matrix, sign fix)
    "dense_apply": 8.4e-10,  # dense: per n^2 and product (BLAS gemv)
    "dense_call": 2.3e-6,    # dense: per product
    "hh_draw": 6.4e-9,       # Householder: per n^2 of the draw (Gaussians and reflectors)
    "hh_apply": 1.8e-10,     # Householder: per n^2 and product
    "hh_call": 1.5e-6,       # Householder: per product
    "gauss": 1.4e-8,         # lazy: per Gaussian number of the directions
    "lazy_apply": 5.9e-10,   # lazy: per n k of a product with k earlier pairs
    "lazy_call": 2.7e-6,     # lazy: per product
}


def haar_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """An n x n Haar-distributed orthogonal matrix: Q of G = QR, columns times sign(diag R)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


def check_haar_method(method: str) -> str:
    """``method`` if it names a form method (ValueError otherwise; a retired one says why)."""
    if isinstance(method, str) and method in RETIRED:
        raise ValueError(f"haar: {method!r}: {RETIRED[method]}")
    if method not in HAAR_METHODS:
        raise ValueError(f"haar: must be one of {', '.join(HAAR_METHODS)}, got {method!r}")
    return method


def ensemble_label(method: str) -> str:
    """What a result drawn with the factor method ``method`` is a sample of (every method is exact)."""
    check_haar_method(method)
    return "Haar-orthogonal U, V; i.i.d. singular values"


def form_cost(form: int, n: int, products: tuple[int, int], cost: dict = COST) -> float:
    """Predicted seconds to draw a factor of width n in ``form`` and take ``products`` =
    (Q v products, Q^T w products) with it (constants ``cost``).  A lazy factor's k-th
    product costs n min(k, n); its directions are n min(P_f, n) + n min(P_t, n) Gaussians."""
    P = sum(products)
    if form == haar.DENSE:
        return cost["qr"] * n ** 3 + cost["dense_apply"] * n * n * P + cost["dense_call"] * P
    if form == haar.HOUSEHOLDER:
        return cost["hh_draw"] * n * n + cost["hh_apply"] * n * n * P + cost["hh_call"] * P
    full = min(P, n)  # pairs stop growing once they span the space
    pair_work = n * (full * (full - 1) / 2 + (P - full) * n)
    gaussians = n * sum(min(p, n) for p in products)
    return cost["gauss"] * gaussians + cost["lazy_apply"] * pair_work + cost["lazy_call"] * P


def factor_form(n: int, method: str, products: tuple[int, int] | None) -> int:
    """The form (``kernels.haar``) of a factor of width n under ``method``; ``products``
    as in :func:`form_cost`, or None when unknown (then ``auto`` does not pick lazy)."""
    check_haar_method(method)
    if method != "auto":
        return {"dense": haar.DENSE, "householder": haar.HOUSEHOLDER, "lazy": haar.LAZY}[method]
    base = haar.DENSE if n < HOUSEHOLDER_MIN_WIDTH else haar.HOUSEHOLDER
    if products is None or form_cost(haar.LAZY, n, products) >= form_cost(base, n, products):
        return base
    return haar.LAZY


def capacities(n: int, form: int, products: tuple[int, int] | None) -> tuple[int, int]:
    """(capf, capt) of a lazy factor: pairs its Q v and Q^T w products may make, at most
    n each (n pairs span the space, and then any number of products can follow); (n, n)
    when the products are unknown (None)."""
    if form != haar.LAZY:
        return 0, 0
    return (n, n) if products is None else (min(products[0], n), min(products[1], n))


def factor_row(n: int, form: int, offset: int, products: tuple[int, int] | None) -> np.ndarray:
    """A factor's table row (``kernels.haar``: offset, width, form, capacities for
    ``products`` (:func:`capacities`), pair counts)."""
    row = np.zeros(haar.FIELDS, np.int64)
    row[haar.OFFSET], row[haar.WIDTH], row[haar.FORM] = offset, n, form
    row[haar.CAPF], row[haar.CAPT] = capacities(n, form, products)
    return row


def row_size(row: np.ndarray) -> int:
    """Stored numbers of the factor of table row ``row``."""
    return int(haar.factor_size(row[haar.WIDTH], row[haar.FORM], row[haar.CAPF], row[haar.CAPT]))


@dataclass(frozen=True)
class OrthogonalFactor:
    """A Haar-orthogonal n x n matrix Q: row ``index`` of the factor table ``table`` of
    the flat array ``buffer`` it is stored in (``kernels.haar``).  A lazy factor is one
    random matrix revealed by its products: every product (here or in a kernel)
    conditions the ones after it."""

    buffer: np.ndarray
    table: np.ndarray
    index: int

    @property
    def row(self) -> np.ndarray:
        return self.table[self.index]

    @property
    def n(self) -> int:
        return int(self.row[haar.WIDTH])

    @property
    def form(self) -> str:
        return FORM_NAMES[int(self.row[haar.FORM])]

    @property
    def data(self) -> np.ndarray:
        start = int(self.row[haar.OFFSET])
        return self.buffer[start:start + row_size(self.row)]

    def apply(self, x: np.ndarray, transpose: bool = False) -> np.ndarray:
        """Q x (or Q^T x)."""
        out = np.empty(self.n)
        haar.factor_apply(self.buffer, self.row, transpose, np.ascontiguousarray(x, float), out)
        return out

    def matrix(self) -> np.ndarray:
        """Q as a dense array (a lazy factor is revealed: conditioned on Q e_j for every j)."""
        if self.row[haar.FORM] == haar.DENSE:
            return self.data.reshape(self.n, self.n)
        return haar.factor_matrix(self.buffer, self.row)


def draw_factor(rng: np.random.Generator, factor: OrthogonalFactor) -> None:
    """Draw ``factor`` (its table row filled in, its storage allocated) from ``rng``."""
    data, n, form = factor.data, factor.n, factor.row[haar.FORM]
    if form == haar.DENSE:
        data[:] = haar_orthogonal(rng, n).ravel()
    elif form == haar.HOUSEHOLDER:
        rng.standard_normal(out=data)
        haar.householder_build(data, n, data)  # in place: each entry is read before it is written
    else:  # each side's directions from its own child stream: a larger capacity only appends rows
        for rows, child in zip(fresh_rows(n, int(factor.row[haar.CAPF]), int(factor.row[haar.CAPT])), rng.spawn(2)):
            child.standard_normal(out=data[rows])
        factor.row[haar.KF] = factor.row[haar.KT] = 0


def haar_factor(rng: np.random.Generator, n: int, method: str = "auto",
                products: tuple[int, int] | None = None) -> OrthogonalFactor:
    """One Haar-orthogonal n x n factor in its own storage (``products`` as in
    :func:`form_cost`, which sizes a lazy factor)."""
    form = factor_form(n, method, products)
    table = factor_row(n, form, 0, products)[None, :]
    factor = OrthogonalFactor(np.empty(row_size(table[0])), table, 0)
    draw_factor(rng, factor)
    return factor


def forms_summary(U: list, V: list) -> str:
    """The form of every factor of a network, map by map: 'U_1 householder, V_1 dense, ...'
    (map l = j + 1 has factors ``U[j]``, ``V[j]``; None for activations)."""
    return ", ".join(f"{name}_{j + 1} {f.form}" for j, (u, v) in enumerate(zip(U, V)) if u is not None
                     for name, f in (("U", u), ("V", v)))
