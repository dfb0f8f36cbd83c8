"""Second moments of the true signals z0_l in the large-system limit.

S_l = E[(z0_l)^2] and chi_l = E[(z0_l - b_l)^2] (b_l the bias of a linear map
producing z_l, else 0; averaged over the bias's law), layer by layer from S_0 = chi_0 = E[(z0_0)^2]: each factor
kind gives its output's moments from its input's (``mcsim.factors``).
"""
from __future__ import annotations

import functools
import json

import numpy as np

from .spec import NetworkSpec


def signal_moments(spec: NetworkSpec) -> tuple[np.ndarray, np.ndarray]:
    """(S, chi), each of length L + 1, for z0_0 .. z0_L (computed once per spec)."""
    S, chi = _signal_moments(spec.to_json())
    return S.copy(), chi.copy()


@functools.lru_cache(maxsize=256)
def _signal_moments(spec_json: str):
    spec = NetworkSpec.from_dict(json.loads(spec_json))
    L = spec.depth
    S = np.zeros(L + 1)
    chi = np.zeros(L + 1)
    S[0] = chi[0] = spec.input.prior.second_moment()
    dims = spec.dims
    for l, layer in enumerate(spec.layers, start=1):
        if layer.kind == "linear":
            S[l], chi[l] = layer.moments(dims[l - 1], S[l - 1], chi[l - 1])
        else:
            S[l], chi[l] = layer.moments(spec.bias_atoms(l - 1), chi[l - 1])
    return S, chi
