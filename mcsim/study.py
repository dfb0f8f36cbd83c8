"""Run a study: ``python -m mcsim.study NAME`` runs ``studies/NAME.toml``.

For every network of the study and every width scale, draws ``networks`` random
networks, runs ML-VAMP, computes the SE, prints the gap of the Monte Carlo mean
against the SE, and writes ``results/NAME/<network>.nc`` (xarray, netCDF4).
Networks run in joblib worker processes (``--n-jobs``); resume, verdicts and plots
are a later issue.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import xarray as xr

from . import __version__
from .montecarlo import simulate
from .spec import NetworkSpec, SpecError
from .state_evolution import state_evolution
from .stats import mean_deviation, rate_fit, verdict

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def _load_study(name: str, quick: bool) -> dict:
    path = STUDIES / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in STUDIES.glob("*.toml"))
        raise SpecError(f"study {name!r}: no file {path} (known: {', '.join(known)})")
    with path.open("rb") as f:
        study = tomllib.load(f)
    if quick:
        study.update(study.get("quick", {}))
    return study


def run_scale(spec: NetworkSpec, scale: float, networks: int, iterations: int, seed, n_jobs: int = 1) -> xr.Dataset:
    """Monte Carlo and SE at one width scale, on (network, iteration, layer) and (iteration, layer)."""
    scaled = spec.scaled(scale)
    mc = simulate(scaled, networks, iterations, seed, n_jobs=n_jobs)
    se = state_evolution(scaled, iterations)
    for name in ("tau_plus", "tau_minus", "rp_mse", "rm_mse", "alpha_plus", "alpha_minus"):
        mc[f"se_{name}"] = se[name]
        mc[f"se_{name}"].attrs = dict(se[name].attrs, long_name="SE prediction of " + name)
    mc["se_valid_iterations"] = se["valid_iterations"]
    return mc


def gap_table(ds: xr.Dataset, name: str = "tau_minus") -> str:
    """Relative gap (MC mean / SE - 1) and its z-score at the last iteration, per layer."""
    last = ds.isel(iteration=-1)
    mean = last[name].mean("network")
    err = last[name].std("network", ddof=1) / np.sqrt(ds.sizes["network"])
    rel = mean / last[f"se_{name}"] - 1
    z = (mean - last[f"se_{name}"]) / err
    return "  ".join(f"l{l}: {float(r):+.3f} (z {float(zz):+.1f})" for l, (r, zz) in enumerate(zip(rel, z)))


def verdict_lines(result: xr.Dataset, name: str = "tau_minus") -> list[str]:
    """Per layer, at the last iteration: the fitted decay rate of the RMS deviation from the
    SE over the widths, and the verdict at the largest width (Bonferroni over the layers)."""
    last = result.isel(iteration=-1)
    lines = []
    for l in range(result.sizes["layer"]):
        devs = [mean_deviation(last[name].isel(scale=s, layer=l), float(last[f"se_{name}"].isel(scale=s, layer=l)))
                for s in range(result.sizes["scale"])]
        rate = "n/a (needs 3 widths)"
        if len(devs) >= 3:
            fit = rate_fit(result.width.isel(layer=l), [d.rms for d in devs])
            rate = f"{fit.slope:+.2f} [{fit.low:+.2f}, {fit.high:+.2f}] (theory -0.5)"
        lines.append(f"    z_{l}: RMS deviation slope in log n {rate}; largest width: "
                     f"{verdict(devs[-1], checks=result.sizes['layer'])}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mcsim.study", description=__doc__.splitlines()[0])
    parser.add_argument("study", help="a study in studies/ (e.g. scaling)")
    parser.add_argument("--quick", action="store_true", help="the reduced preset")
    parser.add_argument("--networks", type=int, help="networks per width")
    parser.add_argument("--iterations", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--n-jobs", type=int, default=-1, help="joblib worker processes (default: all cores)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="output folder (default results/)")
    args = parser.parse_args(argv)
    try:
        study = _load_study(args.study, args.quick)
        networks = args.networks or study["networks"]
        iterations = args.iterations or study["iterations"]
        seed = args.seed if args.seed is not None else study["seed"]
        specs = {n["name"]: NetworkSpec.from_toml(STUDIES / n["file"]) for n in study["network"]}
    except (SpecError, KeyError, tomllib.TOMLDecodeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out / args.study
    out.mkdir(parents=True, exist_ok=True)
    print(f"study {args.study}: {networks} networks x scales {study['scales']} x {iterations} iterations")
    for k, (name, spec) in enumerate(specs.items()):
        parts = []
        for s, scale in enumerate(study["scales"]):
            start = time.time()
            ds = run_scale(spec, scale, networks, iterations, [seed, k, s], args.n_jobs)
            print(f"{name:12s} scale {scale:<4} dims {spec.scaled(scale).dims}  "
                  f"{networks / (time.time() - start):6.1f} networks/s  "
                  f"tau_minus gap at t={iterations - 1}: {gap_table(ds)}", flush=True)
            parts.append(ds.drop_vars("width").expand_dims(scale=[scale]))
        result = xr.concat(parts, "scale")
        result = result.assign_coords(width=(("scale", "layer"), np.array(
            [spec.scaled(s).dims[: spec.depth] for s in study["scales"]])))
        print(f"  {name}: {args.study} verdicts on tau_minus at t={iterations - 1}")
        print("\n".join(verdict_lines(result)))
        result.attrs.update(study=args.study, network=name, spec=spec.to_json(), seed=str(seed),
                            mcsim_version=__version__, created=datetime.datetime.now().isoformat())
        path = out / f"{name}.nc"
        tmp = path.with_suffix(".nc.tmp")
        result.to_netcdf(tmp, engine="netcdf4",
                         encoding={v: {"zlib": True, "complevel": 4} for v in result.data_vars})
        tmp.replace(path)
        print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
