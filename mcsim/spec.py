"""Network specifications: the true model and the estimator's postulated penalties.

One layout serves a TOML file and a Python dict (DESIGN.md 6).  Every field is
checked when the spec is built; a bad field raises :class:`SpecError` naming it,
so nothing runs half-way.
"""
from __future__ import annotations

import copy
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["SpecError", "NetworkSpec", "PRIOR_LAWS", "SPECTRUM_LAWS", "ACTIVATIONS"]


class SpecError(ValueError):
    """A network specification is malformed; the message names the field."""


# law name -> (required parameters, optional parameters with defaults)
PRIOR_LAWS = {
    "gaussian": ({"var"}, {}),
    "bernoulli_gaussian": ({"rho", "var"}, {}),
    "laplace": ({"scale"}, {}),
}
INPUT_PENALTIES = {
    "gaussian": ({"var"}, {}),
    "l1": ({"lam"}, {}),
}
SPECTRUM_LAWS = {
    "constant": ({"value"}, {}),
    "uniform": ({"low", "high"}, {}),
    "discrete": ({"values", "probs"}, {}),
    "marchenko_pastur": ({"var"}, {}),
    "log_uniform": ({"cond", "max"}, {}),
    "empirical": ({"values"}, {}),
}
# activation name -> slope of phi on x < 0 (phi(x) = x for x >= 0)
ACTIVATIONS = {"relu": 0.0, "leaky_relu": None, "identity": 1.0}
ACTIVATION_PENALTIES = {"matched": (set(), {}), "lifted_relu": ({"nu"}, {})}


def _fail(where: str, what: str):
    raise SpecError(f"{where}: {what}")


