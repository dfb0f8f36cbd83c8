"""The inpaint study: its pipeline end to end on a tiny random decoder, ML-VAMP's estimate
on the trained decoder as a stationary point of F, and the surrogate's SE against its
own Monte Carlo."""
import numpy as np
import pytest
import xarray as xr

from mcsim import study
from mcsim.config import study_file
from mcsim.inpaint import METHODS, InpaintConfig, inpaint_digits, plan_inpaint, surrogate_spec
from mcsim.mnist import load_split
from mcsim.spec import SpecError

from .se_check import assert_se_agrees

TINY = """kind = "inpaint"
weights = "tiny.npz"
erase = [280, 560]
measurement_noise_var = 0.0025
digits = 3
iterations = 20
adam_steps = 30
lbfgs_steps = 10
se_iterations = 3
networks = 2
surrogate_scales = [1]
seed = 1
shard_size = 2
"""


def _tiny_study(tmp_path, text=TINY):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "tiny.npz", W1=rng.normal(size=(16, 4)) / 2, b1=rng.normal(size=16) * 0.1,
             W2=rng.normal(size=(784, 16)) / 8, b2=np.full(784, 0.1), noise_var=np.float32(0.02))
    (tmp_path / "tiny.toml").write_text(text)
    return tmp_path / "tiny.toml"


def test_split_is_stratified_and_fixed():
    train, test = load_split()
    assert train.images.shape == (4000, 784) and test.images.shape == (1000, 784)
    assert np.all(np.bincount(test.labels) == 100) and np.all(np.bincount(train.labels) == 400)
    assert not set(train.index) & set(test.index)
    assert 0.0 <= test.images.min() and test.images.max() <= 1.0
    np.testing.assert_array_equal(load_split()[1].index, test.index)


def test_pipeline_end_to_end_on_a_tiny_decoder(tmp_path, capsys):
    """``python -m mcsim.study --config`` on a tiny random decoder writes the dataset (MSEs
    on (digit, method), runtimes, the SE / surrogate / trained comparison, provenance),
    the grid and the summary; a second run resumes from its shards."""
    config = _tiny_study(tmp_path)
    out = tmp_path / "out"
    assert study.main(["--config", str(config), "--out", str(out), "--n-jobs", "1"]) == 0
    folder = out / "tiny"
    ds = xr.open_dataset(folder / "tiny.nc")
    assert list(ds.method.values) == list(METHODS)
    for name in ("mse_erased", "mse_image", "runtime"):
        assert ds[name].dims == ("method", "digit") and np.isfinite(ds[name].values).all()
    assert (ds.runtime > 0).all()
    erased = np.arange(280, 560)
    recon, image = ds.reconstruction.values, ds.image.values
    np.testing.assert_allclose(ds.mse_erased.values.T, ((recon[..., erased] - image[:, None, erased]) ** 2).mean(-1),
                               rtol=1e-5)
    assert ds.se_tau_minus.dims == ("divergence", "se_iteration", "layer")
    assert ds.surrogate_tau_minus.sizes["network"] == 2 and ds.model_tau_minus.sizes["se_iteration"] == 3
    assert "does not apply" in ds.attrs["trained"] and len(ds.attrs["weights_sha256"]) == 64
    for key in ("git_commit", "command", "spec_trained", "spec_surrogate"):
        assert key in ds.attrs, key
    assert (folder / "tiny-grid.png").stat().st_size > 0 and (folder / "summary.txt").is_file()
    assert "trained, test digits" in (folder / "summary.txt").read_text()
    capsys.readouterr()
    assert study.main(["--config", str(config), "--out", str(out), "--n-jobs", "1"]) == 0
    assert "resuming" in capsys.readouterr().out
    xr.testing.assert_equal(ds[["mse_image", "se_tau_minus"]],
                                xr.open_dataset(folder / "tiny.nc")[["mse_image", "se_tau_minus"]])


def test_bad_inpaint_study_files(tmp_path):
    for old, new, message in (("digits = 3", "digits = 0", "digits"), ("networks = 2", "networks = 1", "networks"),
                              ('weights = "tiny.npz"', 'weights = "none.npz"', "no file"),
                              ("surrogate_scales = [1]", "surrogate_scales = []", "surrogate_scales"),
                              ("surrogate_scales = [1]", "surrogate_scales = [1, 1.0]", "repeated"),
                              ("surrogate_scales = [1]", "surrogate_scales = 1", "surrogate_scales"),
                              ("erase = [280, 560]", "erase = 5", "erase"),
                              ("erase = [280, 560]", "erase = [0, 784]", "erase"),
                              ("digits = 3", "digits = 1001", "1000 digits"),
                              ("digits = 3", "digits = 3\ndamping = 2.0", "damping"),
                              ("measurement_noise_var = 0.0025", "measurement_noise_var = -1.0", "measurement")):
        path = _tiny_study(tmp_path, TINY.replace(old, new))
        with pytest.raises(SpecError, match=message):
            InpaintConfig.load(path)


def test_mlvamp_estimate_is_a_stationary_point_of_the_map_objective():
    """On the trained decoder, undamped ML-VAMP reaches a fixed point on test digits, and
    there its estimate satisfies the KKT conditions of the objective F that Adam and
    L-BFGS minimise: relative gradient <= 1e-6, feasibility of the deterministic maps.
    (F is not convex: on these digits ML-VAMP's F is below L-BFGS's on one, above on
    another, so only stationarity is asserted.)"""
    config = InpaintConfig.load(study_file("inpaint")).replace(digits=3, iterations=1000, adam_steps=50,
                                                              lbfgs_steps=300)
    ds = inpaint_digits(config, 0, 3)
    assert (ds.consensus <= 1e-8).all()
    assert (ds.kkt_gradient <= 1e-6).all() and (ds.kkt_feasibility <= 1e-8).all()


def test_surrogate_se_agrees_with_its_monte_carlo():
    """The rotationally invariant surrogate of the trained decoder, at width x32 (widest
    25,088), with the jump divergence (the relu MAP prox jumps: the a.e. divergence's SE
    misses it, docs/state_evolution.md): Monte Carlo mean = SE at every (t, l), tolerance
    from se_check (CLT, Bonferroni, finite-n allowance).  About 20 s."""
    import mcsim

    spec = surrogate_spec(InpaintConfig.load(study_file("inpaint")), "jump")
    ds = mcsim.simulate(spec.scaled(32), 40, 12, seed=3)
    se = mcsim.state_evolution(spec, 12)
    assert (ds.valid_iterations == 12).all()
    assert_se_agrees(ds, se, ("tau_plus", "tau_minus"))


def test_plan_covers_every_part():
    config = InpaintConfig.load(study_file("inpaint"), quick=True)
    parts = {}
    for t in plan_inpaint(config, "record"):
        parts.setdefault((t.part, t.divergence), []).append(t)
    assert set(parts) == {("se", "ae"), ("se", "jump"), ("digits", "ae"), ("model", "ae"), ("surrogate", "ae"),
                          ("surrogate", "jump")}
    assert sum(t.stop - t.start for t in parts[("digits", "ae")]) == config.digits
    assert len({t.filename for ts in parts.values() for t in ts}) == sum(len(ts) for ts in parts.values())
