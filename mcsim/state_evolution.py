"""State evolution (SE) of MAP ML-VAMP with overlaps (DESIGN.md 5).

The SE state of every message r on variable z_l is its error second moment
tau_e = E[(r - z0)^2] and its overlap o = E[(r - z0)(z0 - b_l)].  A consumer sees
the message as r - z0 = beta T + N(0, tau_e - beta^2 E[T^2]) with T its truth
(z0 in the V domain of the next linear map, z0 - b in the U domain of the map
producing z_l) and beta = o / E[T^2].

Every factor produces an estimate zhat from an input message q = r_in - z0 and
returns the extrinsic error e = (zhat - z0 - alpha q)/(1 - alpha); the SE needs

    tau = E[d^2],  E[e^2] = A^2 E[d^2] - 2AB E[dq] + B^2 E[q^2],  E[e T] = A E[dT] - B E[qT],

d = zhat - z0, A = 1/(1 - alpha), B = alpha/(1 - alpha), alpha the factor's divergence.
Linear maps: these are exact averages over the singular-value law (closed form,
quadrature over sigma).  Activations and the prior: Gaussian quadrature with kinks
(``kernels.se_quadrature``).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from kernels import mlvamp
from kernels import se_quadrature as sq

from .dataset import trajectory_dataset
from .se_memory import state_evolution_memory
from .spec import NetworkSpec
from .validation import check_count
from .spectra import resolve_spectrum
from .truth import signal_moments

DEFAULT_TOL = 1e-7  # relative tolerance of the adaptive quadrature at activations and the prior


def _extrinsic(alpha, dd, dq, qq, dT, qT, beta, v):
    """(alpha, tau, E[e^2], E[e T], alpha_stein) of e = (d - alpha q)/(1 - alpha).

    The input error is q = beta T + w, w ~ N(0, v) independent of T; the Stein
    divergence E[d w] / v = (E[dq] - beta E[dT]) / v is what keeps e uncorrelated
    with w, which the SE assumes: it equals alpha when the prox is Lipschitz.
    """
    A = 1.0 / (1.0 - alpha)
    B = alpha / (1.0 - alpha)
    stein = (dq - beta * dT) / v if v > 0 else np.nan
    return alpha, dd, A * A * dd - 2 * A * B * dq + B * B * qq, A * dT - B * qT, stein


def _split(msg, T2):
    """(beta, v) of a message error e = beta T + N(0, v) with E[e^2], E[e T] = msg, E[T^2] = T2.

    v below round-off of E[e^2] is 0 (e.g. the Gaussian prior's r^+_0 - z0 = -z0)."""
    tau_e, o = msg
    beta = o / T2
    v = tau_e - beta * o
    return beta, (v if v > 1e-12 * tau_e else 0.0)


class _LinearSE:
    """SE of one linear map in the SVD basis, on coefficient vectors over the
    independent Gaussians (s0, w+, xi, w-) with variances (S_in, v+, nv, v-).

    Paired components (i < k) carry sigma_i; unpaired U components (i >= k) have
    u0 = xi and uhat = rho u~/(1 + rho); unpaired V components have shat = s~."""

    def __init__(self, layer, n_in, n_out, S_in, chi_out):
        self.nv = layer.noise_var
        s, w = resolve_spectrum(layer.spectrum, n_in, n_out).quadrature()
        self.sig, self.w = s[:, None], w
        k = min(n_in, n_out)
        self.fu, self.fv = k / n_out, k / n_in  # paired fraction of the U and V domains
        self.S_in, self.chi_out = S_in, chi_out

    def _setup(self, msg_plus, msg_minus, gp, gm):
        """Coefficients of q+ = V^T(r+ - z0), q- = U^T(r- - z0), xi, and shat - s0."""
        (bp, vp), (bm, vm) = _split(msg_plus, self.S_in), _split(msg_minus, self.chi_out)
        self.var = np.array([self.S_in, vp, self.nv, vm])
        sig = self.sig
        one, zero = np.ones_like(sig), np.zeros_like(sig)
        qp = np.hstack([bp * one, one, zero, zero])
        qm = np.hstack([bm * sig, zero, bm * one, one])
        xi = np.hstack([zero, zero, one, zero])
        kappa = 1.0 / self.nv if np.isinf(gm) else gm / (1.0 + self.nv * gm)
        den = gp + kappa * sig**2
        ds = (gp * qp + kappa * sig * (xi + qm)) / den
        return bp, bm, qp, qm, xi, ds, kappa, den[:, 0]

    def _E(self, frac, a, b, a_u, b_u):
        """Average over a domain of E[a.b]: paired part over the sigma law, unpaired part."""
        return frac * (self.w @ ((a * b) @ self.var)) + (1.0 - frac) * float(a_u @ (b_u * self.var))

    def forward(self, msg_plus, msg_minus, gp, gm):
        """(alpha^+, tau^+, E[e^2], E[e (z0 - b)]) of the forward output on z_l."""
        _, bm, qp, qm, xi, ds, kappa, den = self._setup(msg_plus, msg_minus, gp, gm)
        rho = self.nv * gm
        sig = self.sig
        du = (sig * ds - xi + rho * qm) / (1 + rho)
        u0 = sig * np.array([1.0, 0, 0, 0]) + xi
        xi_u = np.array([0, 0, 1.0, 0])
        qm_u = np.array([0, 0, bm, 1.0])
        du_u = (-xi_u + rho * qm_u) / (1 + rho)
        fu = self.fu
        alpha = fu * (self.w @ ((kappa * sig[:, 0] ** 2 / den + rho) / (1 + rho))) + (1 - fu) * rho / (1 + rho)
        E = self._E
        return _extrinsic(alpha, E(fu, du, du, du_u, du_u), E(fu, du, qm, du_u, qm_u), E(fu, qm, qm, qm_u, qm_u),
                          E(fu, du, u0, du_u, xi_u), E(fu, qm, u0, qm_u, xi_u), bm, self.var[3])

    def backward(self, msg_plus, msg_minus, gp, gm):
        """(alpha^-, tau^-, E[e^2], E[e z0]) of the backward output on z_{l-1}."""
        bp, _, qp, qm, xi, ds, kappa, den = self._setup(msg_plus, msg_minus, gp, gm)
        s0 = np.zeros_like(qp)
        s0[:, 0] = 1.0
        qp_u, s0_u = np.array([bp, 1.0, 0, 0]), np.array([1.0, 0, 0, 0])  # unpaired: shat - s0 = q+
        fv = self.fv
        alpha = fv * (self.w @ (gp / den)) + (1 - fv)
        E = self._E
        return _extrinsic(alpha, E(fv, ds, ds, qp_u, qp_u), E(fv, ds, qp, qp_u, qp_u), E(fv, qp, qp, qp_u, qp_u),
                          E(fv, ds, s0, qp_u, s0_u), E(fv, qp, s0, qp_u, s0_u), bp, self.var[1])


def _check_alpha(alpha):
    return np.isfinite(alpha) and 0.0 < alpha < 1.0


def state_evolution(spec: NetworkSpec, iterations: int, tol: float = DEFAULT_TOL) -> xr.Dataset:
    """The SE of MAP ML-VAMP on ``spec`` for ``iterations``: Dataset on (iteration, layer).

    Same variables as one network's trajectory (``mcsim.run_network``); iterations
    after an invalid divergence (alpha outside (0, 1)) are NaN and counted in
    ``valid_iterations``.  ``tol`` is the relative tolerance of the quadrature.  A spec
    whose ``[run]`` damps or uses the "jump" divergence gets the SE with memory
    (``mcsim.se_memory``), which describes that algorithm.
    """
    check_count(iterations, "iterations")
    if not spec.run.plain:
        return state_evolution_memory(spec, iterations)
    L, dims = spec.depth, spec.dims
    S, chi = signal_moments(spec)
    out = np.full((mlvamp.N_RECORDS, iterations, L), np.nan)
    stein = np.full((2, iterations, L), np.nan)  # Stein divergences of the plus / minus outputs
    plus = [None] * L  # (tau_e, overlap) of r^+_l
    minus = [(S[l], 0.0) for l in range(L)]  # initial r^-_l = z0_l + N(0, S_l)
    gam_plus = np.zeros(L)
    gam_minus = 1.0 / S[:L]
    linear = {j: _LinearSE(layer, dims[j], dims[j + 1], S[j], chi[j + 1])
              for j, layer in enumerate(spec.layers) if layer.kind == "linear"}
    prior, penalty = spec.input.prior, spec.input.penalty

    def act(j, gp, gm):
        layer = spec.layers[j]
        b = spec.bias_of_variable(j)
        beta_out, v_out = (0.0, 0.0) if j == L - 1 else _split(minus[j + 1], S[j + 1])
        beta_in, v_in = _split(plus[j], chi[j])
        m = sq.activation_moments(layer.code, layer.par, layer.noise_var, b, chi[j], layer.noise_var,
                                  beta_in, v_in, beta_out, v_out, gp, gm, tol)
        return m, (beta_in, v_in), (beta_out, v_out)

    def record(t, l, kind, res, gam, msg):
        alpha, tau, e2, eT, stein[int(kind == "minus"), t, l] = res
        row = {"plus": (mlvamp.TAU_PLUS, mlvamp.ALPHA_PLUS, mlvamp.GAMMA_PLUS, mlvamp.RP_MSE, mlvamp.RP_OVERLAP),
               "minus": (mlvamp.TAU_MINUS, mlvamp.ALPHA_MINUS, mlvamp.GAMMA_MINUS, mlvamp.RM_MSE,
                         mlvamp.RM_OVERLAP)}[kind]
        for r, v in zip(row, (tau, alpha, gam, e2, eT)):
            out[r, t, l] = v
        msg[l] = (e2, eT)

    valid = iterations
    for t in range(iterations):
        ok = True
        for l in range(L):  # forward
            gm = gam_minus[l]
            if l == 0:
                beta, v = _split(minus[0], S[0])
                m = sq.prior_moments(prior.se_code, *prior.se_params, penalty.code, penalty.par, beta, v, gm, tol)
                res = _extrinsic(m[sq.P_DZR], *m[sq.P_DD:], beta, v)
            elif (j := l - 1) in linear:
                res = linear[j].forward(plus[j], minus[l], gam_plus[j], gm)
            else:
                m, _, msg_out = act(j, gam_plus[j], gm)
                res = _extrinsic(m[sq.A_DZC], *m[sq.F_DD:sq.F_QT + 1], *msg_out)
            if not (ok := _check_alpha(res[0])):
                break
            gam_plus[l] = gm * (1 - res[0]) / res[0]
            record(t, l, "plus", res, gam_plus[l], plus)
        for j in range(L - 1, -1, -1) if ok else ():  # backward
            gp = gam_plus[j]
            gm = np.inf if j == L - 1 else gam_minus[j + 1]
            if j in linear:
                msg_minus = (0.0, 0.0) if j == L - 1 else minus[j + 1]
                res = linear[j].backward(plus[j], msg_minus, gp, gm)
            else:
                m, msg_in, _ = act(j, gp, gm)
                res = _extrinsic(m[sq.A_DXA], *m[sq.B_DD:sq.B_QT + 1], *msg_in)
            if not (ok := _check_alpha(res[0])):
                break
            gam_minus[j] = gp * (1 - res[0]) / res[0]
            record(t, j, "minus", res, gam_minus[j], minus)
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
    ds.attrs["quadrature_tol"] = tol
    return ds
