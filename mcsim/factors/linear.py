"""The linear factor: z_l = W z_{l-1} + bias + N(0, noise_var), W = U diag(s) V^T with
Haar U, V and s i.i.d. from ``spectrum`` (docs/model.md, section 2).

Its prox is diagonal in the SVD basis (``kernels.linear``); its truth map is
h(x) = U diag(s) V^T x + bias; the second moment of its output is
chi_l = (k / n_l) E[s^2] S_{l-1} + noise_var, S_l = chi_l + bias^2 (k = min(n_l, n_{l-1})).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spectra import SpectralLaw, resolve_spectrum, spectrum_from_dict
from ..validation import check_keys, number, width


@dataclass(frozen=True)
class LinearSpec:
    """z_l = W z_{l-1} + bias + N(0, noise_var), W = U diag(s) V^T, s i.i.d. from ``spectrum``."""

    dim: int
    spectrum: tuple[str, dict]
    bias: float = 0.0
    noise_var: float = 0.0
    kind: str = "linear"

    @classmethod
    def from_dict(cls, d: dict, where: str, scale: float) -> "LinearSpec":
        check_keys(d, {"kind", "dim", "spectrum", "bias", "noise_var"}, {"dim", "spectrum"}, where)
        return cls(dim=max(1, round(width(d["dim"], f"{where}.dim") * scale)),
                   spectrum=spectrum_from_dict(d["spectrum"], f"{where}.spectrum"),
                   bias=number(d.get("bias", 0.0), f"{where}.bias"),
                   noise_var=number(d.get("noise_var", 0.0), f"{where}.noise_var", nonnegative=True))

    def law(self, n_in: int) -> SpectralLaw:
        """The law of the min(n_in, dim) singular values."""
        return resolve_spectrum(self.spectrum, n_in, self.dim)

    def moments(self, n_in: int, S_in: float, chi_in: float) -> tuple[float, float]:
        """(S_l, chi_l) of the output from S_{l-1} (module docstring)."""
        chi = min(n_in, self.dim) / self.dim * self.law(n_in).mean_square() * S_in + self.noise_var
        return chi + self.bias ** 2, chi

    def noise_free(self, U, V, sigma: np.ndarray, x: np.ndarray) -> np.ndarray:
        """h(x) = U diag(sigma) V^T x + bias (sigma padded with zeros)."""
        k = sigma.size
        u = np.zeros(self.dim)
        u[:k] = sigma * V.apply(x, transpose=True)[:k]
        return U.apply(u) + self.bias
