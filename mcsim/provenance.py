"""Provenance of a result: package versions, git commit, host, command line, time."""
from __future__ import annotations

import datetime
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path

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


def package_versions() -> dict[str, str]:
    """Versions of Python, mcsim and the numerical packages, as netCDF attribute names."""
    versions = {"python_version": platform.python_version(), "mcsim_version": __version__}
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
