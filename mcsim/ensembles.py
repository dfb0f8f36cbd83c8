"""Random networks: Haar-orthogonal factors, i.i.d. singular values, the true forward pass.

All randomness comes from the ``numpy.random.Generator`` passed in; W is never formed.
The orthogonal factors are drawn in the forms of ``mcsim.orthogonal`` (dense, Householder
or lazy; all exact), chosen per factor by the ``haar`` method (``auto``: by the cost of a
reference run, ``mcsim.orthogonal``); lazy factors are sized by the run's products.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcsim.kernels import haar as forms
from mcsim.kernels.layout import ACTIVATION, LINEAR
from mcsim.kernels.mlvamp import factor_products

from .orthogonal import AUTO_ITERATIONS, OrthogonalFactor, draw_factor, factor_form, factor_row, row_size
from .spec import NetworkSpec
from .truth import signal_moments


def noise_free_map(layer, U: OrthogonalFactor | None, V: OrthogonalFactor | None, sigma: np.ndarray | None,
                   bias: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """h_l(x): U diag(sigma) V^T x + bias (linear), or phi(x) (an activation)."""
    return layer.noise_free(U, V, sigma, bias, x) if layer.kind == "linear" else layer.phi(x)


@dataclass
class Network:
    """One random network with its truth, observation and ML-VAMP initialisation, for
    B independent signals (rows).

    ``U[j]``, ``V[j]`` (:class:`mcsim.orthogonal.OrthogonalFactor`, all stored in one
    array ``factors`` and described by the rows of ``table``), ``sigma[j]`` and the bias
    vector ``bias[j]`` are None for activation maps.  ``z0[l]`` (B x n_l) for l = 0..L is the
    true signal, noise included; the observation is y = z0[L].  ``r_minus0[l]`` =
    z0_l + N(0, tau_init_l), ``gam_minus0[l]`` = 1 / tau_init_l, tau_init_l = E[z0_l^2].
    """

    spec: NetworkSpec
    U: list
    V: list
    sigma: list
    z0: list
    r_minus0: list
    gam_minus0: np.ndarray
    factors: np.ndarray
    table: np.ndarray
    bias: list

    @property
    def y(self) -> np.ndarray:
        return self.z0[-1]

    @property
    def signals(self) -> int:
        return self.z0[0].shape[0]

    def signal(self, b: int) -> "Network":
        """The same network with only signal b."""
        return Network(self.spec, self.U, self.V, self.sigma, [z[b:b + 1] for z in self.z0],
                       [r[b:b + 1] for r in self.r_minus0], self.gam_minus0, self.factors, self.table, self.bias)


def factor_plan(spec: NetworkSpec, signals: int = 1, iterations: int | None = None) -> dict | None:
    """Products each factor will take: {j: ((Q v, Q^T w) of U_j, (Q v, Q^T w) of V_j)} for the
    truths of ``signals`` signals and ML-VAMP over ``iterations`` iterations on each; None
    if ``iterations`` is None."""
    if iterations is None:
        return None
    kind = [LINEAR if layer.kind == "linear" else ACTIVATION for layer in spec.layers]
    truth = ((1, 0), (0, 1))  # U (V^T x) scaled: one U product, one V^T product
    return {j: tuple((signals * (run[0] + t[0]), signals * (run[1] + t[1])) for run, t in zip(runs, truth))
            for j, runs in factor_products(kind, iterations).items()}


def planned_factors(spec: NetworkSpec, haar: str, signals: int = 1, iterations: int | None = None) -> list:
    """(width, form, products) of every factor, U_j then V_j map by map: the form ``haar``
    gives it (``auto``: by the reference run of ``AUTO_ITERATIONS``), and the products
    of :func:`factor_plan` (None if ``iterations`` is None)."""
    plan = factor_plan(spec, signals, iterations)
    reference = factor_plan(spec, signals, AUTO_ITERATIONS) if plan else None
    dims = spec.dims
    return [(n, layer.given.factor(side)[0] if layer.given is not None else
             factor_form(n, haar, reference[j][side] if plan else None), plan[j][side] if plan else None)
            for j, layer in enumerate(spec.layers) if layer.kind == "linear"
            for side, n in enumerate((dims[j + 1], dims[j]))]


def draw_network(spec: NetworkSpec, rng: np.random.Generator, haar: str = "auto",
                 reuse: np.ndarray | None = None, signals: int = 1, iterations: int | None = None,
                 full_capacity: bool = False) -> Network:
    """Draw factors, then the biases drawn from a law, then the truths z0_0..z0_L of
    ``signals`` signals and their initial messages, in that order (a given map's
    factors and bias are copied, not drawn).

    ``iterations`` (the ML-VAMP iterations the network will run) sizes lazy factors
    (:func:`factor_plan`) and lets ``auto`` choose them (by a reference run of
    ``AUTO_ITERATIONS``: ``mcsim.orthogonal``); a lazy factor refuses products beyond its
    plan, unless ``full_capacity`` (or ``iterations`` is None) gives it room for any
    number (n pairs each way: 4 n^2 numbers).  The draws depend on neither the
    capacity nor ``iterations``: the same seed, the same network.  The factors go into
    ``reuse`` if it is large enough (e.g. the previous network's ``factors``, which is
    then overwritten): fresh memory costs page faults.
    """
    dims = spec.dims
    rows, offset = [], 0
    for n, form, products in planned_factors(spec, haar, signals, iterations):
        rows.append(factor_row(n, form, offset, None if full_capacity else products))
        offset += row_size(rows[-1])
    table = np.array(rows, np.int64).reshape(len(rows), forms.FIELDS)
    factors = reuse[:offset] if reuse is not None and reuse.size >= offset else np.empty(offset)
    U, V, sigma = [], [], []
    index = 0  # table rows: U_j, then V_j, map by map
    for j, layer in enumerate(spec.layers):
        if layer.kind == "linear":
            n_in, n_out = dims[j], dims[j + 1]
            U.append(OrthogonalFactor(factors, table, index))
            V.append(OrthogonalFactor(factors, table, index + 1))
            if layer.given is not None:
                sigma.append(layer.given.sigma)
                for side, factor in enumerate((U[-1], V[-1])):
                    factor.data[:] = layer.given.factor(side)[1]
            else:
                sigma.append(layer.law(n_in).sample(rng, min(n_in, n_out)))
                draw_factor(rng, U[-1])
                draw_factor(rng, V[-1])
            index += 2
        else:
            sigma.append(None), U.append(None), V.append(None)
    bias = [layer.draw_bias(rng) if layer.kind == "linear" else None for layer in spec.layers]
    B = signals
    z = [spec.input.prior.sample(rng, (B, dims[0]))]
    for j, layer in enumerate(spec.layers):
        nxt = np.array([noise_free_map(layer, U[j], V[j], sigma[j], bias[j], x) for x in z[-1]])
        z.append(nxt + rng.normal(0.0, np.sqrt(layer.noise_var), (B, dims[j + 1])) if layer.noise_var > 0 else nxt)
    tau_init, _ = signal_moments(spec)
    tau_init = tau_init[: spec.depth]
    r_minus0 = [z[l] + rng.normal(0.0, np.sqrt(tau_init[l]), (B, dims[l])) for l in range(spec.depth)]
    return Network(spec, U, V, sigma, z, r_minus0, 1.0 / tau_init, factors, table, bias)
