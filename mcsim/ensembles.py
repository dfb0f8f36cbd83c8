"""Random networks: Haar-orthogonal factors, i.i.d. singular values, the true forward pass.

All randomness comes from the ``numpy.random.Generator`` passed in; W is never formed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import NetworkSpec
from .spectra import resolve_spectrum
from .truth import signal_moments


def haar_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """An n x n Haar-distributed orthogonal matrix: Q of G = QR, columns times sign(diag R)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


def sample_prior(rng: np.random.Generator, prior: tuple[str, dict], n: int) -> np.ndarray:
    """n i.i.d. draws of the input law."""
    law, p = prior
    if law == "gaussian":
        return rng.normal(0.0, np.sqrt(p["var"]), n)
    if law == "bernoulli_gaussian":
        return (rng.random(n) < p["rho"]) * rng.normal(0.0, np.sqrt(p["var"]), n)
    return rng.laplace(0.0, p["scale"], n)


def pwl(x: np.ndarray, slope: float) -> np.ndarray:
    """phi(x) = x for x >= 0, slope x for x < 0."""
    return np.where(x >= 0, x, slope * x)


@dataclass
class Network:
    """One random network with its truth, observation and ML-VAMP initialisation.

    ``U[j]``, ``V[j]``, ``sigma[j]`` are None for activation maps.  ``z0[l]`` for
    l = 0..L is the true signal, noise included; the observation is y = z0[L].  ``r_minus0[l]`` =
    z0_l + N(0, tau_init_l), ``gam_minus0[l]`` = 1 / tau_init_l, tau_init_l = E[z0_l^2].
    """

    spec: NetworkSpec
    U: list
    V: list
    sigma: list
    z0: list
    r_minus0: list
    gam_minus0: np.ndarray

    @property
    def y(self) -> np.ndarray:
        return self.z0[-1]


def draw_network(spec: NetworkSpec, rng: np.random.Generator) -> Network:
    """Draw factors, the truth z0_0..z0_L and the initial messages, in that order."""
    dims = spec.dims
    U, V, sigma = [], [], []
    for j, layer in enumerate(spec.layers):
        if layer.kind == "linear":
            n_in, n_out = dims[j], dims[j + 1]
            law = resolve_spectrum(layer.spectrum, n_in, n_out)
            sigma.append(law.sample(rng, min(n_in, n_out)))
            U.append(haar_orthogonal(rng, n_out))
            V.append(haar_orthogonal(rng, n_in))
        else:
            sigma.append(None), U.append(None), V.append(None)
    z = [sample_prior(rng, spec.input.prior, dims[0])]
    for j, layer in enumerate(spec.layers):
        if layer.kind == "linear":
            k = sigma[j].size
            u = np.zeros(dims[j + 1])
            u[:k] = sigma[j] * (V[j].T @ z[-1])[:k]
            nxt = U[j] @ u + layer.bias
        else:
            nxt = pwl(z[-1], layer.slope)
        z.append(nxt + rng.normal(0.0, np.sqrt(layer.noise_var), dims[j + 1]) if layer.noise_var > 0 else nxt)
    tau_init, _ = signal_moments(spec)
    tau_init = tau_init[: spec.depth]
    r_minus0 = [z[l] + rng.normal(0.0, np.sqrt(tau_init[l]), dims[l]) for l in range(spec.depth)]
    return Network(spec, U, V, sigma, z, r_minus0, 1.0 / tau_init)
