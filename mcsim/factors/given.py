"""Linear maps with given factors: trained weights read from a file, and selection maps.

``weights = {file, matrix, bias}``: W (n_out x n_in) and optionally a bias vector from an
``.npz`` file; ML-VAMP works in the SVD basis W = U diag(s) V^T (numpy's SVD, computed once
per file and key and cached).  ``select = {erase = [a, b]}``: the input without its
components a .. b-1, y = P x; its SVD is a permutation, U = I, s = 1, V e_j = e_{p_j} with
p the kept indices, then the erased ones.  Neither is rotationally invariant, so the SE
does not apply to a network holding them (``NetworkSpec.trained``).
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcsim.kernels import haar

from ..validation import check_keys, fail, table

TRAINED_LABEL = "trained (not rotationally invariant): the SE does not apply"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.lru_cache(maxsize=32)
def _svd(path: str, digest: str, matrix: str, bias: str | None):
    """(U, s, V, bias vector) of W = ``matrix`` in the file (the digest keys the cache)."""
    with np.load(path) as data:
        W = np.asarray(data[matrix], float)
        b = np.asarray(data[bias], float) if bias else np.zeros(W.shape[0])
    U, s, Vt = np.linalg.svd(W, full_matrices=True)
    for a in (U, s, Vt, b):
        a.setflags(write=False)
    return U, s, Vt.T, b


@dataclass(frozen=True)
class GivenWeights:
    """W and its bias from ``file`` (an .npz; keys ``matrix``, ``bias``), with its digest."""

    file: str
    matrix: str
    bias: str | None
    digest: str

    @classmethod
    def from_dict(cls, d, where: str, base: Path | None) -> "GivenWeights":
        """A ``weights`` table: ``file`` (relative to ``base``, the spec file's folder),
        ``matrix``, optionally ``bias`` and ``sha256`` (checked against the file)."""
        d = table(d, where)
        check_keys(d, {"file", "matrix", "bias", "sha256"}, {"file", "matrix"}, where)
        for key in ("file", "matrix", "bias", "sha256"):
            if key in d and not isinstance(d[key], str):
                fail(f"{where}.{key}", f"must be a string, got {d[key]!r}")
        path = Path(d["file"])
        if not path.is_absolute() and base is not None:
            path = base / path
        if not path.is_file():
            fail(f"{where}.file", f"no file {path}")
        digest = file_digest(path)
        if d.get("sha256", digest) != digest:
            fail(f"{where}.sha256", f"{path} has changed (its SHA-256 is {digest})")
        with np.load(path) as data:
            for key in (d["matrix"], d.get("bias")):
                if key is not None and key not in data.files:
                    fail(where, f"{path} has no array {key!r} (it has {', '.join(data.files)})")
            shape = data[d["matrix"]].shape
            if len(shape) != 2:
                fail(f"{where}.matrix", f"{d['matrix']!r} must be a matrix, has shape {shape}")
            if d.get("bias") is not None and data[d["bias"]].shape != (shape[0],):
                fail(f"{where}.bias", f"{d['bias']!r} must have shape ({shape[0]},), has {data[d['bias']].shape}")
        return cls(str(path.resolve()), d["matrix"], d.get("bias"), digest)

    def to_dict(self) -> dict:
        return {"file": self.file, "matrix": self.matrix, "sha256": self.digest} | (
            {"bias": self.bias} if self.bias else {})

    @property
    def shape(self) -> tuple[int, int]:
        return self.svd()[0].shape[0], self.svd()[2].shape[0]

    def svd(self):
        """(U, s, V, bias): W = U[:, :k] diag(s) V[:, :k]^T, k = min(n_out, n_in)."""
        return _svd(self.file, self.digest, self.matrix, self.bias)

    @property
    def sigma(self) -> np.ndarray:
        return self.svd()[1]

    @property
    def bias_vector(self) -> np.ndarray:
        return self.svd()[3]

    def factor(self, side: int) -> tuple[int, np.ndarray]:
        """(form, stored numbers) of U (side 0) or V (side 1), ``kernels.haar``."""
        return haar.DENSE, np.ascontiguousarray(self.svd()[2 * side]).ravel()


@dataclass(frozen=True)
class Selection:
    """y = the n_in inputs without the components ``erase`` = (a, b), a .. b-1."""

    n_in: int
    erase: tuple[int, int]

    @classmethod
    def from_dict(cls, d, where: str, n_in: int) -> "Selection":
        d = table(d, where)
        check_keys(d, {"erase"}, {"erase"}, where)
        e = d["erase"]
        if not (isinstance(e, (list, tuple)) and len(e) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                      for v in e) and 0 <= e[0] < e[1] <= n_in):
            fail(f"{where}.erase", f"must be [a, b] with 0 <= a < b <= {n_in} (the input's width), got {e!r}")
        if e[1] - e[0] == n_in:
            fail(f"{where}.erase", "erases every component: nothing is observed")
        return cls(n_in, (int(e[0]), int(e[1])))

    def to_dict(self) -> dict:
        return {"erase": list(self.erase)}

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_in - (self.erase[1] - self.erase[0]), self.n_in

    @property
    def kept(self) -> np.ndarray:
        i = np.arange(self.n_in)
        return i[(i < self.erase[0]) | (i >= self.erase[1])]

    @property
    def sigma(self) -> np.ndarray:
        return np.ones(self.shape[0])

    @property
    def bias_vector(self) -> np.ndarray:
        return np.zeros(self.shape[0])

    def factor(self, side: int) -> tuple[int, np.ndarray]:
        """U = I (side 0); V (side 1) the permutation p = (kept, erased)."""
        if side == 0:
            return haar.PERMUTATION, np.arange(self.shape[0], dtype=float)
        erased = np.arange(*self.erase)
        return haar.PERMUTATION, np.concatenate([self.kept, erased]).astype(float)

    def matrix(self) -> np.ndarray:
        """P as a dense (n_out x n_in) array (for checks)."""
        P = np.zeros(self.shape)
        P[np.arange(self.shape[0]), self.kept] = 1.0
        return P
