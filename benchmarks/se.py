"""State evolution: time and accuracy (issue 15's targets), optionally side by side with
another installation of mcsim (``--baseline SITE``: a directory on which that version
imports, e.g. ``pip install --no-deps --target SITE <old checkout>``).

- undamped SE of the talk network, 50 iterations: the first call in a fresh process
  (numba's disk cache warm, as after any earlier run) and the median of warm calls;
- the SE with memory, talk network damped 0.5, 20 iterations: deterministic cross-time
  moments (``cross="quadrature"``, the default; one warm call) and the population's
  (``cross="population"``, median of warm calls);
- the integration error: every recorded SE variable at the default tolerance against a
  100x finer rule (and, damped 0.5, a cross-time rule of twice the density), a.e. and
  jump divergences, on the study networks;
- the population SE's error: tau^- at t = 9 over 4 population seeds against the
  deterministic SE with memory (largest relative difference, and relative spread).

    python -m benchmarks.se [--baseline SITE] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from .timing import table

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import mcsim, mcsim.studies
from pathlib import Path
imported = time.perf_counter() - t0
from benchmarks.timing import median_time
root = Path(mcsim.studies.__file__).parent / "networks"
talk = mcsim.NetworkSpec.from_toml(root / "talk.toml")
repeats = int(sys.argv[1])
t = time.perf_counter()
mcsim.state_evolution(talk, 50)
first = time.perf_counter() - t
warm = median_time(lambda: mcsim.state_evolution(talk, 50), repeats, warmup=0)
damped = talk.with_run({"damping": 0.5})
memory = median_time(lambda: mcsim.state_evolution(damped, 20, cross="population"), max(1, repeats // 2))
out = {"import": imported, "first": first, "warm": warm, "memory": memory}
try:
    mcsim.state_evolution(damped, 2, cross="quadrature")  # compile (or load) the cross-time kernels
    out["memory_quadrature"] = median_time(lambda: mcsim.state_evolution(damped, 20, cross="quadrature"), 1, warmup=0)
except TypeError:  # an installation without deterministic cross-time moments
    out["memory_quadrature"] = float("nan")
print(json.dumps(out))
"""

ERROR_NETWORKS = ("talk", "talk_noisy", "talk_leaky", "talk_lifted", "sparse_chain")
VARIABLES = ("tau_plus", "tau_minus", "alpha_plus", "alpha_minus", "gamma_plus", "gamma_minus", "rp_mse", "rm_mse",
             "rp_overlap", "rm_overlap", "alpha_plus_stein", "alpha_minus_stein")


def timings(site: str | None, repeats: int) -> dict:
    """The CHILD's timings in a fresh process (importing mcsim from ``site`` if given)."""
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, here) if p)
    runs = [subprocess.run([sys.executable, "-c", CHILD, str(repeats)], env=env, check=True, capture_output=True,
                           text=True, cwd=os.path.expanduser("~")) for _ in range(2)]  # the first fills the cache
    return json.loads(runs[1].stdout)


def study_network(name: str, run: dict):
    """The study network ``name`` (``studies/networks/NAME.toml``) run as ``run`` says."""
    from pathlib import Path

    import mcsim
    import mcsim.studies

    return mcsim.NetworkSpec.from_toml(Path(mcsim.studies.__file__).parent / "networks" / f"{name}.toml").with_run(run)


def integration_errors(iterations: int = 10, damping: float = 1.0) -> list[list]:
    """Per network and divergence: the largest relative difference of any recorded variable
    between the default tolerance and a 100x finer rule (damped: and a cross-time rule of
    twice the density), over iterations and layers.  Values
    below 1e-12 of the messages' errors (exact zeros such as the overlaps of linear
    chains, at round-off) are compared in absolute terms against that floor."""
    import numpy as np

    import mcsim
    from mcsim.cross import DEFAULT_DENSITY
    from mcsim.state_evolution import DEFAULT_TOL

    rows = []
    for name in ERROR_NETWORKS:
        for divergence in ("ae", "jump"):
            spec = study_network(name, {"divergence": divergence, "damping": damping})
            coarse = mcsim.state_evolution(spec, iterations)
            fine = mcsim.state_evolution(spec, iterations, tol=DEFAULT_TOL / 100, density=2 * DEFAULT_DENSITY)
            worst, where = 0.0, ""
            floor = 1e-12 * float(np.nanmax(np.abs(fine["rp_mse"])) + np.nanmax(np.abs(fine["rm_mse"])))
            for v in VARIABLES:
                a, b = coarse[v].values, fine[v].values
                keep = np.isfinite(b) & (np.abs(b) > floor)
                assert (np.abs(a - b)[np.isfinite(b) & ~keep] <= floor).all(), (name, v)
                rel = float(np.max(np.abs(a[keep] - b[keep]) / np.abs(b[keep]))) if keep.any() else 0.0
                if rel >= worst:
                    worst, where = rel, v
            rows.append([name, spec.run.label, int(fine.valid_iterations), f"{worst:.2e}", where])
    return rows


def population_error(iterations: int = 10, seeds: int = 4) -> list[list]:
    """tau^- at the last iteration of the SE with memory (damping 0.5) by the population
    (default size, ``seeds`` seeds) against the deterministic one: the largest relative
    difference over seeds and the relative spread, per layer."""
    import numpy as np

    import mcsim

    rows = []
    for name, run in (("talk", {"damping": 0.5}), ("talk", {"damping": 0.5, "divergence": "jump"}),
                      ("talk_lifted", {"damping": 0.5})):
        spec = study_network(name, run)
        exact = mcsim.state_evolution(spec, iterations).tau_minus.values[-1]
        taus = np.array([mcsim.state_evolution(spec, iterations, cross="population", seed=s).tau_minus.values[-1]
                         for s in range(seeds)])
        worst = np.abs(taus / exact - 1).max(0)
        spread = taus.std(0, ddof=1) / np.abs(taus.mean(0))
        rows.append([name, spec.run.label, " ".join(f"{x:.1e}" for x in worst), " ".join(f"{x:.1e}" for x in spread)])
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="a site directory from which another mcsim imports")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    sites = {"this": None} | ({"baseline": args.baseline} if args.baseline else {})
    results = {label: timings(site, args.repeats) for label, site in sites.items()}
    header = ["measure (s)"] + list(results) + (["baseline / this"] if args.baseline else [])
    rows = []
    for key, label in (("import", "import mcsim"), ("first", "first SE call, talk, 50 it (fresh process)"),
                       ("warm", "undamped SE, talk, 50 it (median)"),
                       ("memory_quadrature", "SE with memory, talk damped 0.5, 20 it, deterministic (one call)"),
                       ("memory", "SE with memory, talk damped 0.5, 20 it, population (median)")):
        row = [label] + [results[k][key] for k in results]
        if args.baseline:
            row.append(f"{results['baseline'][key] / results['this'][key]:.1f}x")
        rows.append(row)
    print(table(header, rows))
    print()
    print(table(["network", "run", "valid iterations", "max relative error vs 100x finer", "variable"],
                integration_errors() + integration_errors(iterations=6, damping=0.5)))
    print()
    print(table(["network", "run", "population vs deterministic: largest relative gap of tau^- at t = 9, by layer",
                 "relative sd over 4 seeds"], population_error()))


if __name__ == "__main__":
    main()
