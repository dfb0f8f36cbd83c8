"""Time per ML-VAMP iteration against the matrix-vector products it cannot avoid.

For each linear map (n_in -> n_out) an iteration needs V^T r^+, U uhat, U^T (r^- - b)
twice and V shat: 2 n_in^2 + 3 n_out^2 multiply-adds (the issue's count; the kernel
reuses one U^T product, so it does 2 n_in^2 + 2 n_out^2).  The reference is that
count of dense BLAS products (single thread) with matrices of the same sizes,
timed in the same run.  Per-iteration time = (time of 21 iterations - time of 1) / 20.

    python -m benchmarks.iteration [--scales 2,4,8,16] [--repeats 5]
"""
from __future__ import annotations

import argparse

import numpy as np
from threadpoolctl import threadpool_limits

from mcsim.ensembles import draw_network
from mcsim.montecarlo import run_trajectory
from mcsim.spec import NetworkSpec

from .throughput import talk_scaled
from .timing import median_time, table


def unavoidable_products(spec: NetworkSpec, rng, repeats: int) -> float:
    """Seconds for 2 n_in^2 + 3 n_out^2 multiply-adds per linear map as dense BLAS products."""
    total = 0.0
    for j, layer in enumerate(spec.layers):
        if layer.kind != "linear":
            continue
        for n, count in ((spec.dims[j], 2), (spec.dims[j + 1], 3)):
            M, x, out = rng.standard_normal((n, n)), rng.standard_normal(n), np.empty(n)
            total += count * median_time(lambda: np.dot(M, x, out), repeats)
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="2,4,8,16")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rows = []
    with threadpool_limits(limits=1):
        for scale, spec in talk_scaled(args.scales):
            rng = np.random.default_rng(0)
            net = draw_network(spec, rng)
            one = median_time(lambda: run_trajectory(net, 1), args.repeats)
            many = median_time(lambda: run_trajectory(net, 21), args.repeats)
            per_iteration = (many - one) / 20
            reference = unavoidable_products(spec, rng, 10 * args.repeats)
            rows.append([f"x{scale:g}", "-".join(map(str, spec.dims)), 1e3 * per_iteration, 1e3 * reference,
                         per_iteration / reference])
            print(f"scale {scale:g}: done", flush=True)
    print(table(["talk network", "widths", "ms per iteration", "ms of unavoidable products (dense BLAS)",
                 "ratio"], rows))


if __name__ == "__main__":
    main()
