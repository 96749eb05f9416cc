"""The binary-activation checks pass their quick profile and fail on each of their mutations."""

import pytest

from checks import binary as cb
from checks.framework import run_check


@pytest.mark.parametrize("name", sorted(cb.SPECS))
def test_quick_profile_passes(name):
    res = run_check(cb.SPECS[name], "quick")
    assert res.passed, (res.falsifying, res.error, res.worst_detail)
    assert res.examples == cb.SPECS[name].max_examples["quick"]


@pytest.mark.parametrize(("name", "mutation"), [(n, m) for n, muts in sorted(cb.MUTATIONS.items()) for m in muts])
def test_mutation_fails(name, mutation):
    spec = cb.SPECS[name]
    assert mutation in spec.mutations  # documented on the spec
    res = run_check(spec, overrides=cb.MUTATIONS[name][mutation], max_examples=6)
    assert not res.passed
    assert res.error is None and res.falsifying is not None and res.worst > 1.0
