"""The rate checks pass their quick profile, and each documented mutation makes its check fail."""

import pytest

from checks import rate
from checks.framework import run_check


def test_quick_profile_passes():
    res = run_check(rate.LINEAR_RATE, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == rate.LINEAR_RATE.max_examples["quick"]


@pytest.mark.parametrize("mutation", rate.LINEAR_RATE.mutations, ids=lambda m: m.name)
def test_mutation_fails(mutation):
    res = run_check(rate.LINEAR_RATE, "quick", overrides=mutation.overrides, max_examples=10)
    assert not res.passed
    assert res.falsifying is not None and res.error is None
