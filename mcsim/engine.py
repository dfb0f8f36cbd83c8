"""The study engine: split a study into shards, run the missing ones in parallel, assemble.

A study's work is a list of :class:`Task` s, one per result shard: the SE of each
network type at each width scale, and its Monte Carlo networks in ranges of
``shard_size``.  Tasks are pure functions of their inputs and run in joblib worker
processes; the parent writes each finished shard atomically, so an interrupted study
loses only the shards in flight, and re-running it computes only what is missing.

Seeds: Monte Carlo network i of network type ``name`` at scale s is drawn from child
i of ``SeedSequence([seed, crc32(name), round(1e6 s)])``, so a result depends only on
(seed, name, scale, i), not on ``n_jobs``, sharding, or which other scales and
network types the study holds.
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import signal
import sys
import tempfile
import time
import zlib
from pathlib import Path

import joblib
import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from .config import StudyConfig
from .ensembles import planned_factors
from .montecarlo import run_networks
from .orthogonal import HOUSEHOLDER_MIN_WIDTH, ensemble_label, form_cost
from .progress import Progress
from .provenance import source_digest
from .shards import content_checksum, load_shard, remove_stale_temporaries, shard_key, write_atomic
from .spec import NetworkSpec
from .state_evolution import state_evolution
from .truth import signal_moments
from .validation import workers


def family_seed(seed: int, name: str, scale: float) -> list[int]:
    """Entropy of the SeedSequence of network type ``name`` at width scale ``scale``."""
    return [int(seed), zlib.crc32(name.encode()), int(round(1e6 * scale))]


@dataclasses.dataclass(frozen=True)
class Task:
    """One shard of a study: the SE (``start`` None) or Monte Carlo networks ``start .. stop-1``."""

    network: str
    scale: float
    spec: NetworkSpec = dataclasses.field(compare=False)  # at this scale; the other fields identify the task
    iterations: int
    seed: tuple[int, ...]
    start: int | None = None
    stop: int | None = None
    haar: str = "auto"

    @property
    def kind(self) -> str:
        return "se" if self.start is None else "mc"

    @property
    def key(self) -> str:
        return shard_key(kind=self.kind, spec=self.spec.to_json(), iterations=self.iterations,
                         seed=list(self.seed), start=self.start, stop=self.stop, code=source_digest(),
                         haar=self.haar, householder_min_width=HOUSEHOLDER_MIN_WIDTH)

    @property
    def filename(self) -> str:
        what = "se" if self.kind == "se" else f"mc_{self.start:06d}-{self.stop:06d}"
        return f"{self.network}/scale{self.scale:g}_{what}.nc"

    @property
    def cost(self) -> float:
        """Estimated seconds, for the ETA only: per network, each factor's draw and products
        in the form it will take (``mcsim.orthogonal.form_cost``), and about 5e-8 s per
        variable entry and iteration; about 0.05 s per SE iteration and variable, and for
        the SE with memory about 0.1 s per cross-time pair of updates and variable."""
        if self.kind == "se":
            pairs = 0 if self.spec.run.undamped else self.iterations * (self.iterations - 1) // 2
            return (0.05 * self.iterations + 0.1 * pairs) * self.spec.depth
        factors = sum(form_cost(form, n, products)
                      for n, form, products in planned_factors(self.spec, self.haar, 1, self.iterations))
        return (self.stop - self.start) * (factors + 5e-8 * self.iterations * sum(self.spec.dims) + 1e-3)

    def run(self) -> xr.Dataset:
        """Compute this shard (single-threaded BLAS), labelled with its key."""
        with threadpool_limits(limits=1):
            if self.kind == "se":
                ds = state_evolution(self.spec, self.iterations)
            else:
                ds = run_networks(self.spec, list(self.seed), self.start, self.stop, self.iterations, haar=self.haar)
        ds.attrs["shard_key"] = self.key
        return ds


def plan(config: StudyConfig) -> list[Task]:
    """Every shard of the study: per network type and scale, the SE, then the networks
    in ranges of ``shard_size``."""
    tasks = []
    for name, spec in config.specs.items():
        for scale in config.scales:
            common = dict(network=name, scale=scale, spec=spec.scaled(scale), iterations=config.iterations,
                          seed=tuple(family_seed(config.seed, name, scale)))
            tasks.append(Task(**common))
            for start in range(0, config.networks, config.shard_size):
                tasks.append(Task(**common, start=start, stop=min(start + config.shard_size, config.networks),
                                  haar=config.haar))
    return tasks


def _die_with_parent(dispatcher_pid: int) -> None:
    """In a worker process (not the one dispatching the tasks) on Linux: be killed when
    the process that started it dies, so that a killed study (SIGKILL) leaves no
    orphaned workers behind.  No-op elsewhere."""
    global _DEATH_SIGNAL_SET
    if _DEATH_SIGNAL_SET or os.getpid() == dispatcher_pid or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        return
    _DEATH_SIGNAL_SET = True


_DEATH_SIGNAL_SET = False


def _run(task, dispatcher_pid: int) -> tuple:
    """(task, its dataset, the seconds it took)."""
    _die_with_parent(dispatcher_pid)
    start = time.monotonic()
    ds = task.run()
    ds.attrs["checksum"] = content_checksum(ds)
    return task, ds, time.monotonic() - start


def load_shards(tasks: list, folder: Path, log=print) -> dict:
    """The intact shards of ``tasks`` in ``folder``; each one present but unusable is reported."""
    shards = {}
    for t in tasks:
        ds, why = load_shard(folder / t.filename, t.key)
        if ds is not None:
            shards[t] = ds
        elif why:
            log(f"shard {t.filename}: {why}: not used")
    return shards


def _parallel(n_jobs: int, backend: str, scheduler: str | None):
    """A joblib backend context: worker processes here (``loky``), or the workers of a
    ``dask.distributed`` scheduler (``dask``; the ``hpc`` extra)."""
    if backend == "loky":
        return contextlib.nullcontext(workers(n_jobs, "--n-jobs"))
    try:
        from distributed import Client
    except ImportError:
        raise RuntimeError("--backend dask needs dask.distributed: pip install 'mcsim[hpc]'") from None
    try:
        client = Client(scheduler, timeout=30) if scheduler else Client(processes=True, threads_per_worker=1)
    except OSError as err:  # includes the time-out of an unreachable scheduler
        raise RuntimeError(f"--scheduler {scheduler}: cannot reach the dask scheduler ({err})") from None
    client.run(node_local_numba_cache)

    @contextlib.contextmanager
    def dask_backend():
        try:
            with joblib.parallel_config(backend="dask"):
                yield max(1, sum(client.nthreads().values()))
        finally:
            client.close()
    return dask_backend()


def node_local_numba_cache() -> str:
    """In a (dask) worker: point numba's cache at the node's temporary directory unless
    NUMBA_CACHE_DIR is set, so that workers do not share compiled kernels over a network
    file system.  Takes effect in workers that have not imported mcsim's kernels yet
    (fresh workers; a worker forked from a process that had imported them keeps its
    cache folder)."""
    if not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), f"numba-mcsim-{os.getuid()}")
    return os.environ["NUMBA_CACHE_DIR"]


def run_shards(config: StudyConfig, folder: Path, n_jobs: int = -1, log=print, shard: tuple[int, int] = (0, 1),
               backend: str = "loky", scheduler: str | None = None) -> dict[Task, xr.Dataset]:
    """Every finished shard of the study (:func:`run_tasks` on its :func:`plan`)."""
    return run_tasks(plan(config), config.name, folder, n_jobs, log, shard, backend, scheduler)


def run_tasks(tasks: list, label: str, folder: Path, n_jobs: int = -1, log=print, shard: tuple[int, int] = (0, 1),
              backend: str = "loky", scheduler: str | None = None) -> dict:
    """Every finished shard of ``tasks`` (objects with ``key``, ``filename``, ``kind``
    "se" or "mc", ``start``/``stop``, ``cost`` and ``run()``, like :class:`Task`),
    reading them from ``folder`` and computing (and writing, atomically) the missing
    ones among this process's part: task k belongs to part ``k mod N`` of
    ``shard = (I, N)``.  Tasks run in ``n_jobs`` joblib worker processes, or on a dask
    cluster (``backend="dask"``, ``scheduler`` address)."""
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    part, parts = shard
    shards = load_shards(tasks, folder, log)
    pending = sorted((t for k, t in enumerate(tasks) if k % parts == part and t not in shards),
                     key=lambda t: (t.kind != "se", -t.cost))
    if shards:
        log(f"resuming: {len(shards)} of {len(tasks)} shards already in {folder}")
    if not pending:
        return shards
    kinds = {kind: [t.cost for t in pending if t.kind == kind] for kind in ("se", "mc")}
    start = time.monotonic()
    with _parallel(n_jobs, backend, scheduler) as workers:
        progress = Progress({k: c for k, c in kinds.items() if c}, label, min(workers, len(pending)))
        progress.phase(f"{len(kinds['se'])} SE and {len(kinds['mc'])} Monte Carlo shards on "
                       f"{min(workers, len(pending))} workers; "
                       "the first ones include compiling the kernels (10-20 s)")
        se_left = len(kinds["se"])
        try:
            for task, ds, seconds in joblib.Parallel(n_jobs=min(workers, len(pending)),
                                                     return_as="generator_unordered")(
                    joblib.delayed(_run)(t, os.getpid()) for t in pending):
                write_atomic(ds, folder / task.filename)
                shards[task] = ds
                progress.advance(task.kind, task.cost, seconds)
                se_left -= task.kind == "se"
                if task.kind == "se" and se_left == 0 and kinds["mc"]:
                    progress.phase(f"every SE shard done after {time.monotonic() - start:.0f} s; Monte Carlo goes on")
        finally:
            progress.close()
    wall = time.monotonic() - start
    networks = sum(t.stop - t.start for t in pending if t.kind == "mc")
    log(f"computed {len(pending)} shards ({networks} networks) in {wall:.0f} s with {workers} workers: "
        f"{networks / wall:.1f} networks/s, SE included")
    return shards


SE_ATTRS = ("se_method", "quadrature_tol", "cross_moments", "cross_density", "cross_self_check", "population",
            "population_seed", "sampled_layers")  # which SE judged the study


def assemble(config: StudyConfig, name: str, shards: dict[Task, xr.Dataset]) -> xr.Dataset:
    """One network type's result on (scale, network, iteration, layer), with the SE as
    ``se_*`` on (scale, iteration, layer), the widths and signal powers on (scale, layer)
    and the factor forms drawn on (scale,)."""
    spec = config.specs[name]
    per_scale = []
    for scale in config.scales:
        mine = sorted((t for t in shards if t.network == name and t.scale == scale),
                      key=lambda t: -1 if t.start is None else t.start)
        se, mc = shards[mine[0]], [shards[t] for t in mine[1:]]
        ds = xr.concat(mc, "network") if len(mc) > 1 else mc[0]
        ds = ds.drop_vars("width")
        for var in se.data_vars:
            ds[f"se_{var}"] = se[var].drop_vars("width", errors="ignore")
            ds[f"se_{var}"].attrs = dict(se[var].attrs, long_name=f"SE prediction: {se[var].attrs.get('long_name', var)}")
        ds.attrs = {}
        per_scale.append(ds.expand_dims(scale=[scale]))
    result = xr.concat(per_scale, "scale")
    scaled = [spec.scaled(s) for s in config.scales]
    result = result.assign_coords(width=(("scale", "layer"), np.array([s.dims[: spec.depth] for s in scaled])))
    result["width"].attrs["long_name"] = "n_l, the width of variable z_l"
    result["signal_power"] = (("scale", "layer"), np.array([signal_moments(s)[0][: spec.depth] for s in scaled]),
                              {"long_name": "E[(z0_l)^2], the normaliser of the NMSE", "units": "signal^2"})
    result["scale"].attrs["long_name"] = "width multiplier of the network spec"
    forms = [shards[next(t for t in shards if t.network == name and t.scale == s and t.kind == "mc")].attrs["factor_forms"]
             for s in config.scales]
    result["factor_forms"] = ("scale", np.array(forms, dtype=object),
                              {"long_name": f"form of each orthogonal factor drawn (haar = {config.haar}; mcsim.orthogonal)"})
    result.attrs.update(
        study=config.name, network=name, spec=spec.to_json(), seed=str(config.seed),
        seed_entropy=json.dumps({f"{s:g}": family_seed(config.seed, name, s) for s in config.scales}),
        seed_rule="network i at scale s: child i of numpy.random.SeedSequence(seed_entropy[s])",
        networks=config.networks, iterations=config.iterations, haar=config.haar, run=spec.run.label,
        ensemble=ensemble_label(config.haar),
        **{k: v for k, v in shards[next(t for t in shards if t.network == name and t.kind == "se")].attrs.items()
           if k in SE_ATTRS})
    return result
