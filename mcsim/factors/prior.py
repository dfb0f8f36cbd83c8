"""The input factor f_0: the law of z0_0 (the true model) and the estimator's penalty.

Laws: ``gaussian`` (var), ``bernoulli_gaussian`` (rho, var: an atom at 0 of mass
1 - rho, else N(0, var)), ``laplace`` (scale).  Penalties f_0: ``gaussian`` (var,
z^2 / (2 var)) and ``l1`` (lam, lam |z|); the default is the matched penalty
-ln p(z) (up to a constant), which a Bernoulli-Gaussian law does not have.

Each law samples the truth and gives its second moment and its code for the SE
quadrature (``kernels.se_quadrature``); each penalty gives its code and parameter for
the prox (``kernels.priors``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from mcsim.kernels import priors
from mcsim.kernels import se_cross as sc
from mcsim.kernels import se_quadrature as sq

from ..cross import MAX_TRUTH_DENSITY, ONE_LEVEL, Update, gains, noise_covariance, piece_rate, truth_density
from ..validation import check_keys, fail, named, parameters, table, width
from .extrinsic import FactorOutput, extrinsic, extrinsic_error


@dataclass(frozen=True)
class Gaussian:
    """z0 ~ N(0, var)."""

    var: float
    name: ClassVar[str] = "gaussian"
    se_code: ClassVar[int] = sq.GAUSSIAN_LAW

    def sample(self, rng: np.random.Generator, shape) -> np.ndarray:
        return rng.normal(0.0, np.sqrt(self.var), shape)

    def second_moment(self) -> float:
        return self.var

    @property
    def se_params(self) -> tuple[float, float]:
        return self.var, 0.0

    @property
    def rule_scale(self) -> float:
        """The scale of the SE rules' variable over this law (its sd)."""
        return float(np.sqrt(self.var))

    def matched_penalty(self, where: str):
        return GaussianPenalty(self.var)


@dataclass(frozen=True)
class BernoulliGaussian:
    """z0 = 0 with probability 1 - rho, else N(0, var)."""

    rho: float
    var: float
    name: ClassVar[str] = "bernoulli_gaussian"
    se_code: ClassVar[int] = sq.BG_LAW

    def __post_init__(self):
        if not self.rho <= 1:
            fail("input.prior.rho", f"must be in (0, 1], got {self.rho}")

    def sample(self, rng: np.random.Generator, shape) -> np.ndarray:
        return (rng.random(shape) < self.rho) * rng.normal(0.0, np.sqrt(self.var), shape)

    def second_moment(self) -> float:
        return self.rho * self.var

    @property
    def se_params(self) -> tuple[float, float]:
        return self.rho, self.var

    @property
    def rule_scale(self) -> float:
        """The scale of the SE rules' variable over this law (the sd of its Gaussian part)."""
        return float(np.sqrt(self.var))

    def matched_penalty(self, where: str):
        fail(where, "a Bernoulli-Gaussian prior has no density, so no matched MAP penalty: "
             "give one, e.g. penalty = {kind = \"l1\", lam = 1.0}")


@dataclass(frozen=True)
class Laplace:
    """z0 with density exp(-|z| / scale) / (2 scale)."""

    scale: float
    name: ClassVar[str] = "laplace"
    se_code: ClassVar[int] = sq.LAPLACE_LAW

    def sample(self, rng: np.random.Generator, shape) -> np.ndarray:
        return rng.laplace(0.0, self.scale, shape)

    def second_moment(self) -> float:
        return 2.0 * self.scale ** 2

    @property
    def se_params(self) -> tuple[float, float]:
        return self.scale, 0.0

    @property
    def rule_scale(self) -> float:
        """The scale of the SE rules' variable over this law (its scale)."""
        return float(self.scale)

    def matched_penalty(self, where: str):
        return L1Penalty(1.0 / self.scale)


@dataclass(frozen=True)
class GaussianPenalty:
    """f_0(z) = z^2 / (2 var)."""

    var: float
    name: ClassVar[str] = "gaussian"
    code: ClassVar[int] = priors.GAUSSIAN

    @property
    def par(self) -> float:
        return self.var


@dataclass(frozen=True)
class L1Penalty:
    """f_0(z) = lam |z|."""

    lam: float
    name: ClassVar[str] = "l1"
    code: ClassVar[int] = priors.L1

    @property
    def par(self) -> float:
        return self.lam


LAWS = {cls.name: cls for cls in (Gaussian, BernoulliGaussian, Laplace)}
PENALTIES = {cls.name: cls for cls in (GaussianPenalty, L1Penalty)}
_FIELDS = {Gaussian: {"var"}, BernoulliGaussian: {"rho", "var"}, Laplace: {"scale"},
           GaussianPenalty: {"var"}, L1Penalty: {"lam"}}


