"""What every separable activation factor shares: z_l = phi(z_{l-1}) + N(0, noise_var).

An activation kind is one module (``pwl``, ...) with a dataclass subclassing
:class:`Activation` that fills in the kernel code and parameter record of its prox
(``kernels.activations``), the second moment of its output, its kinks, and the keys
its table may carry; this module parses the keys they share and holds the registry.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernels import activations

from ..validation import check_keys, fail, named, number, parameters, width


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

    def moments(self, b: float, chi_in: float) -> tuple[float, float]:
        """(S_l, chi_l) = E[(z0_l)^2] twice (no bias) for the input z0_{l-1} = b + N(0, chi_in)."""
        S = self.output_second_moment(b, chi_in) + self.noise_var
        return S, S

    def phi(self, x: np.ndarray) -> np.ndarray:
        """The true activation, componentwise (``kernels.activations.phi``)."""
        x = np.ascontiguousarray(x, float)
        out = np.empty_like(x)
        activations.phi_vector(self.code, self.par, x.ravel(), out.ravel())
        return out

    @property
    def kinks(self) -> np.ndarray:
        """The points where phi is not differentiable."""
        return activations.kinks(self.code)


def _check_penalty(cls, dl, where: str, last: bool) -> tuple:
    if "penalty" not in dl:
        return ("matched", {})
    name, params = named(dl["penalty"], f"{where}.penalty", cls.PENALTIES, key="kind")
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
