"""Networks per second, generation + T iterations, single process: mcsim with each
form of the Haar factors (``auto``: the cost model's choice per factor, lazy for all
but the narrowest; Householder, the previous default) against the numpy baseline, at the seed talk's
sizes (20-100-100-500-500-300) and wider.

    python -m benchmarks.throughput [--scales 1,4,16,64] [--iterations 20] [--repeats 5]
        [--householder-upto 16] [--baseline-upto 4]
"""
from __future__ import annotations

import argparse

import numpy as np
from threadpoolctl import threadpool_limits

from mcsim.ensembles import draw_network
from mcsim.montecarlo import run_trajectory
from mcsim.spec import NetworkSpec

from .baseline import baseline_run
from .timing import median_time, table

TALK = "studies/networks/talk.toml"


def talk_scaled(scales: str):
    """(scale, the seed talk's network scaled by it) for each of the comma-separated ``scales``."""
    base = NetworkSpec.from_toml(TALK)
    return [(float(s), base.scaled(float(s))) for s in scales.split(",")]


def mcsim_runner(spec: NetworkSpec, iterations: int, seed: int = 0, haar: str = "auto"):
    """A callable drawing and running one network per call, as the engine's workers do
    (the factor buffer reused from one network to the next)."""
    rng = np.random.default_rng(seed)
    state = {"buffer": None}

    def run():
        net = draw_network(spec, rng, haar, reuse=state["buffer"], iterations=iterations)
        state["buffer"] = net.factors
        return run_trajectory(net, iterations)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,4,16,64")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--householder-upto", type=float, default=16)
    parser.add_argument("--baseline-upto", type=float, default=4, help="dense QR at x16: minutes per network")
    args = parser.parse_args(argv)
    rows = []
    T = args.iterations
    with threadpool_limits(limits=1):
        for scale, spec in talk_scaled(args.scales):
            rng = np.random.default_rng(0)
            repeats = args.repeats if scale <= 4 else max(1, args.repeats // 2)
            auto = median_time(mcsim_runner(spec, T), repeats)
            hh = base = np.nan
            if scale <= args.householder_upto:
                hh = median_time(mcsim_runner(spec, T, haar="householder"), repeats)
            if scale <= args.baseline_upto:
                base = median_time(lambda: baseline_run(draw_network(spec, rng, "dense"), T), repeats)
            rows.append([f"x{scale:g}", "-".join(map(str, spec.dims)), 1 / auto, 1 / hh, 1 / base,
                         base / auto, hh / auto])
            print(f"scale {scale:g}: done", flush=True)
    print(table(["talk network", "widths", "mcsim auto networks/s", "mcsim householder networks/s",
                 "numpy baseline networks/s", "auto / baseline", "auto / householder"], rows))


if __name__ == "__main__":
    main()
