"""What every factor returns to the SE: the moments of its new extrinsic message.

A factor produces an estimate zhat from an input message with error q = r_in - z0 =
beta T + w (T the truth, w ~ N(0, v) independent of T) and sends the extrinsic error
e = (d - alpha q) / (1 - alpha), d = zhat - z0 (docs/state_evolution.md, section 2).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class FactorOutput(NamedTuple):
    """alpha; tau = E[d^2]; overlap E[e T]; gram, E[e e_k] over the producer's earlier new
    errors e_k of this message and e itself (just [E[e^2]] for a single update); stein,
    the Stein divergence E[d w] / v that the SE's independence assumption needs alpha to be."""

    alpha: float
    tau: float
    overlap: float
    gram: np.ndarray
    stein: float


def extrinsic_error(d, q, alpha):
    """e = (d - alpha q) / (1 - alpha), of samples or of coefficient vectors."""
    return (d - alpha * q) / (1 - alpha)


def extrinsic(alpha, dd, dq, qq, dT, qT, beta, v) -> FactorOutput:
    """The output from the moments E[d^2], E[d q], E[q^2], E[d T], E[q T] of one update:
    with A = 1/(1 - alpha), B = alpha/(1 - alpha), E[e^2] = A^2 E[d^2] - 2AB E[dq] + B^2 E[q^2]
    and E[e T] = A E[dT] - B E[qT]; the Stein divergence is (E[dq] - beta E[dT]) / v."""
    A = 1.0 / (1.0 - alpha)
    B = alpha / (1.0 - alpha)
    stein = (dq - beta * dT) / v if v > 0 else np.nan
    return FactorOutput(alpha, dd, A * dT - B * qT, np.array([A * A * dd - 2 * A * B * dq + B * B * qq]), stein)
