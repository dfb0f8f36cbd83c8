"""Checking user input: every malformed field raises :class:`SpecError` naming it.

Shared by network specs, factor kinds and run variants, so that each checks its own
fields in the same words.
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np


class SpecError(ValueError):
    """A network specification is malformed; the message names the field."""


def fail(where: str, what: str):
    raise SpecError(f"{where}: {what}")


def number(value, where: str, *, positive=False, nonnegative=False) -> float:
    """A finite float (optionally > 0 or >= 0), else SpecError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(where, f"must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        fail(where, f"must be finite, got {value!r}")
    if positive and value <= 0:
        fail(where, f"must be > 0, got {value!r}")
    if nonnegative and value < 0:
        fail(where, f"must be >= 0, got {value!r}")
    return value


def width(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        fail(where, f"must be a positive integer, got {value!r}")
    return value


def table(value, where: str) -> dict:
    if not isinstance(value, dict):
        fail(where, f"must be a table/dict, got {type(value).__name__}")
    return value


def _key_name(key) -> str:
    """A key as it appears in a field path (quoted unless a plain identifier)."""
    return key if isinstance(key, str) and key.isidentifier() else repr(key)


def check_keys(d: dict, allowed: set, required: set, where: str):
    unknown = sorted(map(_key_name, set(d) - allowed))
    if unknown:
        fail(f"{where}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(required):
        if key not in d:
            fail(f"{where}.{key}", "missing")


def named(d, where: str, known, key: str = "law") -> tuple[str, dict]:
    """``(name, the other entries)`` of a table ``{key = name, ...}`` whose name is one of
    ``known``; the entries themselves are checked by the caller."""
    d = table(d, where)
    if key not in d:
        fail(f"{where}.{key}", "missing")
    name = d[key]
    if not isinstance(name, str) or name not in known:
        fail(f"{where}.{key}", f"unknown {key} {name!r} (known: {', '.join(sorted(known))})")
    return name, {k: v for k, v in d.items() if k != key}


def parameters(params: dict, required: set, optional: dict, where: str, **checks) -> dict:
    """The numeric parameters of a law: exactly ``required`` plus any of ``optional``
    (defaults filled in), each a number checked with ``checks`` (``positive``, ...)."""
    check_keys(params, required | set(optional), required, where)
    out = dict(optional)
    out.update({k: number(v, f"{where}.{k}", **checks) for k, v in params.items()})
    return out


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


def workers(n_jobs, where: str = "n_jobs") -> int:
    """The number of joblib worker processes ``n_jobs`` asks for on this machine:
    n > 0 workers, or -1 all cores, -2 all but one, ...; ValueError naming ``where`` for
    0, a non-integer, or a negative count that leaves no worker."""
    import os

    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError(f"{where}: must be a positive number of workers or -1 (all cores), -2 (all but one), ...; "
                         f"got {n_jobs!r}")
    if n_jobs > 0:
        return int(n_jobs)
    cores = os.cpu_count() or 1
    if cores + 1 + n_jobs < 1:
        raise ValueError(f"{where}: {n_jobs} leaves no worker on this {cores}-core machine (-1: all cores)")
    return cores + 1 + int(n_jobs)


def check_count(value, where: str) -> int:
    """A positive integer run argument (iterations, networks), else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: must be a positive integer, got {value!r}")
    return int(value)
