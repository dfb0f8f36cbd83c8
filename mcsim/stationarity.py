"""Is ML-VAMP's estimate a stationary point of the MAP objective F? (the seed's Theorem 1)

At a fixed point zhat^+_l = zhat^-_l.  The estimate zhat = zhat^- is then checked
against the KKT conditions of min F with the deterministic maps as constraints:

- consensus_l   = |zhat^+_l - zhat^-_l| / |zhat^-_l|;
- feasibility_l = |zhat_l - h_l(zhat_{l-1})| / |zhat_l| for the output of a
  deterministic map (primal feasibility; NaN for free variables);
- gradient_l    = |g_l| / (|own_l| + |g_l - own_l|) for a free variable z_l, where g_l
  is the reduced gradient dF/dz_l (the Lagrangian's stationarity, with the
  multipliers of the deterministic maps eliminated by back-propagation) and own_l the
  part of it from z_l's own factor (grad f_0, or e_l / nv_l): 0 at a stationary point,
  at most 1.  NaN for deterministic variables.

Kinks: where an activation's input is within ``eps`` of a kink of phi (or an l1-penalised
z_0 of 0; eps = 10 x the largest consensus gap of that variable, at least 1e-12 of its
scale), phi' there may be anything in the interval of phi's one-sided slopes (the Clarke
subdifferential: [slope, 1] at the relu's 0, [0, 1] at hardtanh's -1 and 1).  Those slopes are chosen to minimise the
gradient norm (box-constrained least squares, ``scipy.optimize.lsq_linear``, one
activation layer at a time, sweeping while the norm falls by 1 % or more: the
residual is bilinear across layers, so this is an upper bound of the minimum-norm
subgradient); the l1 penalty's subgradient [-lam, lam] at 0 absorbs what it can.
``gradient_ae_l`` is the same with phi' at a kink its lower end, and no choice at the activations.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import lsq_linear

from .ensembles import noise_free_map
from .montecarlo import Estimates
from .objective import MapProblem

MAX_SWEEPS = 100  # block sweeps of the kink slopes, until the gradient norm falls by < 1 % per sweep


def _norm_ratio(a, b):
    nb = np.linalg.norm(b)
    return np.linalg.norm(a) / nb if nb > 0 else np.linalg.norm(a)


def _near_zero(x, gap, at=0.0):
    """Components within eps = max(10 gap, 1e-12 max|x|) of ``at``: a kink of a penalty."""
    return np.abs(x - at) <= max(10 * gap, 1e-12 * np.max(np.abs(x)))


def _map(net, j, x):
    """h_l(x) of map l = j + 1 (noise-free)."""
    return noise_free_map(net.spec.layers[j], net.U[j], net.V[j], net.sigma[j], net.bias[j], x)


def kkt_report(net, estimates: Estimates, signal: int = 0) -> dict[str, np.ndarray]:
    """Per variable l = 0..L-1: consensus, feasibility, gradient, gradient_ae (module
    docstring), and the number of kink components ``kinks`` of each activation input."""
    spec, L = net.spec, net.spec.depth
    problem = MapProblem(net, signal)
    zp = [z[signal] for z in estimates.zhat_plus]
    zm = [z[signal] for z in estimates.zhat_minus]
    report = {key: np.full(L, np.nan) for key in ("consensus", "feasibility", "gradient", "gradient_ae")}
    report["kinks"] = np.zeros(L, np.int64)
    gap = np.zeros(L)
    for l in range(L):
        report["consensus"][l] = _norm_ratio(zp[l] - zm[l], zm[l])
        gap[l] = np.max(np.abs(zp[l] - zm[l]))
        if l not in problem.free:
            report["feasibility"][l] = _norm_ratio(zm[l] - _map(net, l - 1, zm[l - 1]), zm[l])
    voff = problem.args.voff
    z = np.concatenate(zm)
    l1 = spec.input.penalty.name == "l1"
    if l1:  # at z_0i = 0 (snapped), lam |z| contributes any of [-lam, lam]
        at_zero = _near_zero(zm[0], gap[0])
        z[:spec.dims[0]][at_zero] = 0.0
    dphi = np.full(z.size, np.nan)
    blocks = []
    for j, layer in enumerate(spec.layers):
        if layer.kind != "linear" and layer.clarke[0] < layer.clarke[1]:
            near = np.zeros(zm[j].size, bool)
            for kink in layer.kinks:
                near |= _near_zero(zm[j], gap[j], kink)
            idx = voff[j] + np.flatnonzero(near)
            report["kinks"][j] = idx.size
            if idx.size:
                blocks.append((idx, layer.clarke))
                dphi[idx] = layer.clarke[0]

    def residual(d):
        g = problem.value_grad_full(z.copy(), d)[1]
        return g[problem.index]

    r_ae = residual(dphi)
    best = np.linalg.norm(r_ae)
    for _ in range(MAX_SWEEPS if blocks else 0):
        for idx, bounds in blocks:
            base = residual(dphi)
            cols = np.empty((base.size, idx.size))
            for k, i in enumerate(idx):
                trial = dphi.copy()
                trial[i] += 1.0
                cols[:, k] = residual(trial) - base
            c = base - cols @ dphi[idx]
            dphi[idx] = lsq_linear(cols, -c, bounds=bounds).x
        now = np.linalg.norm(residual(dphi))
        if now > 0.99 * best:
            break
        best = now
    r = residual(dphi)
    own = _own_gradients(problem, z)
    if l1:
        lam, n0 = spec.input.penalty.lam, spec.dims[0]
        for g in (r, r_ae):
            other = g[:n0][at_zero]
            g[:n0][at_zero] = np.sign(other) * np.maximum(np.abs(other) - lam, 0.0)
        own[:n0][at_zero] = np.clip(-r_ae[:n0][at_zero], -lam, lam)
    pos = 0
    for l in problem.free:
        n = spec.dims[l]
        for key, g in (("gradient", r), ("gradient_ae", r_ae)):
            gl, ol = g[pos:pos + n], own[pos:pos + n]
            report[key][l] = np.linalg.norm(gl) / (np.linalg.norm(ol) + np.linalg.norm(gl - ol))
        pos += n
    return report


def _own_gradients(problem: MapProblem, z: np.ndarray) -> np.ndarray:
    """At the free variables: grad f_0 at z_0, e_l / nv_l at the output z_l of a noisy map."""
    spec, net = problem.net.spec, problem.net
    zs = np.split(z, problem.args.voff[1:spec.depth])
    parts = []
    for l in problem.free:
        if l == 0:
            p = spec.input.penalty
            parts.append(zs[0] / p.var if p.name == "gaussian" else p.lam * np.sign(zs[0]))
        else:
            parts.append((zs[l] - _map(net, l - 1, zs[l - 1])) / spec.layers[l - 1].noise_var)
    return np.concatenate(parts)
