"""Singular-value laws: i.i.d. sampling for networks, quadrature for the state evolution.

A law is resolved against a layer's shape (Marchenko-Pastur depends on it) into a
:class:`SpectralLaw` with ``sample(rng, k)`` and ``quadrature(order)`` returning nodes
sigma_j and weights w_j with E[h(sigma)] ~= sum_j w_j h(sigma_j).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = ["SpectralLaw", "resolve_spectrum"]


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
