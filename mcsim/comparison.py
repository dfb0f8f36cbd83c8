"""Studies of kind ``comparison``: ML-VAMP, its SE, Adam and L-BFGS on the same random
networks (the seed talk's Example 1, ``studies/example1.toml``).

For every network type (``[[network]]``) and network i (drawn from child i of
``SeedSequence([seed, crc32(name), 10^6])``, the scale-1 networks of an ordinary study
with the same seed and name), one run of each method from the same start (ML-VAMP's
initial messages, ``mcsim.baselines``):

- ML-VAMP, undamped, ``iterations`` iterations: the error |zhat^-_0 - z0_0|^2 / n_0 per
  iteration, F at its last estimate, its consensus gap and, at a fixed point
  (consensus <= ``FIXED_POINT``), its KKT residuals (``mcsim.stationarity``);
- the SE of the same (undamped) algorithm, tau^-_0 per iteration;
- Adam (``adam_steps`` steps of size ``adam_lr``) and L-BFGS (at most ``lbfgs_steps``
  iterations) on F over the free variables: error and F at checkpoints.

Work is split into shards and run by the study engine (``mcsim.engine.run_tasks``):
resumable, parallel, dask-capable.  The result is one netCDF file and one figure.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from mcsim.kernels.mlvamp import ROW

from .baselines import adam, checkpoints, lbfgs
from .config import read_study_file
from .engine import family_seed
from .ensembles import draw_network
from .montecarlo import network_seeds, run_mlvamp
from .objective import MapProblem
from .provenance import source_digest
from .shards import shard_key
from .spec import NetworkSpec, SpecError, read_toml
from .state_evolution import state_evolution
from .stationarity import kkt_report
from .truth import signal_moments

FIXED_POINT = 1e-8  # consensus |zhat^+ - zhat^-| / |zhat^-| (every layer) below which ML-VAMP is at a fixed point
_SCALARS = {"description", "networks", "iterations", "seed", "shard_size", "adam_steps", "adam_lr", "lbfgs_steps"}


def _positive_int(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{where}: must be a positive integer, got {value!r}")


@dataclasses.dataclass(frozen=True)
class ComparisonConfig:
    """A comparison study: network types, networks per type, iterations and steps, seed."""

    name: str
    source: Path
    networks: int
    iterations: int
    seed: int
    specs: dict[str, NetworkSpec]
    description: str = ""
    shard_size: int = 10
    adam_steps: int = 2000
    adam_lr: float = 0.01
    lbfgs_steps: int = 500

    def __post_init__(self):
        where = str(self.source)
        for key in ("networks", "iterations", "shard_size", "adam_steps", "lbfgs_steps"):
            _positive_int(getattr(self, key), f"{where}: {key}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpecError(f"{where}: seed: must be a non-negative integer, got {self.seed!r}")
        lr = self.adam_lr
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
            raise SpecError(f"{where}: adam_lr: must be a positive number, got {lr!r}")
        if not self.specs:
            raise SpecError(f"{where}: network: a study needs at least one [[network]]")
        for name, spec in self.specs.items():
            try:
                MapProblem.check(spec)
            except ValueError as err:
                raise SpecError(f"{where}: network {name!r}: {err}") from None

    @classmethod
    def load(cls, path, quick: bool = False) -> "ComparisonConfig":
        """Read and validate a comparison study file; ``quick`` applies its ``[quick]`` table."""
        path = Path(path)
        raw, specs = read_study_file(path, _SCALARS, {"iterations", "networks", "seed"}, quick)
        return cls(name=f"{path.stem}-quick" if quick else path.stem, source=path, specs=specs, **raw)

    def replace(self, **overrides) -> "ComparisonConfig":
        """A copy with the non-None ``overrides`` applied (validated again)."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})


STUDY_KINDS = ("scaling", "comparison", "inpaint")


def study_kind(path) -> str:
    """The kind of the study file at ``path``: scaling (the default), comparison or inpaint."""
    kind = read_toml(path).get("kind", "scaling")
    if kind not in STUDY_KINDS:
        raise SpecError(f"{path}: kind: must be one of {', '.join(STUDY_KINDS)} (default scaling), got {kind!r}")
    return kind


