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

from typing import NamedTuple

import numpy as np

from mcsim.kernels import se_cross

DEFAULT_DENSITY = 2.5  # nodes per sd of the rule: relative error about 3e-8 per entry (tests/test_se_cross.py)
SELF_CHECK = 1e-6  # the rule's E[e_t^2] must match the update's adaptive quadrature to this (relative)
MAX_DENSITY = 8.0  # the rule is refined (x 1.5) up to this density
ONE_LEVEL = 4.0  # a one-level rule (the prior's, over its truth) is cheap: it takes 4x the density
TRUTH_SPREAD = 0.5  # the truth rule's nodes per message noise sd (``truth_density``; measured in tests/test_se_cross.py)


class Update(NamedTuple):
    """One update of a factor's output: the record ``U`` (``kernels.se_cross.U_*``) and the
    indices of the updates of its input messages it read (-1: no such message)."""

    U: np.ndarray
    ia: int
    ic: int


class Past:
    """The earlier updates of each output of one separable factor, and its rule's density.

    The rule checks itself at every update: its E[e_t^2] (the pair t, t) must equal the
    update's own second moment from the adaptive quadrature to SELF_CHECK, else the
    density grows by 1.5 (up to MAX_DENSITY) for this and every later update.  The
    largest discrepancy left is ``self_check``, recorded with the SE."""

    def __init__(self, density: float = DEFAULT_DENSITY):
        self.density = density
        self.self_check = 0.0
        self.updates = {"plus": [], "minus": []}

    def record(self, direction: str, update: Update, exact_e2: float, cross) -> np.ndarray:
        """[cross(earlier, density) for each earlier update of this output], after the
        self-check cross(update, density) = ``exact_e2``; then remember ``update``."""
        while True:
            gap = abs(cross(update, self.density) / exact_e2 - 1.0) if exact_e2 > 0 else 0.0
            if gap <= SELF_CHECK or self.density * 1.5 > MAX_DENSITY:
                break
            self.density *= 1.5
        self.self_check = max(self.self_check, gap)
        earlier = self.updates[direction]
        values = np.array([cross(k, self.density) for k in earlier])
        earlier.append(update)
        return values


def truth_density(density: float, sd_truth: float, gains, sds) -> float:
    """The density of the rule over the truth: given the truth X (sd ``sd_truth``), a message
    g X + w (``gains`` g, noise ``sds``) moves the prox's pieces by g / sd(w) of its noise sd
    per unit of X, so the integrand varies on a scale sd(w) / g of X, which the rule must
    resolve: density x max(1, TRUTH_SPREAD sd_truth max g / min sd(w))."""
    return density * max(1.0, TRUTH_SPREAD * sd_truth * max(abs(g) for g in gains) / min(sds))


def noise_covariance(hist) -> np.ndarray:
    """Cov(w_s, w_t) over a message's updates, as its consumer models them (L L^T)."""
    L = hist.L[:hist.n, :hist.n]
    return L @ L.T


def gains(hist, i: int) -> float:
    """1 + beta_i: the truth's gain in the message's update i."""
    return 1.0 + hist.beta(i)


__all__ = ["DEFAULT_DENSITY", "ONE_LEVEL", "Past", "Update", "gains", "noise_covariance", "se_cross", "truth_density"]
