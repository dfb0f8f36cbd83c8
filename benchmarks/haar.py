"""Haar factors: generation (Householder vs dense QR vs scipy.stats.ortho_group) and
application (Q^T x: Householder reflectors vs a dense BLAS product), n = 500 .. 8000.

    python -m benchmarks.haar [--sizes 500,1000,2000,4000,8000] [--repeats 5]
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import ortho_group
from threadpoolctl import threadpool_limits

from mcsim.kernels import haar
from mcsim.ensembles import haar_factor

from .timing import median_time, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="500,1000,2000,4000,8000")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    with threadpool_limits(limits=1):
        for n in map(int, args.sizes.split(",")):
            slow = max(1, args.repeats if n <= 2000 else 1)  # O(n^3) draws: one repeat from 4000 on
            t_hh = median_time(lambda: haar_factor(rng, n, "householder"), args.repeats)
            t_qr = median_time(lambda: haar_factor(rng, n, "dense"), slow, warmup=0)
            t_og = median_time(lambda: ortho_group.rvs(n, random_state=rng), slow, warmup=0)
            x, out = rng.standard_normal(n), np.empty(n)
            hh, dense = haar_factor(rng, n, "householder"), rng.standard_normal(n * n)
            a_hh = median_time(lambda: haar.factor_apply(hh.data, 0, n, hh.code, True, x, out), 20 * args.repeats)
            a_de = median_time(lambda: haar.factor_apply(dense, 0, n, haar.DENSE, True, x, out), 20 * args.repeats)
            rows.append([n, 1e3 * t_hh, 1e3 * t_qr, 1e3 * t_og, t_og / t_hh, 1e3 * a_hh, 1e3 * a_de, a_hh / a_de])
            print(f"n = {n}: done", flush=True)
    print(table(["n", "Householder draw (ms)", "QR draw (ms)", "ortho_group (ms)", "ortho_group / Householder",
                 "apply Householder (ms)", "apply dense (ms)", "apply ratio"], rows))


if __name__ == "__main__":
    main()
