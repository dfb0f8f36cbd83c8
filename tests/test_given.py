"""Given linear maps (trained weights from a file, selection maps) and bias vectors drawn
from an empirical law: their factors, the kernels against the numpy twin, and the SE
with a bias law against Monte Carlo."""
import numpy as np
import pytest

import mcsim
from mcsim.config import StudyConfig
from mcsim.ensembles import draw_network, noise_free_map
from mcsim.factors.given import TRAINED_LABEL, Selection
from mcsim.kernels import haar
from mcsim.spec import SpecError

from .naive import mlvamp_records
from .se_check import assert_se_agrees


def _weights(tmp_path, n_in=6, hidden=9, n_out=15, seed=0):
    rng = np.random.default_rng(seed)
    path = tmp_path / "w.npz"
    np.savez(path, W1=rng.normal(size=(hidden, n_in)), b1=rng.normal(size=hidden),
             W2=rng.normal(size=(n_out, hidden)) / 3, b2=rng.normal(size=n_out))
    return path


def _given_spec(path, erase=(3, 7), run=None):
    return mcsim.NetworkSpec.from_dict({
        "input": {"dim": 6, "prior": {"law": "gaussian", "var": 1.0}},
        "layers": [{"kind": "linear", "weights": {"file": str(path), "matrix": "W1", "bias": "b1"}},
                   {"kind": "relu", "noise_var": 0.01},
                   {"kind": "linear", "weights": {"file": str(path), "matrix": "W2", "bias": "b2"}},
                   {"kind": "linear", "select": {"erase": list(erase)}, "noise_var": 0.05}],
        "run": run or {}})


def _dense(net, j):
    U, V, s = net.U[j].matrix(), net.V[j].matrix(), net.sigma[j]
    return (U[:, :s.size] * s) @ V[:, :s.size].T


def test_selection_svd_equals_the_dense_map():
    """The selection's permutation factors: U diag(1) V^T = P (keeps all but a..b-1), and
    the permutation kernel's Q x and Q^T x equal the dense products."""
    sel = Selection(10, (2, 5))
    U_form, U_data = sel.factor(0)
    V_form, V_data = sel.factor(1)
    assert U_form == V_form == haar.PERMUTATION
    rows = [np.array([0, 7, haar.PERMUTATION, 0, 0, 0, 0]), np.array([7, 10, haar.PERMUTATION, 0, 0, 0, 0])]
    data = np.concatenate([U_data, V_data])
    U, V = (haar.factor_matrix(data, r) for r in rows)
    p = [0, 1, 5, 6, 7, 8, 9, 2, 3, 4]  # kept, then erased
    np.testing.assert_array_equal(U, np.eye(7))
    np.testing.assert_array_equal(V, np.eye(10)[:, p])  # V e_j = e_{p_j}
    np.testing.assert_array_equal((U * sel.sigma) @ V[:, :7].T, sel.matrix())
    np.testing.assert_array_equal(sel.matrix() @ np.arange(10.0), [0, 1, 5, 6, 7, 8, 9])
    x, out = np.random.default_rng(1).normal(size=10), np.empty(10)
    for transpose in (False, True):
        haar.factor_apply(data, rows[1], transpose, x, out)
        np.testing.assert_array_equal(out, (V.T if transpose else V) @ x)


def test_given_weights_are_the_files(tmp_path):
    """A network with given maps: its factors and biases reproduce the file's W and b,
    and its truths are the forward pass through them."""
    path = _weights(tmp_path)
    spec = _given_spec(path)
    assert spec.trained and spec.dims == (6, 9, 9, 15, 11)
    net = draw_network(spec, np.random.default_rng(3), iterations=4)
    with np.load(path) as w:
        np.testing.assert_allclose(_dense(net, 0), w["W1"], atol=1e-12)
        np.testing.assert_allclose(_dense(net, 2), w["W2"], atol=1e-12)
        np.testing.assert_array_equal(net.bias[2], w["b2"])
        z1 = w["W1"] @ net.z0[0][0] + w["b1"]
    np.testing.assert_allclose(net.z0[1][0], z1, atol=1e-12)
    x = net.z0[3][0]
    np.testing.assert_array_equal(noise_free_map(spec.layers[3], net.U[3], net.V[3], net.sigma[3], net.bias[3], x),
                                  np.delete(x, np.arange(3, 7)))
    assert spec.from_dict(spec.source) == spec  # the source (resolved file, digest) rebuilds it


def test_given_network_kernel_matches_the_numpy_twin(tmp_path):
    """ML-VAMP's kernel with given factors, bias vectors and a selection equals the numpy
    twin (dense matrices) to rounding."""
    spec = _given_spec(_weights(tmp_path))
    net = draw_network(spec, np.random.default_rng(4), iterations=8)
    records, valid = mcsim.montecarlo.run_trajectory(net, 8)
    assert valid == 8
    np.testing.assert_allclose(mlvamp_records(net, 8), records, rtol=1e-9, atol=1e-13)


