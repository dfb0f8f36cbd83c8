"""Second moments of the true signals z0_l in the large-system limit.

S_l = E[(z0_l)^2] and chi_l = E[(z0_l - b_l)^2] (b_l the bias of a linear map
producing z_l, else 0).  A linear map gives chi_l = (k/n_l) E[sigma^2] S_{l-1} + nv;
an activation after a linear map sees z0_{l-1} = b + N(0, chi_{l-1}) and gives
S_l = E[phi(b + X)^2] + nv, in closed form for phi(x) = x (x >= 0), slope x (x < 0).
"""
from __future__ import annotations

import functools
import json

import numpy as np
from scipy.special import ndtr

from .spec import NetworkSpec
from .spectra import resolve_spectrum


def prior_second_moment(prior: tuple[str, dict]) -> float:
    """E[z0_0^2] under the input law."""
    law, p = prior
    if law == "gaussian":
        return p["var"]
    if law == "bernoulli_gaussian":
        return p["rho"] * p["var"]
    return 2.0 * p["scale"] ** 2


def pwl_second_moment(b: float, chi: float, slope: float) -> float:
    """E[phi(b + X)^2], X ~ N(0, chi):  (b^2 + chi) [P(+) + slope^2 P(-)] + b sd pdf (1 - slope^2)."""
    sd = np.sqrt(chi)
    pos = ndtr(b / sd)
    pdf = np.exp(-0.5 * (b / sd) ** 2) / np.sqrt(2 * np.pi)
    return (b * b + chi) * (pos + slope**2 * (1 - pos)) + b * sd * pdf * (1 - slope**2)


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
    S[0] = chi[0] = prior_second_moment(spec.input.prior)
    dims = spec.dims
    for l, layer in enumerate(spec.layers, start=1):
        if layer.kind == "linear":
            n_in, n_out = dims[l - 1], dims[l]
            law = resolve_spectrum(layer.spectrum, n_in, n_out)
            chi[l] = min(n_in, n_out) / n_out * law.mean_square() * S[l - 1] + layer.noise_var
            S[l] = chi[l] + layer.bias**2
        else:
            b = spec.bias_of_variable(l - 1)
            S[l] = chi[l] = pwl_second_moment(b, chi[l - 1], layer.slope) + layer.noise_var
    return S, chi
