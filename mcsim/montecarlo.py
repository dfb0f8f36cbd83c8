"""Monte Carlo: draw networks, run the ML-VAMP kernel, collect trajectories as xarray."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import joblib
import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from kernels import activations, mlvamp, priors

from .dataset import trajectory_dataset
from .ensembles import Network, check_haar_method, draw_network
from .spec import NetworkSpec, check_count, damping_factors

_PRIOR_CODES = {"gaussian": (priors.GAUSSIAN, "var"), "l1": (priors.L1, "lam")}


class Packed(NamedTuple):
    """The flat arrays ``kernels.mlvamp.mlvamp_run`` takes, in its argument order
    (layout in ``kernels.mlvamp``); ``kernels.objective`` takes a subset."""

    voff: np.ndarray
    kind: np.ndarray
    act_code: np.ndarray
    slope: np.ndarray
    nu: np.ndarray
    nv: np.ndarray
    bias: np.ndarray
    mats: np.ndarray
    uoff: np.ndarray
    vofm: np.ndarray
    ucode: np.ndarray
    vcode: np.ndarray
    sig: np.ndarray
    soff: np.ndarray
    prior_code: int
    prior_par: float
    y: np.ndarray
    z0: np.ndarray
    bvar: np.ndarray
    r_minus: np.ndarray
    gam_minus: np.ndarray


def packed(net: Network) -> Packed:
    """The network, its signals and initial messages as ``kernels.mlvamp.mlvamp_run`` takes them."""
    spec = net.spec
    dims = np.array(spec.dims, dtype=np.int64)
    L = spec.depth
    voff = np.concatenate([[0], np.cumsum(dims)]).astype(np.int64)
    kind = np.zeros(L, np.int64)
    act_code = np.zeros(L, np.int64)
    slope, nu, nv, bias = (np.zeros(L) for _ in range(4))
    uoff, vofm, sig = np.zeros(L, np.int64), np.zeros(L, np.int64), []
    ucode, vcode = np.zeros(L, np.int64), np.zeros(L, np.int64)
    soff = np.zeros(L + 1, np.int64)
    for j, layer in enumerate(spec.layers):
        nv[j] = layer.noise_var
        if layer.kind == "linear":
            kind[j] = mlvamp.LINEAR
            bias[j] = layer.bias
            U, V = net.U[j], net.V[j]
            uoff[j], vofm[j] = U.offset, V.offset
            ucode[j], vcode[j] = U.code, V.code
            sig.append(net.sigma[j])
        else:
            kind[j] = mlvamp.ACTIVATION
            slope[j] = layer.slope
            if layer.penalty[0] == "lifted_relu":
                act_code[j], nu[j] = activations.LIFTED_RELU, layer.penalty[1]["nu"]
            else:
                act_code[j] = activations.PWL
        soff[j + 1] = soff[j] + (sig[-1].size if layer.kind == "linear" else 0)
    prior_code, key = _PRIOR_CODES[spec.input.penalty[0]]
    bvar = np.array([spec.bias_of_variable(l) for l in range(L)])
    return Packed(voff, kind, act_code, slope, nu, nv, bias,
                  net.factors, uoff, vofm, ucode, vcode,
                  np.concatenate(sig) if sig else np.zeros(0), soff,
                  prior_code, float(spec.input.penalty[1][key]), net.y,
                  np.concatenate(net.z0[:L], axis=1), bvar,
                  np.concatenate(net.r_minus0, axis=1), np.tile(net.gam_minus0, (net.signals, 1)))


@dataclass
class Estimates:
    """ML-VAMP on the B signals of a network: ``records`` (B, N_RECORDS, iterations, L)
    (NaN past a stop), ``valid`` (B,) iterations completed, and the last estimates
    ``zhat_plus[l]``, ``zhat_minus[l]`` (B, n_l) of z_0 .. z_{L-1}."""

    records: np.ndarray
    valid: np.ndarray
    zhat_plus: list
    zhat_minus: list


def run_mlvamp(net: Network, iterations: int, damping=None, frozen: tuple | None = None) -> Estimates:
    """ML-VAMP on the B signals of ``net``.  ``frozen = (gam_plus, gam_minus)`` (each of
    length L) freezes the precisions at those values (Peaceman-Rachford ADMM,
    ``mcsim.admm``); the initial messages are the network's r^-_l with precision
    gam_minus (instead of ``net.gam_minus0``)."""
    L, B = net.spec.depth, net.signals
    out = np.full((B, mlvamp.N_RECORDS, iterations, L), np.nan)
    valid = np.zeros(B, np.int64)
    args = packed(net)
    gam_plus = np.zeros((B, L))
    if frozen is not None:
        gam_plus[:] = frozen[0]
        args.gam_minus[:] = frozen[1]
    total = args.voff[L]
    zhat_plus, zhat_minus = np.zeros((B, total)), np.zeros((B, total))
    factors = np.array(net.spec.damping if damping is None else damping_factors(damping, "damping"))
    mlvamp.mlvamp_run(*args, gam_plus, frozen is not None, iterations, factors, net.spec.jump_step, out, valid,
                      zhat_plus, zhat_minus)
    cuts = args.voff[1:L]
    return Estimates(out, valid, np.split(zhat_plus, cuts, axis=1), np.split(zhat_minus, cuts, axis=1))


def run_signals(net: Network, iterations: int, damping=None) -> tuple[np.ndarray, np.ndarray]:
    """Records (B, N_RECORDS, iterations, L) of ML-VAMP on the B signals of ``net`` (NaN
    past divergence) and their valid counts (B,)."""
    run = run_mlvamp(net, iterations, damping)
    return run.records, run.valid


def run_trajectory(net: Network, iterations: int, damping=None) -> tuple[np.ndarray, int]:
    """Records (N_RECORDS, iterations, L) of ML-VAMP on a one-signal ``net`` and its valid count."""
    if net.signals != 1:
        raise ValueError(f"run_trajectory runs one signal, the network has {net.signals}: use run_signals")
    out, valid = run_signals(net, iterations, damping)
    return out[0], int(valid[0])


def _check_run_args(iterations, damping, haar="auto"):
    check_count(iterations, "iterations")
    check_haar_method(haar)
    if damping is not None:
        damping_factors(damping, "damping")


def run_network(spec: NetworkSpec, iterations: int, seed, damping=None, haar: str = "auto") -> xr.Dataset:
    """One random network's trajectory: Dataset on (iteration, layer).

    ``seed`` is anything ``numpy.random.default_rng`` accepts (int, SeedSequence);
    ``haar`` the form of the orthogonal factors (``mcsim.ensembles``).
    """
    _check_run_args(iterations, damping, haar)
    out, valid = _trajectories(spec, [seed], iterations, damping, haar)
    ds = trajectory_dataset(out[0, 0], spec)
    ds["valid_iterations"] = valid[0, 0]
    return ds


def _trajectories(spec: NetworkSpec, seeds: list, iterations: int, damping, haar: str, signals: int = 1):
    """Records (network, signal, ...) and valid counts (network, signal) of the networks
    seeded by ``seeds``, with single-threaded BLAS (so that results do not depend on
    where they run)."""
    runs, buffer = [], None
    with threadpool_limits(limits=1):
        for s in seeds:
            net = draw_network(spec, np.random.default_rng(s), haar, reuse=buffer, signals=signals)
            runs.append(run_signals(net, iterations, damping))
            buffer = net.factors
    return np.stack([r[0] for r in runs]), np.stack([r[1] for r in runs])


def network_seeds(seed, start: int, stop: int) -> list[np.random.SeedSequence]:
    """Children ``start .. stop-1`` of ``SeedSequence(seed)``: the same as
    ``SeedSequence(seed).spawn(stop)[start:stop]``, without spawning the ones before."""
    root = np.random.SeedSequence(seed)
    return [np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key + (i,), pool_size=root.pool_size)
            for i in range(start, stop)]


def run_networks(spec: NetworkSpec, seed, start: int, stop: int, iterations: int,
                 damping=None, haar: str = "auto", signals: int = 1) -> xr.Dataset:
    """Networks ``start .. stop-1`` of the family seeded by ``seed`` (network i uses
    ``SeedSequence(seed).spawn(...)[i]``): Dataset on (network, iteration, layer), or on
    (network, signal, iteration, layer) with ``signals`` > 1 signals per network."""
    _check_run_args(iterations, damping, haar)
    check_count(signals, "signals")
    records, valid = _trajectories(spec, network_seeds(seed, start, stop), iterations, damping, haar, signals)
    if signals == 1:
        records, valid = records[:, 0], valid[:, 0]
    lead = ("network",) if signals == 1 else ("network", "signal")
    coords = {"network": np.arange(start, stop)} | ({} if signals == 1 else {"signal": np.arange(signals)})
    ds = trajectory_dataset(records, spec, lead, coords)
    ds["valid_iterations"] = (lead, valid)
    ds["valid_iterations"].attrs["long_name"] = "iterations completed before a stop: alpha outside (0, 1), a non-finite error or a non-positive precision"
    return ds


def simulate(spec: NetworkSpec, networks: int, iterations: int, seed, n_jobs: int = -1,
             damping=None, haar: str = "auto", signals: int = 1) -> xr.Dataset:
    """Trajectories of ``networks`` independent random networks: Dataset on (network, iteration, layer).

    Network i uses ``SeedSequence(seed).spawn(networks)[i]`` and single-threaded BLAS,
    so the result is bitwise the same whatever ``n_jobs`` (joblib worker processes;
    -1 = all cores).  ``haar``: the form of the orthogonal factors (``mcsim.ensembles``).
    ``damping``: None (the spec's ``[run]`` damping), one factor, or four (``run_mlvamp``).
    ``signals`` > 1 runs that many independent signals through each network at once
    (matrix-matrix products), adding a ``signal`` dimension.
    """
    _check_run_args(iterations, damping, haar)
    check_count(networks, "networks")
    workers = joblib.effective_n_jobs(n_jobs)
    bounds = np.linspace(0, networks, min(networks, 4 * workers) + 1).astype(int)
    parts = joblib.Parallel(n_jobs=workers)(
        joblib.delayed(run_networks)(spec, seed, int(a), int(b), iterations, damping, haar, signals)
        for a, b in zip(bounds[:-1], bounds[1:]))
    ds = xr.concat(parts, "network") if len(parts) > 1 else parts[0]
    ds.attrs["seed"] = str(seed)
    return ds