def test_given_maps_refuse_bad_input(tmp_path):
    path = _weights(tmp_path)
    base = {"input": {"dim": 6, "prior": {"law": "gaussian", "var": 1.0}}}

    def spec(layers, scale=1.0):
        return mcsim.NetworkSpec.from_dict(dict(base, layers=layers, scale=scale))

    W1 = {"kind": "linear", "weights": {"file": str(path), "matrix": "W1"}, "noise_var": 0.1}
    cases = [([dict(W1, weights={"file": str(path), "matrix": "W9"})], "no array 'W9'"),
             ([dict(W1, weights={"file": str(tmp_path / "none.npz"), "matrix": "W1"})], "no file"),
             ([dict(W1, weights={"file": str(path), "matrix": "W1", "sha256": "0" * 64})], "has changed"),
             ([{"kind": "linear", "dim": 5, "spectrum": {"law": "constant", "value": 1.0}}, W1], "takes an input of width 6"),
             ([dict(W1, bias=0.5)], "not with weights"),
             ([dict(W1, dim=4)], "has width 9"),
             ([{"kind": "linear", "select": {"erase": [4, 9]}, "noise_var": 0.1}], "0 <= a < b <= 6"),
             ([{"kind": "linear", "select": {"erase": [0, 6]}, "noise_var": 0.1}], "nothing is observed")]
    for layers, message in cases:
        with pytest.raises(SpecError, match=message):
            spec(layers)
    with pytest.raises(SpecError, match="cannot be scaled"):
        spec([W1], scale=2.0)
    with pytest.raises(SpecError, match="must be a string"):
        spec([dict(W1, weights={"file": 3, "matrix": "W1"})])
    with pytest.raises(SpecError, match="bias.law: must be 'empirical'"):
        spec([{"kind": "linear", "dim": 5, "spectrum": {"law": "constant", "value": 1.0}, "noise_var": 0.1,
               "bias": {"law": "gaussian", "var": 1.0}}])


def test_the_se_refuses_a_trained_network(tmp_path):
    """A network with a given map is not rotationally invariant: the SE refuses it, a
    study that judges networks by the SE refuses it, and simulate's result says so."""
    spec = _given_spec(_weights(tmp_path))
    with pytest.raises(ValueError, match="the SE does not apply"):
        mcsim.state_evolution(spec, 3)
    (tmp_path / "net.toml").write_text(
        '[input]\ndim = 6\nprior = { law = "gaussian", var = 1.0 }\n[[layers]]\nkind = "linear"\n'
        f'weights = {{ file = "{tmp_path / "w.npz"}", matrix = "W1" }}\nnoise_var = 0.1\n')
    (tmp_path / "study.toml").write_text('iterations = 2\nnetworks = 2\nscales = [1]\nseed = 0\n'
                                         '[[network]]\nname = "t"\nfile = "net.toml"\n')
    with pytest.raises(SpecError, match="the SE does not apply"):
        StudyConfig.load(tmp_path / "study.toml")
    assert mcsim.simulate(spec, 2, 2, seed=0, n_jobs=1).attrs["ensemble"] == TRAINED_LABEL


BIASED = {  # biases i.i.d. from an empirical law before a Lipschitz (lifted relu) factor and at the measurement
    "input": {"dim": 120, "prior": {"law": "gaussian", "var": 1.0}},
    "layers": [{"kind": "linear", "dim": 240, "spectrum": {"law": "marchenko_pastur", "var": 1.0},
                "bias": {"law": "empirical", "values": [-0.8, 0.1, 0.3, 1.2]}},
               {"kind": "relu", "noise_var": 0.01, "penalty": {"kind": "lifted_relu", "nu": 2.0}},
               {"kind": "linear", "dim": 180, "spectrum": {"law": "uniform", "low": 0.5, "high": 1.5},
                "bias": {"law": "empirical", "values": [-0.5, 0.5]}, "noise_var": 0.02}],
}


def test_empirical_bias_se_matches_monte_carlo():
    """With biases drawn i.i.d. from an empirical law, the SE (its moments averaged over the
    law's atoms) equals the Monte Carlo mean at every (t, l); se_check derives the tolerance."""
    spec = mcsim.NetworkSpec.from_dict(BIASED)
    ds = mcsim.simulate(spec, 150, 5, seed=21, n_jobs=1)
    se = mcsim.state_evolution(spec, 5)
    assert (ds.valid_iterations == 5).all()
    assert_se_agrees(ds, se, ("tau_plus", "tau_minus", "rp_mse", "rm_mse"))


def test_empirical_bias_draws():
    """Each network draws its bias vector i.i.d. from the law's values (equal weights)."""
    spec = mcsim.NetworkSpec.from_dict(BIASED).scaled(20)
    net = draw_network(spec, np.random.default_rng(5))
    b = net.bias[0]
    assert b.size == 4800 and set(np.unique(b)) == {-0.8, 0.1, 0.3, 1.2}
    counts = np.array([np.sum(b == v) for v in (-0.8, 0.1, 0.3, 1.2)])
    assert np.all(np.abs(counts - 1200) < 5 * np.sqrt(4800 * 0.25 * 0.75))  # 5 binomial sd


def test_empirical_bias_truth_moments():
    """S_l = E[(z0_l)^2] with biases from a law (``mcsim.truth``: the activation's output
    moment averaged over the atoms, E[b^2] added at linear maps) equals the truths'
    mean square over 40 networks at x10 width, within 4 CLT standard errors."""
    from mcsim.truth import signal_moments

    spec = mcsim.NetworkSpec.from_dict(BIASED).scaled(10)
    S, _ = signal_moments(spec)
    nets = [draw_network(spec, np.random.default_rng(s)) for s in range(40)]
    for l in range(1, spec.depth + 1):
        power = np.array([np.mean(net.z0[l] ** 2) for net in nets])
        assert abs(power.mean() - S[l]) <= 4 * power.std(ddof=1) / np.sqrt(power.size), l
