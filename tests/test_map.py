"""Theorem 1 in code: the MAP objective, ML-VAMP with frozen precisions = Peaceman-Rachford
ADMM, and fixed points of ML-VAMP = stationary points of F."""
import numpy as np
import pytest

import mcsim
from mcsim.kernels import mlvamp as K
from mcsim.admm import PeacemanRachford
from mcsim.ensembles import draw_network
from mcsim.montecarlo import run_mlvamp
from mcsim.objective import MapProblem
from mcsim.stationarity import kkt_report

from .conftest import CHAIN, TALK, lifted, sparse_chain, stochastic

NETWORKS = {"chain": CHAIN, "sparse_chain": sparse_chain(), "talk": TALK, "stochastic": stochastic()}


def _net(d, seed, scale=1.0, haar="auto"):
    return draw_network(mcsim.NetworkSpec.from_dict(d).scaled(scale), np.random.default_rng(seed), haar)


@pytest.mark.kernels
@pytest.mark.parametrize("name", NETWORKS)
def test_gradient_matches_central_differences(name):
    """Directional derivative of F by central differences, h = 1e-5 on a unit direction:
    truncation h^2 |F'''| / 6 and rounding 1e-16 |F| / h are both below 1e-7 of the
    derivative here (|F| <= 1e5, |dF| >= 10); 1e-6 leaves a factor 10.  (A component
    within h of a kink would break this; the chance is ~ n h = 1e-2 and the seeds
    are fixed.)"""
    _check_gradient(_net(NETWORKS[name], seed=1), directions=3)


def _check_gradient(net, directions):
    """The check above at the network's initial messages, along ``directions`` random unit directions."""
    problem = MapProblem(net)
    rng = np.random.default_rng(0)
    x = problem.point([r[0] for r in net.r_minus0])
    _, grad = problem.value_grad(x)
    for _ in range(directions):
        v = rng.standard_normal(x.size)
        v /= np.linalg.norm(v)
        h = 1e-5
        fd = (problem.value(x + h * v) - problem.value(x - h * v)) / (2 * h)
        assert abs(fd - grad @ v) <= 1e-6 * abs(grad @ v)


def test_free_variables():
    assert MapProblem(_net(TALK, 0)).free == [0]  # deterministic generator: z_0 alone
    assert MapProblem(_net(stochastic(), 0)).free == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="indicator"):
        MapProblem(_net(lifted(), 0))


@pytest.mark.kernels
@pytest.mark.parametrize("name", ["chain", "sparse_chain", "talk", "stochastic", "lifted"])
def test_frozen_mlvamp_is_peaceman_rachford_admm(name):
    """ML-VAMP (SVD basis, extrinsic messages) with its precisions frozen at the values an
    adaptive run reached at t = 3, and PR-ADMM (dense W, linear solves, multipliers)
    from the same start: z^+ and z^- coincide at every iteration.  Measured: <= 2e-14
    relative (rounding of different but equivalent arithmetic); an algebraic
    difference is O(1).  1e-9 allows the slow growth of rounding over 25 iterations
    of a map with discontinuities."""
    d = lifted() if name == "lifted" else NETWORKS[name]
    net = _net(d, seed=3, scale=0.5, haar="dense")
    adaptive = run_mlvamp(net, 4)
    gp, gm = adaptive.records[0, K.GAMMA_PLUS, 3], adaptive.records[0, K.GAMMA_MINUS, 3]
    admm = PeacemanRachford(net, gp, gm)
    for t in range(1, 26):
        zp, zm = admm.step()
        run = run_mlvamp(net, t, frozen=(gp, gm))
        assert run.valid[0] == t
        for l in range(net.spec.depth):
            for mine, theirs in ((run.zhat_plus[l][0], zp[l]), (run.zhat_minus[l][0], zm[l])):
                assert np.max(np.abs(mine - theirs)) <= 1e-9 * np.max(np.abs(theirs)), (t, l)


