"""The records in which a network and its signals are passed to the kernels.

Variables z_0..z_L live in flat rows at offsets ``voff`` (z_l is ``[voff[l]:voff[l+1]]``);
map l = j + 1 (array index j) takes z_j to z_{j+1} and is of kind ``kind[j]``
(LINEAR or ACTIVATION).  A linear map keeps its orthogonal factors U_j, V_j in ``mats``,
described by rows ``ufac[j]``, ``vfac[j]`` of the factor table ``ftab`` (offset, width,
form and, for lazy factors, capacities and pair counts: ``kernels.haar``), and its k_j singular values in ``sig[soff[j]:soff[j+1]]``; an activation map is the
factor ``act_code[j]`` with the parameter record ``act_par[j]``
(``kernels.activations``).  Every map has its noise variance ``nv[j]``; a linear map's
bias vector is ``bias[voff[j+1]:voff[j+2]]`` (at the offsets of its output z_{j+1}); the input penalty is ``prior_code`` with parameter ``prior_par``
(``kernels.priors``).
"""
from typing import NamedTuple

import numpy as np
from numba import njit

LINEAR, ACTIVATION = 0, 1


class NetworkArrays(NamedTuple):
    """One network (module docstring)."""

    voff: np.ndarray
    kind: np.ndarray
    act_code: np.ndarray
    act_par: np.ndarray
    nv: np.ndarray
    bias: np.ndarray
    mats: np.ndarray
    ftab: np.ndarray
    ufac: np.ndarray
    vfac: np.ndarray
    sig: np.ndarray
    soff: np.ndarray
    prior_code: int
    prior_par: float


class SignalArrays(NamedTuple):
    """B signals through one network (rows): the observation ``y`` (B, n_L), the truth
    ``z0`` and the initial messages ``r_minus`` (B, sum_{l<L} n_l) with precisions
    ``gam_minus`` (B, L); ``bvar`` (sum_{l<L} n_l) holds the bias vector b_l of the map
    producing z_l at the offsets of z_l (0 where no linear map produces it)."""

    y: np.ndarray
    z0: np.ndarray
    bvar: np.ndarray
    r_minus: np.ndarray
    gam_minus: np.ndarray


@njit(cache=True)
def widest(voff):
    """max_l n_l over the variables at offsets ``voff``."""
    nmax = 0
    for j in range(voff.size - 1):
        nmax = max(nmax, voff[j + 1] - voff[j])
    return nmax
