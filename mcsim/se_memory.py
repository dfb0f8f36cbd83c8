"""State evolution of damped ML-VAMP: the SE with memory (derivation: docs/damped_se.md).

A damped message mixes its new extrinsic value with its previous one,

    e_t = d enew_t + (1 - d) e_{t-1}     (e = r - z0; the first forward message undamped,
                                          the first backward one damped with the initial r^-),

so the SE must know how the errors of one message at different updates covary.  The
state of every message is, over its updates s, t: K[s, t] = E[e_s e_t] and
o[t] = E[e_t T] (T the truth of its variable, minus the bias).  Its consumer sees it
as e_t = beta_t T + w_t, beta_t = o[t] / E[T^2], with (w_t)_t a Gaussian process
(covariance C = K - o o^T / E[T^2]) independent of T and of every other message's
process.  Each factor, at each update, produces enew_t and the SE needs
E[enew_t enew_k] for all of that output's earlier updates k (the initial r^- is
independent of every later one):

- linear maps: in the SVD basis every error is linear in s0 = V^T z0, xi, and the
  independent N(0, 1) variables g_k of a Cholesky factor of each input process, per
  singular value; the Gram of two outputs is an exact average over the spectral law;
- a gaussian penalty on a gaussian input: linear, exact (enew = -z0);
- other separable factors (l1, activations): expectations over the scalar model by
  Monte Carlo integration over a population of ``population`` samples (common random
  numbers, seeded): relative error about 1 / sqrt(population) (measured in the
  tests by two seeds).

At damping 1 this is the undamped SE (``mcsim.state_evolution``): exactly for linear
networks, within the population error otherwise (tested).
"""
from __future__ import annotations

import numpy as np

from kernels import activations, mlvamp, priors

from .dataset import trajectory_dataset
from .spec import NetworkSpec
from .validation import check_count
from .spectra import resolve_spectrum
from .truth import signal_moments

DEFAULT_POPULATION = 2**20


class History:
    """The errors e_0, e_1, ... of one message over its updates: e_s = sum_k M[s, k] nu_k
    over the producer's new errors nu_k (and the initial error), with Gram G and truth
    overlaps O; its consumer's view (beta_t, Cholesky factor of C) for truth power T2."""

    def __init__(self, capacity: int, T2: float):
        self.T2 = T2
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

    def _extend_cholesky(self):
        s = self.n - 1
        o, K = self.o(), self.K()
        C = K[s, :s + 1] - o[s] * o[:s + 1] / self.T2
        L = self.L
        for k in range(s):
            L[s, k] = (C[k] - L[s, :k] @ L[k, :k]) / L[k, k] if L[k, k] > 0 else 0.0
        rest = C[s] - L[s, :s] @ L[s, :s]
        L[s, s] = np.sqrt(rest) if rest > 1e-12 * max(K[s, s], 1e-300) else 0.0

    def last(self) -> tuple[float, float]:
        """(E[e^2], E[e T]) of the latest update."""
        return self.K()[-1, -1], self.o()[-1]


