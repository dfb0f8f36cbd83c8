"""The yardstick: MAP ML-VAMP in plain vectorised numpy with the SVD trick.

This is what an anchor library such as vampyre does: dense Haar factors from a QR
decomposition, a Python loop over layers and iterations, numpy expressions over the
components.  It is the kernels' NumPy twin, kept with the tests (``tests/naive.py``,
which ``tests/test_baseline.py`` checks against the kernel); the benchmarks time it.
"""
from tests.naive import mlvamp_records as baseline_run

__all__ = ["baseline_run"]
