"""Provenance of a result: package versions, git commit, host, command line, time."""
from __future__ import annotations

import datetime
import functools
import hashlib
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

from mcsim import kernels, studies

from . import __version__

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGES = ("numpy", "numba", "scipy", "xarray", "joblib", "netCDF4")


def git_commit(root: Path = REPOSITORY) -> str:
    """``git rev-parse HEAD`` of the mcsim checkout, with ``+dirty`` if it has uncommitted
    changes to tracked files; ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def digest_of(packages: dict) -> str:
    """SHA-256 (first 16 hex digits) of every ``.py`` file under the folders of
    ``packages`` (label -> folder), each with its label and path, in sorted order; a
    folder's subfolders that are packages of their own (other labels) are left to them."""
    h = hashlib.sha256()
    folders = {Path(f).resolve() for f in packages.values()}
    for label, folder in sorted(packages.items()):
        folder = Path(folder).resolve()
        for path in sorted(folder.rglob("*.py")):
            if any(folder in other.parents and other in path.parents for other in folders):
                continue
            h.update(f"{label}/{path.relative_to(folder).as_posix()}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """:func:`digest_of` the code that computes results: the ``mcsim`` package with its
    kernels (wherever they are installed; the study files are left out, their content
    is in each shard key).  It goes into every shard key, so a resumed study never
    reuses a shard that other code computed (an edited kernel, an uncommitted change,
    another version)."""
    return digest_of({"mcsim": Path(__file__).resolve().parent, "kernels": Path(kernels.__file__).resolve().parent,
                      "studies": Path(studies.__file__).resolve().parent})


def package_versions() -> dict[str, str]:
    """Versions of Python, mcsim and the numerical packages, as netCDF attribute names."""
    versions = {"python_version": platform.python_version(), "mcsim_version": __version__,
                "mcsim_source_digest": source_digest()}
    for name in PACKAGES:
        try:
            versions[f"{name.lower()}_version"] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[f"{name.lower()}_version"] = "not installed"
    return versions


def provenance(argv: list[str] | None = None) -> dict[str, str]:
    """Global attributes recording how a result was made (all strings, netCDF-safe)."""
    return {
        **package_versions(),
        "git_commit": git_commit(),
        "host": platform.node(),
        "platform": platform.platform(),
        "command": " ".join(["python -m mcsim.study", *(sys.argv[1:] if argv is None else argv)]),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