def compare_network(spec: NetworkSpec, seed, iterations: int, adam_steps: int, adam_lr: float,
                    lbfgs_steps: int) -> dict[str, np.ndarray]:
    """ML-VAMP, Adam and L-BFGS on one random network (module docstring)."""
    net = draw_network(spec, np.random.default_rng(seed), iterations=iterations, full_capacity=True)
    run = run_mlvamp(net, iterations)
    problem = MapProblem(net)
    truth = net.z0[0][0]
    start = problem.point([r[0] for r in net.r_minus0])
    final = problem.point([z[0] for z in run.zhat_minus])
    consensus = max(np.linalg.norm(p[0] - m[0]) / np.linalg.norm(m[0])
                    for p, m in zip(run.zhat_plus, run.zhat_minus))
    kkt = kkt_report(net, run) if consensus <= FIXED_POINT else None
    by_adam = adam(problem, start, truth, adam_steps, adam_lr)
    by_lbfgs = lbfgs(problem, start, truth, lbfgs_steps)
    return {
        "mlvamp_error": run.records[0, ROW["tau_minus"], :, 0],
        "mlvamp_value": problem.value(final) if np.all(np.isfinite(final)) else np.nan,
        "valid_iterations": run.valid[0],
        "consensus": consensus,
        "kkt_gradient": np.nanmax(kkt["gradient"]) if kkt else np.nan,
        "kkt_feasibility": np.nanmax(np.append(kkt["feasibility"], 0.0)) if kkt else np.nan,
        "kinks": kkt["kinks"].sum() if kkt else -1,
        "adam_error": by_adam.error, "adam_value": by_adam.value,
        "lbfgs_error": by_lbfgs.error, "lbfgs_value": by_lbfgs.value,
        "truth_value": problem.value(problem.point([z[0] for z in net.z0[: spec.depth]])),
        "signal_power": np.mean(truth ** 2),
    }


VARIABLES = {  # name -> (dims after network, long name)
    "mlvamp_error": (("iteration",), "ML-VAMP (undamped): |zhat^-_0 - z0_0|^2 / n_0 after each iteration"),
    "mlvamp_value": ((), "F at ML-VAMP's last estimate zhat^-"),
    "valid_iterations": ((), "ML-VAMP iterations completed before a stop (alpha outside (0, 1), ...)"),
    "consensus": ((), "max over layers of |zhat^+_l - zhat^-_l| / |zhat^-_l| after the last iteration"),
    "kkt_gradient": ((), "at a fixed point: max relative (minimum-norm sub)gradient of F over free variables"),
    "kkt_feasibility": ((), "at a fixed point: max relative violation of the deterministic maps"),
    "kinks": ((), "at a fixed point: activation inputs at 0 (kinks of F); -1 elsewhere"),
    "adam_error": (("adam_step",), "Adam: |z_0 - z0_0|^2 / n_0 after each recorded step"),
    "adam_value": (("adam_step",), "Adam: F after each recorded step"),
    "lbfgs_error": (("lbfgs_step",), "L-BFGS: |z_0 - z0_0|^2 / n_0 after each recorded iteration"),
    "lbfgs_value": (("lbfgs_step",), "L-BFGS: F after each recorded iteration (held after it stops)"),
    "truth_value": ((), "F at the true signal"),
    "signal_power": ((), "|z0_0|^2 / n_0, the NMSE normaliser of this network"),
}


@dataclasses.dataclass(frozen=True)
class ComparisonTask:
    """One shard: the SE of a network type (``start`` None) or its networks ``start .. stop-1``."""

    network: str
    spec: NetworkSpec = dataclasses.field(compare=False)
    iterations: int
    seed: tuple[int, ...]
    start: int | None = None
    stop: int | None = None
    adam: tuple = (2000, 0.01)
    lbfgs_steps: int = 500

    @property
    def kind(self) -> str:
        return "se" if self.start is None else "mc"

    @property
    def key(self) -> str:
        return shard_key(study="comparison", kind=self.kind, spec=self.spec.to_json(), iterations=self.iterations,
                         seed=list(self.seed), start=self.start, stop=self.stop, adam=list(self.adam),
                         lbfgs=self.lbfgs_steps, code=source_digest())

    @property
    def filename(self) -> str:
        return f"{self.network}/" + ("se.nc" if self.kind == "se" else f"mc_{self.start:06d}-{self.stop:06d}.nc")

    @property
    def cost(self) -> float:
        """Estimated seconds (ETA only): 0.3 s per SE iteration; per network about 0.4 ms per
        gradient (Adam steps, ~3 per L-BFGS iteration) and 0.2 s for the rest."""
        if self.kind == "se":
            return 0.3 * self.iterations
        return (self.stop - self.start) * (4e-4 * (self.adam[0] + 3 * self.lbfgs_steps) + 0.2)

    def run(self) -> xr.Dataset:
        with threadpool_limits(limits=1):
            if self.kind == "se":
                se = state_evolution(self.spec, self.iterations)
                ds = xr.Dataset({"se_error": ("iteration", se.tau_minus.isel(layer=0).values)})
            else:
                rows = [compare_network(self.spec, s, self.iterations, *self.adam, self.lbfgs_steps)
                        for s in network_seeds(list(self.seed), self.start, self.stop)]
                ds = xr.Dataset({name: (("network",) + dims, np.array([r[name] for r in rows]))
                                 for name, (dims, _) in VARIABLES.items()},
                                coords={"network": np.arange(self.start, self.stop),
                                        "adam_step": checkpoints(self.adam[0]),
                                        "lbfgs_step": checkpoints(self.lbfgs_steps)})
        ds.attrs["shard_key"] = self.key
        return ds


