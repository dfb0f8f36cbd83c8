"""Lazy Haar factors (``kernels.lazy``): their law against the dense QR path under
adaptive product sequences, their pairs' isometry over a whole run, their capacity,
and runs through the engine (reproducible; agreeing with Householder factors)."""
import numpy as np
import pytest
from scipy.stats import ks_2samp, norm

import mcsim
from mcsim.ensembles import Network, draw_network, factor_plan
from mcsim.kernels import haar
from mcsim.montecarlo import run_mlvamp, run_signals
from mcsim.orthogonal import OrthogonalFactor, factor_row, haar_factor, haar_orthogonal

from .conftest import TALK, lifted
from .naive import LazyHaarTwin

pytestmark = pytest.mark.kernels


def adaptive_sequence(apply, n):
    """Six products mixing Q and Q^T, each vector a nonlinear function of the earlier
    outputs; returns 14 statistics (entries, inner products, norms) of the outputs."""
    e = np.eye(n)
    y1 = apply(e[0], False)
    x2 = apply(np.tanh(2 * y1) + e[1], True)
    y3 = apply(np.abs(x2) - 0.5 * e[0], False)
    x4 = apply(np.maximum(y3, 0) - y1 * y3[0], True)
    y5 = apply(np.sin(3 * x4) + x2, False)
    x6 = apply(y5 * y3 + y1, True)
    return np.array([y1[0], y1[-1], x2[0], x2[-1], y3[0], y3[-1], x4[0], x4[1], y5[0], x6[0], x6[-1],
                     y5 @ y1, x6 @ x2, np.linalg.norm(x6 - x4)])


def _dense(rng, n):
    Q = haar_orthogonal(rng, n)
    return lambda v, t: Q.T @ v if t else Q @ v


def _lazy(rng, n):
    f = haar_factor(rng, n, "lazy")
    return lambda v, t: f.apply(v, transpose=t)


def _twin(project_fresh):
    return lambda rng, n: LazyHaarTwin(n, rng, project_fresh).apply


def _sample(make, n, draws, seed):
    rng = np.random.default_rng(seed)
    return np.array([adaptive_sequence(make(rng, n), n) for _ in range(draws)])


ALPHA, DRAWS, STATS = 1e-3, 3000, 14


def law_pvalues(make, n, seed):
    """Per statistic: the two-sample KS p-value against the dense QR path, and the
    p-value of a two-sample z test of the means of the statistic and its square."""
    a, b = _sample(make, n, DRAWS, seed), _sample(_dense, n, DRAWS, seed + 1)
    ks = np.array([ks_2samp(a[:, i], b[:, i]).pvalue for i in range(STATS)])
    moments = []
    for f in (lambda x: x, lambda x: x ** 2):
        fa, fb = f(a), f(b)
        z = (fa.mean(0) - fb.mean(0)) / np.sqrt(fa.var(0, ddof=1) / DRAWS + fb.var(0, ddof=1) / DRAWS)
        moments.append(2 * norm.sf(np.abs(z)))
    return ks, np.concatenate(moments)


@pytest.mark.parametrize("n", [5, 8])
def test_lazy_factor_has_the_haar_law_under_adaptive_products(n):
    """Kernel lazy factors vs QR + sign fix, 3000 draws each, over the 14 statistics of
    an adaptive sequence of 6 products mixing Q and Q^T (``adaptive_sequence``): KS and
    first- and second-moment tests, Bonferroni over the 42 p-values at ALPHA = 1e-3."""
    ks, moments = law_pvalues(_lazy, n, seed=10 * n)
    assert min(ks.min(), moments.min()) > ALPHA / (3 * STATS), (ks.round(4), moments.round(4))


def test_the_law_test_rejects_a_fresh_direction_left_unprojected():
    """Power: the NumPy twin of the lazy factor passes the same test, and its mutation that
    skips the projection of the fresh direction off span(Y) fails it (n = 5)."""
    ks, moments = law_pvalues(_twin(True), 5, seed=7)
    assert min(ks.min(), moments.min()) > ALPHA / (3 * STATS)
    ks, moments = law_pvalues(_twin(False), 5, seed=7)
    assert min(ks.min(), moments.min()) < 1e-12


