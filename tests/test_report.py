"""Statistics and verdicts of a result (mcsim.report) on synthetic data, and the progress bar."""
import io

import numpy as np
import pytest
from scipy.stats import t as t_dist
import xarray as xr

from mcsim.progress import Progress
from mcsim.report import (CONSISTENT, DEVIATES, NO_PREDICTION, UNDETERMINED, exactness_row, selection_problem,
                          statistics, summary_line, verdict_table)


def _synthetic(bias=0.0, seed=0, networks=400):
    """tau_plus = SE + N(0, (n/100)^-1/2); tau_minus the same plus ``bias`` at layer 1 from
    iteration 1 on; no SE at iteration 2 of layer 0."""
    rng = np.random.default_rng(seed)
    widths = np.array([[100, 200], [400, 800], [1600, 3200]])
    se = np.full((3, 3, 2), 0.5)
    se[:, 2, 0] = np.nan
    sd = (widths / 100.0) ** -0.5  # (scale, layer)
    noise = lambda: rng.standard_normal((3, networks, 3, 2)) * sd[:, None, None, :]
    shift = np.zeros((3, 2))
    shift[1:, 1] = bias
    dims = ("scale", "network", "iteration", "layer")
    return xr.Dataset(
        {"tau_plus": (dims, 0.5 + noise()), "tau_minus": (dims, 0.5 + shift + noise()),
         "se_tau_plus": (("scale", "iteration", "layer"), se), "se_tau_minus": (("scale", "iteration", "layer"), se),
         "valid_iterations": (("scale", "network"), np.full((3, networks), 3))},
        coords={"scale": [1.0, 4.0, 16.0], "width": (("scale", "layer"), widths)},
        attrs={"network": "synthetic"})


def test_unbiased_is_consistent_and_rate_recovered():
    result = _synthetic()
    result = result.merge(statistics(result))
    verdicts = result.verdict_tau_plus.values
    assert verdicts[2, 0] == NO_PREDICTION and (np.delete(verdicts.ravel(), 4) == CONSISTENT).all()
    assert result.verdict_tau_plus.attrs["checks"] == 10  # 2 quantities x 6 cells, minus 2 without SE
    rate = result.rate_tau_plus.sel(iteration=0)
    assert ((rate.sel(fit="low") < -0.5) & (rate.sel(fit="high") > -0.5)).all()
    # power: at the largest width, z_0 has sd 0.25 over 400 networks, SE 0.5: a relative
    # standard error of 2.5 %, times t_{1 - 0.01/20, 399} + t_{0.8, 399} = 3.32 + 0.84
    factor = t_dist.isf(0.01 / 20, 399) + t_dist.ppf(0.8, 399)
    detectable = result.detectable_tau_plus.values
    assert abs(factor - 4.16) < 0.01 and abs(detectable[0, 0] / (factor * 0.025) - 1) < 0.1  # sample sd within 10 %
    largest = 100 * np.nanmax([detectable, result.detectable_tau_minus.values])
    assert summary_line(result) == f"consistent with SE at all 10 checks (each would detect a gap of {largest:.0f}% or more, power 80%)"


def test_a_gap_of_the_stated_detectable_size_is_detected_at_the_stated_power():
    """A bias of exactly the detectable gap at one check (tau_minus, t = 1, z_0): over 60
    seeded synthetic studies it is found in 80 % of them, within binomial error (sd 5.2 %:
    between 62 % and 95 %, 3 sd, is asked)."""
    detected = 0
    for seed in range(60):
        result = _synthetic(seed=100 + seed)
        gap = float(statistics(result).detectable_tau_minus.values[1, 0])
        result["tau_minus"][:, :, 1, 0] += gap * 0.5  # relative gap of SE 0.5
        detected += int(statistics(result).verdict_tau_minus.values[1, 0] == DEVIATES)
    assert 0.62 <= detected / 60 <= 0.95, detected


def test_constant_bias_deviates_where_it_is():
    """A bias of 0.05 at the largest width (noise sd 0.18, 400 networks: 5.6 standard errors)."""
    result = _synthetic(bias=0.05)
    result = result.merge(statistics(result))
    v = result.verdict_tau_minus.values
    assert (v[1:, 1] == DEVIATES).all() and v[0, 1] == CONSISTENT and v[0, 0] == CONSISTENT
    assert summary_line(result).startswith("DEVIATES at 2 of 10 checks, first at iteration 1 (z_1)")
    table = verdict_table(result)
    assert table.count("%*") == 2 and "nan" not in table


def test_progress_counts_shards_and_calibrates_its_eta_from_measured_times():
    """The percentage counts shards; the ETA is each kind's measured seconds per unit of
    estimated cost times the cost left, over the workers (here: SE shards took 3x their
    estimate, Monte Carlo ones 0.5x; a kind with no finished shard borrows the overall
    ratio)."""
    now = [0.0]
    out = io.StringIO()
    bar = Progress({"se": [1.0, 1.0], "mc": [4.0, 4.0, 4.0, 6.0]}, "run", workers=2, stream=out,
                   clock=lambda: now[0])
    now[0] = 3.0
    bar.advance("se", 1.0, 3.0)  # 1/20 of the work: ETA from the SE's ratio 3 for everything left
    assert "1/6 shards (17%)" in out.getvalue() and f"ETA {3 * 19 // 2 // 60}:{3 * 19 / 2 % 60:02.0f}" in out.getvalue()
    bar.advance("se", 1.0, 3.0)
    bar.advance("mc", 4.0, 2.0)  # mc ratio 0.5: 14 units left -> 7 s of work over 2 workers
    assert bar.eta() == 3.5
    now[0] = 200.0
    bar.phase("a phase")
    for cost in (4.0, 4.0, 6.0):
        bar.advance("mc", cost, cost / 2)
    bar.close()
    text = out.getvalue()
    assert "run: a phase" in text and "6/6 shards (100%)" in text and "3:20 elapsed" in text