def plan_comparison(config: ComparisonConfig) -> list[ComparisonTask]:
    tasks = []
    for name, spec in config.specs.items():
        common = dict(network=name, spec=spec, iterations=config.iterations,
                      seed=tuple(family_seed(config.seed, name, 1.0)), adam=(config.adam_steps, config.adam_lr),
                      lbfgs_steps=config.lbfgs_steps)
        tasks.append(ComparisonTask(**common))
        for start in range(0, config.networks, config.shard_size):
            tasks.append(ComparisonTask(**common, start=start, stop=min(start + config.shard_size, config.networks)))
    return tasks


def assemble_comparison(config: ComparisonConfig, shards: dict) -> xr.Dataset:
    """All network types on (model, network, ...), with the SE on (model, iteration)."""
    per_model = []
    for name, spec in config.specs.items():
        mine = sorted((t for t in shards if t.network == name), key=lambda t: -1 if t.start is None else t.start)
        ds = xr.concat([shards[t] for t in mine[1:]], "network")
        ds["se_error"] = shards[mine[0]].se_error
        ds["se_signal_power"] = signal_moments(spec)[0][0]
        ds.attrs = {}
        per_model.append(ds.expand_dims(model=[name]))
    result = xr.concat(per_model, "model")
    result = result.assign_coords(iteration=np.arange(result.sizes["iteration"]))
    result["iteration"].attrs["long_name"] = "ML-VAMP iteration t (a forward and a backward pass each)"
    for name, (_, long_name) in VARIABLES.items():
        result[name].attrs["long_name"] = long_name
    result["se_error"].attrs["long_name"] = "SE prediction of mlvamp_error (undamped ML-VAMP, a.e. divergence)"
    result["se_signal_power"].attrs["long_name"] = "E[(z0_0)^2], the NMSE normaliser of the SE"
    result.attrs.update(
        study=config.name, kind="comparison", seed=str(config.seed), networks=config.networks,
        iterations=config.iterations, adam_steps=config.adam_steps, adam_lr=config.adam_lr,
        lbfgs_steps=config.lbfgs_steps, fixed_point_tolerance=FIXED_POINT,
        seed_rule="network i of type NAME: child i of numpy.random.SeedSequence([seed, crc32(NAME), 1000000])",
        start="every method starts from ML-VAMP's initial messages r^-_l = z0_l + N(0, E[z0_l^2]) "
              "at the free variables",
        **{f"spec_{name}": spec.to_json() for name, spec in config.specs.items()})
    return result


def _db(x):
    return 10 * np.log10(x)