def test_pairs_stay_orthonormal_over_a_whole_run():
    """The talk network at x4 (widths up to 2000), 20 iterations, lazy factors: the pairs
    made are at least half of the plan (a product whose vector lies in the span of the
    earlier ones makes none: 3 of V_1's 21 V^T products here), and
    X X^T = Y Y^T = I over the pairs to 1e-12, so <Q a, Q b> = <a, b> on their span."""
    spec = mcsim.NetworkSpec.from_dict(TALK).scaled(4)
    T = 20
    net = draw_network(spec, np.random.default_rng(3), "lazy", iterations=T)
    assert run_mlvamp(net, T).valid[0] == T
    plan = factor_plan(spec, 1, T)
    for j, (u_plan, v_plan) in plan.items():
        for f, products in ((net.U[j], u_plan), (net.V[j], v_plan)):
            row, n = f.row, f.n
            assert row[haar.KF] + row[haar.KT] >= min(sum(products) // 2, n)
            cap = row[haar.CAPF] + row[haar.CAPT]
            X = f.data[:cap * n].reshape(cap, n)
            Y = f.data[cap * n:2 * cap * n].reshape(cap, n)
            live = np.r_[0:row[haar.KF], row[haar.CAPF]:row[haar.CAPF] + row[haar.KT]]
            for side in (X[live], Y[live]):
                np.testing.assert_allclose(side @ side.T, np.eye(live.size), atol=1e-12, rtol=0)


def test_a_product_beyond_the_plan_is_refused_and_full_capacity_takes_any_number():
    spec = mcsim.NetworkSpec.from_dict(TALK).scaled(0.5)
    net = draw_network(spec, np.random.default_rng(1), "lazy", iterations=2)
    run_mlvamp(net, 2)
    x = np.random.default_rng(2).standard_normal(net.V[0].n)
    with pytest.raises(ValueError, match="planned capacity"):
        net.V[0].apply(x, transpose=False)
    wide = draw_network(spec, np.random.default_rng(1), "lazy", iterations=2, full_capacity=True)
    np.testing.assert_array_equal(wide.z0[-1], net.z0[-1])  # the same network: draws do not depend on capacity
    np.testing.assert_array_equal(run_mlvamp(wide, 2).records, run_mlvamp(
        draw_network(spec, np.random.default_rng(1), "lazy", iterations=2), 2).records)
    Q = wide.V[0].matrix()  # reveals all of it
    np.testing.assert_allclose(Q @ Q.T, np.eye(Q.shape[0]), atol=1e-12)
    np.testing.assert_allclose(wide.V[0].apply(x), Q @ x, atol=1e-12)


def test_lazy_results_are_bitwise_the_same_whatever_n_jobs():
    spec = mcsim.NetworkSpec.from_dict(lifted()).scaled(0.5)
    one = mcsim.simulate(spec, 6, 4, seed=5, n_jobs=1, haar="lazy")
    two = mcsim.simulate(spec, 6, 4, seed=5, n_jobs=2, haar="lazy")
    for name in ("tau_plus", "tau_minus", "alpha_plus", "alpha_minus"):
        np.testing.assert_array_equal(one[name].values, two[name].values)


def test_lazy_and_householder_monte_carlo_agree_on_the_talk_network():
    """relu MAP on the talk network (x0.5), 150 networks per form: the mean of tau^+ and
    tau^- at every (t, l) agrees between lazy and Householder factors (two-sample z,
    Bonferroni over the 2 x 6 x 5 = 60 checks at ALPHA = 1e-3).  No SE enters: both are
    samples of the same Haar ensemble, whether or not the SE holds for relu MAP."""
    spec = mcsim.NetworkSpec.from_dict(TALK).scaled(0.5)
    T, N = 6, 150
    a = mcsim.simulate(spec, N, T, seed=21, n_jobs=1, haar="lazy")
    b = mcsim.simulate(spec, N, T, seed=22, n_jobs=1, haar="householder")
    assert (a.valid_iterations == T).all() and (b.valid_iterations == T).all()
    z_max = norm.isf(ALPHA / (2 * 60))
    for name in ("tau_plus", "tau_minus"):
        x, y = a[name], b[name]
        z = (x.mean("network") - y.mean("network")) / np.sqrt(x.var("network", ddof=1) / N + y.var("network", ddof=1) / N)
        assert float(np.abs(z).max()) <= z_max, (name, z.values.round(2))


def _dense_copy(net):
    """The same network with every factor revealed (``matrix()``) and stored dense."""
    mats = [f.matrix() for pair in zip(net.U, net.V) for f in pair if f is not None]
    sizes = np.cumsum([0] + [m.size for m in mats])
    table = np.array([factor_row(m.shape[0], haar.DENSE, int(o), None) for m, o in zip(mats, sizes)])
    buffer = np.concatenate([m.ravel() for m in mats])
    factors = iter(range(len(mats)))
    U, V = [], []
    for u in net.U:
        U.append(None if u is None else OrthogonalFactor(buffer, table, next(factors)))
        V.append(None if u is None else OrthogonalFactor(buffer, table, next(factors)))
    return Network(net.spec, U, V, net.sigma, net.z0, net.r_minus0, net.gam_minus0, buffer, table, net.bias)


def test_a_lazy_run_is_the_run_on_the_matrix_it_revealed():
    """Deterministic: the lifted talk network (Lipschitz, widths to 500, so products take
    the BLAS path), 10 iterations with lazy factors; then every factor revealed (Q e_j for
    all j: the completion conditioned on the run's products) and the run repeated with
    those dense matrices.  The records agree to rounding (measured: 1e-13 relative; 1e-9
    allows its growth over the iterations), and they differ from a run on another draw."""
    spec = mcsim.NetworkSpec.from_dict(lifted())
    T = 10
    net = draw_network(spec, np.random.default_rng(5), "lazy", iterations=T, full_capacity=True)
    lazy = run_mlvamp(net, T).records
    dense = run_mlvamp(_dense_copy(net), T).records
    np.testing.assert_allclose(dense, lazy, rtol=1e-9, atol=0)
    other = run_mlvamp(draw_network(spec, np.random.default_rng(6), "lazy", iterations=T), T).records
    assert np.max(np.abs(other - lazy) / np.abs(lazy)) > 1e-3


def test_a_seed_draws_the_same_network_for_a_run_of_any_length():
    """auto picks each form by the widths (a reference run), and lazy draws do not depend
    on their capacity: 4 iterations are the first 4 of 8, bitwise."""
    spec = mcsim.NetworkSpec.from_dict(lifted())
    short, long = mcsim.run_network(spec, 4, seed=3), mcsim.run_network(spec, 8, seed=3)
    assert "lazy" in short.attrs["factor_forms"] and short.attrs["factor_forms"] == long.attrs["factor_forms"]
    np.testing.assert_array_equal(short.tau_minus.values, long.tau_minus.values[:4])


def test_a_stopped_signal_leaves_a_shared_lazy_factor_as_it_was():
    """Two signals through one lazy network, the first with non-finite messages: it stops
    at once, its later products are NaN and make no pairs (every pair stays finite),
    and the second signal runs to the end, its records finite."""
    spec = mcsim.NetworkSpec.from_dict(TALK).scaled(0.5)
    net = draw_network(spec, np.random.default_rng(2), "lazy", signals=2, iterations=3)
    net.r_minus0[0][0, :] = np.nan
    out, valid = run_signals(net, 3)
    assert list(valid) == [0, 3]
    assert np.isfinite(out[1]).all() and np.isnan(out[0][:, 1:]).all()
    for f in net.U + net.V:
        if f is not None:
            row, n = f.row, f.n
            cap = row[haar.CAPF] + row[haar.CAPT]
            live = np.r_[0:row[haar.KF], row[haar.CAPF]:row[haar.CAPF] + row[haar.KT]]
            assert np.isfinite(f.data[:2 * cap * n].reshape(2, cap, n)[:, live]).all()
