"""The comparison study (the talk's Example 1): files, seeds shared with the engine, resume, errors."""
from pathlib import Path

import numpy as np
import xarray as xr

from mcsim import study
from mcsim.engine import family_seed
from mcsim.montecarlo import run_networks
from mcsim.spec import NetworkSpec

ROOT = Path(__file__).resolve().parents[1]


def _comparison_file(tmp_path, networks=4, extra=""):
    net = ROOT / "studies" / "networks"
    text = (f'kind = "comparison"\nnetworks = {networks}\niterations = 6\nseed = 3\nshard_size = 2\n'
            f"adam_steps = 40\nlbfgs_steps = 15\n{extra}"
            f'[[network]]\nname = "talk_relu"\nfile = "{net / "talk.toml"}"\n'
            f'[[network]]\nname = "talk_noisy"\nfile = "{net / "talk_noisy.toml"}"\n')
    path = tmp_path / "cmp.toml"
    path.write_text(text)
    return path


def test_comparison_study_files_seeds_and_resume(tmp_path, capsys):
    path = _comparison_file(tmp_path)
    args = ["--config", str(path), "--n-jobs", "1", "--out", str(tmp_path / "out")]
    assert study.main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("SE prediction") == 2 and printed.count("L-BFGS") >= 4
    folder = tmp_path / "out" / "cmp"
    with xr.open_dataset(folder / "cmp.nc") as ds:
        first = ds.load()
    assert first.mlvamp_error.dims == ("model", "network", "iteration")
    assert first.adam_value.dims == ("model", "network", "adam_step")
    assert first.se_error.dims == ("model", "iteration")
    assert list(first.model.values) == ["talk_relu", "talk_noisy"] and first.sizes["network"] == 4
    assert first.attrs["git_commit"] and "spec_talk_noisy" in first.attrs
    # network i is the engine's network i at scale 1 (same seed rule): same ML-VAMP errors
    spec = NetworkSpec.from_toml(ROOT / "studies" / "networks" / "talk.toml")
    engine = run_networks(spec, family_seed(3, "talk_relu", 1.0), 0, 4, 6)
    np.testing.assert_array_equal(first.mlvamp_error.sel(model="talk_relu").values,
                                  engine.tau_minus.isel(layer=0).values)
    # every method improves on the common start; Adam and L-BFGS start at the same F
    for method in ("adam", "lbfgs"):
        v = first[f"{method}_value"]
        assert (v.isel({v.dims[-1]: -1}) < v.isel({v.dims[-1]: 0})).all()
    # (to rounding: a lazy factor revealed by Adam's products gives L-BFGS the same products
    # through its pairs, Q v = Y^T (X v), in other operations)
    np.testing.assert_allclose(first.adam_value.isel(adam_step=0), first.lbfgs_value.isel(lbfgs_step=0), rtol=1e-12)
    # resume: nothing recomputed, same data
    assert study.main(args) == 0
    assert "resuming: 6 of 6 shards" in capsys.readouterr().out
    with xr.open_dataset(folder / "cmp.nc") as ds:
        xr.testing.assert_identical(first.drop_attrs(), ds.load().drop_attrs())
    if study.matplotlib_available():
        assert (folder / "cmp.png").stat().st_size > 10_000


def test_comparison_study_errors(tmp_path, capsys):
    path = _comparison_file(tmp_path)
    assert study.main(["--config", str(path), "--scales", "1,2"]) == 2
    assert "--scales: not an option of this comparison study" in capsys.readouterr().err
    bad = _comparison_file(tmp_path, extra="adam_lr = -1\n")
    assert study.main(["--config", str(bad), "--out", str(tmp_path)]) == 2
    assert "adam_lr: must be a positive number" in capsys.readouterr().err
    lifted = tmp_path / "lifted.toml"
    lifted.write_text('kind = "comparison"\nnetworks = 2\niterations = 2\nseed = 1\n[[network]]\nname = "x"\n'
                      f'file = "{ROOT / "studies" / "networks" / "talk_lifted.toml"}"\n')
    assert study.main(["--config", str(lifted)]) == 2
    assert "indicator" in capsys.readouterr().err
    assert "example1" in study.list_studies()
