"""Numba-jitted kernels of mcsim: Haar factors, proximal maps, the linear step in the
SVD basis, ML-VAMP passes for one network, and the state-evolution quadrature.

Kernels are pure (arrays in, arrays out), draw no random numbers and do no I/O.

On-disk cache: numba invalidates a cached function only when its own source file
changes, not when a kernel it calls (inlined into it) changes in another file, so a
stale cache could run old code.  The cache therefore lives in a folder named after
a hash of all the kernel sources (under ``NUMBA_CACHE_DIR`` if set, else here in
``__pycache__``): any change to any kernel starts a fresh cache.
"""
import hashlib
import os
from pathlib import Path

import numba

_HERE = Path(__file__).resolve().parent
SOURCE_DIGEST = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(_HERE.glob("*.py")))).hexdigest()[:16]
numba.config.CACHE_DIR = os.path.join(os.environ.get("NUMBA_CACHE_DIR") or str(_HERE / "__pycache__"),
                                      f"mcsim-kernels-{SOURCE_DIGEST}")
