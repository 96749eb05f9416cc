"""The checks initialization_probability and sphere_initializer pass on the derived formula and the real sampler and
fail on each mutation."""

import math

import numpy as np
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


def test_sphere_quick_profile_passes():
    res = run_check(ini.SPHERE_INITIALIZER, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == ini.SPHERE_INITIALIZER.max_examples["quick"]


@pytest.mark.parametrize("mutation", ini.SPHERE_INITIALIZER.mutations, ids=lambda m: m.name)
def test_sphere_fails_on_mutation(mutation):
    res = run_check(ini.SPHERE_INITIALIZER, "quick", overrides=mutation.overrides)
    assert not res.passed
    assert res.error is None
    assert res.falsifying is not None


@pytest.mark.parametrize("mutation", ["gaussian_unnormalized", "scale_2"])
def test_norm_mutations_pass_the_angle_check(mutation):
    # The class this check closes: the cap probability sees angles only, so a sampler that returns vectors of the
    # wrong norm passes initialization_probability in its quick profile.
    overrides = ini.SPHERE_INITIALIZER.mutation(mutation).overrides
    res = run_check(ini.INITIALIZATION_PROBABILITY, "quick", overrides=overrides)
    assert res.passed, res.falsifying


def test_familywise_z():
    assert ini.familywise_z(1) == pytest.approx(4.0, rel=1e-12)
    # m comparisons at z have the two-sided tail of one at 4
    for m in (3, 36, 180):
        assert m * math.erfc(ini.familywise_z(m) / math.sqrt(2)) == pytest.approx(math.erfc(4 / math.sqrt(2)),
                                                                                   rel=1e-9)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_norm_tolerance_covers_the_sampler_at_large_d(dtype):
    from numerics import uniform_sphere

    for d in (2, 60, 500):
        x = np.asarray(uniform_sphere(20_000, d, seed=3, dtype=dtype), dtype=np.float64)
        err = float(np.max(np.abs(np.linalg.norm(x, axis=1) - 1.0)))
        assert err <= ini.norm_tolerance(d, np.dtype(dtype)) / 1.5, (d, err)
