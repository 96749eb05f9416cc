"""Cross-check: numerics (binary, binary_limits) against theory (SymPy-derived binary and binary_limits).

The two were written independently (theory derives with SymPy and solves on a q-grid with Brent; numerics bisects
in log r' with an active-set loop); agreement on generated instances is evidence that neither transcribed a wrong
formula. A mutation (a wrong tau fed to the same comparison) is rejected.
"""

from __future__ import annotations

import numpy as np
import pytest

from numerics import Problem, binary, predict_binary

theory_binary = pytest.importorskip("theory.binary")
theory_limits = pytest.importorskip("theory.binary_limits")


def _instances(seed: int, n: int):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        d = int(rng.integers(3, 9))
        ws = rng.standard_normal(d) * (rng.random(d) < 0.7)
        ws[0] = 1.0 + abs(ws[0])
        yield ws * float(rng.uniform(0.5, 3.0)), int(rng.integers(1, 8)), float(rng.choice([0.002, 0.01, 0.03])), \
            float(rng.choice([0.05, 0.3, 1.0]))


@pytest.mark.parametrize("ste", ["relu", "identity"])
def test_expected_coarse_gradient_agrees(ste):
    rng = np.random.default_rng(0)
    for _ in range(10):
        d = int(rng.integers(2, 8))
        k = int(rng.integers(1, 10))
        w, ws = rng.standard_normal(d), rng.standard_normal(d)
        np.testing.assert_allclose(binary.expected_coarse_grad(w, ws, k, ste),
                                   theory_binary.expected_coarse_gradient(w, ws, k, ste), rtol=1e-12, atol=1e-15)
        assert binary.coarse_coefficient(k, ste) == pytest.approx(theory_binary.coarse_constant(k, ste), rel=1e-14)
        np.testing.assert_allclose(binary.loss(w, ws, k), theory_binary.population_loss(w, ws, k), rtol=1e-12)


@pytest.mark.parametrize("name,a", [("l1", None), ("tl1", 1.0)])
@pytest.mark.parametrize("ste", ["relu", "identity"])
def test_predicted_limit_agrees_unique_branch(name, a, ste):
    compared = 0
    for ws, k, lam, beta in _instances(1, 6):
        mine = predict_binary(Problem(ws, k, name, lam, beta, a=a), ste=ste)
        theirs = theory_limits.predicted_binary_limit(ws, k, name, lam, beta, a=a, ste=ste)
        # both must agree on whether a fixed point with nu > beta (kept coordinates of the sign of e*) exists; for
        # TL1 with strong lam (lam/c ~ max|e*|) neither finds one (the iteration then ends on other fixed points)
        assert bool(mine.ok) == bool(theirs["consistent"])
        if not mine.ok:
            continue
        compared += 1
        np.testing.assert_allclose(mine.u, theirs["u"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(mine.w, theirs["w"], rtol=0, atol=1e-10)
        if np.any(mine.support):
            assert float(mine.r) == pytest.approx(float(theirs["r"]), rel=1e-9)
            assert float(mine.tau) == pytest.approx(float(theirs["tau"]), rel=1e-9)
    assert compared >= 4


@pytest.mark.parametrize("name,a", [("l0", None), ("tl1", 0.1)])
def test_predicted_limit_agrees_given_support(name, a):
    for ws, k, lam, beta in _instances(2, 5):
        mine = predict_binary(Problem(ws, k, name, lam, beta, a=a))
        if not np.any(mine.support):
            continue
        theirs = theory_limits.predicted_binary_limit(ws, k, name, lam, beta, a=a, kept_mask=mine.support)
        assert mine.ok and theirs["consistent"]
        np.testing.assert_allclose(mine.u, theirs["u"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(mine.w, theirs["w"], rtol=0, atol=1e-10)


def test_cross_check_rejects_a_wrong_tau():
    ws, k, lam, beta = np.array([1.0, -0.6, 0.3, 0.05]), 3, 0.01, 0.3
    theirs = theory_limits.predicted_binary_limit(ws, k, "l1", lam, beta)
    mine = predict_binary(Problem(ws, k, "l1", lam, beta))
    e = ws / np.linalg.norm(ws)
    wrong_tau = lam / mine.c  # the lam/(beta r') term dropped
    wrong_u = mine.r * np.sign(e) * np.maximum(np.abs(e) - wrong_tau, 0)
    assert np.max(np.abs(wrong_u - theirs["u"])) > 1e-4
