"""The limit_map checks pass their quick profile, and each documented mutation makes its check fail."""

import pytest

from checks import limit_map
from checks.framework import run_check

_SPECS = {s.name: s for s in (limit_map.LIMIT_MATCHES_PREDICTION, limit_map.NO_FALSE_POSITIVES)}

_CASES = [(name, mut) for name, muts in limit_map.MUTATIONS.items() for mut in muts]


@pytest.mark.parametrize("name", sorted(_SPECS))
def test_quick_profile_passes(name):
    res = run_check(_SPECS[name], "quick")
    assert res.passed, (res.falsifying, res.error)
    # limit_matches_prediction rejects examples outside the predictor's scope (see checks.limit_map)
    assert res.examples >= _SPECS[name].max_examples["quick"] // 2


@pytest.mark.parametrize(("name", "mutation"), _CASES)
def test_mutation_fails(name, mutation):
    res = run_check(_SPECS[name], "quick", overrides=limit_map.MUTATIONS[name][mutation], max_examples=10)
    assert not res.passed
    assert res.falsifying is not None and res.error is None


def test_every_documented_mutation_is_tested():
    for name, spec in _SPECS.items():
        assert set(spec.mutations) == set(limit_map.MUTATIONS[name])
