"""Deterministic cross-time moments of a separable factor's SE (damped runs).

The SE with memory needs, for every update t of a separable factor, E[e_t e_k] with
each earlier new error e_k of the same output (docs/damped_se.md, section 5).
:class:`Past` keeps what each earlier update's prox was (its precisions and alpha)
and which updates of its input messages it read; ``kernels.se_cross`` integrates the
pair of updates under the joint law of those messages (their noise covariance across
the two updates from the messages' ``History``), exactly over the messages the prox is
piecewise affine in and by a fixed Gauss-Legendre tensor rule over the rest.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from mcsim.kernels import activations, se_cross

DEFAULT_DENSITY = 2.5  # nodes per sd of the rule: relative error about 3e-8 per entry (tests/test_se_cross.py)
SELF_CHECK = 1e-6  # the rule's E[e_t^2] must match the update's adaptive quadrature to this (relative)
REFINEMENTS = 3  # at most this many refinements of the density (x 1.5 each: 2.5 -> 8.4)
ONE_LEVEL = 4.0  # a one-level rule (the prior's, over its truth) is cheap: it takes 4x the density
TRUTH_SPREAD = 0.5  # the truth rule's nodes per unit of ``rate`` (``truth_density``; measured in tests/test_se_cross.py)
MAX_TRUTH_DENSITY = 60.0  # the truth rule's cap (900 nodes); the self-check reports what a capped rule misses


class Update(NamedTuple):
    """One update of a factor's output: the record ``U`` (``kernels.se_cross.U_*``), the
    indices of the updates of its input messages it read (-1: no such message), and
    ``rate``: how fast its prox's pieces move with the truth (``truth_density``)."""

    U: np.ndarray
    ia: int
    ic: int
    rate: float


class Past:
    """The earlier updates of each output of one separable factor, and its rule's density.

    The rule checks itself at every update: its E[e_t^2] (the pair t, t) must equal the
    update's own second moment from the adaptive quadrature to SELF_CHECK, else the
    density grows by 1.5 (at most REFINEMENTS times) for this and every later update.
    The largest discrepancy left is ``self_check`` (NaN if the rule gave NaN), recorded
    with the SE; one above SELF_CHECK also warns."""

    def __init__(self, density: float = DEFAULT_DENSITY):
        self.density = density
        self.self_check = 0.0
        self.updates = {"plus": [], "minus": []}

    def record(self, direction: str, update: Update, exact_e2: float, cross) -> np.ndarray:
        """[cross(earlier, density) for each earlier update of this output], after the
        self-check cross(update, density) = ``exact_e2``; then remember ``update``."""
        for refinement in range(REFINEMENTS + 1):
            gap = abs(cross(update, self.density) / exact_e2 - 1.0) if exact_e2 > 0 else 0.0
            if not gap > SELF_CHECK or refinement == REFINEMENTS:  # NaN: no refinement helps
                break
            self.density *= 1.5
        if not gap <= SELF_CHECK:
            warnings.warn(f"SE with memory: the cross-time rule misses its self-check by {gap:.2e} "
                          f"(> {SELF_CHECK:g}) at density {self.density:g}", RuntimeWarning, stacklevel=4)
        self.self_check = gap if np.isnan(gap) else max(self.self_check, gap)
        earlier = self.updates[direction]
        values = np.array([cross(k, self.density) for k in earlier])
        earlier.append(update)
        return values


def truth_density(density: float, sd_truth: float, rates, cap: float = MAX_TRUTH_DENSITY) -> float:
    """The density of the rule over the truth X (sd ``sd_truth``).  At an update, X moves
    the message's mean relative to the prox's breakpoints by ``rate`` of the message's
    noise sd per unit of X (:func:`piece_rate`), so the integrand varies on a scale
    1 / rate of X, which the rule must resolve: density x max(1, TRUTH_SPREAD sd_truth
    max rate), at most ``cap``."""
    return min(cap, density * max(1.0, TRUTH_SPREAD * sd_truth * max(rates)))


def breakpoint_slopes(code: int, par, nv: float, gp: float, gm: float) -> list[float]:
    """The slopes beta of a conic prox's breakpoint lines a = beta c (at c = 1 and c = -1)."""
    return [brk / side for side in (1.0, -1.0) for brk in activations.activation_breakpoints(code, par, nv, side, gp, gm)
            if np.isfinite(brk)]


def piece_rate(ga: float, gc: float, slopes, sa: float) -> float:
    """How fast the truth X moves the message a = b + ga X + w (noise sd ``sa``) across
    breakpoints a = beta c of slopes ``slopes`` when c's mean moves as gc phi(b + X):
    max(|ga|, max |beta gc - ga|) / sa per unit of X (the prior: no slopes)."""
    return max([abs(ga), *(abs(beta * gc - ga) for beta in slopes)]) / sa


def noise_covariance(hist) -> np.ndarray:
    """Cov(w_s, w_t) over a message's updates, as its consumer models them (L L^T)."""
    L = hist.L[:hist.n, :hist.n]
    return L @ L.T


def gains(hist, i: int) -> float:
    """1 + beta_i: the truth's gain in the message's update i."""
    return 1.0 + hist.beta(i)


__all__ = ["DEFAULT_DENSITY", "ONE_LEVEL", "Past", "breakpoint_slopes", "Update", "gains", "noise_covariance", "piece_rate", "se_cross",
           "truth_density"]
