"""Numba-jitted kernels of mcsim: proximal maps, the linear step in the SVD basis,
ML-VAMP passes for one network, and the state-evolution quadrature.

Kernels are pure (arrays in, arrays out), draw no random numbers and do no I/O.
"""
