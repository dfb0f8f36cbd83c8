"""Monte Carlo integration of the cross-time moments of a separable factor's SE.

The SE with memory (damped runs) needs, for every update t of a separable factor, the
moments of its new error at t (alpha, tau, the overlap, E[e_t^2], the Stein divergence:
the marginal law at t, which the deterministic quadrature gives, ``kernels.se_quadrature``)
and its correlations E[e_t e_k] with its earlier new errors, which need the joint law of
each input message's noise process w_t = sum_k L[t, k] g_k (``History``) over two updates.
This is the sampled alternative (``state_evolution(..., cross="population")``, and
hardtanh's layers) to the deterministic ``mcsim.cross``.  A :class:`Population` draws ``size`` samples of the truth and of every g_k once (common
random numbers, seeded) for those cross terms only; they have a relative error of about
1 / sqrt(size).  It is the one place that samples.
"""
from __future__ import annotations

import numpy as np

from .factors.extrinsic import FactorOutput

DEFAULT_POPULATION = 2**18  # cross-time terms only: relative sd of tau about 4e-4 (docs/damped_se.md, section 5)


class Rows:
    """Sample vectors stacked as the rows of one array (grown by doubling), so that a
    combination or all dot products of them are one matrix-vector product."""

    def __init__(self, size: int):
        self.data, self.n = np.empty((0, size)), 0

    def append(self, row: np.ndarray):
        if self.n == self.data.shape[0]:
            grown = np.empty((max(4, 2 * self.n), self.data.shape[1]))
            grown[:self.n] = self.data[:self.n]
            self.data = grown
        self.data[self.n] = row
        self.n += 1

    def __getitem__(self, k: slice) -> np.ndarray:
        return self.data[:self.n][k]


class Population:
    """The samples of one separable factor: its N(0, 1) basis per input message, and the
    noise parts of its past outputs' new errors per direction."""

    def __init__(self, rng: np.random.Generator, size: int):
        self.rng, self.size = rng, size
        self.basis = {}  # input name -> Rows of the samples g_k
        self.past = {"plus": ([], Rows(size)), "minus": ([], Rows(size))}  # per output: (C, overlap), unit noise parts
        self.power = {"plus": np.nan, "minus": np.nan}  # per output: E[T^2] of its consumer
        self.bias = 0.0  # an activation's input bias b (a number, or samples of its law)

    def noise(self, name: str, hist) -> np.ndarray:
        """w_t = sum_k L[t, k] g_k of the latest update of an input message, as samples."""
        g = self.basis.setdefault(name, Rows(self.size))
        t = hist.n - 1
        while g.n <= t:
            g.append(self.rng.standard_normal(self.size))
        return hist.L[t, :t + 1] @ g[:t + 1]

    def output(self, direction: str, exact: FactorOutput, e: np.ndarray, T: np.ndarray) -> FactorOutput:
        """The update's output: ``exact`` (the quadrature's moments of the marginal law) with
        the cross terms E[e e_k] over the earlier new errors e_k of this output.

        With o = E[e T] and C = E[e^2] - o^2 / E[T^2] exact (``power``: E[T^2] of this
        output's consumer), E[e e_k] = rho_k sqrt(C C_k) + o o_k / E[T^2], where rho_k is
        the samples' correlation of the noise parts e - (e.T / T.T) T (samples ``e`` of the
        new error, ``T`` of the truth).  The consumer's covariance of those noise parts is
        then a sample correlation matrix scaled by exact variances: positive semi-definite,
        with its diagonal exact."""
        T2 = self.power[direction]
        o = exact.overlap
        C = max(exact.gram[-1] - o * o / T2, 0.0)
        TT = float(T @ T)
        w = e - (float(e @ T) / TT) * T if TT > 0 else e
        norm = float(np.sqrt(w @ w))
        w = w / norm if norm > 0 else w
        moments, parts = self.past[direction]
        rho = parts[:] @ w
        cross = np.array([r * np.sqrt(C * Ck) + o * ok / T2 for r, (Ck, ok) in zip(rho, moments)])
        moments.append((C, o))
        parts.append(w)
        return exact._replace(gram=np.concatenate([cross, exact.gram[-1:]]))
