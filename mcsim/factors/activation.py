"""What every separable activation factor shares: z_l = phi(z_{l-1}) + N(0, noise_var).

An activation kind is one module (``pwl``, ...) with a dataclass subclassing
:class:`Activation` that fills in the kernel code and parameter record of its prox
(``kernels.activations``), the second moment of its output, its kinks, and the keys
its table may carry; this module parses the keys they share (the registry of kinds
is ``mcsim.factors.ACTIVATION_KINDS``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcsim.kernels import activations
from mcsim.kernels import se_cross as sc
from mcsim.kernels import se_quadrature as sq

from ..cross import Update, breakpoint_slopes, gains, noise_covariance, piece_rate, truth_density
from ..validation import check_keys, fail, named, number, parameters, width
from .extrinsic import FactorOutput, extrinsic, extrinsic_error


@dataclass(frozen=True)
class Activation:
    """A separable map of width ``dim``; ``penalty`` is ("matched", {}) for the true factor
    -ln p(z_l | z_{l-1}), or another penalty of the kind (name, parameters)."""

    kind: str
    dim: int
    noise_var: float
    penalty: tuple = ("matched", {})

    PENALTIES = {"matched": set()}  # penalty kind -> its parameters (each kind may add some)

    @staticmethod
    def options(kind: str) -> dict:
        """The extra keys the table of ``kind`` may carry, with their defaults."""
        return {}

    @staticmethod
    def check_options(given: dict, kind: str, where: str) -> dict:
        """The validated extra fields of ``kind`` from the ``given`` keys."""
        return {}

    @property
    def code(self) -> int:
        """The prox code of ``kernels.activations``."""
        raise NotImplementedError

    @property
    def par(self) -> np.ndarray:
        """The prox's parameter record (``kernels.activations.N_PAR`` floats)."""
        raise NotImplementedError

    def output_second_moment(self, b: float, chi: float) -> float:
        """E[phi(b + X)^2], X ~ N(0, chi)."""
        raise NotImplementedError

    @property
    def clarke(self) -> tuple[float, float]:
        """phi's one-sided slopes at its kinks (the Clarke interval of phi' there)."""
        raise NotImplementedError

    def moments(self, bias: tuple, chi_in: float) -> tuple[float, float]:
        """(S_l, chi_l) = E[(z0_l)^2] twice (no bias) for the input z0_{l-1} = b + N(0, chi_in),
        b from the law ``bias`` = (values, weights)."""
        S = sum(w * self.output_second_moment(b, chi_in) for b, w in zip(*bias)) + self.noise_var
        return S, S

    def phi(self, x: np.ndarray) -> np.ndarray:
        """The true activation, componentwise (``kernels.activations.phi``), in the shape of ``x``."""
        x = np.asarray(x, float)
        flat = np.ascontiguousarray(x).ravel()
        out = np.empty_like(flat)
        activations.phi_vector(self.code, self.par, flat, out)
        return out.reshape(x.shape)

    @property
    def kinks(self) -> np.ndarray:
        """The points where phi is not differentiable."""
        return activations.kinks(self.code)

    # ----------------------------------------------------------- state evolution
    def se_quadrature(self, direction: str, bias: tuple, chi_in: float, msg_in, msg_out, gp, gm,
                      tol: float, step: float = 0.0, stein: bool = False) -> FactorOutput:
        """One update's output by quadrature (``kernels.se_quadrature.activation_moments``):
        the input z0_{l-1} = b + X, X ~ N(0, chi_in), b from the law ``bias`` = (values,
        weights) (the moments are its weighted sums); the messages' errors are
        beta_in X + N(0, v_in) and beta_out z0_l + N(0, v_out), ``msg_in`` = (beta_in, v_in),
        ``msg_out`` = (beta_out, v_out) ((0, 0) for the measurement); ``step`` the jump
        step of the divergence (0: a.e.), whose expectation is exact as well; ``stein``:
        alpha is the Stein divergence (the limit of a step shrinking with width)."""
        m = sum(w * sq.activation_moments(self.code, self.par, self.noise_var, b, chi_in, self.noise_var, *msg_in,
                                          *msg_out, gp, gm, tol, step) for b, w in zip(*bias))
        alpha, moments, msg = (m[sq.J_ZC], m[sq.F_DD:sq.F_QT + 1], msg_out) if direction == "plus" else \
            (m[sq.J_XA], m[sq.B_DD:sq.B_QT + 1], msg_in)
        out = extrinsic(alpha, *moments, *msg)
        return extrinsic(out.stein, *moments, *msg) if stein else out

    def se_population(self, direction: str, pop, bias: tuple, chi_in: float, plus, minus, gp, gm, step: float,
                      tol: float, stein: bool = False) -> FactorOutput:
        """One update's output from the input messages' histories (``minus`` None for the
        measurement): its marginal moments by quadrature, its cross-time moments by Monte
        Carlo over ``pop`` (``mcsim.population``, with its truth samples ``truth_in`` = X,
        ``bias`` = b and ``truth_out`` = z0_l); ``step``, ``stein`` as in :meth:`se_quadrature`."""
        exact = self.se_quadrature(direction, bias, chi_in, plus.view(), (0.0, 0.0) if minus is None
                                   else minus.view(), gp, gm, tol, step, stein)
        X, Z, b = pop.truth_in, pop.truth_out, pop.bias
        a = b + X + plus.beta(plus.n - 1) * X + pop.noise("a", plus)
        c = Z if minus is None else Z + minus.beta(minus.n - 1) * Z + pop.noise("c", minus)
        x, z = np.empty(pop.size), np.empty(pop.size)
        activations.activation_prox_vector(self.code, self.par, self.noise_var, a, c, gp, gm, x, z, 0.0,
                                           activations.CENTRAL)
        if direction == "plus":
            return pop.output("plus", exact, extrinsic_error(z - Z, c - Z, exact.alpha), Z)
        return pop.output("minus", exact, extrinsic_error(x - b - X, a - b - X, exact.alpha), X)


    def se_cross(self, direction: str, past, bias: tuple, chi_in: float, plus, minus, gp, gm, step: float,
                 tol: float, stein: bool = False) -> FactorOutput:
        """One update's output from the input messages' histories (``minus`` None for the
        measurement): its marginal moments by quadrature, its cross-time moments with the
        earlier updates in ``past`` (``mcsim.cross``) by ``kernels.se_cross``; ``step``,
        ``stein`` as in :meth:`se_quadrature`."""
        exact = self.se_quadrature(direction, bias, chi_in, plus.view(), (0.0, 0.0) if minus is None
                                   else minus.view(), gp, gm, tol, step, stein)
        ia, ic = plus.n - 1, -1 if minus is None else minus.n - 1
        U = np.array([gp, gm, exact.alpha, gains(plus, ia), 1.0 if minus is None else gains(minus, ic)])
        if not 0.0 < exact.alpha < 1.0:  # an invalid update: the SE stops here
            return exact
        Ca = noise_covariance(plus)
        Cc = None if minus is None else noise_covariance(minus)
        kind = sc.PLUS if direction == "plus" else sc.MINUS
        kink = float(self.kinks[0])

        slopes = breakpoint_slopes(self.code, self.par, self.noise_var, gp, gm)
        update = Update(U, ia, ic, piece_rate(U[sc.U_GA], U[sc.U_GC], slopes, np.sqrt(Ca[ia, ia])))

        def cross(k, density):
            va = np.array([Ca[ia, ia], Ca[k.ia, k.ia]])
            dx = truth_density(density, np.sqrt(chi_in), (update.rate, k.rate))
            vc, cc = (np.zeros(2), 0.0) if Cc is None else (np.array([Cc[ic, ic], Cc[k.ic, k.ic]]), Cc[ic, k.ic])
            return sum(w * sc.activation_cross(self.code, self.par, self.noise_var, kind, b, chi_in, self.noise_var,
                                               U, k.U, va, Ca[ia, k.ia], vc, cc, minus is None, kink, density, dx)
                       for b, w in zip(*bias))

        return exact._replace(gram=np.concatenate([past.record(direction, update, exact.gram[-1], cross),
                                                   exact.gram[-1:]]))


