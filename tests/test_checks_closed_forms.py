"""The checks loss_gradient_closed_form, empirical_gradient and critical_points pass on the real closed forms and
engine and fail on each mutation."""

import numpy as np
import pytest

import numerics as nm
from checks import closed_forms as cf
from checks.framework import run_check
from numerics import model, population


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


def test_empirical_gradient_quick_profile_passes():
    res = run_check(cf.EMPIRICAL_GRADIENT, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == cf.EMPIRICAL_GRADIENT.max_examples["quick"]
    assert 0.0 < res.worst <= 1.0


@pytest.mark.parametrize("mutation", cf.EMPIRICAL_GRADIENT.mutations, ids=lambda m: m.name)
def test_empirical_gradient_fails_on_mutation(mutation):
    res = run_check(cf.EMPIRICAL_GRADIENT, "quick", overrides=mutation.overrides)
    assert not res.passed
    assert res.error is None
    assert res.falsifying is not None and res.worst > 1.0


def test_empirical_gradient_mutations_were_not_seen_by_the_other_checks():
    # Before empirical_gradient, no check called the engine's sampled gradient: loss_gradient_closed_form computes its
    # own per-sample gradients from model.forward. Its property takes no empirical-gradient ingredient at all.
    assert not {"empirical_grad", "empirical_source"} & set(cf.LOSS_GRADIENT.ingredients())


def test_wrong_sampled_gradients_differ_from_the_engine_by_their_mistake_only():
    # The mutations are the engine's formula with one change each: with every change undone they agree with
    # model.empirical_grad and with the Empirical source to rounding (relative 1e-12, not bit for bit).
    rng = np.random.default_rng(1)
    k, d, n = 3, 4, 500
    ws, w = rng.standard_normal(d), rng.standard_normal(d)
    Z = model.sample_patches(n, k, d, seed=5)
    real = np.asarray(model.empirical_grad(w, Z, model.labels(Z, ws)))
    scale = float(np.max(np.abs(real)))
    assert np.max(np.abs(cf._sampled_grad_wrong(w, ws, Z) - real)) <= 1e-12 * scale
    assert np.max(np.abs(cf._sampled_grad_wrong(w[None], ws, Z)[0] - real)) <= 1e-12 * scale
    src = np.asarray(nm.Empirical(n_samples=n, seed=5).bind(ws[None], k).grad(w[None]))[0]
    assert np.max(np.abs(src - real)) <= 1e-12 * scale
    assert np.max(np.abs(cf._grad_missing_factor_2(w, ws, Z) - real / 2)) <= 1e-12 * scale
    assert np.max(np.abs(cf._grad_missing_one_over_k(w, ws, Z) - k * real)) <= 1e-12 * scale
    # at w parallel to w* the teacher's mask is the right one
    assert np.max(np.abs(cf._grad_teacher_mask(2 * ws, ws, Z) - np.asarray(
        model.empirical_grad(2 * ws, Z, model.labels(Z, ws))))) <= 1e-12 * scale
