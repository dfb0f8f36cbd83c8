"""The activations' divergence estimators, side by side at one state of the SE.

In iteration t the SE says what an activation map j (z_j -> z_{j+1}) sees: the truth
z0_j = b + X, X ~ N(0, chi_j), b from the bias law, z0_{j+1} = phi(z0_j) + N(0, nv); the
messages a = z0_j + beta_a X + N(0, v_a) and c = z0_{j+1} + beta_c z0_{j+1} + N(0, v_c),
with beta and v read from the SE's message errors (beta = overlap / power,
v = mse - beta^2 power), and the precisions gam^+_j, gam^-_{j+1}.  ``divergence_draws``
draws n such components R times and applies every estimator of ``mcsim.run.DIVERGENCES``
to each draw, exactly as the ML-VAMP kernel does; its mean against the SE's
``alpha_*_stein`` is the estimator's bias, its spread its noise, free of the feedback
of a run (docs/state_evolution.md, section 5).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from .kernels.activations import CONIC, activation_prox_vector
from .run import DIVERGENCES, RunSpec
from .spec import NetworkSpec
from .truth import signal_moments

DIRECTIONS = ("minus", "plus")  # alpha^-_j = <dx*/da> (backward), alpha^+_{j+1} = <dz*/dc> (forward)


def message_law(spec: NetworkSpec, se: xr.Dataset, j: int, t: int, direction: str) -> dict:
    """The law of what activation map ``j`` sees in iteration ``t`` >= 1 of ``se`` (see the
    module): a = r^+_j of the forward pass at t; c = r^-_{j+1} of the backward pass at
    t - 1 (``direction`` "plus", the forward update) or at t ("minus", the backward one)."""
    if spec.layers[j].kind == "linear" or j == spec.depth - 1:
        raise ValueError(f"map {j} is not a hidden activation")
    if not CONIC[spec.layers[j].code]:
        raise ValueError(f"map {j} ({spec.layers[j].kind}) is not conic: the kernel estimators do not apply")
    if t < 1:
        raise ValueError("iteration t >= 1: at t = 0 the forward pass sees the initial messages")
    S, chi = signal_moments(spec)
    fwd, back = se.isel(iteration=t), se.isel(iteration=t - 1 if direction == "plus" else t)
    beta_a = float(fwd.rp_overlap[j]) / chi[j]
    beta_c = float(back.rm_overlap[j + 1]) / S[j + 1]
    return dict(chi=chi[j], bias=spec.bias_atoms(j), beta_a=beta_a,
                v_a=max(0.0, float(fwd.rp_mse[j]) - beta_a ** 2 * chi[j]), beta_c=beta_c,
                v_c=max(0.0, float(back.rm_mse[j + 1]) - beta_c ** 2 * S[j + 1]),
                gp=float(fwd.gamma_plus[j]), gm=float(back.gamma_minus[j + 1]))


def draw_messages(spec: NetworkSpec, law: dict, j: int, n: int, rng: np.random.Generator):
    """(a, c) of n components drawn from ``law`` (``message_law``)."""
    layer = spec.layers[j]
    values, weights = law["bias"]
    b = rng.choice(values, size=n, p=weights)
    X = rng.normal(0.0, np.sqrt(law["chi"]), n)
    Z = layer.phi(b + X) + rng.normal(0.0, np.sqrt(layer.noise_var), n)
    a = b + X + law["beta_a"] * X + rng.normal(0.0, np.sqrt(law["v_a"]), n)
    c = Z + law["beta_c"] * Z + rng.normal(0.0, np.sqrt(law["v_c"]), n)
    return a, c


def divergence_draws(spec: NetworkSpec, se: xr.Dataset, j: int, t: int, n: int, repeats: int,
                     seed: int) -> xr.Dataset:
    """Every estimator's alpha^-_j and alpha^+_{j+1} in iteration ``t`` of ``se``, each on
    ``repeats`` draws of n components of its own message law (``message_law``), on
    (divergence, direction, draw), with the SE's Stein values."""
    layer = spec.layers[j]
    runs = {d: RunSpec.from_dict({"divergence": d}) for d in DIVERGENCES}
    out = np.empty((len(runs), len(DIRECTIONS), repeats))
    x, z = np.empty(n), np.empty(n)
    streams = np.random.SeedSequence(seed).spawn(len(DIRECTIONS) * repeats)
    for k, direction in enumerate(DIRECTIONS):
        law = message_law(spec, se, j, t, direction)
        for r in range(repeats):
            a, c = draw_messages(spec, law, j, n, np.random.default_rng(streams[k * repeats + r]))
            for d, run in enumerate(runs.values()):
                out[d, k, r] = activation_prox_vector(layer.code, layer.par, layer.noise_var, a, c, law["gp"],
                                                      law["gm"], x, z, run.step(n), run.kernel)[k]
    at = se.isel(iteration=t)
    return xr.Dataset(
        {"alpha": (("divergence", "direction", "draw"), out),
         "alpha_stein": ("direction", [float(at.alpha_minus_stein[j]), float(at.alpha_plus_stein[j + 1])]),
         "step": ("divergence", [run.step(n) for run in runs.values()])},
        coords={"divergence": list(runs), "direction": list(DIRECTIONS)},
        attrs={"map": j, "iteration": t, "width": n, "repeats": repeats, "seed": seed})