@pytest.mark.parametrize("name", NETWORKS)
def test_fixed_points_are_stationary(name):
    """Undamped ML-VAMP, 300 iterations, 6 networks.  Where it reached a fixed point
    (consensus |zhat^+ - zhat^-| / |zhat^-| <= 1e-10 at every layer), the estimate is
    feasible and the relative (minimum-norm sub)gradient of F is <= 1e-8 at every free
    variable (measured: <= 2e-12; rounding of the back-propagation).  Relu networks
    can cycle instead of converging: at least half of the networks must converge, so
    that the check is not vacuous.  The same point moved by 1e-6 fails the check."""
    _check_fixed_points(name, networks=6, need=3)


def _check_fixed_points(name, networks, need, scale=1.0, haar="auto"):
    """The check above on ``networks`` networks, at least ``need`` of them converging."""
    converged = 0
    for seed in range(networks):
        net = _net(NETWORKS[name], seed, scale, haar)
        run = run_mlvamp(net, 300)
        report = kkt_report(net, run)
        if np.max(report["consensus"]) > 1e-10:
            continue
        converged += 1
        assert np.nanmax(report["gradient"]) <= 1e-8, report
        assert np.nan_to_num(report["feasibility"]).max() <= 1e-10, report
        for z in run.zhat_minus + run.zhat_plus:
            z += 1e-6 * np.random.default_rng(seed).standard_normal(z.shape)
        assert np.nanmax(kkt_report(net, run)["gradient"]) > 1e-6
    assert converged >= need, f"{converged} of {networks} networks reached a fixed point"


def test_relu_fixed_points_sit_on_kinks():
    """A finding the check must handle: converged relu MAP estimates put pre-activations
    exactly at 0, where F is not differentiable; with phi'(0) = 0 the gradient is far
    from 0, with the Clarke choice of phi'(0) in [0, 1] it vanishes.  (Seed 4: a network
    that converges with 4 kinks.)"""
    net = _net(TALK, 4)
    report = kkt_report(net, run_mlvamp(net, 300))
    assert report["consensus"].max() <= 1e-10 and report["kinks"].sum() > 0
    assert report["gradient_ae"][0] > 0.1 and report["gradient"][0] <= 1e-8


def test_baselines_reach_the_unique_minimum_of_a_convex_problem():
    """On the linear chain F is a strictly convex quadratic: ML-VAMP's fixed point, L-BFGS
    and Adam must reach the same minimum.  L-BFGS and ML-VAMP are both converged to
    rounding: 1e-9 relative (measured 1e-15).  Adam with a constant step 0.01 hovers at
    about 5e-5 relative above it after 3000 steps (measured 2.6e-5 to 2.7e-4 on three
    networks); it must be within 1e-3 and below its start by a factor 2."""
    from mcsim.baselines import adam, lbfgs

    net = _net(CHAIN, 0)
    problem = MapProblem(net)
    run = run_mlvamp(net, 100)
    best = problem.value(problem.point([z[0] for z in run.zhat_minus]))
    start = problem.point([r[0] for r in net.r_minus0])
    truth = net.z0[0][0]
    by_lbfgs = lbfgs(problem, start, truth, 1000)
    by_adam = adam(problem, start, truth, 3000)
    assert abs(by_lbfgs.value[-1] - best) <= 1e-9 * best
    assert 0 <= by_adam.value[-1] - best <= 1e-3 * best
    assert by_adam.value[0] > 2 * by_adam.value[-1]
    np.testing.assert_allclose(by_lbfgs.error[-1], np.mean((problem.variables(by_lbfgs.x)[0] - truth) ** 2))


def test_lazy_factors_serve_the_objective_and_the_kkt_report():
    """Lazy factors drawn with room for any number of products (no plan: n pairs each
    way) through the MAP objective and the KKT report, which take products beyond
    ML-VAMP's: F's gradient matches central differences, and fixed points reached with
    lazy factors are stationary (the checks above; the stochastic network, whose every
    variable is free, at half width: 4 networks, at least 2 converging: 3 do)."""
    net = _net(NETWORKS["stochastic"], seed=1, scale=0.5, haar="lazy")
    assert {f.form for f in net.U + net.V if f is not None} == {"lazy"}
    _check_gradient(net, directions=1)
    _check_fixed_points("stochastic", networks=4, need=2, scale=0.5, haar="lazy")
