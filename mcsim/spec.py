"""Network specifications: the true model and the estimator's postulated penalties.

One layout serves a TOML file and a Python dict (docs/model.md, section 5).  Every field
is checked when the spec is built, by the factor kind it belongs to (``mcsim.factors``);
a bad field raises :class:`SpecError` naming it, so nothing runs half-way.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .factors import ACTIVATION_KINDS, LAYER_KINDS, InputSpec, LinearSpec, activation_from_dict
from .kernels.activations import CENTRAL, CONIC
from .run import RunSpec
from .validation import SpecError, check_keys, fail, number, read_toml, table

__all__ = ["SpecError", "NetworkSpec", "read_toml"]


@dataclass(frozen=True)
class NetworkSpec:
    """A random network: input law, maps 1..L (the last is the measurement), estimator penalties."""

    input: InputSpec
    layers: tuple
    source: dict = field(compare=False, repr=False, default_factory=dict)
    run: RunSpec = RunSpec()

    # ------------------------------------------------------------------ build
    @classmethod
    def from_dict(cls, d: dict, base=None) -> "NetworkSpec":
        """Validate a spec dict (the TOML layout of docs/model.md, section 5) and build the
        spec; ``base``: the folder that files of given weights are relative to."""
        d = table(d, "spec")
        check_keys(d, {"input", "layers", "scale", "name", "description", "run"}, {"input", "layers"}, "spec")
        run = RunSpec.from_dict(d.get("run", {}))
        scale = number(d.get("scale", 1.0), "spec.scale", positive=True)
        inp = InputSpec.from_dict(d["input"], scale)
        layers_in = d["layers"]
        if not isinstance(layers_in, (list, tuple)) or len(layers_in) == 0:
            fail("layers", "must be a non-empty list of maps")
        layers = []
        prev_dim, prev_raw = inp.dim, d["input"]["dim"]
        for i, dl in enumerate(layers_in):
            where = f"layers[{i}]"
            dl = table(dl, where)
            if "kind" not in dl:
                fail(f"{where}.kind", "missing")
            kind = dl["kind"]
            if kind == "linear":
                layer = LinearSpec.from_dict(dl, where, scale, prev_dim, base)
                prev_raw = layer.dim if layer.given is not None else dl["dim"]
            elif isinstance(kind, str) and kind in ACTIVATION_KINDS:
                layer = activation_from_dict(dl, where, ACTIVATION_KINDS, i > 0 and layers[-1].kind == "linear",
                                             prev_dim, prev_raw, i == len(layers_in) - 1)
            else:
                fail(f"{where}.kind", f"unknown kind {kind!r} (known: {', '.join(LAYER_KINDS)})")
            layers.append(layer)
            prev_dim = layer.dim
        if run.kernel != CENTRAL:
            for i, layer in enumerate(layers):
                if layer.kind != "linear" and not CONIC[layer.code]:
                    fail(f"layers[{i}].kind", f"divergence = {run.divergence!r} needs a prox whose breakpoints are "
                         f"lines through 0, which only conic activations (relu family, lifted relu) have; "
                         f"use 'stein' or 'jump' with {layer.kind!r}")
        if layers[-1].noise_var <= 0:
            fail(f"layers[{len(layers) - 1}].noise_var",
                 "the measurement (last map) must be noisy: MAP with y fixed needs noise_var > 0")
        source = copy.deepcopy(d)
        source["layers"] = [layer.to_dict() if layer.kind == "linear" and layer.given is not None else dl
                            for layer, dl in zip(layers, source["layers"])]  # given files resolved
        source["scale"] = scale
        source["run"] = run.to_dict()
        return cls(inp, tuple(layers), source, run)

    @classmethod
    def from_toml(cls, path) -> "NetworkSpec":
        """Read a spec from a TOML file (same keys as :meth:`from_dict`)."""
        return cls.from_dict(read_toml(path), Path(path).parent)

    def with_run(self, run) -> "NetworkSpec":
        """The same network run with ``run`` (a :class:`RunSpec` or a ``[run]`` dict)."""
        return NetworkSpec.from_dict(dict(self.source, run=RunSpec.of(run).to_dict()))

    def scaled(self, s: float) -> "NetworkSpec":
        """The same network with every width multiplied by ``s`` (rounded; SpecError for a
        network with given maps)."""
        d = copy.deepcopy(self.source)
        d["scale"] = d.get("scale", 1.0) * s
        return NetworkSpec.from_dict(d)

    # ------------------------------------------------------------- queries
    @property
    def dims(self) -> tuple[int, ...]:
        """Widths n_0 .. n_L."""
        return (self.input.dim,) + tuple(layer.dim for layer in self.layers)

    @property
    def depth(self) -> int:
        """L, the number of maps; the estimated variables are z_0 .. z_{L-1}."""
        return len(self.layers)

    def bias_atoms(self, l: int) -> tuple[np.ndarray, np.ndarray]:
        """(values, weights) of the law of a component of b_l, the bias of the linear map
        producing z_l (the atom 0 for the input and activation outputs)."""
        layer = self.layers[l - 1] if l > 0 else None
        if layer is None or layer.kind != "linear":
            return np.zeros(1), np.ones(1)
        return layer.bias_atoms

    @property
    def trained(self) -> bool:
        """Whether a map is given (trained weights, a selection): then the network is not
        rotationally invariant and the SE does not apply (``TRAINED_LABEL``)."""
        return any(layer.kind == "linear" and layer.given is not None for layer in self.layers)

    def to_json(self) -> str:
        """The spec as JSON text (for provenance in datasets)."""
        return json.dumps(self.source, sort_keys=True)
