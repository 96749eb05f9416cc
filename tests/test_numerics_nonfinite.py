"""Non-finite inputs are never turned into finite, plausible answers.

A NaN norm used to fail the `|w| > 0` test and be treated as w = 0 (angle pi/2, q = 0, a finite binary loss): a
silently wrong result. Validated calls now raise; unvalidated calls (the engine's hot loop) propagate NaN, which the
engine reports as divergence.
"""

import numpy as np
import pytest

import numerics as nm
from numerics import binary, population

W_STAR = np.array([1.0, 0.0, -0.5])
BAD = [np.array([np.nan, 1.0, 0.0]), np.array([np.inf, 1.0, 0.0])]


@pytest.mark.parametrize("w", BAD)
@pytest.mark.parametrize("fn", [
    lambda w: population.angle(w, W_STAR),
    lambda w: population.loss(w, W_STAR, 3),
    lambda w: population.grad(w, W_STAR, 3),
    lambda w: population.gradient_coefficients(w, W_STAR, 3),
    lambda w: binary.loss(w, W_STAR, 3),
    lambda w: binary.expected_coarse_grad(w, W_STAR, 3),
])
def test_validated_calls_reject_nonfinite_w(fn, w):
    with pytest.raises(ValueError, match="w must be finite"):
        fn(w)


def test_unvalidated_calls_propagate_nan():
    w = BAD[0]
    assert np.isnan(population.angle(w, W_STAR, validate=False))
    assert np.all(np.isnan(population.gradient_coefficients(w, W_STAR, 3, validate=False)))
    assert np.isnan(binary.loss(w, W_STAR, 3, validate=False))
    assert np.all(np.isnan(binary.expected_coarse_grad(w, W_STAR, 3, validate=False)))


def test_w_zero_keeps_its_documented_finite_values():
    zero = np.zeros(3)
    assert population.angle(zero, W_STAR) == pytest.approx(np.pi / 2)
    assert np.all(np.isfinite(population.grad(zero, W_STAR, 3)))
    assert binary.loss(zero, W_STAR, 3) == pytest.approx(4 / 12)


def test_engine_reports_nonfinite_start_as_an_error():
    with pytest.raises((ValueError, nm.DivergenceError)):
        nm.run(nm.Problem(W_STAR, 3, "l1", 0.01, 0.5), BAD[0], eta=0.5, iters=10)


def test_seed_validation_names_seed_and_rejects_none():
    from numerics import init, model

    for bad in (None, -2, 1.5, "a", True):
        with pytest.raises(ValueError, match="seed"):
            model.sample_patches(4, 2, 3, seed=bad)
        with pytest.raises(ValueError, match="seed"):
            init.uniform_sphere(2, 3, seed=bad)
    with pytest.raises(ValueError, match="seed"):
        nm.run(nm.Problem(W_STAR, 3, "l1", 0.01, 0.5), np.ones(3), eta=0.5, iters=5,
               gradient=nm.Empirical(n_samples=10, seed=None))
    a = model.sample_patches(4, 2, 3, seed=np.random.SeedSequence(7))
    b = model.sample_patches(4, 2, 3, seed=np.random.SeedSequence(7))
    np.testing.assert_array_equal(a, b)


def test_engine_argument_checks():
    problem = nm.Problem(W_STAR, 3, "l1", 0.01, 0.5)
    with pytest.raises(ValueError, match="n_samples"):
        nm.Empirical(n_samples=-5)
    with pytest.raises(ValueError, match="progress"):
        nm.run(problem, np.ones(3), eta=0.5, iters=5, progress="yes")
    from numerics import model

    Z = model.sample_patches(20, 3, 3, seed=0)
    Z[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="samples Z must be finite"):
        nm.run(problem, np.ones(3), eta=0.5, iters=5, gradient=nm.Empirical(samples=Z))
