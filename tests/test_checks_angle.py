"""The angle checks pass their quick profile, and each documented mutation makes its check fail."""

import pytest

from checks import angle
from checks.framework import run_check


def test_quick_profile_passes():
    res = run_check(angle.ANGLE_BEHAVIOUR, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == angle.ANGLE_BEHAVIOUR.max_examples["quick"]


@pytest.mark.parametrize("mutation", sorted(angle.MUTATIONS))
def test_mutation_fails(mutation):
    res = run_check(angle.ANGLE_BEHAVIOUR, "quick", overrides=angle.MUTATIONS[mutation], max_examples=10)
    assert not res.passed
    assert res.falsifying is not None and res.error is None


def test_every_documented_mutation_is_tested():
    assert set(angle.ANGLE_BEHAVIOUR.mutations) == set(angle.MUTATIONS)
