"""The check initialization_probability passes on the derived formula and fails on each mutation."""

import pytest

from checks import initialization as ini
from checks.framework import run_check
from theory.initialization import init_tail_probability


def test_quick_profile_passes():
    res = run_check(ini.INITIALIZATION_PROBABILITY, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == ini.INITIALIZATION_PROBABILITY.max_examples["quick"]


@pytest.mark.parametrize("mutation", ini.INITIALIZATION_PROBABILITY.mutations, ids=lambda m: m.name)
def test_fails_on_mutation(mutation):
    res = run_check(ini.INITIALIZATION_PROBABILITY, overrides=mutation.overrides, max_examples=10)
    assert not res.passed
    assert res.error is None
    assert res.falsifying is not None


@pytest.mark.parametrize("d", [2, 5, 40])
def test_delta_min_puts_enough_mass_in_the_cap(d):
    assert float(init_tail_probability(d, ini.delta_min(d))) == pytest.approx(ini.P_MIN, rel=1e-9)
