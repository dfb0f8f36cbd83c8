"""Network specifications: the README example, TOML files, scaling, and clear errors."""
import copy
from pathlib import Path

import pytest

from mcsim.run import RunSpec

from mcsim import NetworkSpec, SpecError

from .conftest import TALK

ROOT = Path(__file__).resolve().parents[1]


def test_talk_toml_matches_dict():
    spec = NetworkSpec.from_toml(ROOT / "studies" / "networks" / "talk.toml")
    assert spec.dims == (20, 100, 100, 500, 500, 300)
    assert spec.layers[-1].noise_var > 0
    assert NetworkSpec.from_dict(TALK).dims == spec.dims


def test_scaled_multiplies_every_width():
    spec = NetworkSpec.from_dict(TALK).scaled(4)
    assert spec.dims == (80, 400, 400, 2000, 2000, 1200)
    assert spec.scaled(0.5).dims == (40, 200, 200, 1000, 1000, 600)


def _with(path, value):
    d = copy.deepcopy(TALK)
    target = d
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return d


@pytest.mark.parametrize("path,value,field", [
    (("input", "dim"), 0, "input.dim"),
    (("input", "dim"), -5, "input.dim"),
    (("input", "dim"), 2.5, "input.dim"),
    (("input", "prior"), {"law": "cauchy"}, "input.prior.law"),
    (("input", "prior"), {"law": "gaussian", "var": -1}, "input.prior.var"),
    (("input", "prior"), {"law": "bernoulli_gaussian", "rho": 0.1, "var": 1.0}, "input.penalty"),
    (("layers", 0, "dim"), 0, "layers[0].dim"),
    (("layers", 0, "kind"), "conv", "layers[0].kind"),
    (("layers", 0, "spectrum"), {"law": "wigner"}, "layers[0].spectrum.law"),
    (("layers", 0, "spectrum"), {"law": "empirical", "values": [1.0, -0.5]}, "layers[0].spectrum.values[1]"),
    (("layers", 0, "spectrum"), {"law": "uniform", "low": 2.0, "high": 1.0}, "layers[0].spectrum.high"),
    (("layers", 0, "spectrum"), {"law": "discrete", "values": [1, 2], "probs": [0.5, 0.6]},
     "layers[0].spectrum.probs"),
    (("layers", 0, "noise_var"), -0.1, "layers[0].noise_var"),
    (("layers", 0, "colour"), "red", "layers[0].colour"),
    (("layers", 4, "noise_var"), 0.0, "layers[4].noise_var"),
    (("layers", 1, "penalty"), {"kind": "lifted_relu"}, "layers[1].penalty.nu"),
    (("layers",), [], "layers"),
])
def test_bad_input_names_the_field(path, value, field):
    with pytest.raises(SpecError) as err:
        NetworkSpec.from_dict(_with(path, value))
    assert str(err.value).startswith(field + ":"), str(err.value)


def test_activation_must_follow_a_linear_map():
    d = copy.deepcopy(TALK)
    d["layers"].insert(0, {"kind": "relu"})
    with pytest.raises(SpecError, match=r"layers\[0\].kind"):
        NetworkSpec.from_dict(d)


def test_ill_formed_toml(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[input\ndim = 3\n")
    with pytest.raises(SpecError, match="ill-formed TOML"):
        NetworkSpec.from_toml(bad)
    with pytest.raises(SpecError, match="no such file"):
        NetworkSpec.from_toml(tmp_path / "missing.toml")


def test_run_damping():
    d = copy.deepcopy(TALK)
    assert NetworkSpec.from_dict(d).run.damping == (1.0, 1.0, 1.0, 1.0)
    d["run"] = {"damping": 0.9}
    assert NetworkSpec.from_dict(d).run.damping == (0.9,) * 4
    d["run"] = {"damping": {"mean_minus": 0.5, "precision_plus": 0.8}}
    spec = NetworkSpec.from_dict(d)
    assert spec.run.damping == (1.0, 0.5, 0.8, 1.0) and spec.scaled(2).run.damping == spec.run.damping
    for bad, field in ((1.5, "run.damping.mean_plus"), ({"means": 0.5}, "run.damping.means"),
                       ([0.5, 0.5], "run.damping"), (0, "run.damping.mean_plus")):
        d["run"] = {"damping": bad}
        with pytest.raises(SpecError, match=field.replace(".", r"\.")):
            NetworkSpec.from_dict(d)


def test_run_divergence():
    d = copy.deepcopy(TALK)
    assert NetworkSpec.from_dict(d).run.jump_step == 0.0 and NetworkSpec.from_dict(d).run.undamped
    d["run"] = {"divergence": "jump"}
    assert NetworkSpec.from_dict(d).run.jump_step == 0.02
    d["run"] = {"divergence": "jump", "jump_step": 0.05}
    assert NetworkSpec.from_dict(d).run.jump_step == 0.05 and NetworkSpec.from_dict(d).run.undamped
    d["run"] = {"divergence": "stein"}
    run = NetworkSpec.from_dict(d).run
    assert run.jump_step == 0.3 and run.step(1000) == 0.3 and run.step(32000) == pytest.approx(0.3 / 2)
    assert run.label == "undamped, stein 0.3" and RunSpec.from_dict(run.to_dict()) == run
    for bad, field in (({"divergence": "sure"}, "run.divergence"), ({"jump_step": 0.1}, "run.jump_step"),
                       ({"divergence": "jump", "jump_step": -1}, "run.jump_step"),
                       ({"iterations": 3}, "run.iterations")):
        d["run"] = bad
        with pytest.raises(SpecError, match=field.replace(".", r"\.")):
            NetworkSpec.from_dict(d)