def comparison_table(result: xr.Dataset) -> str:
    """Per network type: final NMSE of each method (median and quartiles), the SE's
    prediction, F at each method's end against ML-VAMP's, and ML-VAMP's fixed points."""
    lines = []
    a = result.attrs
    for model in result.model.values:
        r = result.sel(model=model)
        n = r.sizes["network"]
        lines.append(f"{a.get('study', '')} / {model}: {n} networks; ML-VAMP {a['iterations']} iterations (undamped), "
                     f"Adam {a['adam_steps']} steps (lr {a['adam_lr']:g}), L-BFGS <= {a['lbfgs_steps']} iterations")
        lines.append("  final NMSE of z_0 in dB: median [quartiles]")
        se = float(_db(r.se_error.isel(iteration=-1) / r.se_signal_power))
        for label, var in (("ML-VAMP", "mlvamp_error"), ("Adam", "adam_error"), ("L-BFGS", "lbfgs_error")):
            nmse = _db(r[var].isel({r[var].dims[-1]: -1}) / r.signal_power)
            q = np.nanquantile(nmse, [0.25, 0.5, 0.75])
            extra = f"   SE prediction {se:.2f} (median - SE = {q[1] - se:+.2f} dB)" if var == "mlvamp_error" else ""
            lines.append(f"    {label:8s} {q[1]:7.2f} [{q[0]:.2f}, {q[2]:.2f}]{extra}")
        lines.append("  MAP objective F at the final point against ML-VAMP's, per network "
                     "(lower: ML-VAMP's F is higher)")
        vamp = r.mlvamp_value.values
        fixed = np.isfinite(r.kkt_gradient.values)
        for label, var in (("Adam", "adam_value"), ("L-BFGS", "lbfgs_value")):
            rel = (r[var].isel({r[var].dims[-1]: -1}).values - vamp) / np.abs(vamp)
            counts = ", ".join(f"{where}: lower on {int(np.sum(rel[m] < -1e-9))}, equal (1e-9) on "
                               f"{int(np.sum(np.abs(rel[m]) <= 1e-9))}, higher on {int(np.sum(rel[m] > 1e-9))}"
                               for where, m in (("all", np.ones(n, bool)), ("at ML-VAMP fixed points", fixed)))
            lines.append(f"    {label:8s} {counts}; median (F - F_ML-VAMP) / |F_ML-VAMP| {np.nanmedian(rel):+.1e}")
        worst = f"; max relative KKT gradient {np.nanmax(r.kkt_gradient.values):.1e}" if fixed.any() else ""
        lines.append(f"  ML-VAMP reached a fixed point (consensus <= {a['fixed_point_tolerance']:g}) on "
                     f"{int(fixed.sum())}/{n}{worst}")
    return "\n".join(lines)


def plot_comparison(result: xr.Dataset, path: Path) -> None:
    """One row per network type: left, ML-VAMP's NMSE of z_0 in dB (median, quartile band)
    against its iterations, with the SE; right, Adam's and L-BFGS's against their steps
    (log axis), with ML-VAMP's final median for reference.  Legends below the curves."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = result.model.values
    fig, axes = plt.subplots(len(models), 2, figsize=(11, 3.8 * len(models)), squeeze=False, constrained_layout=True)

    def band(ax, x, values, color, label):
        q = np.nanquantile(values, [0.25, 0.5, 0.75], axis=0)
        ax.fill_between(x, q[0], q[2], color=color, alpha=0.2, lw=0)
        ax.plot(x, q[1], color=color, lw=1.6, label=f"{label} (median, quartiles)")
        return q[1]

    for (left, right), model in zip(axes, models):
        r = result.sel(model=model)
        t = r.iteration.values + 1  # iteration t ends after t + 1 passes
        vamp = band(left, t, _db(r.mlvamp_error / r.signal_power).values, "C0", "ML-VAMP")
        left.plot(t, _db(r.se_error / r.se_signal_power), "k--", lw=1.2, label="SE (ML-VAMP)")
        left.set_xlabel("ML-VAMP iteration")
        left.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        for label, var, color in (("Adam", "adam_error", "C1"), ("L-BFGS", "lbfgs_error", "C2")):
            dim = r[var].dims[-1]
            keep = r[dim].values >= 1
            band(right, r[dim].values[keep], _db(r[var] / r.signal_power).values[:, keep], color, label)
        right.axhline(vamp[-1], color="C0", ls=":", lw=1.2, label="ML-VAMP, final median")
        right.set_xscale("log")
        right.set_xlabel("optimiser step (Adam) / iteration (L-BFGS)")
        for ax in (left, right):
            ax.set_ylabel("NMSE of z_0 (dB)")
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
        left.set_title(f"{model}: {r.sizes['network']} networks, ML-VAMP and its SE")
        right.set_title(f"{model}: gradient methods on the same MAP objective")
    fig.suptitle(f"{result.attrs.get('study', '')}: MAP inference, ML-VAMP vs SE vs Adam vs L-BFGS")
    fig.savefig(path, dpi=110)
    plt.close(fig)
