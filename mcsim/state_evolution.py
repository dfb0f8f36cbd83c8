"""State evolution (SE) of MAP ML-VAMP (docs/state_evolution.md).

The state of every message r on variable z_l is the history of its errors
e = r - z0 over its updates s, t: K[s, t] = E[e_s e_t] and o[t] = E[e_t T] (T the
truth of its variable, minus the bias, in the domain where its consumer sees it).
Its consumer sees it as e_t = beta_t T + w_t, beta_t = o[t] / E[T^2], with (w_t)_t a
Gaussian process independent of T and of every other message's process (covariance
C = K - o o^T / E[T^2], kept as a Cholesky factor).  A damped message mixes its new
extrinsic error with its previous one, e_t = d enew_t + (1 - d) e_{t-1}, so each
factor must give, for every update, E[enew_t enew_k] over that output's earlier updates.

Each factor kind computes its outputs (``mcsim.factors``): linear maps exactly, in the
SVD basis; a gaussian penalty on a gaussian input in closed form; separable factors
(the l1 penalty, activations)

- by deterministic quadrature when every message has a single update (an undamped run,
  with either divergence: ``memory`` False), which then needs only the latest update's
  moments (``kernels.se_quadrature``: closed form given the truth for the conic proxes);
- otherwise (damped runs) with every message's history: each update's marginal moments
  by the same quadrature, its correlations with the earlier updates by a deterministic,
  self-checked rule (``mcsim.cross``, ``kernels.se_cross``), or by Monte Carlo over a
  seeded population (``cross="population"``, ``mcsim.population``).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from mcsim.kernels import mlvamp
from mcsim.kernels.activations import CONIC

from .cross import DEFAULT_DENSITY, Past
from .dataset import trajectory_dataset
from .factors.given import TRAINED_LABEL
from .factors.linear import LinearSE
from .population import DEFAULT_POPULATION, Population
from .provenance import package_versions
from .spec import NetworkSpec
from .truth import signal_moments
from .validation import check_count

DEFAULT_TOL = 1e-7  # relative tolerance of the adaptive quadrature at separable factors
CROSS_METHODS = ("quadrature", "population")  # how the SE with memory integrates cross-time moments


class History:
    """The errors e_0, e_1, ... of one message over its updates: e_s = sum_k M[s, k] nu_k
    over the producer's new errors nu_k (and the initial error), with Gram G and truth
    overlaps O; its consumer's view (beta_t, Cholesky factor L of C) for truth power T2.
    Without ``memory`` each update replaces the past (every update undamped)."""

    def __init__(self, capacity: int, T2: float, memory: bool = True):
        self.T2, self.memory = T2, memory
        self.G = np.zeros((capacity, capacity))
        self.O = np.zeros(capacity)
        self.M = np.zeros((capacity, capacity))
        self.L = np.zeros((capacity, capacity))  # Cholesky factor of C, row by row
        self.n = 0  # updates so far
        self.nu = 0  # new errors so far
        self.init = False

    def start(self, variance: float):
        """The initial message: an independent N(0, variance) error, no overlap."""
        self.init = True
        self._add([variance], 0.0, 1.0)

    def add(self, gram_new: np.ndarray, overlap: float, d: float):
        """A new error with E[nu nu_k] = gram_new over the producer's own earlier new errors
        and itself (the initial error is uncorrelated with it), E[nu T] = overlap; the
        message becomes d nu + (1 - d) e_previous (d = 1 for the first update)."""
        if not self.memory:
            self.n = self.nu = 0
            self.init = False
            gram_new = gram_new[-1:]
        self._add(np.concatenate([[0.0] if self.init else [], gram_new]), overlap, d)

    def _add(self, gram_row, overlap, d):
        k = self.nu
        self.G[k, :k + 1] = self.G[:k + 1, k] = gram_row
        self.O[k] = overlap
        self.nu += 1
        s = self.n
        if s > 0:
            self.M[s] = (1.0 - d) * self.M[s - 1]
            self.M[s, k] += d
        else:
            self.M[s] = 0.0
            self.M[s, k] = 1.0
        self.n += 1
        self._extend_cholesky()

    def K(self) -> np.ndarray:
        M = self.M[:self.n, :self.nu]
        return M @ self.G[:self.nu, :self.nu] @ M.T

    def o(self) -> np.ndarray:
        return self.M[:self.n, :self.nu] @ self.O[:self.nu]

    def beta(self, s: int) -> float:
        return self.o()[s] / self.T2

    def variance(self) -> float:
        """Var(w_t) of the latest update."""
        t = self.n - 1
        return float(self.L[t, :t + 1] @ self.L[t, :t + 1])

    def view(self) -> tuple[float, float]:
        """(beta_t, Var(w_t)) of the latest update."""
        return self.beta(self.n - 1), self.variance()

    def _extend_cholesky(self):
        s = self.n - 1
        o, K = self.o(), self.K()
        C = K[s, :s + 1] - o[s] * o[:s + 1] / self.T2
        L = self.L
        L[s] = 0.0
        for k in range(s):
            L[s, k] = (C[k] - L[s, :k] @ L[k, :k]) / L[k, k] if L[k, k] > 0 else 0.0
        rest = C[s] - L[s, :s] @ L[s, :s]
        L[s, s] = np.sqrt(rest) if rest > 1e-12 * max(K[s, s], 1e-300) else 0.0

    def last(self) -> tuple[float, float]:
        """(E[e^2], E[e T]) of the latest update."""
        return self.K()[-1, -1], self.o()[-1]


def state_evolution(spec: NetworkSpec, iterations: int, tol: float = DEFAULT_TOL, run=None, memory=None,
                    cross: str = "quadrature", population: int = DEFAULT_POPULATION, seed: int = 0,
                    density: float = DEFAULT_DENSITY) -> xr.Dataset:
    """The SE of MAP ML-VAMP on ``spec`` run as its ``run`` says (or as ``run``, a
    :class:`mcsim.RunSpec` or ``[run]`` dict, says, as in ``mcsim.simulate``): Dataset on
    (iteration, layer) with the variables of one network's trajectory
    (``mcsim.run_network``) and the Stein divergences ``alpha_*_stein`` of every output.

    ``memory``: track every message's whole history and the cross-time moments of
    separable factors (None: when the run damps), by ``cross``: "quadrature"
    (deterministic, ``mcsim.cross``, ``density`` nodes per sd; a non-conic activation,
    hardtanh, still takes a population) or "population" (Monte Carlo over ``population``
    samples seeded by ``seed``, ``mcsim.population``); the quadrature's relative tolerance
    of each update's own moments is ``tol`` either way.
    Iterations after an invalid divergence (alpha outside (0, 1)) are NaN and counted
    in ``valid_iterations``.
    """
    check_count(iterations, "iterations")
    if cross not in CROSS_METHODS:
        raise ValueError(f"state_evolution: cross must be one of {', '.join(CROSS_METHODS)}, got {cross!r}")
    if spec.trained:
        raise ValueError(f"state_evolution: this network has a given map: {TRAINED_LABEL} "
                         "(its rotationally invariant surrogate has one: mcsim.inpaint.surrogate_spec)")
    spec = spec if run is None else spec.with_run(run)
    if memory is None:
        memory = not spec.run.undamped
    elif not memory and not spec.run.undamped:
        raise ValueError(f"the quadrature SE (memory=False) describes undamped runs, not {spec.run.label}")
    dr_p, dr_m, dg_p, dg_m = spec.run.damping
    L, dims = spec.depth, spec.dims
    S, chi = signal_moments(spec)
    cap = iterations + 2 if memory else 1  # updates a message keeps (without memory: its latest)
    out = np.full((mlvamp.N_RECORDS, iterations, L), np.nan)
    stein = np.full((2, iterations, L), np.nan)  # Stein divergences of the plus / minus outputs
    # consumers: plus[l] by map l (linear: V domain, truth z0_l, power S_l; activation: z0_l - b, chi_l)
    plus = [History(cap, S[l] if spec.layers[l].kind == "linear" else chi[l], memory) for l in range(L)]
    # minus[l] by map l - 1 (linear: U domain, z0_l - b, chi_l; activation output: S_l) or the prior (S_0)
    minus = [History(cap, S[0] if l == 0 else (chi[l] if spec.layers[l - 1].kind == "linear" else S[l]), memory)
             for l in range(L)]
    for l in range(L):
        minus[l].start(S[l])
    gam_plus, gam_minus = np.zeros(L), 1.0 / S[:L]
    linear = {j: LinearSE(layer, dims[j], S[j], cap, memory) for j, layer in enumerate(spec.layers)
              if layer.kind == "linear"}
    inp = spec.input
    if memory:  # the populations, drawn in this order from one Generator
        rng = np.random.default_rng(seed)
        pops = {j: Population(rng, population) for j, layer in enumerate(spec.layers) if layer.kind != "linear"}
        prior_pop = Population(rng, population)
        for j, pop in pops.items():  # z0_j - b_j
            pop.truth_in = rng.normal(0.0, np.sqrt(chi[j]), population)
        for j, pop in pops.items():  # b_j (drawn only from a law of several values), z0_{j+1}
            values, weights = spec.bias_atoms(j)
            pop.bias = values[0] if values.size == 1 else rng.choice(values, population, p=weights)
            pop.truth_out = spec.layers[j].phi(pop.bias + pop.truth_in) \
                + rng.normal(0.0, np.sqrt(spec.layers[j].noise_var), population)
        prior_pop.truth_in = inp.prior.sample(rng, population)
        for j, pop in pops.items():  # E[T^2] of each output's consumer
            pop.power = {"plus": plus[j + 1].T2 if j + 1 < L else np.nan, "minus": minus[j].T2}
        prior_pop.power = {"plus": plus[0].T2}
        sampled = {j for j, layer in enumerate(spec.layers) if layer.kind != "linear"
                   and (cross == "population" or not CONIC[layer.code])}  # layers whose cross terms are sampled
        pasts = {j: Past(density) for j in pops if j not in sampled}
        prior_past = Past(density) if cross == "quadrature" else None
    prior_updates = 0

    def prior(gm):
        nonlocal prior_updates
        prior_updates += 1
        if inp.se_exact:
            return inp.se_closed_form(minus[0], gm, prior_updates)
        if memory and prior_past is not None:
            return inp.se_cross(prior_past, minus[0], gm, tol)
        if memory:
            return inp.se_population(prior_pop, minus[0], gm, tol)
        return inp.se_quadrature(*minus[0].view(), gm, tol)

    def activation(j, direction, gp, gm):
        layer, b = spec.layers[j], spec.bias_atoms(j)
        out_msg = None if j == L - 1 else minus[j + 1]
        stein = spec.run.consistent  # alpha = the Stein divergence, the limit of its shrinking step
        step = 0.0 if stein else spec.run.step(layer.dim)
        if memory and j in pasts:
            return layer.se_cross(direction, pasts[j], b, chi[j], plus[j], out_msg, gp, gm, step, tol, stein)
        if memory:
            return layer.se_population(direction, pops[j], b, chi[j], plus[j], out_msg, gp, gm, step, tol, stein)
        return layer.se_quadrature(direction, b, chi[j], plus[j].view(), (0.0, 0.0) if out_msg is None
                                   else out_msg.view(), gp, gm, tol, step, stein)

    def accept(t, l, kind, res, gam_in, hist, d_mean, d_prec, gam_old, first):
        if not (np.isfinite(res.alpha) and 0.0 < res.alpha < 1.0):
            return np.nan
        dm, dg = (1.0, 1.0) if first else (d_mean, d_prec)
        gam = mlvamp.damped_precision(gam_in, res.alpha, gam_old, dg)
        hist.add(res.gram, res.overlap, dm)
        e2, eT = hist.last()
        side = "plus" if kind == "plus" else "minus"
        message = "rp" if kind == "plus" else "rm"
        for name, value in ((f"tau_{side}", res.tau), (f"alpha_{side}", res.alpha), (f"gamma_{side}", gam),
                            (f"{message}_mse", e2), (f"{message}_overlap", eT)):
            out[mlvamp.ROW[name], t, l] = value
        stein[int(kind == "minus"), t, l] = res.stein
        return gam

    valid = iterations
    for t in range(iterations):
        ok = True
        for l in range(L):
            gm = gam_minus[l]
            if l == 0:
                res = prior(gm)
            elif (j := l - 1) in linear:
                res = linear[j].step("plus", plus[j], minus[l], gam_plus[j], gm)
            else:
                res = activation(j, "plus", gam_plus[j], gm)
            gam_plus[l] = accept(t, l, "plus", res, gm, plus[l], dr_p, dg_p, gam_plus[l], t == 0)
            if not (ok := np.isfinite(gam_plus[l]) and gam_plus[l] > 0):
                break
        for j in range(L - 1, -1, -1) if ok else ():
            gp = gam_plus[j]
            gm = np.inf if j == L - 1 else gam_minus[j + 1]
            if j in linear:
                res = linear[j].step("minus", plus[j], None if j == L - 1 else minus[j + 1], gp, gm)
            else:
                res = activation(j, "minus", gp, gm)
            gam_minus[j] = accept(t, j, "minus", res, gp, minus[j], dr_m, dg_m, gam_minus[j], False)
            if not (ok := np.isfinite(gam_minus[j]) and gam_minus[j] > 0):
                break
        if not ok:
            out[:, t, :] = stein[:, t, :] = np.nan
            valid = t
            break
    ds = trajectory_dataset(out, spec)
    for k, kind in enumerate(("plus", "minus")):
        ds[f"alpha_{kind}_stein"] = (("iteration", "layer"), stein[k], {
            "long_name": f"Stein divergence E[d w]/v of the {kind} output (the SE assumes alpha_{kind} equals it)",
            "units": "1"})
    ds["valid_iterations"] = valid
    ds.attrs.update(se_method="memory" if memory else "quadrature", quadrature_tol=tol)
    if memory:
        checked = [*pasts.values(), *([prior_past] if prior_past else [])]
        ds.attrs.update(cross_moments=cross, cross_density=max([p.density for p in checked], default=0.0),
                        cross_self_check=max([p.self_check for p in checked], default=0.0))
        if cross == "population" or sampled:
            ds.attrs.update(population=population, population_seed=seed,
                            sampled_layers=" ".join(str(j) for j in sorted(sampled)))
    ds.attrs.update(package_versions())
    return ds
