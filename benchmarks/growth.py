"""Cost growth: seconds per network (generation + T iterations) against the largest
width, the seed talk's network scaled so that its widest layer is 500 (x1) .. 10^6
(x2000), with the fitted exponent of time ~ width^p, for a form of the Haar factors.

    python -m benchmarks.growth [--widths 500,5000,50000,500000,1000000] [--iterations 10]
        [--repeats 3] [--haar auto]
"""
from __future__ import annotations

import argparse

from threadpoolctl import threadpool_limits

from mcsim.spec import NetworkSpec

from .throughput import TALK, mcsim_runner
from .timing import loglog_slope, median_time, table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="500,5000,50000,500000,1000000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--haar", default="auto")
    args = parser.parse_args(argv)
    base = NetworkSpec.from_toml(TALK)
    widths, times, rows = [], [], []
    with threadpool_limits(limits=1):
        for width in map(int, args.widths.split(",")):
            spec = base.scaled(width / max(base.dims))
            t = median_time(mcsim_runner(spec, args.iterations, haar=args.haar), args.repeats)
            widths.append(max(spec.dims))
            times.append(t)
            rows.append([widths[-1], "-".join(map(str, spec.dims)), t])
            print(f"width {width}: {t:.3f} s", flush=True)
    print(f"haar = {args.haar}, {args.iterations} iterations")
    print(table(["largest width", "widths", "seconds per network"], rows))
    print(f"fitted exponent (time ~ width^p, {widths[0]} .. {widths[-1]}): p = {loglog_slope(widths, times):.2f}")


if __name__ == "__main__":
    main()
