"""The numpy baseline of the benchmarks implements the same algorithm as the kernel."""
import numpy as np
import pytest

import mcsim
from benchmarks.baseline import baseline_run
from mcsim.ensembles import draw_network
from mcsim.montecarlo import run_mlvamp, run_trajectory

from .conftest import CHAIN, TALK, lifted


@pytest.mark.parametrize("haar", ["dense", "householder"])
@pytest.mark.parametrize("network", [TALK, CHAIN, {**CHAIN, "input": {"dim": 200, "prior": {
    "law": "laplace", "scale": 0.7}}}], ids=["talk_relu", "chain", "chain_l1"])
def test_baseline_equals_kernel(network, haar):
    spec = mcsim.NetworkSpec.from_dict(network).scaled(0.5)
    net = draw_network(spec, np.random.default_rng(4), haar)
    kernel, valid = run_trajectory(net, 6)
    assert valid == 6
    np.testing.assert_allclose(baseline_run(net, 6), kernel, rtol=1e-9, atol=1e-13)


def test_damping_is_applied_as_documented():
    """Different damping of means and precisions per direction: kernel = numpy baseline."""
    factors = (0.7, 0.8, 0.9, 0.6)
    net = draw_network(mcsim.NetworkSpec.from_dict(TALK).scaled(0.5), np.random.default_rng(5))
    kernel = run_mlvamp(net, 6, damping=factors)
    assert kernel.valid[0] == 6
    np.testing.assert_allclose(baseline_run(net, 6, factors), kernel.records[0], rtol=1e-9, atol=1e-13)
    assert not np.allclose(baseline_run(net, 6), kernel.records[0])


def test_baseline_refuses_lifted_relu():
    net = draw_network(mcsim.NetworkSpec.from_dict(lifted()).scaled(0.5), np.random.default_rng(0))
    with pytest.raises(ValueError, match="matched"):
        baseline_run(net, 2)
