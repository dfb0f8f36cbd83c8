"""The hardtanh activation phi(x) = clip(x, -1, 1) with its matched MAP factor
(``kernels.hardtanh``: the prox compares the minimisers of its three pieces and jumps
where |c| < 1, like the relu's).

Second moment of the output for an input Y = b + X, X ~ N(0, chi):
E[phi(Y)^2] = P(Y < -1) + P(Y > 1) + E[Y^2; -1 < Y < 1], the last from the truncated
Gaussian moments m_k = E[X^k; -1 - b < X < 1 - b]: b^2 m0 + 2 b m1 + m2.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from mcsim.kernels import activations
from mcsim.kernels.se_quadrature import truncated_moments

from .activation import Activation


@dataclass(frozen=True)
class HardTanh(Activation):
    @property
    def code(self) -> int:
        return activations.HARDTANH

    @property
    def par(self) -> np.ndarray:
        return np.zeros(activations.N_PAR)

    @property
    def clarke(self) -> tuple[float, float]:
        """phi's one-sided slopes at its kinks -1 and 1."""
        return 0.0, 1.0

    def output_second_moment(self, b: float, chi: float) -> float:
        sd = np.sqrt(chi)
        m0, m1, m2 = truncated_moments(sd, -1.0 - b, 1.0 - b)
        return float(ndtr((-1.0 - b) / sd) + ndtr((b - 1.0) / sd) + b * b * m0 + 2 * b * m1 + m2)


KINDS = {"hardtanh": HardTanh}
