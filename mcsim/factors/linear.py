"""The linear factor: z_l = W z_{l-1} + bias + N(0, noise_var), W = U diag(s) V^T with
Haar U, V and s i.i.d. from ``spectrum`` (docs/model.md, section 2).

Its prox is diagonal in the SVD basis (``kernels.linear``); its truth map is
h(x) = U diag(s) V^T x + bias; the second moment of its output is
chi_l = (k / n_l) E[s^2] S_{l-1} + noise_var, S_l = chi_l + E[bias^2] (k = min(n_l, n_{l-1})).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcsim.kernels.linear import kappa_of

from ..spectra import SpectralLaw, resolve_spectrum, spectrum_from_dict
from ..validation import check_keys, fail, number, width
from .extrinsic import FactorOutput, extrinsic_error
from .given import GivenWeights, Selection


@dataclass(frozen=True)
class LinearSpec:
    """z_l = W z_{l-1} + bias + N(0, noise_var), W = U diag(s) V^T, s i.i.d. from ``spectrum``
    (random), or W given (``given``: trained weights or a selection, ``factors.given``).
    The bias is a number, i.i.d. draws from an empirical law (``bias_values``), or the
    given weights' vector."""

    dim: int
    spectrum: tuple[str, dict] | None
    bias: float = 0.0
    noise_var: float = 0.0
    kind: str = "linear"
    bias_values: tuple | None = None
    given: GivenWeights | Selection | None = None

    @classmethod
    def from_dict(cls, d: dict, where: str, scale: float, n_in: int = 0, base=None) -> "LinearSpec":
        """A linear table: ``dim``, ``spectrum``, ``bias`` (a number or ``{law =
        "empirical", values = [...]}``), ``noise_var``; or ``weights`` / ``select`` in place
        of ``dim`` and ``spectrum`` (``factors.given``: widths fixed, ``scale`` 1)."""
        check_keys(d, {"kind", "dim", "spectrum", "bias", "noise_var", "weights", "select"}, set(), where)
        nv = number(d.get("noise_var", 0.0), f"{where}.noise_var", nonnegative=True)
        given_keys = [k for k in ("weights", "select") if k in d]
        if given_keys:
            key = given_keys[0]
            for other in ({"weights", "select", "spectrum", "bias"} if key == "select" else
                          {"select", "spectrum", "bias"}) & set(d) - {key}:
                fail(f"{where}.{other}", f"not with {key} (the map is given)")
            if scale != 1.0:
                fail(f"{where}.{key}", f"a given map fixes its widths: the spec cannot be scaled (scale {scale:g})")
            given = GivenWeights.from_dict(d[key], f"{where}.{key}", base) if key == "weights" else \
                Selection.from_dict(d[key], f"{where}.{key}", n_in)
            n_out, m_in = given.shape
            if m_in != n_in:
                fail(f"{where}.{key}", f"takes an input of width {m_in}, the map before gives {n_in}")
            if "dim" in d and width(d["dim"], f"{where}.dim") != n_out:
                fail(f"{where}.dim", f"the given map's output has width {n_out}, got {d['dim']}")
            return cls(dim=n_out, spectrum=None, noise_var=nv, given=given)
        for key in ("dim", "spectrum"):
            if key not in d:
                fail(f"{where}.{key}", "missing")
        bias, values = d.get("bias", 0.0), None
        if isinstance(bias, dict):
            if bias.get("law") != "empirical":
                fail(f"{where}.bias.law", "must be 'empirical' (biases i.i.d. from given values), "
                     f"got {bias.get('law')!r}")
            check_keys(bias, {"law", "values"}, {"law", "values"}, f"{where}.bias")
            if not isinstance(bias["values"], (list, tuple)) or not bias["values"]:
                fail(f"{where}.bias.values", "must be a non-empty list of numbers")
            values = tuple(number(v, f"{where}.bias.values[{i}]") for i, v in enumerate(bias["values"]))
            bias = 0.0
        return cls(dim=max(1, round(width(d["dim"], f"{where}.dim") * scale)),
                   spectrum=spectrum_from_dict(d["spectrum"], f"{where}.spectrum"),
                   bias=number(bias, f"{where}.bias"), noise_var=nv, bias_values=values)

    def law(self, n_in: int) -> SpectralLaw:
        """The law of the min(n_in, dim) singular values (of a given map: their empirical law)."""
        if self.given is not None:
            return resolve_spectrum(("empirical", {"values": [float(s) for s in self.given.sigma]}), n_in, self.dim)
        return resolve_spectrum(self.spectrum, n_in, self.dim)

    @property
    def bias_atoms(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, weights) of the law of one component of the bias."""
        values = self.given.bias_vector if self.given is not None else \
            np.array(self.bias_values if self.bias_values is not None else [self.bias], float)
        return values, np.full(values.size, 1.0 / values.size)

    def draw_bias(self, rng: np.random.Generator) -> np.ndarray:
        """The bias vector of one network (an empirical law's values drawn i.i.d. from ``rng``;
        nothing drawn otherwise)."""
        if self.bias_values is not None:
            return rng.choice(np.array(self.bias_values, float), self.dim)
        return self.given.bias_vector.copy() if self.given is not None else np.full(self.dim, self.bias)

    def moments(self, n_in: int, S_in: float, chi_in: float) -> tuple[float, float]:
        """(S_l, chi_l) of the output from S_{l-1} (module docstring; bias^2 averaged over its law)."""
        chi = min(n_in, self.dim) / self.dim * self.law(n_in).mean_square() * S_in + self.noise_var
        values, weights = self.bias_atoms
        return chi + float(weights @ values ** 2), chi

    def noise_free(self, U, V, sigma: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
        """h(x) = U diag(sigma) V^T x + bias (sigma padded with zeros)."""
        k = sigma.size
        u = np.zeros(self.dim)
        u[:k] = sigma * V.apply(x, transpose=True)[:k]
        return U.apply(u) + bias

    def to_dict(self) -> dict:
        """The layer's table (for a given map, its resolved file and digest)."""
        key = "weights" if isinstance(self.given, GivenWeights) else "select"
        return {"kind": "linear", key: self.given.to_dict(), "noise_var": self.noise_var}


