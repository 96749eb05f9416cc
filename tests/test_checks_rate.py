"""The rate checks pass their quick profile, and each documented mutation makes its check fail."""

import pytest

from checks import rate
from checks.framework import run_check


def test_quick_profile_passes():
    res = run_check(rate.LINEAR_RATE, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == rate.LINEAR_RATE.max_examples["quick"]


@pytest.mark.parametrize("mutation", sorted(rate.MUTATIONS))
def test_mutation_fails(mutation):
    res = run_check(rate.LINEAR_RATE, "quick", overrides=rate.MUTATIONS[mutation], max_examples=10)
    assert not res.passed
    assert res.falsifying is not None and res.error is None


def test_every_documented_mutation_is_tested():
    assert set(rate.LINEAR_RATE.mutations) == set(rate.MUTATIONS)
