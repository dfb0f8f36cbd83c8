"""A drawn network as the records the kernels take (``kernels.layout``)."""
from __future__ import annotations

import numpy as np

from mcsim.kernels.activations import N_PAR
from mcsim.kernels.layout import ACTIVATION, LINEAR, NetworkArrays, SignalArrays

from .ensembles import Network


def network_arrays(net: Network) -> NetworkArrays:
    """The network's maps, factors and penalties (``kernels.layout``)."""
    spec = net.spec
    dims = np.array(spec.dims, dtype=np.int64)
    L = spec.depth
    voff = np.concatenate([[0], np.cumsum(dims)]).astype(np.int64)
    kind, act_code = np.zeros(L, np.int64), np.zeros(L, np.int64)
    act_par = np.zeros((L, N_PAR))
    nv, bias = np.zeros(L), np.zeros(voff[L + 1])
    ufac, vfac, sig = np.full(L, -1, np.int64), np.full(L, -1, np.int64), []
    soff = np.zeros(L + 1, np.int64)
    for j, layer in enumerate(spec.layers):
        nv[j] = layer.noise_var
        if layer.kind == "linear":
            kind[j] = LINEAR
            bias[voff[j + 1]:voff[j + 2]] = net.bias[j]
            ufac[j], vfac[j] = net.U[j].index, net.V[j].index
            sig.append(net.sigma[j])
        else:
            kind[j] = ACTIVATION
            act_code[j], act_par[j] = layer.code, layer.par
        soff[j + 1] = soff[j] + (sig[-1].size if layer.kind == "linear" else 0)
    penalty = spec.input.penalty
    return NetworkArrays(voff, kind, act_code, act_par, nv, bias, net.factors, net.table, ufac, vfac,
                         np.concatenate(sig) if sig else np.zeros(0), soff, penalty.code, float(penalty.par))


def signal_arrays(net: Network) -> SignalArrays:
    """The network's B signals, truths and initial messages (fresh arrays: the kernel
    updates the messages)."""
    L = net.spec.depth
    bvar = np.concatenate([np.zeros(net.spec.dims[0])] + [np.zeros(n) if b is None else b
                                                            for b, n in zip(net.bias, net.spec.dims[1:L])])
    return SignalArrays(net.y, np.concatenate(net.z0[:L], axis=1), bvar, np.concatenate(net.r_minus0, axis=1),
                        np.tile(net.gam_minus0, (net.signals, 1)))