class _Linear:
    """One linear map in the SVD basis.  Errors are coefficient vectors over
    (s0, xi, g+_0..g+_{P-1}, g-_0..g-_{P-1}) with variances (S_in, nv, 1, ...): paired
    components per node of the singular-value law, unpaired ones apart."""

    def __init__(self, layer, n_in, n_out, S_in, capacity):
        self.nv = layer.noise_var
        s, w = resolve_spectrum(layer.spectrum, n_in, n_out).quadrature()
        self.sig, self.w = s[:, None], w
        k = min(n_in, n_out)
        self.fu, self.fv = k / n_out, k / n_in
        self.cap = capacity
        self.var = np.concatenate([[S_in, self.nv], np.ones(2 * capacity)])
        self.past = {"plus": [], "minus": []}  # coefficient pairs (paired, unpaired) of earlier new errors

    def _basis(self):
        return np.zeros((self.sig.shape[0], self.var.size)), np.zeros(self.var.size)

    def _inputs(self, plus: History, minus: History | None):
        """Coefficients of q+ (V domain) and q- (U domain), paired and unpaired."""
        P = self.cap
        qp, qp_u = self._basis()
        tp = plus.n - 1
        qp[:, 0] = qp_u[0] = plus.beta(tp)
        qp[:, 2:2 + tp + 1] = qp_u[2:2 + tp + 1] = plus.L[tp, :tp + 1]
        qm, qm_u = self._basis()
        if minus is not None:
            tm = minus.n - 1
            bm = minus.beta(tm)
            qm[:, 0:1] = bm * self.sig
            qm[:, 1] = qm_u[1] = bm
            qm[:, 2 + P:2 + P + tm + 1] = qm_u[2 + P:2 + P + tm + 1] = minus.L[tm, :tm + 1]
        return qp, qp_u, qm, qm_u

    def _E(self, frac, a, a_u, b, b_u):
        return frac * (self.w @ ((a * b) @ self.var)) + (1.0 - frac) * float(a_u @ (b_u * self.var))

    def step(self, direction, plus, minus, gp, gm):
        """(alpha, tau = E[d^2], overlap E[enew T], Gram row E[enew enew_k] over this
        direction's earlier new errors and itself) of the output in ``direction``."""
        qp, qp_u, qm, qm_u = self._inputs(plus, minus)
        sig = self.sig
        xi, _ = self._basis()
        xi[:, 1] = 1.0
        kappa = 1.0 / self.nv if np.isinf(gm) else gm / (1.0 + self.nv * gm)
        den = gp + kappa * sig**2
        ds = (gp * qp + kappa * sig * (xi + qm)) / den
        if direction == "plus":
            rho = self.nv * gm
            d = (sig * ds - xi + rho * qm) / (1 + rho)
            xi_u = np.zeros(self.var.size)
            xi_u[1] = 1.0
            d_u = (-xi_u + rho * qm_u) / (1 + rho)
            q, q_u, frac = qm, qm_u, self.fu
            paired = (kappa * sig[:, 0] ** 2 / den[:, 0] + rho) / (1 + rho)
            alpha = frac * (self.w @ paired) + (1 - frac) * rho / (1 + rho)
            T, T_u = sig * np.eye(1, self.var.size, 0) + xi, xi_u  # u0 = sigma s0 + xi; unpaired: xi
        else:
            d, d_u = ds, qp_u
            q, q_u, frac = qp, qp_u, self.fv
            alpha = frac * (self.w @ (gp / den[:, 0])) + (1 - frac)
            s0 = np.zeros(self.var.size)
            s0[0] = 1.0
            T, T_u = np.tile(s0, (sig.shape[0], 1)), s0
        e, e_u = (d - alpha * q) / (1 - alpha), (d_u - alpha * q_u) / (1 - alpha)
        past = self.past[direction] + [(e, e_u)]
        gram = np.array([self._E(frac, e, e_u, a, a_u) for a, a_u in past])
        self.past[direction] = past
        return alpha, self._E(frac, d, d_u, d, d_u), self._E(frac, e, e_u, T, T_u), gram


class _Population:
    """Monte Carlo integration over the scalar model of one separable factor: truth
    samples and, per input message, the N(0, 1) samples of its Cholesky basis."""

    def __init__(self, rng, size):
        self.rng, self.size = rng, size
        self.basis = {}  # input name -> list of sample arrays g_k
        self.past = {"plus": [], "minus": []}

    def noise(self, name: str, hist: History) -> np.ndarray:
        """w_t of the latest update of an input message, as samples."""
        g = self.basis.setdefault(name, [])
        t = hist.n - 1
        while len(g) <= t:
            g.append(self.rng.standard_normal(self.size))
        w = np.zeros(self.size)
        for k in range(t + 1):
            if hist.L[t, k] != 0.0:
                w += hist.L[t, k] * g[k]
        return w

    def output(self, direction, d, q, alpha, T):
        """(tau, overlap, Gram row) of enew = (d - alpha q)/(1 - alpha) (samples)."""
        e = (d - alpha * q) / (1 - alpha)
        self.past[direction].append(e)
        n = self.size
        return np.mean(d * d), float(e @ T) / n, np.array([float(e @ p) / n for p in self.past[direction]])


