"""Several signals per network: signals per second (network generation + 20 iterations,
shared by the B signals of a network) for B = 1, 4, 16, and the gain over B = 1.
With B > 1 the factor products are matrix-matrix products.

    python -m benchmarks.batch [--scales 1,4,16] [--signals 1,4,16] [--repeats 3]
"""
from __future__ import annotations

import argparse

import numpy as np
from threadpoolctl import threadpool_limits

from mcsim.ensembles import draw_network
from mcsim.montecarlo import run_signals

from .throughput import talk_scaled
from .timing import median_time, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,4,16")
    parser.add_argument("--signals", default="1,4,16")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    with threadpool_limits(limits=1):
        for scale, spec in talk_scaled(args.scales):
            rng = np.random.default_rng(0)
            rates = {}
            for B in map(int, args.signals.split(",")):
                t = median_time(lambda: run_signals(draw_network(spec, rng, signals=B), args.iterations),
                                args.repeats)
                rates[B] = B / t
                first = rates[next(iter(rates))]
                rows.append([f"x{scale:g}", B, rates[B], rates[B] / first])
                print(f"scale {scale:g}, B = {B}: done", flush=True)
    print(table(["talk network", "signals per network B", "signals/s", "gain over the first B"], rows))


if __name__ == "__main__":
    main()
