"""The kernel's whole ML-VAMP run equals its NumPy twin (``tests/naive.py``, the
benchmarks' yardstick): same records to 1e-9 relative, undamped and damped, with either
form of the Haar factors and every factor kind."""
import numpy as np
import pytest

import mcsim
from mcsim.ensembles import draw_network
from mcsim.montecarlo import run_mlvamp, run_trajectory

from .conftest import CHAIN, TALK, lifted, stochastic
from .naive import mlvamp_records

pytestmark = pytest.mark.kernels  # also run without the JIT, with coverage (.ci/run)

LAPLACE_CHAIN = {**CHAIN, "input": {"dim": 200, "prior": {"law": "laplace", "scale": 0.7}}}


@pytest.mark.parametrize("haar", ["dense", "householder"])
@pytest.mark.parametrize("network", [TALK, CHAIN, LAPLACE_CHAIN, lifted(), stochastic()],
                         ids=["talk_relu", "chain", "chain_l1", "lifted", "stochastic_leaky"])
def test_twin_equals_kernel(network, haar):
    spec = mcsim.NetworkSpec.from_dict(network).scaled(0.5)
    net = draw_network(spec, np.random.default_rng(4), haar)
    kernel, valid = run_trajectory(net, 6)
    assert valid == 6
    np.testing.assert_allclose(mlvamp_records(net, 6), kernel, rtol=1e-9, atol=1e-13)


def test_damping_is_applied_as_documented():
    """Different damping of means and precisions per direction: kernel = twin, and not the
    undamped run of the same network."""
    damped = dict(TALK, run={"damping": [0.7, 0.8, 0.9, 0.6]})
    net = draw_network(mcsim.NetworkSpec.from_dict(damped).scaled(0.5), np.random.default_rng(5))
    kernel = run_mlvamp(net, 6)
    assert kernel.valid[0] == 6
    np.testing.assert_allclose(mlvamp_records(net, 6), kernel.records[0], rtol=1e-9, atol=1e-13)
    plain = draw_network(mcsim.NetworkSpec.from_dict(TALK).scaled(0.5), np.random.default_rng(5))
    assert not np.allclose(mlvamp_records(plain, 6), kernel.records[0])


def test_twin_refuses_the_jump_divergence():
    net = draw_network(mcsim.NetworkSpec.from_dict(dict(TALK, run={"divergence": "jump"})).scaled(0.5),
                       np.random.default_rng(0))
    with pytest.raises(ValueError, match="a.e. divergence"):
        mlvamp_records(net, 2)
