"""The markdown table of docs/results.md for a study of the estimators map (default
``results/jump_kernels``; also ``results/estimators``): per network type, its verdict at
the widest, the gap of tau^- at the last iteration there (with the largest |z|), the
RMS slope and detectable gap, and the stopped fractions by width.

    python studies/estimator_table.py [RESULTS_FOLDER]
"""
import sys
from pathlib import Path

import xarray as xr

from mcsim.report import gap_cells, exactness_row


def row(path: Path) -> str:
    ds = xr.open_dataset(path)
    verdict, detail = exactness_row(ds)
    gaps = 100 * gap_cells(ds, "tau_minus", -1)[-1]
    dev = ds.deviation_tau_minus.isel(scale=-1, iteration=-1)
    z = abs(dev.sel(statistic="mean") / dev.sel(statistic="stderr")).max()
    slope = detail.removeprefix("RMS slope ").split("; runs stopped")[0].replace("would detect >= ", "") \
        if verdict == "converges to SE" else ""
    stopped = " / ".join(f"{100 * f:.0f}" for f in ds.stopped_fraction.values) + " %"
    return (f"| {path.stem} | {ds.attrs['run']} | {verdict} | {gaps.min():+.1f}..{gaps.max():+.1f} % ({float(z):.1f}) "
            f"| {slope} | {stopped} |")


def main(folder: Path) -> None:
    print("| network | run | verdict at the widest | tau^- gap at t = 9, widest (max abs z) | "
          "RMS slope at t = 9; detectable gap | runs stopped, x1 / x4 / x16 / x128 / x2000 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for path in sorted(folder.glob("*.nc")):
        print(row(path))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results/jump_kernels"))
