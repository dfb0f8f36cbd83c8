"""Monte Carlo driver: reproducibility, dataset layout, damping."""
import numpy as np
import pytest

import mcsim
from mcsim.ensembles import draw_network
from mcsim.montecarlo import run_signals, run_trajectory

from .conftest import CHAIN, TALK


def _small_chain():
    return mcsim.NetworkSpec.from_dict(CHAIN).scaled(0.25)


def test_simulate_is_reproducible_and_named():
    spec = _small_chain()
    a = mcsim.simulate(spec, 3, 4, seed=5)
    b = mcsim.simulate(spec, 3, 4, seed=5)
    c = mcsim.simulate(spec, 3, 4, seed=6)
    for v in a.data_vars:
        np.testing.assert_array_equal(a[v].values, b[v].values)
    assert not np.array_equal(a.tau_plus.values, c.tau_plus.values)
    assert a.tau_plus.dims == ("network", "iteration", "layer")
    assert list(a.width.values) == list(spec.dims[: spec.depth])
    se = mcsim.state_evolution(spec, 4)
    assert set(a.data_vars) <= set(se.data_vars) | {"valid_iterations"}
    assert se.tau_plus.dims == ("iteration", "layer")


def test_damping_keeps_the_fixed_point():
    """Damped and undamped ML-VAMP share their fixed points (docs/algorithm.md, section 3): run both until
    their last step changes tau by < 1e-12 relative, then they agree to 1e-10."""
    spec = _small_chain()
    plain = mcsim.run_network(spec, 150, seed=3)
    damped = mcsim.run_network(spec, 150, seed=3, run={"damping": 0.6})
    assert int(plain.valid_iterations) == int(damped.valid_iterations) == 150
    assert not np.allclose(plain.tau_plus.isel(iteration=1), damped.tau_plus.isel(iteration=1))
    for run in (plain, damped):
        np.testing.assert_allclose(run.tau_plus.isel(iteration=-1), run.tau_plus.isel(iteration=-2), rtol=1e-12)
    np.testing.assert_allclose(plain.tau_plus.isel(iteration=-1), damped.tau_plus.isel(iteration=-1), rtol=1e-10)


def test_simulate_is_bitwise_identical_across_n_jobs():
    spec = mcsim.NetworkSpec.from_dict(CHAIN).scaled(0.5)
    serial = mcsim.simulate(spec, 7, 3, seed=9, n_jobs=1)
    parallel = mcsim.simulate(spec, 7, 3, seed=9, n_jobs=2)
    for v in serial.data_vars:
        np.testing.assert_array_equal(serial[v].values, parallel[v].values)
    one = mcsim.run_network(spec, 3, seed=np.random.SeedSequence(9).spawn(7)[4])
    np.testing.assert_array_equal(one.tau_minus.values, serial.tau_minus.isel(network=4).values)


@pytest.mark.parametrize("haar", ["householder", "dense"])
def test_signals_in_one_batch_equal_signals_one_by_one(haar):
    """B signals through one network with matrix-matrix products give each signal's own
    run: bitwise for reflectors (each reflector meets each row in the same operations),
    to rounding for dense factors (gemm vs gemv).  (Lazy factors are revealed by the
    products: a second run of a signal meets the matrix the first run revealed, so
    there is no 'own run' to compare with.)"""
    spec = mcsim.NetworkSpec.from_dict(TALK).scaled(0.5)
    net = draw_network(spec, np.random.default_rng(8), haar, signals=3)
    batch, valid = run_signals(net, 5)
    assert list(valid) == [5, 5, 5]
    for b in range(3):
        alone, _ = run_trajectory(net.signal(b), 5)
        if haar == "householder":
            np.testing.assert_array_equal(batch[b], alone)
        else:
            np.testing.assert_allclose(batch[b], alone, rtol=1e-9)


def test_simulate_with_signals_has_a_signal_dimension():
    spec = _small_chain()
    ds = mcsim.simulate(spec, 3, 2, seed=1, n_jobs=1, signals=4)
    assert ds.tau_minus.dims == ("network", "signal", "iteration", "layer") and ds.sizes["signal"] == 4
    assert ds.valid_iterations.dims == ("network", "signal")
    one = mcsim.simulate(spec, 3, 2, seed=1, n_jobs=1)
    assert one.tau_minus.dims == ("network", "iteration", "layer")


def test_a_diverging_signal_stops_alone_and_is_flagged():
    """A signal whose messages are non-finite stops at iteration 0 (valid 0, NaN records);
    the other signals of the same network run on untouched."""
    spec = _small_chain()
    net = draw_network(spec, np.random.default_rng(2), signals=2)
    healthy, _ = run_signals(net.signal(1), 3)
    net.r_minus0[0][0, :] = np.nan
    out, valid = run_signals(net, 3)
    assert list(valid) == [0, 3]
    assert np.isnan(out[0, :, 1:]).all()
    np.testing.assert_array_equal(out[1], healthy[0])


def test_a_run_stops_at_the_first_alpha_outside_the_unit_interval():
    """Damped relu MAP with the jump divergence at half the talk's widths: the divergence
    counts few components, and some runs leave (0, 1) (seeded: 14 of 40 here).  A run stops
    there: every recorded alpha lies in (0, 1), its records are complete before the stop
    and NaN after it.  (Damped, a precision can stay positive with alpha > 1, so only the
    alpha check stops such a run.)"""
    d = dict(TALK, run={"divergence": "jump", "damping": 0.5})
    T = 8
    ds = mcsim.simulate(mcsim.NetworkSpec.from_dict(d).scaled(0.5), 40, T, seed=3, n_jobs=1)
    valid = ds.valid_iterations.values
    assert (valid < T).sum() >= 10
    for name in ("alpha_plus", "alpha_minus"):
        alpha = ds[name].values
        recorded = alpha[np.isfinite(alpha)]
        assert ((recorded > 0) & (recorded < 1)).all(), (name, recorded.min(), recorded.max())
    for i, v in enumerate(valid):
        records = np.stack([ds[n].values[i] for n in ("tau_plus", "tau_minus", "alpha_plus", "alpha_minus")])
        assert np.isfinite(records[:, :v]).all() and np.isnan(records[:, v + 1:]).all()


def test_api_results_carry_their_provenance():
    """simulate, run_network and state_evolution record the spec, the run, the factor
    method with the forms it drew, and the package versions with the code's digest."""
    spec = _small_chain()
    for ds in (mcsim.simulate(spec, 2, 2, seed=1, n_jobs=1, haar="lazy"),
               mcsim.run_network(spec, 2, seed=1, haar="lazy")):
        assert ds.attrs["haar"] == "lazy" and ds.attrs["ensemble"].startswith("Haar")
        assert ds.attrs["factor_forms"] == "U_1 lazy, V_1 lazy, U_2 lazy, V_2 lazy, U_3 lazy, V_3 lazy"
        assert ds.attrs["run"] == "undamped, ae" and ds.attrs["mcsim_source_digest"] and ds.attrs["numba_version"]
    assert "householder" in mcsim.simulate(spec, 2, 2, seed=1, n_jobs=1, haar="householder").attrs["factor_forms"]
    with pytest.raises(ValueError, match="retired"):
        mcsim.simulate(spec, 2, 2, seed=1, n_jobs=1, haar="structured")
    se = mcsim.state_evolution(spec, 2, run={"damping": 0.5})
    assert se.attrs["run"] == "damping 0.5, ae" and se.attrs["se_method"] == "memory" and se.attrs["numpy_version"]
