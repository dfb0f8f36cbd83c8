"""The SE with memory (``memory=True``): it is the undamped SE at damping 1, and it
predicts damped ML-VAMP.  Tolerances: ``tests/se_check.py``."""
import copy

import numpy as np
import pytest

import mcsim

from .conftest import CHAIN, lifted
from .test_state_evolution import QUADRATURE_NETWORKS
from .se_check import assert_se_agrees, se_gaps

QUANTITIES = ("tau_plus", "tau_minus", "rp_mse", "rm_mse")


def _damped(d, damping):
    d = copy.deepcopy(d)
    d["run"] = {"damping": damping}
    return d


def test_damped_specs_get_the_se_with_memory():
    assert mcsim.state_evolution(mcsim.NetworkSpec.from_dict(_damped(CHAIN, 0.9)), 2).attrs["se_method"] == "memory"
    jump = copy.deepcopy(lifted())
    jump["run"] = {"divergence": "jump"}
    assert mcsim.state_evolution(mcsim.NetworkSpec.from_dict(jump), 2).attrs["se_method"] == "quadrature"
    assert mcsim.state_evolution(mcsim.NetworkSpec.from_dict(CHAIN), 2).attrs["se_method"] == "quadrature"
    jump["run"]["damping"] = 0.5
    assert mcsim.state_evolution(mcsim.NetworkSpec.from_dict(jump), 2).attrs["se_method"] == "memory"
    with pytest.raises(ValueError, match="describes undamped runs"):
        mcsim.state_evolution(mcsim.NetworkSpec.from_dict(jump), 2, memory=False)


def test_undamped_chain_equals_the_quadrature_se():
    """Linear networks are exact in both: equal to round-off (measured 2e-15)."""
    spec = mcsim.NetworkSpec.from_dict(CHAIN)
    memory, quad = mcsim.state_evolution(spec, 6, memory=True), mcsim.state_evolution(spec, 6)
    for v in QUANTITIES + ("alpha_plus", "alpha_minus", "gamma_plus", "gamma_minus", "rp_overlap", "rm_overlap"):
        np.testing.assert_allclose(memory[v], quad[v], rtol=1e-12, atol=1e-14, err_msg=v)


@pytest.mark.parametrize("net, divergence", [("talk_lifted", "ae"), ("talk_relu", "ae"), ("talk_relu", "jump"),
                                             ("leaky", "jump"), ("bg_l1_relu_measure", "jump")])
def test_undamped_memory_se_equals_the_quadrature_se(net, divergence):
    """At damping 1 the SE with memory takes each update's marginal moments from the same
    quadrature and never uses its cross-time entries for an estimate, so it equals the
    undamped SE to round-off (measured <= 1.3e-12 on tau, alpha and the errors, <= 3e-10
    relative on overlaps, which cancel): 1e-10 relative, overlaps 1e-10 of their largest."""
    spec = mcsim.NetworkSpec.from_dict(QUADRATURE_NETWORKS[net]).with_run({"divergence": divergence})
    memory = mcsim.state_evolution(spec, 6, memory=True, cross="population", population=2**14)
    quad = mcsim.state_evolution(spec, 6)
    assert memory.attrs["se_method"] == "memory" and quad.attrs["se_method"] == "quadrature"
    for v in QUANTITIES + ("alpha_plus", "alpha_minus", "gamma_plus", "gamma_minus", "alpha_plus_stein",
                           "alpha_minus_stein", "rp_overlap", "rm_overlap"):
        atol = 1e-10 * float(np.nanmax(np.abs(quad[v]))) if v.endswith("overlap") else 0.0
        np.testing.assert_allclose(memory[v], quad[v], rtol=1e-10, atol=atol, err_msg=f"{net} {divergence}: {v}")


@pytest.mark.parametrize("damping", [0.5, {"mean_plus": 0.7, "mean_minus": 0.9, "precision_plus": 0.6}])
def test_damped_chain_matches_monte_carlo(damping):
    """Damped ML-VAMP on the linear chain follows the SE with memory (exact here), and
    not the undamped SE: at damping 0.5 the undamped SE misses the first iterations by
    many standard errors."""
    spec = mcsim.NetworkSpec.from_dict(_damped(CHAIN, damping))
    ds = mcsim.simulate(spec, 200, 6, seed=21, n_jobs=1)
    assert (ds.valid_iterations == 6).all()
    assert_se_agrees(ds, mcsim.state_evolution(spec, 6), QUANTITIES)
    if damping == 0.5:
        undamped = mcsim.state_evolution(mcsim.NetworkSpec.from_dict(CHAIN), 6)
        z, _ = se_gaps(ds, undamped, ["tau_minus"])["tau_minus"]
        assert float(np.abs(z).max()) > 10


@pytest.mark.parametrize("damping", [0.5, 0.8])
def test_damped_lipschitz_network_matches_monte_carlo(damping):
    """The talk's network with lifted relu (Lipschitz prox), damped: MC = SE with memory
    (deterministic cross-time moments: their rule error, below 1e-6, is not in the tolerance)."""
    spec = mcsim.NetworkSpec.from_dict(_damped(lifted(), damping)).scaled(2.0)
    ds = mcsim.simulate(spec, 100, 6, seed=22, n_jobs=1)
    assert (ds.valid_iterations == 6).all()
    assert_se_agrees(ds, mcsim.state_evolution(spec, 6), QUANTITIES)


@pytest.mark.slow
def test_relu_map_converges_to_its_se_with_the_jump_divergence(capsys):
    """The talk's relu MAP network at width x16 (widest 8000), undamped, 60 networks:
    with the jump-counting divergence ML-VAMP follows its (deterministic) SE (tolerance
    as above, without an SE error); with the seed's a.e. divergence it does not (measured: tau^- gaps +23% to +32%,
    z 15 to 19 at t = 9).  About 4 minutes."""
    from .conftest import TALK

    gaps = {}
    for divergence in ("jump", "ae"):
        d = copy.deepcopy(TALK)
        d["run"] = {"divergence": divergence}
        spec = mcsim.NetworkSpec.from_dict(d).scaled(16.0)
        ds = mcsim.simulate(spec, 60, 10, seed=41)
        assert (ds.valid_iterations == 10).all()
        se = mcsim.state_evolution(spec, 10)  # undamped: the deterministic quadrature SE
        z, rel = se_gaps(ds, se, ["tau_minus"])["tau_minus"]
        gaps[divergence] = (float(np.abs(z).max()), rel.isel(iteration=-1).values)
        if divergence == "jump":
            assert_se_agrees(ds, se, QUANTITIES)
    with capsys.disabled():
        for divergence, (zmax, rel) in gaps.items():
            print(f"\n{divergence}: max |z| {zmax:.1f}; tau^- gap at t = 9: {np.round(100 * rel, 1)} %")
    assert gaps["ae"][0] > 10