def _build(d, where: str, known: dict, key: str):
    name, params = named(d, where, known, key)
    cls = known[name]
    return cls(**parameters(params, _FIELDS[cls], {}, where, positive=True))


@dataclass(frozen=True)
class InputSpec:
    """z_0 i.i.d. from ``prior``; the estimator's penalty f_0 is ``penalty`` (matched by default)."""

    dim: int
    prior: Gaussian | BernoulliGaussian | Laplace
    penalty: GaussianPenalty | L1Penalty

    @classmethod
    def from_dict(cls, d, scale: float) -> "InputSpec":
        """The ``[input]`` table: ``dim`` (times ``scale``, rounded), ``prior``, ``penalty``."""
        d = table(d, "input")
        check_keys(d, {"dim", "prior", "penalty"}, {"dim", "prior"}, "input")
        prior = _build(d["prior"], "input.prior", LAWS, "law")
        penalty = _build(d["penalty"], "input.penalty", PENALTIES, "kind") if "penalty" in d \
            else prior.matched_penalty("input.penalty")
        return cls(max(1, round(width(d["dim"], "input.dim") * scale)), prior, penalty)

    # ----------------------------------------------------------- state evolution
    @property
    def se_exact(self) -> bool:
        """A gaussian penalty on a gaussian input: linear, so its SE is closed form."""
        return self.prior.name == "gaussian" and self.penalty.name == "gaussian"

    def se_closed_form(self, hist, gm: float, updates: int) -> FactorOutput:
        """zhat = c r, c = gm / (gm + 1/var): d = (c - 1) z0 + c q and e = -z0 at every
        update (``updates`` so far, this one included), whatever the message."""
        c = priors.prior_prox(priors.GAUSSIAN, self.penalty.var, 0.0, gm)[1]  # gm / (gm + 1/var)
        S0 = self.prior.second_moment()
        t = hist.n - 1
        beta, K = hist.beta(t), hist.K()[t, t]
        dd = (c - 1) ** 2 * S0 + 2 * c * (c - 1) * beta * S0 + c * c * K
        return FactorOutput(c, dd, -S0, np.full(updates, S0), c)

    def se_quadrature(self, beta: float, v: float, gm: float, tol: float) -> FactorOutput:
        """One update's output by quadrature (``kernels.se_quadrature.prior_moments``) for
        the message error beta z0 + N(0, v)."""
        m = sq.prior_moments(self.prior.se_code, *self.prior.se_params, self.penalty.code, self.penalty.par,
                             beta, v, gm, tol)
        return extrinsic(m[sq.P_DZR], *m[sq.P_DD:], beta, v)

    def se_population(self, pop, hist, gm: float, tol: float) -> FactorOutput:
        """One update's output from the message's history: its marginal moments by
        quadrature, its cross-time moments by Monte Carlo over ``pop`` (truth samples
        ``truth_in``)."""
        exact = self.se_quadrature(*hist.view(), gm, tol)
        X = pop.truth_in
        r = X + hist.beta(hist.n - 1) * X + pop.noise("r", hist)
        zhat = np.empty(pop.size)
        priors.prior_prox_vector(self.penalty.code, float(self.penalty.par), r, gm, zhat)
        return pop.output("plus", exact, extrinsic_error(zhat - X, r - X, exact.alpha), X)

    def se_cross(self, past, hist, gm: float, tol: float) -> FactorOutput:
        """One update's output from the message's history: its marginal moments by
        quadrature, its cross-time moments with the earlier updates in ``past``
        (``mcsim.cross``) by ``kernels.se_cross.prior_cross``."""
        exact = self.se_quadrature(*hist.view(), gm, tol)
        if not 0.0 < exact.alpha < 1.0:  # an invalid update: the SE stops here
            return exact
        i = hist.n - 1
        U = np.array([gm, np.inf, exact.alpha, gains(hist, i), 1.0])
        C = noise_covariance(hist)
        law = self.prior.se_code, *self.prior.se_params
        update = Update(U, i, -1, piece_rate(U[sc.U_GA], 0.0, (), np.sqrt(C[i, i])))

        def cross(k, density):
            vr = np.array([C[i, i], C[k.ia, k.ia]])
            dz = truth_density(ONE_LEVEL * density, self.prior.rule_scale, (update.rate, k.rate),
                               ONE_LEVEL * MAX_TRUTH_DENSITY)
            return sc.prior_cross(*law, self.penalty.code, float(self.penalty.par), U, k.U, vr, C[i, k.ia], dz)

        return exact._replace(gram=np.concatenate([past.record("plus", update, exact.gram[-1], cross),
                                                   exact.gram[-1:]]))