def test_stopped_or_non_finite_networks_are_excluded_and_counted():
    """Networks that stopped early or went non-finite leave every statistic at their
    width (even their finite iterations) and are counted; the rest give the same
    statistics as if they had never been there."""
    full = _synthetic()
    broken = full.copy(deep=True)
    broken["valid_iterations"][0, :3] = 1  # stopped after one iteration
    broken["tau_minus"][2, 5, 1, 0] = np.inf
    broken["tau_plus"][2, 6, 2, 1] = np.nan
    stats = statistics(broken)
    assert list(stats.excluded.values) == [3, 0, 2]
    kept = {0: [i for i in range(400) if i >= 3], 1: list(range(400)), 2: [i for i in range(400) if i not in (5, 6)]}
    for s, networks in kept.items():
        ref = statistics(full.isel(scale=[s], network=networks))
        np.testing.assert_allclose(stats.deviation_tau_minus.isel(scale=s).values,
                                   ref.deviation_tau_minus.isel(scale=0).values)
    assert "5 networks excluded" in summary_line(broken.merge(stats))


def test_compare_gives_a_studys_statistics_for_api_results():
    """mcsim.compare on simulate + state_evolution: the mean deviation is mean - SE; the
    chain is consistent with its SE and says what it would detect; relu MAP at x4 (a.e.
    divergence, 40 networks) deviates, as in every study; mismatched inputs are refused."""
    import mcsim

    from .conftest import CHAIN, TALK

    chain = mcsim.NetworkSpec.from_dict(CHAIN)
    mc, se = mcsim.simulate(chain, 30, 4, seed=1, n_jobs=1), mcsim.state_evolution(chain, 4)
    stats = mcsim.compare(mc, se)
    np.testing.assert_allclose(stats.deviation_tau_minus.sel(statistic="mean").isel(scale=0).values,
                               (mc.tau_minus.mean("network") - se.tau_minus).values, rtol=1e-12, atol=1e-15)
    assert stats.attrs["summary"].startswith("consistent with SE at all 24 checks (each would detect")
    assert stats.attrs["table"].count("consistent") == 3
    talk = mcsim.NetworkSpec.from_dict(TALK).scaled(4)
    relu = mcsim.compare(mcsim.simulate(talk, 40, 6, seed=2, n_jobs=1), mcsim.state_evolution(talk, 6))
    assert relu.attrs["summary"].startswith("DEVIATES") and "DEVIATES" in relu.attrs["table"]
    with pytest.raises(ValueError, match="iterations x layers differ"):
        mcsim.compare(mc, mcsim.state_evolution(chain, 3))
    with pytest.raises(ValueError, match="needs simulate"):
        mcsim.compare(se, se)
    with pytest.raises(ValueError, match="several signals"):
        mcsim.compare(mcsim.simulate(chain, 3, 4, seed=1, n_jobs=1, signals=2), se)
    with pytest.raises(ValueError, match="widths differ"):
        mcsim.compare(mcsim.simulate(chain.scaled(0.5), 3, 4, seed=1, n_jobs=1), se)
    with pytest.raises(ValueError, match="the Monte Carlo ran 'damping 0.5, ae'"):
        mcsim.compare(mcsim.simulate(chain, 3, 4, seed=1, n_jobs=1, run={"damping": 0.5}), se)
    none = mc.copy(deep=True)
    none["valid_iterations"][:] = 0  # every run stopped: no check, and undetermined
    assert mcsim.compare(none, se).attrs["summary"] == ("UNDETERMINED: 100% of runs stopped at the largest width "
                                                         "(> 1%; by width 100%)")


@pytest.mark.parametrize("stopped, determined", [
    ([0.2, 0.05, 0.0], True),      # falls to 0
    ([0.05, 0.02, 0.005], True),   # falls, and <= 1 % at the largest width
    ([0.1, 0.05, 0.02], False),    # falls, but 2 % > 1 % at the largest width
    ([0.0, 0.0, 0.005], False),    # does not fall: 0.5 % at the largest width after none
    ([0.004, 0.005, 0.005], False),  # flat
    ([0.005], False),              # one width: no fall to see
    ([0.0], True)])
def test_undetermined_rule(stopped, determined):
    assert (selection_problem(np.array(stopped)) == "") == determined


def test_many_stopped_runs_make_the_verdict_undetermined():
    """No silent selection: with 5 % of runs stopped at the largest width, every checked
    cell is UNDETERMINED even though the completed runs are on the SE; the lines say why
    and what the completed runs alone say; the stopped fractions are recorded."""
    result = _synthetic()
    result["valid_iterations"][2, :20] = 1
    stats = statistics(result)
    np.testing.assert_allclose(stats.stopped_fraction.values, [0, 0, 0.05])
    v = stats.verdict_tau_minus.values
    assert ((v == UNDETERMINED) | (v == NO_PREDICTION)).all() and (v == UNDETERMINED).sum() == 5
    merged = result.merge(stats)
    assert summary_line(merged).startswith("UNDETERMINED: 5% of runs stopped at the largest width")
    assert "the completed runs alone deviate at 0 of 10 checks" in summary_line(merged)
    verdict, detail = exactness_row(merged)
    assert verdict == "UNDETERMINED" and "the completed runs alone agree with the SE" in detail
    assert "runs stopped by width: 0%, 0%, 5%" in verdict_table(merged)
