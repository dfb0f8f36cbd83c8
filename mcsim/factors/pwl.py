"""Piecewise-linear activations phi(x) = x (x >= 0), slope x (x < 0): relu (slope 0),
leaky_relu (slope in [0, 1), default 0.1), identity (slope 1).

Matched penalty: the prox compares the minimisers of the branches x >= 0 and x <= 0
(``kernels.activations.pwl_prox``; not convex: x* jumps).  ``lifted_relu`` (nu): the
convex f(z, x) = nu/2 (z - x)^2 + I(z >= 0), a Lipschitz prox.

Second moment of the output for an input b + X, X ~ N(0, chi):
E[phi(b + X)^2] = (b^2 + chi) [P(+) + slope^2 P(-)] + b sd pdf(b/sd) (1 - slope^2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from mcsim.kernels import activations

from ..validation import fail, number
from .activation import Activation

SLOPES = {"relu": 0.0, "leaky_relu": None, "identity": 1.0}  # None: given in the table


@dataclass(frozen=True)
class PiecewiseLinear(Activation):
    slope: float = 0.0

    PENALTIES = {"matched": set(), "lifted_relu": {"nu"}}

    @staticmethod
    def options(kind: str) -> dict:
        return {"slope": 0.1} if SLOPES[kind] is None else {}

    @staticmethod
    def check_options(given: dict, kind: str, where: str) -> dict:
        if SLOPES[kind] is not None:
            return {"slope": SLOPES[kind]}
        slope = number(given["slope"], f"{where}.slope", nonnegative=True)
        if slope >= 1:
            fail(f"{where}.slope", f"must be in [0, 1), got {slope}")
        return {"slope": slope}

    @property
    def code(self) -> int:
        return activations.LIFTED_RELU if self.penalty[0] == "lifted_relu" else activations.PWL

    @property
    def par(self) -> np.ndarray:
        par = np.zeros(activations.N_PAR)
        par[activations.SLOPE] = self.slope
        par[activations.NU] = self.penalty[1].get("nu", 0.0)
        return par

    @property
    def clarke(self) -> tuple[float, float]:
        """phi's one-sided slopes at its kink 0."""
        return self.slope, 1.0

    def output_second_moment(self, b: float, chi: float) -> float:
        sd = np.sqrt(chi)
        pos = ndtr(b / sd)
        pdf = np.exp(-0.5 * (b / sd) ** 2) / np.sqrt(2 * np.pi)
        s2 = self.slope ** 2
        return (b * b + chi) * (pos + s2 * (1 - pos)) + b * sd * pdf * (1 - s2)


KINDS = {kind: PiecewiseLinear for kind in SLOPES}
