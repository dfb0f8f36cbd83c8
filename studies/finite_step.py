"""The finite-step effect of the jump divergence: each run of a study (default
``results/finite_step``, from ``python -m mcsim.study finite_step``) against its own SE
and against the Stein SE, tau^- at the last iteration at the largest width.

    python studies/finite_step.py [RESULTS_FOLDER]
"""
import json
import sys
from pathlib import Path

import numpy as np
import xarray as xr

import mcsim
from mcsim.report import completed


def row(path: Path) -> str:
    ds = xr.open_dataset(path)
    spec = mcsim.NetworkSpec.from_dict(json.loads(ds.attrs["spec"]))
    stein = mcsim.state_evolution(spec.scaled(float(ds.scale[-1])).with_run(dict(spec.run.to_dict(), divergence="stein")),
                                  ds.sizes["iteration"]).tau_minus.isel(iteration=-1).values
    ok = completed(ds).isel(scale=-1)
    tau = ds.tau_minus.isel(scale=-1, iteration=-1).where(ok)
    mean, stderr = tau.mean("network").values, (tau.std("network", ddof=1) / np.sqrt(int(ok.sum()))).values
    own = ds.se_tau_minus.isel(scale=-1, iteration=-1).values

    def cells(ref):
        gap, z = 100 * (mean / ref - 1), (mean - ref) / stderr
        return f"{gap.min():+.1f}..{gap.max():+.1f} % (abs z <= {np.abs(z).max():.1f})"

    return (f"| {path.stem} | {int(ds.width.isel(scale=-1).max())} | {cells(own)} | {cells(stein)} | "
            f"{100 * (own / stein - 1).min():+.2f}..{100 * (own / stein - 1).max():+.2f} % |")


def main(folder: Path) -> None:
    print("| run | widest | against its own SE | against the Stein SE | its SE against the Stein SE |")
    print("| --- | --- | --- | --- | --- |")
    for path in sorted(folder.glob("*.nc")):
        print(row(path), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/finite_step"))
