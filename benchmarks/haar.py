"""Haar factors: the draw and P products (alternating Q v and Q^T w) of each form (dense
QR, Householder, lazy) at widths n and product counts P, against the cost model of
``mcsim.orthogonal`` (``form_cost``), with the model's constants refitted from the
measurements (``--fit``: non-negative least squares on relative errors).

    python -m benchmarks.haar [--sizes 32,128,512,2000,8000] [--products 10,40] [--repeats 5] [--fit]
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import nnls
from threadpoolctl import threadpool_limits

from mcsim.kernels import haar
from mcsim.orthogonal import COST, FORM_NAMES, form_cost, haar_factor

from .timing import median_time, table

TERMS = {  # per form: the COST keys of form_cost and the work each multiplies
    haar.DENSE: ("qr", "dense_apply", "dense_call"),
    haar.HOUSEHOLDER: ("hh_draw", "hh_apply", "hh_call"),
    haar.LAZY: ("gauss", "lazy_apply", "lazy_call"),
}


def work(form: int, n: int, products: tuple[int, int]) -> list[float]:
    """The units of work of each of the form's TERMS (form_cost with one constant at a time)."""
    return [form_cost(form, n, products, {k: float(k == key) for k in COST}) for key in TERMS[form]]


def draw_and_apply(rng, n: int, form: int, P: int):
    """A callable: draw one factor and take P products with it, alternating Q and Q^T."""
    vectors = rng.standard_normal((P, n))
    out = np.empty(n)
    method = FORM_NAMES[form]
    products = ((P + 1) // 2, P // 2)

    def run():
        f = haar_factor(rng, n, method, products)
        for i in range(P):
            haar.factor_apply(f.buffer, f.row, i % 2 == 1, vectors[i], out)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="32,128,512,2000,8000")
    parser.add_argument("--products", default="10,40")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fit", action="store_true", help="refit the cost model's constants")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows, samples = [], {form: [] for form in TERMS}
    with threadpool_limits(limits=1):
        for n in map(int, args.sizes.split(",")):
            for P in map(int, args.products.split(",")):
                row = [n, P]
                for form in TERMS:
                    if form == haar.DENSE and n > 2000:
                        row += ["-", "-"]
                        continue
                    t = median_time(draw_and_apply(rng, n, form, P), args.repeats if n <= 2000 else 1)
                    products = ((P + 1) // 2, P // 2)
                    samples[form].append((work(form, n, products), t))
                    row += [1e3 * t, 1e3 * form_cost(form, n, products)]
                rows.append(row)
                print(f"n = {n}, P = {P}: done", flush=True)
    print(table(["n", "P", "dense (ms)", "dense model", "Householder (ms)", "Householder model",
                 "lazy (ms)", "lazy model"], rows))
    if args.fit:
        for form, keys in TERMS.items():
            A = np.array([u for u, _ in samples[form]])
            t = np.array([t for _, t in samples[form]])
            coef, _ = nnls(A / t[:, None], np.ones(t.size))
            print(FORM_NAMES[form], {k: f"{c:.3g}" for k, c in zip(keys, coef)})


if __name__ == "__main__":
    main()
