"""The MAP objective F of one signal of a network, over its free variables.

F and its gradient are computed by ``kernels.objective`` (equations there): the free
variables are z_0 and the outputs of noisy maps l < L; outputs of deterministic maps
are functions of the variables below them.  Supported estimator penalties: the
matched factors of linear and relu / leaky relu / identity / hardtanh maps, a gaussian or l1
input penalty (the lifted relu penalty is an indicator and has no gradient).
"""
from __future__ import annotations

import numpy as np

from mcsim.kernels.objective import objective_grad

from .ensembles import Network
from .packing import network_arrays


class MapProblem:
    """F(z) of signal ``signal`` of ``net``; points are flat vectors of the free variables
    (z_l for l in ``free``, concatenated)."""

    def __init__(self, net: Network, signal: int = 0):
        spec = net.spec
        self.check(spec)
        self.net = net
        self.args = network_arrays(net)
        self.y = np.ascontiguousarray(net.y[signal])
        self.dims = spec.dims[: spec.depth]
        self.free = [l for l in range(spec.depth) if l == 0 or spec.layers[l - 1].noise_var > 0]
        voff = self.args.voff
        self.index = np.concatenate([np.arange(voff[l], voff[l + 1]) for l in self.free])
        self.size = self.index.size

    @staticmethod
    def check(spec) -> None:
        """ValueError if F of networks of ``spec`` has no gradient."""
        for j, layer in enumerate(spec.layers):
            if layer.kind != "linear" and layer.penalty[0] != "matched":
                raise ValueError(f"layers[{j}]: the {layer.penalty[0]} penalty is an indicator: F has no gradient")

    def full(self, x: np.ndarray) -> np.ndarray:
        """The variables z_0 .. z_{L-1} (flat) of the free point ``x``; deterministic
        outputs are filled in by :meth:`value_grad`."""
        z = np.zeros(self.args.voff[len(self.dims)])
        z[self.index] = x
        return z

    def value_grad_full(self, z: np.ndarray, dphi: np.ndarray | None = None) -> tuple[float, np.ndarray]:
        """F at the flat variables ``z`` (deterministic outputs overwritten) and the adjoints
        dF/dz_l of all variables; ``dphi`` overrides activation slopes (``kernels.objective``)."""
        if dphi is None:
            dphi = np.full(z.size, np.nan)
        grad = np.empty_like(z)
        value = objective_grad(self.args, self.y, z, dphi, grad)
        return value, grad

    def value_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """F and its gradient at the free point ``x``."""
        value, grad = self.value_grad_full(self.full(x))
        return value, grad[self.index]

    def value(self, x: np.ndarray) -> float:
        return self.value_grad(x)[0]

    def point(self, z: list) -> np.ndarray:
        """The free point of the per-variable arrays ``z[l]`` (n_l,), l = 0..L-1."""
        return np.concatenate([np.asarray(z[l], float).ravel() for l in self.free])

    def variables(self, x: np.ndarray) -> list:
        """All variables z_0 .. z_{L-1} (deterministic ones computed) of the free point ``x``."""
        z = self.full(x)
        self.value_grad_full(z)
        return np.split(z, self.args.voff[1:len(self.dims)])
