"""Result shards: each written atomically, each labelled with the key of what it holds.

A shard is a netCDF file holding one unit of work (the SE of a network type at one
width, or a range of its Monte Carlo networks).  Its ``shard_key`` attribute is a
SHA-256 of everything the content depends on, and its ``checksum`` a SHA-256 of the
content itself, so a re-run reuses exactly the shards that are intact and still hold
what it would compute, and recomputes (and reports) the rest.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import xarray as xr


def shard_key(**inputs) -> str:
    """SHA-256 of the JSON of ``inputs`` (sorted keys): equal inputs, equal key."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def write_atomic(ds: xr.Dataset, path: Path, compress: bool = False) -> None:
    """Write ``ds`` to ``path`` so that ``path`` is either absent or complete: write a
    temporary file beside it, flush it to disk, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    encoding = {v: {"zlib": True, "complevel": 4} for v in ds.data_vars} if compress else None
    try:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def content_checksum(ds: xr.Dataset) -> str:
    """SHA-256 of every variable's name, dtype, shape and values (coordinates included)."""
    h = hashlib.sha256()
    for name in sorted(map(str, ds.variables)):
        values = np.ascontiguousarray(ds[name].values)
        h.update(f"{name}|{values.dtype.str}|{values.shape}|".encode())
        h.update(values.tobytes() if values.dtype != object else repr(values.tolist()).encode())
    return h.hexdigest()


def load_shard(path: Path, key: str) -> tuple[xr.Dataset | None, str]:
    """The shard at ``path`` loaded in memory if it exists, is readable, holds ``key``
    and matches its checksum; otherwise None and why (empty if the file is absent)."""
    if not path.is_file():
        return None, ""
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except (OSError, ValueError, RuntimeError) as err:
        return None, f"unreadable ({type(err).__name__})"
    if ds.attrs.get("shard_key") != key:
        return None, "computed for another spec, seed, size or code"
    if ds.attrs.get("checksum") != content_checksum(ds):
        return None, "checksum mismatch (corrupt)"
    return ds, ""


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files left in ``folder`` by processes of this host that no longer run."""
    for tmp in folder.rglob(".*.tmp"):
        try:
            pid = int(tmp.name.rsplit(".", 2)[-2])
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, PermissionError):
            continue