def state_evolution_memory(spec: NetworkSpec, iterations: int, population: int = DEFAULT_POPULATION,
                           seed: int = 0):
    """The SE of ML-VAMP on ``spec`` run as its ``run`` says: Dataset on (iteration, layer),
    the variables of ``mcsim.state_evolution``.  ``population``, ``seed``: the Monte Carlo
    integration of separable factors (module docstring)."""
    check_count(iterations, "iterations")
    dr_p, dr_m, dg_p, dg_m = spec.run.damping
    L, dims = spec.depth, spec.dims
    S, chi = signal_moments(spec)
    cap = iterations + 2
    rng = np.random.default_rng(seed)
    out = np.full((mlvamp.N_RECORDS, iterations, L), np.nan)
    # consumers: plus[l] by map l (linear: V domain, truth z0_l, power S_l; activation: z0_l - b, chi_l)
    plus = [History(cap, S[l] if spec.layers[l].kind == "linear" else chi[l]) for l in range(L)]
    # minus[l] by map l - 1 (linear: U domain, z0_l - b, chi_l; activation output: S_l) or the prior (S_0)
    minus = [History(cap, S[0] if l == 0 else (chi[l] if spec.layers[l - 1].kind == "linear" else S[l]))
             for l in range(L)]
    for l in range(L):
        minus[l].start(S[l])
    gam_plus, gam_minus = np.zeros(L), 1.0 / S[:L]
    linear = {j: _Linear(layer, dims[j], dims[j + 1], S[j], cap) for j, layer in enumerate(spec.layers)
              if layer.kind == "linear"}
    pops = {j: _Population(rng, population) for j, layer in enumerate(spec.layers) if layer.kind != "linear"}
    prior_pop = _Population(rng, population)
    truth_in = {j: rng.normal(0.0, np.sqrt(chi[j]), population) for j in pops}  # z0_j - b_j
    truth_out = {j: spec.layers[j].phi(spec.bias_of_variable(j) + truth_in[j])
                 + rng.normal(0.0, np.sqrt(spec.layers[j].noise_var), population) for j in pops}  # z0_{j+1}
    truth_0 = spec.input.prior.sample(rng, population)
    exact_prior = spec.input.prior.name == "gaussian" and spec.input.penalty.name == "gaussian"
    pen_code, pen_par = spec.input.penalty.code, float(spec.input.penalty.par)

    def activation(j, direction, gp, gm):
        layer = spec.layers[j]
        pop = pops[j]
        b = spec.bias_of_variable(j)
        X, Z = truth_in[j], truth_out[j]
        a = b + X + plus[j].beta(plus[j].n - 1) * X + pop.noise("a", plus[j])
        measured = j == L - 1
        c = Z if measured else Z + minus[j + 1].beta(minus[j + 1].n - 1) * Z + pop.noise("c", minus[j + 1])
        x, z = np.empty(population), np.empty(population)
        alpha_x, alpha_z = activations.activation_prox_vector(layer.code, layer.par, layer.noise_var, a, c, gp, gm,
                                                              x, z, spec.run.jump_step)
        if direction == "plus":
            return (alpha_z,) + pop.output("plus", z - Z, c - Z, alpha_z, Z)
        return (alpha_x,) + pop.output("minus", x - b - X, a - b - X, alpha_x, X)

    def prior(gm):
        hist = minus[0]
        t = hist.n - 1
        if exact_prior:  # zhat = c r, c = gm / (gm + 1/var): d = (c - 1) z0 + c q, enew = -z0
            c = gm / (gm + 1.0 / pen_par)
            beta, K = hist.beta(t), hist.K()[t, t]
            dd = (c - 1) ** 2 * S[0] + 2 * c * (c - 1) * beta * S[0] + c * c * K
            gram = np.full(len(prior_pop.past["plus"]) + 1, S[0])
            prior_pop.past["plus"].append(None)
            return c, dd, -S[0], gram
        X = truth_0
        r = X + hist.beta(t) * X + prior_pop.noise("r", hist)
        zhat = np.empty(population)
        alpha = priors.prior_prox_vector(pen_code, pen_par, r, gm, zhat)
        return (alpha,) + prior_pop.output("plus", zhat - X, r - X, alpha, X)

    def accept(t, l, kind, res, gam_in, hist, d_mean, d_prec, gam_old, first):
        alpha, tau, overlap, gram = res
        if not (np.isfinite(alpha) and 0.0 < alpha < 1.0):
            return np.nan
        dm, dg = (1.0, 1.0) if first else (d_mean, d_prec)
        gam = dg * gam_in * (1 - alpha) / alpha + (1 - dg) * gam_old
        hist.add(gram, overlap, dm)
        e2, eT = hist.last()
        rows = mlvamp.PLUS_ROWS if kind == "plus" else mlvamp.MINUS_ROWS
        for row, value in zip(rows, (tau, alpha, gam, e2, eT)):
            out[row, t, l] = value
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
            out[:, t, :] = np.nan
            valid = t
            break
    ds = trajectory_dataset(out, spec)
    ds["valid_iterations"] = valid
    ds.attrs.update(se_method="memory", population=population, population_seed=seed,
                    damping=str((dr_p, dr_m, dg_p, dg_m)))
    return ds