def _check_penalty(cls, dl, where: str, last: bool) -> tuple:
    if "penalty" not in dl:
        return ("matched", {})
    name, params = named(dl["penalty"], f"{where}.penalty", cls.PENALTIES, key="kind")
    if params and not cls.PENALTIES[name]:
        fail(f"{where}.penalty.{sorted(params)[0]}", f"the {name} penalty takes no parameters")
    penalty = (name, parameters(params, cls.PENALTIES[name], {}, f"{where}.penalty", positive=True))
    if name != "matched" and last:
        fail(f"{where}.penalty", f"the {name} penalty cannot be the measurement "
             "(a noisy y can be negative and z >= 0 is then infeasible)")
    return penalty


def activation_from_dict(dl: dict, where: str, kinds: dict, after_linear: bool, dim: int, raw_dim: int,
                         last: bool) -> Activation:
    """Validate an activation table (``kinds``: kind name -> its dataclass) and build it;
    ``dim``, ``raw_dim``: the width of its input, scaled and as written."""
    kind = dl["kind"]
    cls = kinds[kind]
    options = cls.options(kind)
    check_keys(dl, {"kind", "noise_var", "penalty", "dim"} | set(options), set(), where)
    if not after_linear:
        fail(f"{where}.kind", f"a {kind} map must follow a linear map (its input must be the "
             "output of a rotation, docs/state_evolution.md, section 1)")
    if "dim" in dl and width(dl["dim"], f"{where}.dim") != raw_dim:
        fail(f"{where}.dim", f"a separable map keeps the width ({raw_dim}), got {dl['dim']}")
    noise_var = number(dl.get("noise_var", 0.0), f"{where}.noise_var", nonnegative=True)
    extra = cls.check_options({k: dl.get(k, v) for k, v in options.items()}, kind, where)
    return cls(kind, dim, noise_var, _check_penalty(cls, dl, where, last), **extra)
