"""The factors of a network, one module per kind: the input factor (``prior``), the
linear map (``linear``) and the separable activations (``pwl``: relu, leaky relu, identity; ``hardtanh``).

Each kind owns its spec validation and defaults, its kernel code and parameter
record, its truth map and second moments; its prox and divergence are jitted in
``kernels``.  This package's registry is what the network spec consults: an unknown
kind or law is an error wherever it arrives.
"""
from . import hardtanh, pwl
from .activation import Activation, activation_from_dict
from .linear import LinearSpec
from .prior import InputSpec

ACTIVATION_KINDS = {**pwl.KINDS, **hardtanh.KINDS}
LAYER_KINDS = ("linear", *ACTIVATION_KINDS)

__all__ = ["ACTIVATION_KINDS", "LAYER_KINDS", "Activation", "InputSpec", "LinearSpec", "activation_from_dict"]
