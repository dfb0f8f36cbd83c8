"""Monte Carlo integration of a separable factor's SE moments over a sampled population.

The SE with memory (damped runs, the jump divergence) needs, for every update of a
separable factor, expectations over its scalar model: the truth, and each input
message's noise process w_t = sum_k L[t, k] g_k (``History``).  A :class:`Population`
draws ``size`` samples of the truth and of every g_k once (common random numbers,
seeded), so its estimates have a relative error of about 1 / sqrt(size).  It is the
one place that samples; a deterministic integrator can replace it.
"""
from __future__ import annotations

import numpy as np

from .factors.extrinsic import FactorOutput, extrinsic_error

DEFAULT_POPULATION = 2**20


class Population:
    """The samples of one separable factor: its N(0, 1) basis per input message, and the
    new errors of its past outputs per direction."""

    def __init__(self, rng: np.random.Generator, size: int):
        self.rng, self.size = rng, size
        self.basis = {}  # input name -> list of sample arrays g_k
        self.past = {"plus": [], "minus": []}

    def noise(self, name: str, hist) -> np.ndarray:
        """w_t of the latest update of an input message, as samples."""
        g = self.basis.setdefault(name, [])
        t = hist.n - 1
        while len(g) <= t:
            g.append(self.rng.standard_normal(self.size))
        w = np.zeros(self.size)
        for k in range(t + 1):
            if hist.L[t, k] != 0.0:
                w += hist.L[t, k] * g[k]
        return w

    def output(self, direction: str, d, q, alpha, T, w, v) -> FactorOutput:
        """The output of enew = (d - alpha q)/(1 - alpha) from samples of d, q, the truth T
        and the input noise w (variance v)."""
        e = extrinsic_error(d, q, alpha)
        self.past[direction].append(e)
        n = self.size
        stein = float(d @ w) / n / v if v > 0 else np.nan
        return FactorOutput(alpha, np.mean(d * d), float(e @ T) / n,
                            np.array([float(e @ p) / n for p in self.past[direction]]), stein)
