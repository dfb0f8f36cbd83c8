"""Random networks: Haar-orthogonal factors, i.i.d. singular values, the true forward pass.

All randomness comes from the ``numpy.random.Generator`` passed in; W is never formed.
Orthogonal factors are drawn either densely (QR of a Gaussian matrix with the sign
fix, O(n^3)) or as Householder reflectors (Stewart 1980, O(n^2), ``kernels.haar``):
the same Haar law.  ``haar="auto"`` uses reflectors from width
``HOUSEHOLDER_MIN_WIDTH`` on (where they are also faster to draw, measured by
``benchmarks/haar.py``); ``"dense"`` or ``"householder"`` force one form.
``"structured"`` (opt-in, approximate: not Haar) uses random signs on both sides of
a random permutation and the DCT, O(n) storage and O(n log n) products, for widths
up to 10^6.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcsim.kernels import haar

from .spec import NetworkSpec
from .truth import signal_moments


def haar_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """An n x n Haar-distributed orthogonal matrix: Q of G = QR, columns times sign(diag R)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


HAAR_METHODS = ("auto", "dense", "householder", "structured")
HOUSEHOLDER_MIN_WIDTH = 16


def ensemble_label(method: str) -> str:
    """What a result drawn with the factor form ``method`` is a sample of."""
    return ("APPROXIMATE: structured orthogonal factors (signs, permutation, DCT), not Haar"
            if method == "structured" else "Haar-orthogonal U, V; i.i.d. singular values")


def check_haar_method(method: str) -> str:
    if method not in HAAR_METHODS:
        raise ValueError(f"haar: must be one of {', '.join(HAAR_METHODS)}, got {method!r}")
    return method


@dataclass(frozen=True)
class OrthogonalFactor:
    """A Haar-orthogonal n x n matrix Q stored flat in the form ``code`` (``kernels.haar``);
    ``data`` is ``buffer[offset:offset + size]`` of the buffer it was drawn into."""

    n: int
    code: int
    data: np.ndarray
    offset: int = 0

    def apply(self, x: np.ndarray, transpose: bool = False) -> np.ndarray:
        """Q x (or Q^T x)."""
        out = np.empty(self.n)
        haar.factor_apply(self.data, 0, self.n, self.code, transpose, np.ascontiguousarray(x, float), out)
        return out

    def matrix(self) -> np.ndarray:
        """Q as a dense array."""
        if self.code == haar.DENSE:
            return self.data.reshape(self.n, self.n)
        return haar.factor_matrix(self.data, self.n, self.code)


def _factor_code(n: int, method: str) -> int:
    if method == "structured":
        return haar.STRUCTURED
    if method == "dense" or (method == "auto" and n < HOUSEHOLDER_MIN_WIDTH):
        return haar.DENSE
    return haar.HOUSEHOLDER


def _factor_size(n: int, code: int) -> int:
    return {haar.DENSE: n * n, haar.HOUSEHOLDER: haar.householder_size(n), haar.STRUCTURED: 3 * n}[code]


def haar_factor(rng: np.random.Generator, n: int, method: str = "auto", buffer: np.ndarray | None = None,
                offset: int = 0) -> OrthogonalFactor:
    """A Haar-orthogonal n x n factor, dense or as Householder reflectors (or the
    structured approximation; module docstring), drawn into ``buffer[offset:]`` (a new
    array if None)."""
    check_haar_method(method)
    code = _factor_code(n, method)
    size = _factor_size(n, code)
    if buffer is None:
        buffer, offset = np.empty(size), 0
    data = buffer[offset:offset + size]
    if code == haar.DENSE:
        data[:] = haar_orthogonal(rng, n).ravel()
    elif code == haar.STRUCTURED:
        data[:2 * n] = 2.0 * rng.integers(0, 2, 2 * n) - 1.0
        data[2 * n:] = rng.permutation(n)
    else:
        rng.standard_normal(out=data)
        haar.householder_build(data, n, data)  # in place: each entry is read before it is written
    return OrthogonalFactor(n, code, data, offset)


def noise_free_map(layer, U: OrthogonalFactor | None, V: OrthogonalFactor | None, sigma: np.ndarray | None,
                   x: np.ndarray) -> np.ndarray:
    """h_l(x): U diag(sigma) V^T x + bias (linear), or phi(x) (an activation)."""
    return layer.noise_free(U, V, sigma, x) if layer.kind == "linear" else layer.phi(x)


@dataclass
class Network:
    """One random network with its truth, observation and ML-VAMP initialisation, for
    B independent signals (rows).

    ``U[j]``, ``V[j]`` (:class:`OrthogonalFactor`, all stored in one array ``factors``),
    ``sigma[j]`` are None for activation maps.  ``z0[l]`` (B x n_l) for l = 0..L is the
    true signal, noise included; the observation is y = z0[L].  ``r_minus0[l]`` =
    z0_l + N(0, tau_init_l), ``gam_minus0[l]`` = 1 / tau_init_l, tau_init_l = E[z0_l^2].
    """

    spec: NetworkSpec
    U: list
    V: list
    sigma: list
    z0: list
    r_minus0: list
    gam_minus0: np.ndarray
    factors: np.ndarray

    @property
    def y(self) -> np.ndarray:
        return self.z0[-1]

    @property
    def signals(self) -> int:
        return self.z0[0].shape[0]

    def signal(self, b: int) -> "Network":
        """The same network with only signal b."""
        return Network(self.spec, self.U, self.V, self.sigma, [z[b:b + 1] for z in self.z0],
                       [r[b:b + 1] for r in self.r_minus0], self.gam_minus0, self.factors)


def draw_network(spec: NetworkSpec, rng: np.random.Generator, haar: str = "auto",
                 reuse: np.ndarray | None = None, signals: int = 1) -> Network:
    """Draw factors, then the truths z0_0..z0_L of ``signals`` signals and their initial
    messages, in that order.

    The factors go into ``reuse`` if it is large enough (e.g. the previous network's
    ``factors``, which is then overwritten): fresh memory costs page faults.
    """
    dims = spec.dims
    linear = [j for j, layer in enumerate(spec.layers) if layer.kind == "linear"]
    size = sum(_factor_size(n, _factor_code(n, haar)) for j in linear for n in dims[j:j + 2])
    factors = reuse[:size] if reuse is not None and reuse.size >= size else np.empty(size)
    U, V, sigma = [], [], []
    pos = 0
    for j, layer in enumerate(spec.layers):
        if layer.kind == "linear":
            n_in, n_out = dims[j], dims[j + 1]
            sigma.append(layer.law(n_in).sample(rng, min(n_in, n_out)))
            U.append(haar_factor(rng, n_out, haar, factors, pos))
            V.append(haar_factor(rng, n_in, haar, factors, pos + U[-1].data.size))
            pos += U[-1].data.size + V[-1].data.size
        else:
            sigma.append(None), U.append(None), V.append(None)
    B = signals
    z = [spec.input.prior.sample(rng, (B, dims[0]))]
    for j, layer in enumerate(spec.layers):
        nxt = np.array([noise_free_map(layer, U[j], V[j], sigma[j], x) for x in z[-1]])
        z.append(nxt + rng.normal(0.0, np.sqrt(layer.noise_var), (B, dims[j + 1])) if layer.noise_var > 0 else nxt)
    tau_init, _ = signal_moments(spec)
    tau_init = tau_init[: spec.depth]
    r_minus0 = [z[l] + rng.normal(0.0, np.sqrt(tau_init[l]), (B, dims[l])) for l in range(spec.depth)]
    return Network(spec, U, V, sigma, z, r_minus0, 1.0 / tau_init, factors)
