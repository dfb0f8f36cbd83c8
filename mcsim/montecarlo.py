"""Monte Carlo: draw networks, run the ML-VAMP kernel, collect trajectories as xarray."""
from __future__ import annotations

from dataclasses import dataclass

import joblib
import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from mcsim.kernels import mlvamp

from .dataset import trajectory_dataset
from .factors.given import TRAINED_LABEL
from .ensembles import Network, draw_network
from .orthogonal import check_haar_method, ensemble_label, forms_summary
from .packing import network_arrays, signal_arrays
from .provenance import package_versions
from .spec import NetworkSpec
from .validation import check_count
from .validation import workers as n_workers


@dataclass
class Estimates:
    """ML-VAMP on the B signals of a network: ``records`` (B, N_RECORDS, iterations, L)
    (NaN past a stop), ``valid`` (B,) iterations completed, and the last estimates
    ``zhat_plus[l]``, ``zhat_minus[l]`` (B, n_l) of z_0 .. z_{L-1} (NaN for a signal that stopped)."""

    records: np.ndarray
    valid: np.ndarray
    zhat_plus: list
    zhat_minus: list


def run_mlvamp(net: Network, iterations: int, frozen: tuple | None = None) -> Estimates:
    """ML-VAMP on the B signals of ``net``, run as its spec's ``run`` says.
    ``frozen = (gam_plus, gam_minus)`` (each of length L) freezes the precisions at those
    values (Peaceman-Rachford ADMM, ``mcsim.admm``); the initial messages are the
    network's r^-_l with precision gam_minus (instead of ``net.gam_minus0``)."""
    L, B = net.spec.depth, net.signals
    out = np.full((B, mlvamp.N_RECORDS, iterations, L), np.nan)
    valid = np.zeros(B, np.int64)
    arrays, signals = network_arrays(net), signal_arrays(net)
    gam_plus = np.zeros((B, L))
    if frozen is not None:
        gam_plus[:] = frozen[0]
        signals.gam_minus[:] = frozen[1]
    total = arrays.voff[L]
    zhat_plus, zhat_minus = np.zeros((B, total)), np.zeros((B, total))
    run = net.spec.run
    steps = np.array([run.step(layer.dim) for layer in net.spec.layers])
    mlvamp.mlvamp_run(arrays, signals, gam_plus, frozen is not None, iterations, np.array(run.damping),
                      steps, run.kernel, out, valid, zhat_plus, zhat_minus)
    cuts = arrays.voff[1:L]
    return Estimates(out, valid, np.split(zhat_plus, cuts, axis=1), np.split(zhat_minus, cuts, axis=1))


