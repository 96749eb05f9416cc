"""Tests of numerics.population: the closed form against Monte Carlo of the actual network, the gradient against
finite differences of the loss, the Hessian at w*, the w = 0 convention, batching, backends and validation.

References are independent of the formulas under test: the network f(Z; w) = mean_i relu(Z_i . w) is sampled with
NumPy; derivatives are central differences of the (Monte-Carlo-checked) loss.
"""

from __future__ import annotations

import ast
import math
import subprocess
import sys
from pathlib import Path

import array_api_compat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numerics import population as pop

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------------------------------
# Monte Carlo of the network
# ----------------------------------------------------------------------------------------------------------------------
def mc_loss(W: np.ndarray, w_star: np.ndarray, k: int, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample mean and standard error of (f(Z; w) - f(Z; w*))^2 for each row w of W, Z ~ N(0, 1)^(n, k, d)."""
    rng = np.random.default_rng(seed)
    d = w_star.shape[0]
    Z = rng.standard_normal((n, k, d))
    f = np.maximum(Z @ np.vstack([W, w_star]).T, 0.0).mean(axis=1)  # (n, m + 1)
    sq = (f[:, :-1] - f[:, -1:]) ** 2
    return sq.mean(axis=0), sq.std(axis=0, ddof=1) / math.sqrt(n)


def _mc_cases():
    rng = np.random.default_rng(7)
    for k, d in [(1, 3), (2, 5), (10, 4), (25, 2)]:
        w_star = rng.normal(size=d)
        W = np.vstack([
            np.zeros(d),  # w = 0: the finite documented value
            -0.7 * w_star,  # t = pi
            1.3 * w_star,  # t = 0
            rng.normal(size=(3, d)),  # generic angles and norms
        ])
        yield k, d, w_star, W


MC_N = 100_000


def mc_max_z(loss_fn) -> float:
    """Largest |closed form - Monte Carlo| in units of the Monte Carlo standard error, over all cases."""
    worst = 0.0
    for i, (k, _, w_star, W) in enumerate(_mc_cases()):
        mean, se = mc_loss(W, w_star, k, MC_N, seed=100 + i)
        z = np.abs(loss_fn(W, w_star, k) - mean) / se
        worst = max(worst, float(z.max()))
    return worst


def test_loss_matches_monte_carlo():
    # 4 standard errors: over 24 comparisons a correct formula exceeds it with probability ~1.5e-3 (seeds fixed)
    assert mc_max_z(pop.loss) < 4.0


def _loss_half(w, w_star, k):  # the other convention, E[...]/2
    return 0.5 * pop.loss(w, w_star, k)


def _loss_no_cross_patch(w, w_star, k):  # drops the (k^2 - k)/(2 pi) (|w| - |w*|)^2 term
    nw, ns = np.linalg.norm(w, axis=-1), np.linalg.norm(w_star)
    return pop.loss(w, w_star, k) - (k * k - k) / (2 * np.pi) * (nw - ns) ** 2 / k**2


@pytest.mark.parametrize("wrong", [_loss_half, _loss_no_cross_patch])
def test_monte_carlo_catches_wrong_loss(wrong):
    assert mc_max_z(wrong) > 10.0


# ----------------------------------------------------------------------------------------------------------------------
# Gradient: central finite differences of the loss
# ----------------------------------------------------------------------------------------------------------------------
def fd_error(grad_fn, w: np.ndarray, w_star: np.ndarray, k: int) -> float:
    """max |grad_fn - central differences of pop.loss|, relative to 1 + |w*|."""
    h = 1e-6 * (1.0 + np.linalg.norm(w))
    fd = np.empty_like(w)
    for j in range(w.shape[0]):
        e = np.zeros_like(w)
        e[j] = h
        fd[j] = (pop.loss(w + e, w_star, k) - pop.loss(w - e, w_star, k)) / (2 * h)
    return float(np.max(np.abs(grad_fn(w, w_star, k) - fd)) / (1.0 + np.linalg.norm(w_star)))


FD_TOL = 1e-7  # truncation O(h^2) ~ 1e-12 and rounding eps * l / h ~ 1e-10 leave a wide margin


@st.composite
def _instance(draw):
    k = draw(st.integers(1, 30))
    d = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w_star = rng.normal(size=d) * draw(st.floats(0.1, 10.0))
    w = rng.normal(size=d)
    w = w / np.linalg.norm(w) * np.linalg.norm(w_star) * draw(st.floats(0.1, 3.0))  # away from 0 (not smooth there)
    return k, w, w_star


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_instance())
def test_grad_matches_finite_differences(inst):
    k, w, w_star = inst
    assert fd_error(pop.grad, w, w_star, k) < FD_TOL


def _grad_missing_cross_term(w, w_star, k):
    """The gradient with the constant (k^2 - k)/pi dropped from A(w)."""
    return pop.grad(w, w_star, k) - (k * k - k) / np.pi / k**2 * w


def _grad_sign_error(w, w_star, k):
    q, s = pop.gradient_coefficients(w, w_star, k)
    return q * w + s * w_star


@pytest.mark.parametrize("wrong", [_grad_missing_cross_term, _grad_sign_error])
def test_finite_differences_catch_wrong_gradient(wrong):
    rng = np.random.default_rng(3)
    w_star, w = rng.normal(size=5), rng.normal(size=5)
    assert fd_error(pop.grad, w, w_star, 6) < FD_TOL
    assert fd_error(wrong, w, w_star, 6) > 1e3 * FD_TOL


@settings(max_examples=40, deadline=None, derandomize=True)
@given(_instance())
def test_gradient_coefficients_consistent_with_grad(inst):
    k, w, w_star = inst
    q, s = pop.gradient_coefficients(w, w_star, k)
    np.testing.assert_allclose(q * w - s * w_star, pop.grad(w, w_star, k), rtol=1e-12,
                               atol=1e-13 * (1 + np.abs(w_star).max()))
    t = np.arccos(np.clip(w @ w_star / np.linalg.norm(w) / np.linalg.norm(w_star), -1, 1))  # independent angle
    assert abs(s - (np.pi - t) / (k * np.pi)) < 1e-7


@pytest.mark.parametrize("k", [1, 2, 7])
def test_hessian_at_teacher_and_lipschitz_estimate(k):
    """Central differences of the (finite-difference-checked) gradient at w*: eigenvalues 1/k (d - 1 times) and the
    estimate along w*."""
    rng = np.random.default_rng(k)
    d = 4
    w_star = rng.normal(size=d)
    # grad contains t * (w* - |w*| e) with t ~ |h|: differentiable at w*, but |h| h is odd in h, so central differences
    # carry an O(h) error (not O(h^2)); h = 1e-7 keeps it and the rounding error (~eps/h) near 1e-8.
    h = 1e-7
    H = np.column_stack([(pop.grad(w_star + h * e, w_star, k) - pop.grad(w_star - h * e, w_star, k)) / (2 * h)
                         for e in np.eye(d)])
    ev = np.linalg.eigvalsh(0.5 * (H + H.T))
    L = float(pop.lipschitz_estimate(w_star, k))
    assert abs(ev[-1] - L) < 1e-6
    np.testing.assert_allclose(ev[:-1], 1.0 / k, atol=1e-6)
    assert abs(L - (k + (k * k - k) / np.pi) / k**2) < 1e-15  # the documented closed form
    assert float(pop.lipschitz_estimate(5.0 * w_star, k)) == L  # scale invariant
    np.testing.assert_array_equal(pop.lipschitz_estimate(np.stack([w_star, w_star]), k), [L, L])


def test_grad_not_lipschitz_near_zero():
    """The documented caveat of lipschitz_estimate: difference quotients of grad grow like 1/|w| near 0 (k >= 2)."""
    w_star = np.array([1.0, 0.0, 0.0])
    v1, v2 = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])
    quot = [np.linalg.norm(pop.grad(eps * v1, w_star, 4) - pop.grad(eps * v2, w_star, 4)) / (eps * np.sqrt(2))
            for eps in (1e-2, 1e-4, 1e-6)]
    assert quot[0] > 10 * float(pop.lipschitz_estimate(w_star, 4))
    assert quot[1] > 50 * quot[0] and quot[2] > 50 * quot[1]


def test_grad_zero_at_teacher_and_saddle():
    rng = np.random.default_rng(11)
    w_star = rng.normal(size=6)
    for k in (1, 3, 10):
        np.testing.assert_allclose(pop.grad(w_star, w_star, k), 0.0, atol=1e-15)
        assert abs(pop.loss(w_star, w_star, k)) < 1e-14
        c = (k * k - k) / (k * k + (np.pi - 1) * k)  # the theory page: saddle at -c w* (t = pi)
        if k > 1:
            np.testing.assert_allclose(pop.grad(-c * w_star, w_star, k), 0.0, atol=1e-14)


# ----------------------------------------------------------------------------------------------------------------------
# w = 0: finite, documented values
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 9])
def test_w_zero_convention(k):
    rng = np.random.default_rng(20 + k)
    w_star = rng.normal(size=5)
    ns = np.linalg.norm(w_star)
    zero = np.zeros(5)
    c = (k + (k * k - k) / np.pi) / k**2
    assert abs(pop.loss(zero, w_star, k) - (k / 2 + (k * k - k) / (2 * np.pi)) * ns**2 / k**2) < 1e-15 * (1 + ns**2)
    g0 = pop.grad(zero, w_star, k)
    assert np.all(np.isfinite(g0))
    np.testing.assert_allclose(g0, -c * w_star, rtol=1e-14, atol=1e-15)
    # it is the one-sided directional derivative of the loss along w* at 0 ...
    h = 1e-7
    u = w_star / ns
    slope = (pop.loss(h * u, w_star, k) - pop.loss(zero, w_star, k)) / h
    assert abs(slope - g0 @ u) < 1e-6 * (1 + ns)
    # ... and the limit of the gradient along w*
    np.testing.assert_allclose(pop.grad(1e-12 * w_star, w_star, k), g0, atol=1e-11 * (1 + ns))
    q, s = pop.gradient_coefficients(zero, w_star, k)
    assert q == 0.0 and abs(s - c) < 1e-16
    assert float(pop.angle(zero, w_star)) == np.pi / 2
    if k >= 2:  # the theory page: a strict local maximum for k >= 2
        v = rng.normal(size=(50, 5))
        assert np.all(pop.loss(1e-3 * v, w_star, k) < pop.loss(zero, w_star, k))


# ----------------------------------------------------------------------------------------------------------------------
# Angle
# ----------------------------------------------------------------------------------------------------------------------
def test_angle_exact_cases_and_accuracy():
    rng = np.random.default_rng(5)
    w_star = rng.normal(size=7)
    assert float(pop.angle(w_star, w_star)) == 0.0
    assert float(pop.angle(-2.0 * w_star, w_star)) == np.pi
    # tiny angles, with exactly representable vectors: arccos of the cosine would lose half the digits here
    axis = np.array([1.7, 0.0, 0.0])
    for eps in (1e-3, 1e-9, 1e-13):
        w = np.array([1.7, 0.0, eps])
        true = math.atan2(eps, 1.7)
        assert abs(pop.angle(w, axis) - true) <= 1e-15 * true
        assert abs(pop.angle(-w, axis) - (np.pi - true)) <= 1e-15
        assert abs(pop.angle(3.0 * w, 0.5 * axis) - true) <= 1e-15 * true
    W = rng.normal(size=(200, 7)) * rng.lognormal(size=(200, 1)) * 10.0
    t = pop.angle(W, w_star)
    ref = np.arccos(np.clip(W @ w_star / np.linalg.norm(W, axis=1) / np.linalg.norm(w_star), -1, 1))
    np.testing.assert_allclose(t, ref, atol=1e-12)
    assert np.all((t >= 0) & (t <= np.pi))


# ----------------------------------------------------------------------------------------------------------------------
# Batching and backends
# ----------------------------------------------------------------------------------------------------------------------
FUNCS = {
    "loss": lambda w, s, k: pop.loss(w, s, k),
    "grad": lambda w, s, k: pop.grad(w, s, k),
    "q": lambda w, s, k: pop.gradient_coefficients(w, s, k)[0],
    "s": lambda w, s, k: pop.gradient_coefficients(w, s, k)[1],
    "angle": lambda w, s, k: pop.angle(w, s),
}


def _batch(seed=0, B=6, d=5):
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(B, d))
    W = rng.normal(size=(B, d))
    W[0] = 0.0
    W[1] = 2.0 * S[1]
    W[2] = -S[2]
    return W, S


@pytest.mark.parametrize("name", FUNCS)
def test_batched_equals_looped(name):
    W, S = _batch()
    f = FUNCS[name]
    out = f(W, S, 4)
    for b in range(W.shape[0]):
        np.testing.assert_allclose(out[b], f(W[b], S[b], 4), rtol=1e-15, atol=1e-16)
    # one teacher shared by the batch; and two leading axes
    np.testing.assert_allclose(f(W, S[3], 4), f(W, np.broadcast_to(S[3], W.shape), 4), rtol=1e-15, atol=1e-16)
    out3 = f(np.stack([W, W]), np.stack([S, S]), 4)
    np.testing.assert_allclose(out3[1], out, rtol=1e-15, atol=1e-16)


# float32: the loss of a pair (w, w*) is a difference of O((|w| + |w*|)^2) terms, so its absolute float32 error is a
# few ulps of that scale; we allow 1e-5 * (|w| + |w*|)^2 for the loss (and q, s, angle: 1e-5 of their O(1) scale) and
# 1e-5 * (|w| + |w*|) for the gradient. Measured: ~1e-6 relative.
F32_TOL = 1e-5


@pytest.mark.parametrize("name", FUNCS)
def test_backends_agree_with_numpy(backend, name):
    xp = backend.xp
    W, S = _batch(1)
    f = FUNCS[name]
    ref = f(W, S, 3)
    w, s = backend.asarray(W), backend.asarray(S)
    out = f(w, s, 3)
    assert out.dtype == xp.float64 and array_api_compat.device(out) == array_api_compat.device(w)
    np.testing.assert_allclose(backend.to_numpy(out), ref, rtol=1e-12, atol=1e-13)
    assert np.all(np.isfinite(backend.to_numpy(out)))  # row 0 is w = 0
    w32, s32 = backend.asarray(W, dtype=xp.float32), backend.asarray(S, dtype=xp.float32)
    out32 = f(w32, s32, 3)
    assert out32.dtype == xp.float32 and array_api_compat.device(out32) == array_api_compat.device(w32)
    scale = np.linalg.norm(W, axis=1) + np.linalg.norm(S, axis=1)
    scale = {"loss": scale**2, "grad": scale[:, None]}.get(name, np.ones_like(scale))
    assert np.all(np.abs(backend.to_numpy(out32) - ref) <= F32_TOL * scale)


def test_lipschitz_estimate_backend(backend):
    S = backend.asarray(np.ones((3, 4)))
    L = pop.lipschitz_estimate(S, 5)
    assert L.shape == (3,) and L.dtype == backend.xp.float64
    assert array_api_compat.device(L) == array_api_compat.device(S)
    np.testing.assert_allclose(backend.to_numpy(L), (5 + 20 / np.pi) / 25, rtol=1e-15)


# ----------------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------------
_ALL_FUNCS = [pop.loss, pop.grad, pop.gradient_coefficients]


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.one_of(st.integers(max_value=0), st.floats(allow_nan=True), st.just(True), st.just("3")))
def test_bad_k(k):
    for f in _ALL_FUNCS:
        with pytest.raises(ValueError, match=r"\bk\b"):
            f(np.ones(3), np.ones(3), k)
    with pytest.raises(ValueError, match=r"\bk\b"):
        pop.lipschitz_estimate(np.ones(3), k)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.integers(1, 6), st.sampled_from([0.0, math.nan, math.inf, -math.inf]), st.booleans())
def test_bad_w_star(d, bad, all_entries):
    w_star = np.full(d, bad) if all_entries or bad == 0.0 else np.concatenate([np.ones(d - 1), [bad]])
    if bad == 0.0:
        w_star = np.zeros(d)
    for f in [*_ALL_FUNCS, lambda w, s, k: pop.angle(w, s), lambda w, s, k: pop.lipschitz_estimate(s, k)]:
        with pytest.raises(ValueError, match="w_star"):
            f(np.ones(d), w_star, 2)


def test_shape_mismatch():
    for f in _ALL_FUNCS:
        with pytest.raises(ValueError, match=r"w_star.*d|last dimension"):
            f(np.ones(3), np.ones(4), 2)
        with pytest.raises(ValueError, match="broadcast"):
            f(np.ones((3, 4)), np.ones((2, 4)), 2)
        with pytest.raises(ValueError, match=r"\(\.\.\., d\)"):
            f(np.float64(1.0), np.ones(1), 2)


# ----------------------------------------------------------------------------------------------------------------------
# Extreme scales: |w|^2 may overflow or underflow, the closed forms may not (homogeneity of degree 2, 0, 1)
# ----------------------------------------------------------------------------------------------------------------------
def _near_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(4)
    return v + 1e-3 * rng.standard_normal(4), v  # loss ~ 1e-6 |v|^2: far above the formula's rounding (~1e-16)


@pytest.mark.parametrize("c", [1e156, 2.0**520, 1e-156, 2.0**-520])
def test_loss_scales_like_its_degree_where_the_square_norm_overflows(c):
    """l(c u, c v) = c^2 l(u, v): for c = 1e156 the value (~1e306) is finite although |c u|^2 overflows; before, NaN."""
    u, v = _near_pair(1)
    with np.errstate(under="ignore"):
        ref = c * (c * pop.loss(u, v, 3))
        got = pop.loss(c * u, c * v, 3)
    assert np.isfinite(got) and ref > 0
    np.testing.assert_allclose(got, ref, rtol=1e-9)


def test_loss_of_a_huge_student_is_inf_not_nan():
    """|w| ~ 1e200, |w*| ~ 1: the true loss (~|w|^2 / (2k) ~ 1e399) is beyond the float range, so inf, never NaN."""
    w, w_star = np.array([1e200, -1e200]), np.array([1.0, 2.0])
    with np.errstate(over="ignore"):
        assert pop.loss(w, w_star, 3) == np.inf
        assert pop.loss(w, w, 3) == 0.0  # the rounding of the closed form is not amplified to -inf
    assert pop.loss(np.array([1e100, -1e100]), w_star, 3) > 1e199


@pytest.mark.parametrize("c", [1e200, 1e-200])
def test_angle_and_gradient_at_extreme_norms(c):
    """angle is of degree 0 and grad of degree 1 in (w, w*): |w| ~ 1e200 gave angle pi/2 and a wrong s, a teacher
    of norm 1e-200 gave NaN (its norm underflowed to 0)."""
    u, v = _near_pair(2)
    np.testing.assert_allclose(pop.angle(c * u, v), pop.angle(u, v), rtol=1e-12)
    np.testing.assert_allclose(pop.angle(u, c * v), pop.angle(u, v), rtol=1e-12)
    q, s_ = pop.gradient_coefficients(c * u, c * v, 3)
    q0, s0 = pop.gradient_coefficients(u, v, 3)
    np.testing.assert_allclose([q, s_], [q0, s0], rtol=1e-12)
    np.testing.assert_allclose(pop.grad(c * u, c * v, 3), c * pop.grad(u, v, 3), rtol=1e-9)


def test_extreme_scales_on_every_backend(backend):
    xp = backend.xp
    w, w_star = backend.asarray(np.array([[1e200, -1e200], [1e156, 2e156]])), backend.asarray(np.array([1.0, 2.0]))
    with np.errstate(over="ignore"):
        out = backend.to_numpy(pop.loss(w, w_star, 3))
    assert out[0] == np.inf and out[1] == np.inf  # both beyond the float range (|w|^2 / (2k) > 1e308)
    u, v = _near_pair(3)
    with np.errstate(over="ignore"):
        got = backend.to_numpy(pop.loss(backend.asarray(1e156 * u), backend.asarray(1e156 * v), 3))
    np.testing.assert_allclose(got, 1e156 * (1e156 * pop.loss(u, v, 3)), rtol=1e-9)
    t = backend.to_numpy(pop.angle(backend.asarray(1e200 * u), backend.asarray(v)))
    np.testing.assert_allclose(t, pop.angle(u, v), rtol=1e-12)
    assert out.dtype == np.float64 and xp is not None


# ----------------------------------------------------------------------------------------------------------------------
# numerics must not import sympy or theory
# ----------------------------------------------------------------------------------------------------------------------
def test_numerics_does_not_import_sympy_or_theory():
    code = ("import sys, numerics, numerics.penalties, numerics.population, numerics.init; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'theory')); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    for path in sorted((ROOT / "numerics").glob("**/*.py")):  # static check of every module, present or future
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            assert not any(n.split(".")[0] in ("sympy", "theory") for n in names), f"{path.name} imports {names}"
