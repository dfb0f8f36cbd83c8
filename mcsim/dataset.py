"""The shared vocabulary of trajectories: variable names, long names, units, dims.

Record rows are named by ``kernels.mlvamp.RECORD_NAMES``; the SE fills the same names.
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from mcsim.kernels.mlvamp import ROW

from .spec import NetworkSpec

RECORDS = {  # name -> long name, for every row of the kernel's records
    "tau_plus": "|zhat^+_l - z0_l|^2 / n_l (error of the forward estimate)",
    "tau_minus": "|zhat^-_l - z0_l|^2 / n_l (error of the backward estimate)",
    "alpha_plus": "<d zhat^+_l / d r^-_l> (forward divergence)",
    "alpha_minus": "<d zhat^-_l / d r^+_l> (backward divergence)",
    "gamma_plus": "precision gam^+_l of the forward message r^+_l",
    "gamma_minus": "precision gam^-_l of the backward message r^-_l",
    "rp_mse": "|r^+_l - z0_l|^2 / n_l (error of the forward message)",
    "rp_overlap": "<r^+_l - z0_l, z0_l - b_l> / n_l (overlap of the forward message error with the truth)",
    "rm_mse": "|r^-_l - z0_l|^2 / n_l (error of the backward message)",
    "rm_overlap": "<r^-_l - z0_l, z0_l - b_l> / n_l (overlap of the backward message error with the truth)",
}
UNITS = {"alpha_plus": "1", "alpha_minus": "1", "gamma_plus": "1/signal^2", "gamma_minus": "1/signal^2"}


def trajectory_dataset(records: np.ndarray, spec: NetworkSpec, lead_dims: tuple = (),
                       lead_coords: dict | None = None) -> xr.Dataset:
    """Wrap ``records[..., row, iteration, layer]`` as a Dataset on ``lead_dims + (iteration, layer)``."""
    iterations, depth = records.shape[-2:]
    dims = lead_dims + ("iteration", "layer")
    coords = dict(lead_coords or {})
    coords.update(iteration=np.arange(iterations), layer=np.arange(depth),
                  width=("layer", np.array(spec.dims[:depth])))
    data = {}
    for name, long_name in RECORDS.items():
        data[name] = xr.DataArray(records[..., ROW[name], :, :], dims=dims,
                                  attrs={"long_name": long_name, "units": UNITS.get(name, "signal^2")})
    ds = xr.Dataset(data, coords=coords)
    ds["width"].attrs["long_name"] = "n_l, the width of variable z_l"
    ds.attrs.update(spec=spec.to_json(), run=spec.run.label)
    return ds
