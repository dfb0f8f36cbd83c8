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


@pytest.fixture
def talk():
    return copy.deepcopy(TALK)