def _number(value, where: str, *, positive=False, nonnegative=False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(where, f"must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        _fail(where, f"must be finite, got {value!r}")
    if positive and value <= 0:
        _fail(where, f"must be > 0, got {value!r}")
    if nonnegative and value < 0:
        _fail(where, f"must be >= 0, got {value!r}")
    return value


def _width(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"must be a positive integer, got {value!r}")
    if value <= 0:
        _fail(where, f"must be a positive integer, got {value!r}")
    return value


def read_toml(path) -> dict:
    """The table of a TOML file, or SpecError naming the file (missing, a directory, ill-formed)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (FileNotFoundError, IsADirectoryError):
        raise SpecError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: ill-formed TOML: {err}") from None


def check_count(value, where: str) -> int:
    """A positive integer run argument (iterations, networks), else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: must be a positive integer, got {value!r}")
    return int(value)


DAMPING_KEYS = ("mean_plus", "mean_minus", "precision_plus", "precision_minus")


def damping_factors(value, where: str = "run.damping") -> tuple[float, float, float, float]:
    """(d_r^+, d_r^-, d_gam^+, d_gam^-) from one number (all four), a sequence of four,
    or a table with any of ``DAMPING_KEYS`` (default 1: undamped); each in (0, 1]."""
    if isinstance(value, dict):
        _check_keys(value, set(DAMPING_KEYS), set(), where)
        value = [value.get(k, 1.0) for k in DAMPING_KEYS]
    elif isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != 4:
            _fail(where, f"needs 4 factors ({', '.join(DAMPING_KEYS)}), got {len(value)}")
    else:
        value = [value] * 4
    names = [f"{where}.{k}" for k in DAMPING_KEYS]
    factors = tuple(_number(v, n, positive=True) for v, n in zip(value, names))
    for f, n in zip(factors, names):
        if f > 1:
            _fail(n, f"a damping factor must be in (0, 1], got {f}")
    return factors


def _table(value, where: str) -> dict:
    if not isinstance(value, dict):
        _fail(where, f"must be a table/dict, got {type(value).__name__}")
    return value


def _key_name(key) -> str:
    """A key as it appears in a field path (quoted unless a plain identifier)."""
    return key if isinstance(key, str) and key.isidentifier() else repr(key)


def _check_keys(d: dict, allowed: set, required: set, where: str):
    unknown = sorted(map(_key_name, set(d) - allowed))
    if unknown:
        _fail(f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(required):
        if key not in d:
            _fail(f"{where}.{key}", "missing")


def _law(d, where: str, laws: dict, key: str = "law") -> tuple[str, dict]:
    """Parse ``{key = name, param = ...}`` against a table of laws."""
    d = _table(d, where)
    if key not in d:
        _fail(f"{where}.{key}", "missing")
    name = d[key]
    if not isinstance(name, str) or name not in laws:
        _fail(f"{where}.{key}", f"unknown {key} {name!r} (known: {', '.join(sorted(laws))})")
    required, optional = laws[name]
    _check_keys(d, required | set(optional) | {key}, required, where)
    params = dict(optional)
    params.update({k: v for k, v in d.items() if k != key})
    return name, params


def _spectrum(d, where: str) -> tuple[str, dict]:
    law, p = _law(d, where, SPECTRUM_LAWS)
    if law == "constant":
        p["value"] = _number(p["value"], f"{where}.value", positive=True)
    elif law == "uniform":
        p["low"] = _number(p["low"], f"{where}.low", nonnegative=True)
        p["high"] = _number(p["high"], f"{where}.high", positive=True)
        if p["high"] <= p["low"]:
            _fail(f"{where}.high", f"must exceed low ({p['low']}), got {p['high']}")
    elif law in ("discrete", "empirical"):
        values = p["values"]
        if not isinstance(values, (list, tuple)) or len(values) == 0:
            _fail(f"{where}.values", "must be a non-empty list of numbers")
        p["values"] = [_number(v, f"{where}.values[{i}]", nonnegative=True) for i, v in enumerate(values)]
        if max(p["values"]) <= 0:
            _fail(f"{where}.values", "must contain a positive singular value")
        if law == "discrete":
            probs = p["probs"]
            if not isinstance(probs, (list, tuple)) or len(probs) != len(values):
                _fail(f"{where}.probs", "must be a list as long as values")
            p["probs"] = [_number(q, f"{where}.probs[{i}]", nonnegative=True) for i, q in enumerate(probs)]
            if abs(sum(p["probs"]) - 1.0) > 1e-9:
                _fail(f"{where}.probs", f"must sum to 1, got {sum(p['probs'])}")
    elif law == "marchenko_pastur":
        p["var"] = _number(p["var"], f"{where}.var", positive=True)
    elif law == "log_uniform":
        p["cond"] = _number(p["cond"], f"{where}.cond", positive=True)
        p["max"] = _number(p["max"], f"{where}.max", positive=True)
        if p["cond"] < 1:
            _fail(f"{where}.cond", f"a condition number must be >= 1, got {p['cond']}")
    return law, p


@dataclass(frozen=True)
class InputSpec:
    """z_0 i.i.d. from ``prior``; the estimator's penalty f_0 is ``penalty`` (matched by default)."""

    dim: int
    prior: tuple[str, dict]
    penalty: tuple[str, dict]


@dataclass(frozen=True)
class LinearSpec:
    """z_l = W z_{l-1} + bias + N(0, noise_var), W = U diag(s) V^T, s i.i.d. from ``spectrum``."""

    dim: int
    spectrum: tuple[str, dict]
    bias: float = 0.0
    noise_var: float = 0.0
    kind: str = "linear"


@dataclass(frozen=True)
class ActivationSpec:
    """z_l = phi(z_{l-1}) + N(0, noise_var), phi(x) = x (x >= 0), slope * x (x < 0).

    ``penalty`` is ("matched", {}) for the true factor -ln p(z_l | z_{l-1}), or
    ("lifted_relu", {"nu": nu}) for the convex f(z, x) = nu/2 (z - x)^2 + I(z >= 0).
    """

    kind: str
    dim: int
    slope: float
    noise_var: float
    penalty: tuple[str, dict] = ("matched", {})


@dataclass(frozen=True)
class NetworkSpec:
    """A random network: input law, maps 1..L (the last is the measurement), estimator penalties."""

    input: InputSpec
    layers: tuple
    source: dict = field(compare=False, repr=False, default_factory=dict)
    damping: tuple = (1.0, 1.0, 1.0, 1.0)  # (d_r^+, d_r^-, d_gam^+, d_gam^-), the [run] table
    jump_step: float = 0.0  # the activations' divergence: 0 "ae", > 0 "jump" with this step (the [run] table)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_dict(cls, d: dict) -> "NetworkSpec":
        """Validate a spec dict (the TOML layout of DESIGN.md 6) and build the spec."""
        d = _table(d, "spec")
        _check_keys(d, {"input", "layers", "scale", "name", "description", "run"}, {"input", "layers"}, "spec")
        run = _table(d.get("run", {}), "run")
        _check_keys(run, {"damping", "divergence", "jump_step"}, set(), "run")
        damping = damping_factors(run.get("damping", 1.0))
        divergence = run.get("divergence", "ae")
        if divergence not in ("ae", "jump"):
            _fail("run.divergence",
                  f"must be 'ae' (a.e. derivative) or 'jump' (central difference), got {divergence!r}")
        if "jump_step" in run and divergence != "jump":
            _fail("run.jump_step", "only with divergence = 'jump'")
        jump_step = _number(run.get("jump_step", 0.02), "run.jump_step", positive=True) if divergence == "jump" else 0.0
        scale = _number(d.get("scale", 1.0), "spec.scale", positive=True)

        di = _table(d["input"], "input")
        _check_keys(di, {"dim", "prior", "penalty"}, {"dim", "prior"}, "input")
        prior = _law(di["prior"], "input.prior", PRIOR_LAWS)
        for k in prior[1]:
            prior[1][k] = _number(prior[1][k], f"input.prior.{k}", positive=True)
        if prior[0] == "bernoulli_gaussian" and not prior[1]["rho"] <= 1:
            _fail("input.prior.rho", f"must be in (0, 1], got {prior[1]['rho']}")
        if "penalty" in di:
            penalty = _law(di["penalty"], "input.penalty", INPUT_PENALTIES, key="kind")
            for k in penalty[1]:
                penalty[1][k] = _number(penalty[1][k], f"input.penalty.{k}", positive=True)
        elif prior[0] == "gaussian":
            penalty = ("gaussian", {"var": prior[1]["var"]})
        elif prior[0] == "laplace":
            penalty = ("l1", {"lam": 1.0 / prior[1]["scale"]})
        else:
            _fail("input.penalty", "a Bernoulli-Gaussian prior has no density, so no matched MAP penalty: "
                  "give one, e.g. penalty = {kind = \"l1\", lam = 1.0}")
        width = _width(di["dim"], "input.dim")
        inp = InputSpec(max(1, round(width * scale)), prior, penalty)

        layers_in = d["layers"]
        if not isinstance(layers_in, (list, tuple)) or len(layers_in) == 0:
            _fail("layers", "must be a non-empty list of maps")
        layers = []
        prev_dim, prev_raw = inp.dim, width
        for i, dl in enumerate(layers_in):
            where = f"layers[{i}]"
            dl = _table(dl, where)
            if "kind" not in dl:
                _fail(f"{where}.kind", "missing")
            kind = dl["kind"]
            if kind == "linear":
                _check_keys(dl, {"kind", "dim", "spectrum", "bias", "noise_var"}, {"dim", "spectrum"}, where)
                layer = LinearSpec(
                    dim=max(1, round(_width(dl["dim"], f"{where}.dim") * scale)),
                    spectrum=_spectrum(dl["spectrum"], f"{where}.spectrum"),
                    bias=_number(dl.get("bias", 0.0), f"{where}.bias"),
                    noise_var=_number(dl.get("noise_var", 0.0), f"{where}.noise_var", nonnegative=True),
                )
            elif isinstance(kind, str) and kind in ACTIVATIONS:
                allowed = {"kind", "noise_var", "penalty", "dim"} | ({"slope"} if kind == "leaky_relu" else set())
                _check_keys(dl, allowed, set(), where)
                if i == 0 or layers[-1].kind != "linear":
                    _fail(f"{where}.kind", f"a {kind} map must follow a linear map (its input must be the "
                          "output of a rotation, DESIGN.md 5)")
                if "dim" in dl and _width(dl["dim"], f"{where}.dim") != prev_raw:
                    _fail(f"{where}.dim", f"a separable map keeps the width ({prev_raw}), got {dl['dim']}")
                slope = ACTIVATIONS[kind]
                if slope is None:
                    slope = _number(dl.get("slope", 0.1), f"{where}.slope", nonnegative=True)
                    if slope >= 1:
                        _fail(f"{where}.slope", f"must be in [0, 1), got {slope}")
                penalty = ("matched", {})
                if "penalty" in dl:
                    penalty = _law(dl["penalty"], f"{where}.penalty", ACTIVATION_PENALTIES, key="kind")
                    for k in penalty[1]:
                        penalty[1][k] = _number(penalty[1][k], f"{where}.penalty.{k}", positive=True)
                    if penalty[0] == "lifted_relu" and i == len(layers_in) - 1:
                        _fail(f"{where}.penalty", "the lifted relu penalty cannot be the measurement "
                              "(a noisy y can be negative and z >= 0 is then infeasible)")
                layer = ActivationSpec(kind, prev_dim, slope,
                                       _number(dl.get("noise_var", 0.0), f"{where}.noise_var", nonnegative=True),
                                       penalty)
            else:
                _fail(f"{where}.kind", f"unknown kind {kind!r} (known: linear, {', '.join(ACTIVATIONS)})")
            layers.append(layer)
            prev_dim = layer.dim
            prev_raw = dl["dim"] if kind == "linear" else prev_raw
        if layers[-1].noise_var <= 0:
            _fail(f"layers[{len(layers) - 1}].noise_var",
                  "the measurement (last map) must be noisy: MAP with y fixed needs noise_var > 0")
        source = copy.deepcopy(d)
        source["scale"] = scale
        return cls(inp, tuple(layers), source, damping, jump_step)

    @classmethod
    def from_toml(cls, path) -> "NetworkSpec":
        """Read a spec from a TOML file (same keys as :meth:`from_dict`)."""
        return cls.from_dict(read_toml(path))

    @property
    def plain_run(self) -> bool:
        """Undamped, with the a.e. divergence: what the quadrature SE describes."""
        return self.damping == (1.0, 1.0, 1.0, 1.0) and self.jump_step == 0.0

    def scaled(self, s: float) -> "NetworkSpec":
        """The same network with every width multiplied by ``s`` (rounded)."""
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

    def bias_of_variable(self, l: int) -> float:
        """b_l: the bias of the linear map producing z_l (0 for the input and activation outputs)."""
        if l == 0:
            return 0.0
        layer = self.layers[l - 1]
        return layer.bias if layer.kind == "linear" else 0.0

    def to_json(self) -> str:
        """The spec as JSON text (for provenance in datasets)."""
        return json.dumps(self.source, sort_keys=True)
