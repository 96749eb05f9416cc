"""The checks loss_gradient_closed_form and critical_points pass on the real closed forms and fail on each mutation."""

import numpy as np
import pytest

from checks import closed_forms as cf
from checks.framework import run_check
from numerics import population


def test_loss_gradient_quick_profile_passes():
    res = run_check(cf.LOSS_GRADIENT, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == cf.LOSS_GRADIENT.max_examples["quick"]
    assert 0.0 < res.worst <= 1.0


@pytest.mark.parametrize("mutation", cf.LOSS_GRADIENT.mutations, ids=lambda m: m.name)
def test_loss_gradient_fails_on_mutation(mutation):
    res = run_check(cf.LOSS_GRADIENT, overrides=mutation.overrides, max_examples=8)
    assert not res.passed
    assert res.error is None  # a reported failure, not a crash
    assert res.falsifying is not None and res.worst > 1.0


def test_kernel_mutation_is_a_one_term_change():
    # the mutated loss differs from the real one by exactly the doubled kernel term -2 g / k
    rng = np.random.default_rng(0)
    w, ws = rng.standard_normal(4), rng.standard_normal(4)
    t = float(population.angle(w, ws))
    g = np.linalg.norm(w) * np.linalg.norm(ws) * (np.sin(t) + (np.pi - t) * np.cos(t)) / (2 * np.pi)
    assert cf._loss_kernel_over_pi(w, ws, 3) == pytest.approx(float(population.loss(w, ws, 3)) - 2 * g / 3,
                                                             rel=1e-14, abs=1e-15)


def test_critical_points_quick_profile_passes():
    res = run_check(cf.CRITICAL_POINTS, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == cf.CRITICAL_POINTS.max_examples["quick"]


@pytest.mark.parametrize("mutation", cf.CRITICAL_POINTS.mutations, ids=lambda m: m.name)
def test_critical_points_fails_on_mutation(mutation):
    res = run_check(cf.CRITICAL_POINTS, overrides=mutation.overrides, max_examples=8)
    assert not res.passed
    assert res.error is None
    assert res.falsifying is not None
