"""Shared fixtures: the seed talk's network and the reference networks of the SE tests."""
import copy

import pytest

TALK = {
    "input": {"dim": 20, "prior": {"law": "gaussian", "var": 1.0}},
    "layers": [
        {"kind": "linear", "dim": 100, "spectrum": {"law": "marchenko_pastur", "var": 1.0}},
        {"kind": "relu"},
        {"kind": "linear", "dim": 500, "spectrum": {"law": "marchenko_pastur", "var": 1.0}},
        {"kind": "relu"},
        {"kind": "linear", "dim": 300, "spectrum": {"law": "marchenko_pastur", "var": 1.0}, "noise_var": 0.01},
    ],
}

CHAIN = {  # deep linear chain: mixed spectra, rectangular shapes, noise and bias
    "input": {"dim": 200, "prior": {"law": "gaussian", "var": 1.0}},
    "layers": [
        {"kind": "linear", "dim": 300, "spectrum": {"law": "uniform", "low": 0.5, "high": 1.5},
         "bias": 0.3, "noise_var": 0.05},
        {"kind": "linear", "dim": 150, "spectrum": {"law": "marchenko_pastur", "var": 1.0}},
        {"kind": "linear", "dim": 250, "spectrum": {"law": "discrete", "values": [0.5, 2.0], "probs": [0.5, 0.5]},
         "noise_var": 0.1},
    ],
}


def lifted(d=TALK, nu=4.0):
    """The talk's network with the convex lifted-relu penalty at every activation."""
    d = copy.deepcopy(d)
    for layer in d["layers"]:
        if layer["kind"] == "relu":
            layer["penalty"] = {"kind": "lifted_relu", "nu": nu}
    return d


def stochastic(d=TALK, noise_var=0.01, slope=0.2):
    """The talk's network with noisy hidden maps (every variable free in F) and a leaky
    relu (slope ``slope``) at the first activation."""
    d = copy.deepcopy(d)
    for layer in d["layers"][:-1]:
        layer["noise_var"] = noise_var
    d["layers"][1].update(kind="leaky_relu", slope=slope)
    return d


def sparse_chain(rho=0.2, lam=0.5):
    """CHAIN with a Bernoulli-Gaussian input and the (mismatched) l1 penalty lam |z_0|."""
    d = copy.deepcopy(CHAIN)
    d["input"].update(prior={"law": "bernoulli_gaussian", "rho": rho, "var": 1.0}, penalty={"kind": "l1", "lam": lam})
    return d


@pytest.fixture
def talk():
    return copy.deepcopy(TALK)
