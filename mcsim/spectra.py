"""Singular-value laws: i.i.d. sampling for networks, quadrature for the state evolution.

A law is resolved against a layer's shape (Marchenko-Pastur depends on it) into a
:class:`SpectralLaw` with ``sample(rng, k)`` and ``quadrature(order)`` returning nodes
sigma_j and weights w_j with E[h(sigma)] ~= sum_j w_j h(sigma_j).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .validation import check_keys, fail, named, number

__all__ = ["SPECTRUM_LAWS", "SpectralLaw", "resolve_spectrum", "spectrum_from_dict"]

# law name -> required parameters
SPECTRUM_LAWS = {
    "constant": {"value"},
    "uniform": {"low", "high"},
    "discrete": {"values", "probs"},
    "marchenko_pastur": {"var"},
    "log_uniform": {"cond", "max"},
    "empirical": {"values"},
}


def _numbers(values, where: str) -> list[float]:
    if not isinstance(values, (list, tuple)) or len(values) == 0:
        fail(where, "must be a non-empty list of numbers")
    return [number(v, f"{where}[{i}]", nonnegative=True) for i, v in enumerate(values)]


def spectrum_from_dict(d, where: str) -> tuple[str, dict]:
    """Validate a ``spectrum`` table: (law name, parameters)."""
    law, p = named(d, where, SPECTRUM_LAWS)
    check_keys(p, SPECTRUM_LAWS[law], SPECTRUM_LAWS[law], where)
    if law == "constant":
        p["value"] = number(p["value"], f"{where}.value", positive=True)
    elif law == "uniform":
        p["low"] = number(p["low"], f"{where}.low", nonnegative=True)
        p["high"] = number(p["high"], f"{where}.high", positive=True)
        if p["high"] <= p["low"]:
            fail(f"{where}.high", f"must exceed low ({p['low']}), got {p['high']}")
    elif law in ("discrete", "empirical"):
        p["values"] = _numbers(p["values"], f"{where}.values")
        if max(p["values"]) <= 0:
            fail(f"{where}.values", "must contain a positive singular value")
        if law == "discrete":
            if not isinstance(p["probs"], (list, tuple)) or len(p["probs"]) != len(p["values"]):
                fail(f"{where}.probs", "must be a list as long as values")
            p["probs"] = _numbers(p["probs"], f"{where}.probs")
            if abs(sum(p["probs"]) - 1.0) > 1e-9:
                fail(f"{where}.probs", f"must sum to 1, got {sum(p['probs'])}")
    elif law == "marchenko_pastur":
        p["var"] = number(p["var"], f"{where}.var", positive=True)
    elif law == "log_uniform":
        p["cond"] = number(p["cond"], f"{where}.cond", positive=True)
        p["max"] = number(p["max"], f"{where}.max", positive=True)
        if p["cond"] < 1:
            fail(f"{where}.cond", f"a condition number must be >= 1, got {p['cond']}")
    return law, p


def _gauss_legendre_composite(a: float, b: float, pieces: int, order: int, graded: bool = True):
    """Nodes and weights of a composite Gauss-Legendre rule on [a, b].

    The pieces are graded geometrically towards a (edges a + (b - a) 2^-k, k <= 40):
    the SE's integrands gp / (gp + kappa sigma^2) vary on the scale sqrt(gp / kappa)
    near sigma = 0, which high-SNR layers make tiny.
    """
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(a, b, pieces + 1)
    if graded:
        edges = np.unique(np.concatenate([edges, a + (b - a) * 2.0 ** -np.arange(1, 41)]))
    half = 0.5 * np.diff(edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    nodes = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (half[:, None] * w[None, :]).ravel()
    return nodes, weights


@dataclass(frozen=True)
class SpectralLaw:
    """A resolved law of one singular value: atoms, or a density mapped from u in [0, 1].

    Continuous laws are written as sigma = T(u) with a quadrature density q(u) on
    [0, 1] chosen so that the integrand is smooth in u (square-root edges removed).
    """

    law: str
    params: dict

    # -------------------------------------------------------------- atoms
    def _atoms(self):
        p = self.params
        if self.law == "constant":
            return np.array([p["value"]]), np.array([1.0])
        if self.law == "discrete":
            return np.asarray(p["values"], float), np.asarray(p["probs"], float)
        if self.law == "empirical":
            v = np.asarray(p["values"], float)
            return v, np.full(v.size, 1.0 / v.size)
        return None

    # ------------------------------------------------------- Marchenko-Pastur
    def _mp_edges(self):
        c = self.params["ratio"]
        return (1 - np.sqrt(c)) ** 2, (1 + np.sqrt(c)) ** 2

    def _mp_theta_rule(self, pieces, order, graded=True):
        """xi = a + (b-a) sin^2(theta/2): density sqrt((b-xi)(xi-a)) / (2 pi c xi) d xi."""
        c = self.params["ratio"]
        a, b = self._mp_edges()
        theta, w = _gauss_legendre_composite(0.0, np.pi, pieces, order, graded)
        xi = a + (b - a) * np.sin(0.5 * theta) ** 2
        dens = (0.5 * (b - a)) ** 2 * np.sin(theta) ** 2 / (2 * np.pi * c * xi)
        return xi, w * dens

    def _mp_sigma(self, xi):
        return np.sqrt(self.params["var"] * self.params["stretch"] * xi)

    # --------------------------------------------------------------- public
    def quadrature(self, pieces: int = 64, order: int = 8):
        """Nodes sigma_j >= 0 and weights w_j (sum 1) for E[h(sigma)]."""
        atoms = self._atoms()
        if atoms is not None:
            return atoms
        p = self.params
        if self.law == "uniform":
            s, w = _gauss_legendre_composite(p["low"], p["high"], pieces, order)
            return s, w / (p["high"] - p["low"])
        if self.law == "log_uniform":
            u, w = _gauss_legendre_composite(0.0, 1.0, pieces, order)
            return p["max"] * p["cond"] ** (-u), w
        if self.law == "marchenko_pastur":
            xi, w = self._mp_theta_rule(pieces, order)
            return self._mp_sigma(xi), w / w.sum()
        raise AssertionError(self.law)

    def sample(self, rng: np.random.Generator, k: int) -> np.ndarray:
        """k i.i.d. singular values."""
        p = self.params
        atoms = self._atoms()
        if atoms is not None:
            values, probs = atoms
            if values.size == 1:
                return np.full(k, values[0])
            return values[rng.choice(values.size, size=k, p=probs)]
        if self.law == "uniform":
            return rng.uniform(p["low"], p["high"], size=k)
        if self.law == "log_uniform":
            return p["max"] * p["cond"] ** (-rng.uniform(0.0, 1.0, size=k))
        if self.law == "marchenko_pastur":
            cdf, theta = _mp_inverse_cdf_table(p["ratio"])
            theta = np.interp(rng.uniform(size=k) * cdf[-1], cdf, theta)
            a, b = self._mp_edges()
            return self._mp_sigma(a + (b - a) * np.sin(0.5 * theta) ** 2)
        raise AssertionError(self.law)

    def mean_square(self) -> float:
        """E[sigma^2]."""
        s, w = self.quadrature()
        return float(w @ s**2)


@functools.lru_cache(maxsize=64)
def _mp_inverse_cdf_table(ratio: float):
    """CDF of the Marchenko-Pastur law (ratio c) at the edges of a fine theta grid
    (exact there, linear in theta between): the inverse-CDF sampler's table."""
    pieces = 4096
    _, w = SpectralLaw("marchenko_pastur", {"ratio": ratio})._mp_theta_rule(pieces=pieces, order=4, graded=False)
    cdf = np.concatenate([[0.0], np.cumsum(w.reshape(pieces, 4).sum(axis=1))])
    return cdf, np.linspace(0.0, np.pi, pieces + 1)


def resolve_spectrum(spectrum: tuple[str, dict], n_in: int, n_out: int) -> SpectralLaw:
    """The law of the min(n_in, n_out) singular values of a n_out x n_in map.

    Marchenko-Pastur: W has i.i.d. N(0, var/n_in) entries; its nonzero squared
    singular values are var * stretch * xi, xi ~ MP(ratio), ratio = min/max of the
    dims, stretch = n_out/n_in if n_out > n_in else 1.
    """
    law, params = spectrum
    params = dict(params)
    if law == "marchenko_pastur":
        params["ratio"] = min(n_in, n_out) / max(n_in, n_out)
        params["stretch"] = n_out / n_in if n_out > n_in else 1.0
    return SpectralLaw(law, params)
