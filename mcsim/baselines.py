"""Gradient-based MAP baselines: Adam and L-BFGS on F over the free variables
(``mcsim.objective``: all hidden variables of a stochastic network, z_0 alone for a
deterministic generator -- the talk's "MAP-Adam").

Both start from the point ML-VAMP starts from (its initial messages r^-_l at the free
variables), so the three methods see the same network, observation and start, and
are scored by the same metric.  Each returns a :class:`Path`: F and the error
|z_0 - z0_0|^2 / n_0 at the recorded steps, and the final point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from .objective import MapProblem


@dataclass
class Path:
    """``value[k]``, ``error[k]``: F and |z_0 - z0_0|^2 / n_0 after ``steps[k]`` steps
    (a method that stopped earlier stays at its last point); ``x`` the final free point."""

    steps: np.ndarray
    value: np.ndarray
    error: np.ndarray
    x: np.ndarray


def checkpoints(steps: int, count: int = 60) -> np.ndarray:
    """About ``count`` step numbers from 0 to ``steps``, evenly spaced in log(1 + step)."""
    return np.unique(np.round(np.expm1(np.linspace(0.0, np.log1p(steps), count))).astype(int))


class _Recorder:
    def __init__(self, problem: MapProblem, truth: np.ndarray, steps: int):
        self.problem, self.truth = problem, truth
        self.steps = checkpoints(steps)
        self.value = np.full(self.steps.size, np.nan)
        self.error = np.full(self.steps.size, np.nan)

    def __call__(self, step: int, value: float, x: np.ndarray):
        for k in np.flatnonzero(self.steps == step):
            self.value[k] = value
            self.error[k] = np.mean((x[: self.truth.size] - self.truth) ** 2)

    def path(self, x):
        """The path, the last recorded values repeated after the method stopped."""
        done = np.flatnonzero(np.isfinite(self.value))
        self.value[done[-1] + 1:], self.error[done[-1] + 1:] = self.value[done[-1]], self.error[done[-1]]
        return Path(self.steps, self.value, self.error, x)


def adam(problem: MapProblem, x0: np.ndarray, truth: np.ndarray, steps: int = 2000, lr: float = 0.01,
         beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> Path:
    """Adam (Kingma & Ba 2015): m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2,
    x <- x - lr mhat / (sqrt(vhat) + eps), mhat = m / (1 - b1^k), vhat = v / (1 - b2^k)."""
    rec = _Recorder(problem, truth, steps)
    x = np.array(x0, float)
    m, v = np.zeros_like(x), np.zeros_like(x)
    for k in range(steps + 1):
        value, g = problem.value_grad(x)
        rec(k, value, x)
        if k == steps:
            break
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        x = x - lr * (m / (1 - beta1 ** (k + 1))) / (np.sqrt(v / (1 - beta2 ** (k + 1))) + eps)
    return rec.path(x)


def lbfgs(problem: MapProblem, x0: np.ndarray, truth: np.ndarray, steps: int = 500, memory: int = 10) -> Path:
    """L-BFGS (``scipy.optimize.minimize``, method L-BFGS-B without bounds): F after each
    of its iterations (each one line search); it may stop before ``steps`` (converged,
    or a line search failing at a kink)."""
    rec = _Recorder(problem, truth, steps)
    rec(0, problem.value(x0), x0)
    count = [0]

    def callback(intermediate_result):
        count[0] += 1
        rec(count[0], intermediate_result.fun, intermediate_result.x)

    result = minimize(problem.value_grad, np.array(x0, float), jac=True, method="L-BFGS-B", callback=callback,
                      options={"maxiter": steps, "maxcor": memory, "ftol": 1e-15, "gtol": 1e-12})
    return rec.path(result.x)
