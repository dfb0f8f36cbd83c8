"""The run variant of ML-VAMP: how the algorithm runs, apart from the network it runs on.

Damping (docs/algorithm.md, section 3): for the means and precisions of the forward
(+) and backward (-) messages, r <- d_r r_new + (1 - d_r) r_old and
gam <- d_gam gam_new + (1 - d_gam) gam_old.  The activations' divergence: "ae", the
a.e. derivative of the prox (the seed's alpha), or "jump", the central difference
(g(u + h) - g(u - h)) / 2h with h = jump_step / sqrt(gam), which counts the prox's jumps;
or "stein", the same central difference with a step that shrinks with the width n of the
activation, h = jump_step (n / STEIN_WIDTH)^(-1/5) / sqrt(gam), a consistent estimator
of the Stein divergence (bias O(h^2) -> 0, variance O(1 / (h n)) -> 0; docs/state_evolution.md,
section 5), which its SE then uses.  Two more consistent estimators take the a.e. derivative
and add a kernel estimate of the jump term, sum_k J_k K((u - s_k) / h) / h over the prox's
jumps J_k at s_k: "kernel", the Gaussian kernel with h = jump_step (n / STEIN_WIDTH)^(-1/5)
/ sqrt(gam) (bias O(h^2)), and "flattop", the flat-top kernel of infinite order with
h = jump_step sqrt(ln STEIN_WIDTH / ln n) / sqrt(gam), whose default 1 / sqrt(8 ln n) puts
the bias bound, of order exp(-v / (8 h^2)) for a message of error variance v, at about
n^(-v gam) (below 1/n when v gam >= 1), while the variance falls as 1/n up to a log.

A :class:`RunSpec` is part of every network spec (its ``[run]`` table), so whatever runs
the algorithm (``simulate``, ``run_network``, a study) and whatever predicts it
(``state_evolution``) sees the same variant, and every dataset and shard key records it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .kernels.activations import CENTRAL, FLAT_TOP, GAUSS_KERNEL
from .validation import check_keys, fail, number, table

DAMPING_KEYS = ("mean_plus", "mean_minus", "precision_plus", "precision_minus")
DIVERGENCES = {"ae": "a.e. derivative", "jump": "central difference",
               "stein": "central difference, step shrinking with width",
               "kernel": "a.e. derivative + Gaussian kernel estimate of the jumps",
               "flattop": "a.e. derivative + flat-top kernel estimate of the jumps"}
CONSISTENT = ("stein", "kernel", "flattop")  # estimators of the Stein divergence, which their SE uses
DEFAULT_JUMP_STEP = {"jump": 0.02, "stein": 0.3, "kernel": 0.2, "flattop": 1.0 / np.sqrt(8.0 * np.log(1000.0))}
STEIN_WIDTH = 1000  # the width at which the stein step is jump_step


def damping_factors(value, where: str = "run.damping") -> tuple[float, float, float, float]:
    """(d_r^+, d_r^-, d_gam^+, d_gam^-) from one number (all four), a sequence of four,
    or a table with any of ``DAMPING_KEYS`` (default 1: undamped); each in (0, 1]."""
    if isinstance(value, dict):
        check_keys(value, set(DAMPING_KEYS), set(), where)
        value = [value.get(k, 1.0) for k in DAMPING_KEYS]
    elif isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != 4:
            fail(where, f"needs 4 factors ({', '.join(DAMPING_KEYS)}), got {len(value)}")
    else:
        value = [value] * 4
    names = [f"{where}.{k}" for k in DAMPING_KEYS]
    factors = tuple(number(v, n, positive=True) for v, n in zip(value, names))
    for f, n in zip(factors, names):
        if f > 1:
            fail(n, f"a damping factor must be in (0, 1], got {f}")
    return factors


@dataclass(frozen=True)
class RunSpec:
    """Damping factors (d_r^+, d_r^-, d_gam^+, d_gam^-) and the activations' divergence;
    ``jump_step`` is the step of "jump", or the step (bandwidth) of a consistent estimator
    at width STEIN_WIDTH (0 with "ae")."""

    damping: tuple = (1.0, 1.0, 1.0, 1.0)
    divergence: str = "ae"
    jump_step: float = 0.0

    @classmethod
    def from_dict(cls, d, where: str = "run") -> "RunSpec":
        """Validate a ``[run]`` table: ``damping`` (``damping_factors``), ``divergence``
        (a key of ``DIVERGENCES``), ``jump_step`` (not with "ae"; defaults
        ``DEFAULT_JUMP_STEP``)."""
        d = table(d, where)
        check_keys(d, {"damping", "divergence", "jump_step"}, set(), where)
        damping = damping_factors(d.get("damping", 1.0), f"{where}.damping")
        divergence = d.get("divergence", "ae")
        if divergence not in DIVERGENCES:
            known = "; ".join(f"'{k}' ({v})" for k, v in DIVERGENCES.items())
            fail(f"{where}.divergence", f"must be one of {known}, got {divergence!r}")
        if "jump_step" in d and divergence == "ae":
            fail(f"{where}.jump_step", "not with divergence = 'ae', which has no step")
        step = number(d.get("jump_step", DEFAULT_JUMP_STEP[divergence]), f"{where}.jump_step", positive=True) \
            if divergence != "ae" else 0.0
        return cls(damping, divergence, step)

    @classmethod
    def of(cls, value, where: str = "run") -> "RunSpec":
        """A RunSpec from a RunSpec or a ``[run]`` dict."""
        return value if isinstance(value, cls) else cls.from_dict(value, where)

    def to_dict(self) -> dict:
        """The ``[run]`` table that :meth:`from_dict` reads back."""
        d = {"damping": dict(zip(DAMPING_KEYS, self.damping)), "divergence": self.divergence}
        return d | ({"jump_step": self.jump_step} if self.divergence != "ae" else {})

    def step(self, width: int) -> float:
        """The step or bandwidth h (times sqrt(gam)) of the divergence at an activation of ``width``."""
        if self.divergence in ("stein", "kernel"):
            return self.jump_step * (width / STEIN_WIDTH) ** -0.2
        if self.divergence == "flattop":
            return self.jump_step * np.sqrt(np.log(STEIN_WIDTH) / np.log(max(width, 2)))
        return self.jump_step

    @property
    def kernel(self) -> int:
        """How the kernel treats the jumps (``kernels.activations``: CENTRAL, GAUSS_KERNEL, FLAT_TOP)."""
        return {"kernel": GAUSS_KERNEL, "flattop": FLAT_TOP}.get(self.divergence, CENTRAL)

    @property
    def consistent(self) -> bool:
        """Does the divergence estimate the Stein divergence, so that its SE uses alpha = Stein?"""
        return self.divergence in CONSISTENT

    @property
    def undamped(self) -> bool:
        """Every message is replaced at each update, so its SE needs only its latest one."""
        return self.damping == (1.0, 1.0, 1.0, 1.0)

    @property
    def label(self) -> str:
        """E.g. ``undamped, ae`` or ``damping 0.5, jump 0.02``."""
        d = self.damping
        damping = "undamped" if d == (1.0,) * 4 else f"damping {d[0]:g}" if len(set(d)) == 1 else \
            "damping r+ {:g} r- {:g} gam+ {:g} gam- {:g}".format(*d)
        return f"{damping}, " + (f"{self.divergence} {self.jump_step:g}" if self.divergence != "ae" else "ae")
