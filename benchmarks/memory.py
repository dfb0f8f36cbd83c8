"""Peak memory and time of one worker running one network, against the bytes of its
stored factors (lazy: the pairs' bases; Householder: the reflectors); the seed talk's
network scaled to a widest layer of 2000 .. 10^6 (x4 .. x2000).

Each width runs in a fresh process (peak RSS from ``resource.getrusage``): kernels
warmed up on a small network first, then one network drawn (into fresh memory: its
page faults count) and run for T iterations.

    python -m benchmarks.memory [--widths 2000,20000,200000,1000000] [--iterations 10] [--haar auto]
    python -m benchmarks.memory --haar householder --widths 2000,4000,8000,20000
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from .timing import table


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(width: int, iterations: int, haar: str) -> dict:
    import numpy as np
    from threadpoolctl import threadpool_limits

    from mcsim.ensembles import draw_network
    from mcsim.montecarlo import run_trajectory
    from mcsim.spec import NetworkSpec

    from .throughput import TALK

    base = NetworkSpec.from_toml(TALK)
    with threadpool_limits(limits=1):
        run_trajectory(draw_network(base, np.random.default_rng(0), haar, iterations=2), 2)
        before = _peak_mb()
        spec = base.scaled(width / max(base.dims))
        start = time.perf_counter()
        net = draw_network(spec, np.random.default_rng(1), haar, iterations=iterations)
        drawn = time.perf_counter()
        _, valid = run_trajectory(net, iterations)
        done = time.perf_counter()
    return {"dims": "-".join(map(str, spec.dims)), "factor_mb": net.factors.nbytes / 2**20, "before_mb": before,
            "peak_mb": _peak_mb(), "draw_s": drawn - start, "run_s": done - drawn, "valid": int(valid)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="2000,20000,200000,1000000")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--haar", default="auto")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.iterations, args.haar)))
        return
    rows = []
    for width in map(int, args.widths.split(",")):
        out = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--child", str(width), "--haar", args.haar,
                              "--iterations", str(args.iterations)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        grown = r["peak_mb"] - r["before_mb"]
        rows.append([width, r["dims"], r["factor_mb"], r["before_mb"], r["peak_mb"], grown / r["factor_mb"],
                     r["draw_s"], r["run_s"], r["draw_s"] + r["run_s"], f"{r['valid']}/{args.iterations}"])
        print(f"width {width}: done", flush=True)
    print(table(["largest width", "widths", "factors (MiB)", "RSS before (MiB)", "peak RSS (MiB)",
                 "(peak - before) / factors", "draw (s)", "run (s)", "total (s)", "valid iterations"], rows))
    print(f"haar = {args.haar}, {args.iterations} iterations, one network per fresh process")


if __name__ == "__main__":
    main()
