"""The front checks pass their quick profile, and each documented mutation makes its check fail."""

import pytest

from checks import fronts
from checks.framework import run_check

SPECS = (fronts.FRONT_STATIONARY, fronts.FRONT_NOT_BEATEN, fronts.FRONT_FOLDS, fronts.L0_STAIRCASE,
         fronts.RVSM_EXCESS)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_quick_profile_passes(spec):
    res = run_check(spec, "quick")
    assert res.passed, (res.falsifying, res.worst_detail, res.error)
    assert res.examples >= spec.max_examples["quick"]


@pytest.mark.parametrize("spec,mutation", [(s, m) for s in SPECS for m in s.mutations],
                         ids=lambda x: getattr(x, "name", ""))
def test_mutation_fails(spec, mutation):
    res = run_check(spec, "quick", overrides=mutation.overrides, max_examples=3)
    assert not res.passed
    assert res.falsifying is not None and res.error is None