class LinearSE:
    """The SE of one linear map in the SVD basis (docs/state_evolution.md, section 3).

    Every error is a coefficient vector over independent Gaussians: s0 = V^T z0 (variance
    S_in), xi (the map's noise, nv) and the N(0, 1) variables g+_0..g+_{P-1}, g-_0..g-_{P-1}
    of a Cholesky factor of each input message's noise process (``History``).  Paired
    components (i < k) carry sigma_i, one row per node of the singular-value law's
    quadrature; unpaired U components (i >= k) have u0 = xi and uhat = rho u~/(1 + rho),
    unpaired V components shat = s~.  Expectations are averages over the law (exact)."""

    def __init__(self, layer: LinearSpec, n_in: int, S_in: float, capacity: int, memory: bool = True):
        self.nv = layer.noise_var
        s, w = layer.law(n_in).quadrature()
        self.sig, self.w = s[:, None], w
        k = min(n_in, layer.dim)
        self.fu, self.fv = k / layer.dim, k / n_in  # paired fraction of the U and V domains
        self.cap = capacity
        self.var = np.concatenate([[S_in, self.nv], np.ones(2 * capacity)])
        self.memory = memory  # False: every message has a single update, no past is needed
        self.past = {"plus": [], "minus": []}  # coefficient pairs (paired, unpaired) of earlier new errors

    def _basis(self):
        return np.zeros((self.sig.shape[0], self.var.size)), np.zeros(self.var.size)

    def _inputs(self, plus, minus):
        """Coefficients of q+ (V domain) and q- (U domain), paired and unpaired, and the
        (beta, v) of the messages' latest updates."""
        P = self.cap
        qp, qp_u = self._basis()
        tp = plus.n - 1
        bp = plus.beta(tp)
        qp[:, 0] = qp_u[0] = bp
        qp[:, 2:2 + tp + 1] = qp_u[2:2 + tp + 1] = plus.L[tp, :tp + 1]
        qm, qm_u = self._basis()
        bm = vm = 0.0
        if minus is not None:
            tm = minus.n - 1
            bm = minus.beta(tm)
            qm[:, 0:1] = bm * self.sig
            qm[:, 1] = qm_u[1] = bm
            qm[:, 2 + P:2 + P + tm + 1] = qm_u[2 + P:2 + P + tm + 1] = minus.L[tm, :tm + 1]
            vm = minus.variance()
        return qp, qp_u, qm, qm_u, (bp, plus.variance()), (bm, vm)

    def _E(self, frac, a, a_u, b, b_u):
        """E[a b] averaged over a domain: the paired part over the law, the unpaired part."""
        return frac * (self.w @ ((a * b) @ self.var)) + (1.0 - frac) * float(a_u @ (b_u * self.var))

    def step(self, direction, plus, minus, gp, gm):
        """The :class:`~mcsim.factors.extrinsic.FactorOutput` of the output in ``direction``
        ("plus": zhat^+ on z_l; "minus": zhat^- on z_{l-1}) from the input messages'
        histories (``minus`` None for the measurement)."""
        qp, qp_u, qm, qm_u, (bp, vp), (bm, vm) = self._inputs(plus, minus)
        sig = self.sig
        xi, _ = self._basis()
        xi[:, 1] = 1.0
        kappa = kappa_of(gm, self.nv)
        den = gp + kappa * sig**2
        ds = (gp * qp + kappa * sig * (xi + qm)) / den
        if direction == "plus":
            rho = self.nv * gm
            d = (sig * ds - xi + rho * qm) / (1 + rho)
            xi_u = np.zeros(self.var.size)
            xi_u[1] = 1.0
            d_u = (-xi_u + rho * qm_u) / (1 + rho)
            q, q_u, frac, beta, v = qm, qm_u, self.fu, bm, vm
            paired = (kappa * sig[:, 0] ** 2 / den[:, 0] + rho) / (1 + rho)
            alpha = frac * (self.w @ paired) + (1 - frac) * rho / (1 + rho)
            T, T_u = sig * np.eye(1, self.var.size, 0) + xi, xi_u  # u0 = sigma s0 + xi; unpaired: xi
        else:
            d, d_u = ds, qp_u
            q, q_u, frac, beta, v = qp, qp_u, self.fv, bp, vp
            alpha = frac * (self.w @ (gp / den[:, 0])) + (1 - frac)
            s0 = np.zeros(self.var.size)
            s0[0] = 1.0
            T, T_u = np.tile(s0, (sig.shape[0], 1)), s0
        e, e_u = extrinsic_error(d, q, alpha), extrinsic_error(d_u, q_u, alpha)
        past = (self.past[direction] if self.memory else []) + [(e, e_u)]
        gram = np.array([self._E(frac, e, e_u, a, a_u) for a, a_u in past])
        self.past[direction] = past
        E = self._E
        stein = (E(frac, d, d_u, q, q_u) - beta * E(frac, d, d_u, T, T_u)) / v if v > 0 else np.nan
        return FactorOutput(alpha, E(frac, d, d_u, d, d_u), E(frac, e, e_u, T, T_u), gram, stein)
