"""Hostile input: any malformed spec or study file gives a SpecError naming the field,
never another exception (property-based, hypothesis)."""
import copy
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcsim.config import StudyConfig
from mcsim.spec import NetworkSpec, SpecError

from .conftest import CHAIN, TALK, lifted

JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(-3, 3), max_size=2))
BASES = [TALK, CHAIN, lifted()]


def _paths(d, prefix=()):
    """Every (path, value) in a nested dict/list spec."""
    items = d.items() if isinstance(d, dict) else enumerate(d)
    for k, v in items:
        yield prefix + (k,)
        if isinstance(v, (dict, list)):
            yield from _paths(v, prefix + (k,))


def _mutate(base, path, value, delete):
    d = copy.deepcopy(base)
    parent = d
    for k in path[:-1]:
        parent = parent[k]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return d


@st.composite
def mutated_specs(draw):
    base = draw(st.sampled_from(BASES))
    d = base
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(d))
        if not paths:
            break
        d = _mutate(d, draw(st.sampled_from(paths)), draw(JUNK), draw(st.booleans()))
    if draw(st.booleans()):
        d = copy.deepcopy(d)
        d[draw(st.text(min_size=1, max_size=6))] = draw(JUNK)  # an unknown top-level key
    return d


@settings(max_examples=1000, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_malformed_specs_raise_spec_error(d):
    try:
        spec = NetworkSpec.from_dict(d)
    except SpecError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert all(n >= 1 for n in spec.dims)  # accepted: then it is a usable spec
    for layer in spec.layers:
        assert math.isfinite(layer.noise_var) and layer.noise_var >= 0


STUDY = {"iterations": 4, "networks": 10, "scales": [0.5, 1.0], "seed": 1, "shard_size": 5, "haar": "auto"}


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(STUDY)), JUNK)
def test_malformed_study_values_raise_spec_error(key, value):
    fields = dict(STUDY, **{key: value})
    fields["scales"] = tuple(fields["scales"]) if isinstance(fields["scales"], list) else fields["scales"]
    try:
        StudyConfig(name="x", source="x.toml", specs={"chain": NetworkSpec.from_dict(CHAIN)}, **fields)
    except SpecError as err:
        assert key in str(err)