def run_signals(net: Network, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Records (B, N_RECORDS, iterations, L) of ML-VAMP on the B signals of ``net`` (NaN
    past divergence) and their valid counts (B,)."""
    run = run_mlvamp(net, iterations)
    return run.records, run.valid


def run_trajectory(net: Network, iterations: int) -> tuple[np.ndarray, int]:
    """Records (N_RECORDS, iterations, L) of ML-VAMP on a one-signal ``net`` and its valid count."""
    if net.signals != 1:
        raise ValueError(f"run_trajectory runs one signal, the network has {net.signals}: use run_signals")
    out, valid = run_signals(net, iterations)
    return out[0], int(valid[0])


def _with_run(spec: NetworkSpec, iterations, run, haar="auto") -> NetworkSpec:
    """Check the run arguments; ``spec`` run with ``run`` (None: its own ``[run]``)."""
    check_count(iterations, "iterations")
    check_haar_method(haar)
    return spec if run is None else spec.with_run(run)


def run_network(spec: NetworkSpec, iterations: int, seed, run=None, haar: str = "auto") -> xr.Dataset:
    """One random network's trajectory: Dataset on (iteration, layer).

    ``seed`` is anything ``numpy.random.default_rng`` accepts (int, SeedSequence);
    ``run`` a :class:`mcsim.RunSpec` or ``[run]`` dict replacing the spec's;
    ``haar`` the form of the orthogonal factors (``mcsim.orthogonal``).
    """
    spec = _with_run(spec, iterations, run, haar)
    out, valid, forms = _trajectories(spec, [seed], iterations, haar)
    ds = trajectory_dataset(out[0, 0], spec)
    ds["valid_iterations"] = valid[0, 0]
    ds.attrs.update(seed=str(seed), haar=haar, factor_forms=forms,
                    ensemble=TRAINED_LABEL if spec.trained else ensemble_label(haar), **package_versions())
    return ds


def _trajectories(spec: NetworkSpec, seeds: list, iterations: int, haar: str, signals: int = 1):
    """Records (network, signal, ...), valid counts (network, signal) and the factor forms
    (``mcsim.orthogonal.forms_summary``, the same for every network) of the networks
    seeded by ``seeds``, with single-threaded BLAS (so that results do not depend on
    where they run)."""
    runs, buffer = [], None
    with threadpool_limits(limits=1):
        for s in seeds:
            net = draw_network(spec, np.random.default_rng(s), haar, reuse=buffer, signals=signals,
                               iterations=iterations)
            runs.append(run_signals(net, iterations))
            buffer = net.factors
    return np.stack([r[0] for r in runs]), np.stack([r[1] for r in runs]), forms_summary(net.U, net.V)


def network_seeds(seed, start: int, stop: int) -> list[np.random.SeedSequence]:
    """Children ``start .. stop-1`` of ``SeedSequence(seed)``: the same as
    ``SeedSequence(seed).spawn(stop)[start:stop]``, without spawning the ones before."""
    root = np.random.SeedSequence(seed)
    return [np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key + (i,), pool_size=root.pool_size)
            for i in range(start, stop)]


def run_networks(spec: NetworkSpec, seed, start: int, stop: int, iterations: int,
                 haar: str = "auto", signals: int = 1) -> xr.Dataset:
    """Networks ``start .. stop-1`` of the family seeded by ``seed`` (network i uses
    ``SeedSequence(seed).spawn(...)[i]``): Dataset on (network, iteration, layer), or on
    (network, signal, iteration, layer) with ``signals`` > 1 signals per network."""
    _with_run(spec, iterations, None, haar)
    check_count(signals, "signals")
    records, valid, forms = _trajectories(spec, network_seeds(seed, start, stop), iterations, haar, signals)
    if signals == 1:
        records, valid = records[:, 0], valid[:, 0]
    lead = ("network",) if signals == 1 else ("network", "signal")
    coords = {"network": np.arange(start, stop)} | ({} if signals == 1 else {"signal": np.arange(signals)})
    ds = trajectory_dataset(records, spec, lead, coords)
    ds["valid_iterations"] = (lead, valid)
    ds["valid_iterations"].attrs["long_name"] = "iterations completed before a stop: alpha outside (0, 1), a non-finite error or a non-positive precision"
    ds.attrs["factor_forms"] = forms
    return ds


def simulate(spec: NetworkSpec, networks: int, iterations: int, seed, n_jobs: int = -1,
             run=None, haar: str = "auto", signals: int = 1) -> xr.Dataset:
    """Trajectories of ``networks`` independent random networks: Dataset on (network, iteration, layer).

    Network i uses ``SeedSequence(seed).spawn(networks)[i]`` and single-threaded BLAS,
    so the result is bitwise the same whatever ``n_jobs`` (joblib worker processes;
    -1 = all cores).  ``haar``: the form of the orthogonal factors (``mcsim.orthogonal``).
    ``run``: a :class:`mcsim.RunSpec` or ``[run]`` dict (damping, divergence) replacing the
    spec's; the result records it (``run`` attribute, and in ``spec``), and
    ``state_evolution`` takes it the same way.
    ``signals`` > 1 runs that many independent signals through each network at once
    (matrix-matrix products), adding a ``signal`` dimension.
    """
    spec = _with_run(spec, iterations, run, haar)
    check_count(networks, "networks")
    workers = n_workers(n_jobs)
    bounds = np.linspace(0, networks, min(networks, 4 * workers) + 1).astype(int)
    parts = joblib.Parallel(n_jobs=workers)(
        joblib.delayed(run_networks)(spec, seed, int(a), int(b), iterations, haar, signals)
        for a, b in zip(bounds[:-1], bounds[1:]))
    ds = xr.concat(parts, "network") if len(parts) > 1 else parts[0]
    ds.attrs.update(seed=str(seed), haar=haar, ensemble=TRAINED_LABEL if spec.trained else ensemble_label(haar),
                    **package_versions())
    return ds
