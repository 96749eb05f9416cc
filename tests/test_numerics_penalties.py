"""Tests of numerics.penalties: the prox against brute-force global minimization, conventions, backends, validation.

The reference is independent of the code under test: the objective ``mu P(y) + (y - x)^2 / 2`` is written here
from the definitions of P (|y|, 1{y != 0}, (a+1)|y|/(a+|y|)), minimized on a fine grid over an interval that contains
every minimizer, then refined locally with a bounded scalar minimizer; ``y = 0`` is always a candidate (l0 jumps there).
"""

from __future__ import annotations

import math
import warnings

import array_api_compat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from numerics.penalties import L0, L1, PENALTIES, TL1, Penalty, get_penalty


# ----------------------------------------------------------------------------------------------------------------------
# Independent reference
# ----------------------------------------------------------------------------------------------------------------------
def ref_value(name: str, y, a: float = 1.0):
    y = np.asarray(y, dtype=float)
    if name == "l1":
        return np.abs(y)
    if name == "l0":
        return (y != 0).astype(float)
    return (a + 1.0) * np.abs(y) / (a + np.abs(y))


def brute_force_prox(name: str, x: float, mu: float, a: float = 1.0) -> tuple[float, float, float, float]:
    """Global minimizer of ``mu P(y) + (y-x)^2/2``: returns (y_best, F_best, gap, y_nz) where y_nz is the best
    nonzero candidate and gap = |F(0) - F(y_nz)|.

    A minimizer has ``(y - x)^2/2 <= F(y) <= F(0) = x^2/2`` (P >= 0, P(0) = 0), i.e. ``|y - x| <= |x|``, so the
    search interval ``[-2|x| - 0.5, 2|x| + 0.5]`` contains every global minimizer.
    """

    def F(y):
        return mu * ref_value(name, y, a) + 0.5 * (np.asarray(y) - x) ** 2

    half = 2.0 * abs(x) + 0.5
    grid = np.linspace(-half, half, 20001)
    grid = grid[grid != 0.0]
    vals = F(grid)
    i = int(np.argmin(vals))
    h = grid[1] - grid[0]
    y0 = grid[i]
    # refine on the side of 0 where the best nonzero grid point lies (P is smooth there)
    lo, hi = (max(y0 - 2 * h, 0.0), y0 + 2 * h) if y0 > 0 else (y0 - 2 * h, min(y0 + 2 * h, 0.0))
    res = minimize_scalar(lambda y: float(F(y)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-13 * (1 + abs(x))})
    y_nz, f_nz = (res.x, float(res.fun)) if res.fun < vals[i] else (y0, float(vals[i]))
    f0 = float(F(0.0))
    if f0 <= f_nz:
        return 0.0, f0, f_nz - f0, float(y_nz)
    return float(y_nz), f_nz, f0 - f_nz, float(y_nz)


F_TOL, Y_TOL = 1e-12, 1e-6  # objective agreement: rounding; argmin: refinement accuracy (sqrt of F's resolution)


def prox_violation(penalty: Penalty, name: str, xs, mus, a: float = 1.0) -> tuple[float, float]:
    """The verification: (largest objective excess of penalty.prox over brute force, largest argmin error away
    from ties), both relative to ``1 + x^2``. A correct prox gives ~1e-15 and ~1e-7 (the refinement's accuracy)."""
    worst_f, worst_y = 0.0, 0.0
    # One batched call, shape (n, 1) with a per-row mu: on NumPy this takes the compacted branch RVSM uses (TL1
    # evaluates its root only above the threshold); the per-element 0-d calls take the dense branch. Both are
    # verified: the batch against brute force below, the 0-d calls by being identical to the batch.
    ys = np.asarray(penalty.prox(np.asarray(xs, dtype=float)[:, None], np.asarray(mus, dtype=float)))[:, 0]
    for x, mu, y_batch in zip(xs, mus, ys, strict=True):
        y = float(penalty.prox(np.asarray(x, dtype=float), float(mu)))
        assert y == float(y_batch), f"prox at x={x!r}, mu={mu!r}: 0-d call {y!r} != batched call {float(y_batch)!r}"
        y_ref, f_ref, gap, y_nz = brute_force_prox(name, float(x), float(mu), a)
        f_prox = float(mu * ref_value(name, y, a) + 0.5 * (y - x) ** 2)
        scale = 1.0 + x * x
        worst_f = max(worst_f, (f_prox - f_ref) / scale)
        if gap <= 1e-9 * scale and abs(y_nz) > Y_TOL * (1.0 + abs(x)):
            # a (near) tie between 0 and a separate nonzero minimizer: either one is a correct answer
            err = min(abs(y), abs(y - y_nz))
        else:
            err = abs(y - y_ref)
        worst_y = max(worst_y, err / (1.0 + abs(x)))
    return worst_f, worst_y


def _assert_matches_brute_force(penalty, name, xs, mus, a=1.0):
    wf, wy = prox_violation(penalty, name, xs, mus, a)
    assert wf <= F_TOL, f"prox objective above the brute-force minimum by {wf:.3e} (relative)"
    assert wy <= Y_TOL, f"prox argmin differs from brute force by {wy:.3e} (relative)"


# ----------------------------------------------------------------------------------------------------------------------
# Brute force: deterministic sweeps around the threshold, and Hypothesis over (x, mu, a)
# ----------------------------------------------------------------------------------------------------------------------
def _around(t: float) -> list[float]:
    pts = [0.0, 0.3 * t, 0.9 * t, t, 1.1 * t, 2.0 * t + 0.5, 5.0]
    for rel in (1e-3, 1e-6):
        pts += [t * (1 - rel), t * (1 + rel)]
    return [s * p for p in pts for s in (1.0, -1.0)]


@pytest.mark.parametrize("name", ["l1", "l0"])
def test_prox_l1_l0_brute_force_sweep(name):
    P = get_penalty(name)
    xs, mus = [], []
    for mu in (1e-3, 0.1, 0.5, 2.0):
        pts = _around(float(P.threshold(mu)))
        xs += pts
        mus += [mu] * len(pts)
    _assert_matches_brute_force(P, name, xs, mus)


@pytest.mark.parametrize("a", [0.05, 0.5, 1.0, 8.0])
@pytest.mark.parametrize("regime", ["sub", "crit", "super"])
def test_prox_tl1_brute_force_sweep_both_regimes(a, regime):
    mu_c = a * a / (2 * (a + 1))
    mu = {"sub": 0.3 * mu_c, "crit": mu_c, "super": 4.0 * mu_c}[regime]
    P = TL1(a)
    xs = _around(float(P.threshold(mu)))
    _assert_matches_brute_force(P, "tl1", xs, [mu] * len(xs), a)


@st.composite
def _tl1_case(draw):
    a = draw(st.floats(0.02, 30.0))
    mu_c = a * a / (2 * (a + 1))
    mu = mu_c * draw(st.floats(0.02, 20.0))  # both regimes: factor <= 1 subcritical, > 1 supercritical
    t = TL1(a).threshold(mu)
    near = draw(st.sampled_from([None, -1e-4, -1e-7, 1e-7, 1e-4]))
    m = draw(st.floats(0.0, 3.0)) if near is None else 1.0 + near
    sign = draw(st.sampled_from([1.0, -1.0]))
    return a, mu, sign * m * float(t)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(_tl1_case())
def test_prox_tl1_brute_force_hypothesis(case):
    a, mu, x = case
    _assert_matches_brute_force(TL1(a), "tl1", [x], [mu], a)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.sampled_from(["l1", "l0"]), st.floats(1e-4, 10.0), st.floats(-4.0, 4.0))
def test_prox_l1_l0_brute_force_hypothesis(name, mu, m):
    P = get_penalty(name)
    x = m * float(P.threshold(mu))
    _assert_matches_brute_force(P, name, [x], [mu])


# ----------------------------------------------------------------------------------------------------------------------
# The brute-force verification can fail: deliberately wrong thresholds are reported
# ----------------------------------------------------------------------------------------------------------------------
class _L0WrongThreshold(L0):
    """Hard thresholding at sqrt(mu) (another library's convention, not ours)."""

    def _threshold(self, xp, mu):
        return xp.sqrt(mu)


class _TL1GatedAtMu(TL1):
    """The pitfall of public code: gating the TL1 branch on |x| > mu."""

    def _threshold(self, xp, mu):
        return mu + xp.zeros_like(mu)


class _TL1WrongPhi(TL1):
    """lambda used instead of lambda/beta inside phi (here: mu scaled by 2 inside phi only)."""

    def _shrink(self, xp, x, mu):
        return super()._shrink(xp, x, 2.0 * mu)


def _mutant_cases(a_values=(0.3, 2.0)):
    xs = [float(x) for x in np.linspace(-3.0, 3.0, 121) if x != 0]
    for a in a_values:
        for mu in (0.05, 0.3, 1.0):
            yield a, xs, [mu] * len(xs)


def test_brute_force_catches_l0_threshold_at_sqrt_mu():
    worst = max(prox_violation(_L0WrongThreshold(), "l0", xs, mus)[0] for _, xs, mus in _mutant_cases((1.0,)))
    assert worst > 1e3 * F_TOL


@pytest.mark.parametrize("mutant", [_TL1GatedAtMu, _TL1WrongPhi])
def test_brute_force_catches_wrong_tl1(mutant):
    worst_f, worst_y = 0.0, 0.0
    for a, xs, mus in _mutant_cases():
        f, y = prox_violation(mutant(a), "tl1", xs, mus, a)
        worst_f, worst_y = max(worst_f, f), max(worst_y, y)
    assert worst_f > 1e3 * F_TOL and worst_y > 1e3 * Y_TOL  # both criteria catch it


# ----------------------------------------------------------------------------------------------------------------------
# Conventions: ties, mu = 0, threshold formulas as the tie point, derivative, limits in a
# ----------------------------------------------------------------------------------------------------------------------
ALL = [L1(), L0(), TL1(0.2), TL1(1.0), TL1(5.0)]


@pytest.mark.parametrize("P", ALL, ids=repr)
@pytest.mark.parametrize("mu", [1e-3, 0.04, 0.5, 3.0])
def test_ties_at_threshold_go_to_zero(P, mu):
    t = np.asarray(P.threshold(mu), dtype=float)
    assert float(P.prox(t, mu)) == 0.0 and float(P.prox(-t, mu)) == 0.0
    above = np.nextafter(t, np.inf) * (1 + 1e-12)
    assert float(P.prox(above, mu)) >= 0.0 and float(P.prox(-above, mu)) <= 0.0
    assert float(P.prox(2 * t + 1, mu)) > 0.0


@pytest.mark.parametrize("a", [0.05, 0.5, 2.0])
def test_tl1_supercritical_threshold_is_a_tie(a):
    """Above mu_c the threshold is where F(0) and F(shrink) are equal (two global minimizers): a jump."""
    mu = 3.0 * a * a / (2 * (a + 1))
    P = TL1(a)
    t = float(P.threshold(mu))
    y = float(P.shrink(np.asarray(t), mu))
    f0 = 0.5 * t * t
    fy = mu * float(ref_value("tl1", y, a)) + 0.5 * (y - t) ** 2
    assert y > 0.05 * t  # a genuine jump
    assert abs(f0 - fy) <= 1e-12 * (1 + t * t)


@pytest.mark.parametrize("a", [0.05, 1.0, 20.0])
def test_tl1_threshold_continuous_at_critical_mu(a):
    mu_c = a * a / (2 * (a + 1))
    t = TL1(a).threshold(np.array([mu_c * (1 - 1e-12), mu_c, mu_c * (1 + 1e-12)]))
    np.testing.assert_allclose(t, a / 2, rtol=1e-10)


@pytest.mark.parametrize("P", ALL, ids=repr)
def test_mu_zero_is_identity(P):
    x = np.linspace(-3.0, 3.0, 41)
    np.testing.assert_array_equal(P.prox(x, 0.0), x)
    np.testing.assert_array_equal(P.prox(x, np.zeros(41)), x)


def test_l1_and_l0_formulas():
    x = np.array([-2.0, -0.5, 0.0, 0.3, 1.5])
    np.testing.assert_allclose(L1().prox(x, 0.4), np.sign(x) * np.maximum(np.abs(x) - 0.4, 0.0), rtol=0, atol=0)
    np.testing.assert_array_equal(L0().prox(x, 0.5), np.where(np.abs(x) > 1.0, x, 0.0))


def test_tl1_tends_to_l0_and_l1():
    x = np.linspace(-3, 3, 61)
    mu = 0.3
    np.testing.assert_allclose(TL1(1e-6).prox(x, mu), L0().prox(x, mu), atol=1e-2)
    np.testing.assert_allclose(TL1(1e6).prox(x, mu), L1().prox(x, mu), atol=1e-5)


@pytest.mark.parametrize("P", [L1(), TL1(0.3), TL1(4.0)], ids=repr)
def test_derivative_matches_finite_differences_and_stationarity(P):
    x = np.array([-2.5, -0.7, -0.1, 0.05, 0.4, 3.0])
    h = 1e-6
    fd = (P.value(x + h) - P.value(x - h)) / (2 * h)
    np.testing.assert_allclose(P.derivative(x), fd, rtol=1e-7, atol=1e-9)
    # the kept branch solves y - x + mu * derivative(y) = 0 where |x| > threshold
    mu = 0.2
    xk = np.array([-3.0, -1.5, 1.2, 2.7])
    assert np.all(np.abs(xk) > P.threshold(mu))
    y = P.shrink(xk, mu)
    np.testing.assert_allclose(y - xk + mu * P.derivative(y), 0.0, atol=1e-12)


def test_l0_derivative_and_value():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(L0().value(x), [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(L0().derivative(x), 0.0)


@pytest.mark.parametrize("P", ALL, ids=repr)
def test_no_nan_or_warning_below_threshold(P):
    x = np.concatenate([np.linspace(-50, 50, 2001), [0.0, 1e-300, -1e-300, 1e300]])
    for mu in (0.0, 1e-8, 0.1, 1.0, 100.0):
        with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):  # underflow to 0 is harmless
            warnings.simplefilter("error")
            out = P.prox(x, mu)
            sh = P.shrink(x, mu)
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(sh))


@pytest.mark.parametrize("P", ALL, ids=repr)
def test_nan_stays_nan_and_inf_stays_inf(backend, P):
    """A NaN input is never thresholded to a silent 0 (every penalty, 0-d and batched calls, the dense and the
    compacted TL1 paths, ``mu = 0`` included); ``+-inf`` maps to ``+-inf``; finite entries beside them are
    unaffected."""
    xp = backend.xp
    x_np = np.array([[np.nan, -np.inf, np.inf, 2.5, -0.01, 0.0], [1.0, np.nan, -3.0, np.inf, 0.02, np.nan]])
    mu_np = np.array([0.3, 0.0])
    for dt in (xp.float64, xp.float32):
        with warnings.catch_warnings(), np.errstate(invalid="raise", divide="raise", over="raise"):
            warnings.simplefilter("error")
            out = backend.to_numpy(P.prox(backend.asarray(x_np, dtype=dt), backend.asarray(mu_np, dtype=dt)))
            single = float(backend.to_numpy(P.prox(backend.asarray(np.nan, dtype=dt), 0.3)))
        assert np.array_equal(np.isnan(out), np.isnan(x_np)) and math.isnan(single)
        inf = np.isinf(x_np)
        np.testing.assert_array_equal(out[inf], x_np[inf])
        fin = np.isfinite(x_np)
        ref = np.concatenate([P.prox(x_np[0][fin[0]], 0.3), x_np[1][fin[1]]])  # row 1 has mu = 0: the identity
        np.testing.assert_allclose(out[fin], ref, rtol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# Batching and parameter broadcasting
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("P", ALL, ids=repr)
def test_batched_mu_equals_looped(P):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7)) * 2
    mu = np.array([0.0, 0.01, 0.1, 0.5, 2.0])
    out = P.prox(x, mu)
    for b in range(5):
        np.testing.assert_array_equal(out[b], P.prox(x[b], float(mu[b])))
    # entrywise mu of the full shape, and a leading axis of a 3-d input
    np.testing.assert_array_equal(P.prox(x, np.broadcast_to(mu[:, None], x.shape)), out)
    x3 = np.stack([x, -x])
    out3 = P.prox(x3, np.array([0.1, 0.3]))
    np.testing.assert_array_equal(out3[1], P.prox(-x, 0.3))


def test_mu_shape_mismatch_raises():
    with pytest.raises(ValueError, match="mu"):
        L1().prox(np.ones((3, 4)), np.ones(4))
    with pytest.raises(ValueError, match="mu"):
        L1().prox(np.ones(3), np.ones((3, 2)))


# ----------------------------------------------------------------------------------------------------------------------
# Backends: agreement with NumPy, dtype and device kept
# ----------------------------------------------------------------------------------------------------------------------
# float32: the prox is a few flops per entry; the TL1 branch goes through arccos/cos whose float32 error, relative to
# (a + |x|), is a few ulps; 1e-5 relative to (1 + |x|) leaves a wide margin (measured ~1e-7).
F32_TOL = 1e-5


@pytest.mark.parametrize("P", ALL, ids=repr)
def test_backends_agree_with_numpy(backend, P):
    xp = backend.xp
    rng = np.random.default_rng(1)
    x_np = rng.normal(size=(4, 9)) * 2
    mu_np = np.array([0.0, 0.05, 0.4, 1.5])
    ref = P.prox(x_np, mu_np)
    x = backend.asarray(x_np)
    out = P.prox(x, backend.asarray(mu_np))
    assert out.dtype == xp.float64 and array_api_compat.device(out) == array_api_compat.device(x)
    np.testing.assert_allclose(backend.to_numpy(out), ref, rtol=1e-12, atol=1e-14)
    out_s = P.prox(x, 0.4)
    np.testing.assert_allclose(backend.to_numpy(out_s), P.prox(x_np, 0.4), rtol=1e-12, atol=1e-14)
    for f in (P.value, P.derivative):
        np.testing.assert_allclose(backend.to_numpy(f(x)), f(x_np), rtol=1e-12, atol=1e-14)
    x32 = backend.asarray(x_np, dtype=xp.float32)
    out32 = P.prox(x32, 0.4)
    assert out32.dtype == xp.float32 and array_api_compat.device(out32) == array_api_compat.device(x32)
    ref32 = P.prox(x_np.astype(np.float32).astype(np.float64), 0.4)
    # entries within float32 rounding of a threshold may legitimately flip; there are none in this fixed sample
    np.testing.assert_allclose(backend.to_numpy(out32), ref32, atol=F32_TOL * (1 + np.abs(x_np)).max())
    th = P.threshold(backend.asarray(mu_np))
    np.testing.assert_allclose(backend.to_numpy(th), P.threshold(mu_np), rtol=1e-13)


# ----------------------------------------------------------------------------------------------------------------------
# Registry and validation
# ----------------------------------------------------------------------------------------------------------------------
def test_registry():
    assert {"l1", "l0", "tl1"} <= set(PENALTIES)
    assert isinstance(get_penalty("l1"), L1) and isinstance(get_penalty("L0"), L0)
    p = get_penalty("tl1", a=2.5)
    assert isinstance(p, TL1) and p.a == 2.5 and p.name == "tl1"
    for name, P in PENALTIES.items():
        assert P.name == name
    with pytest.raises(ValueError, match=r"l0, l1, .*tl1"):
        get_penalty("no_such_penalty")
    with pytest.raises(ValueError, match=r"\ba\b"):
        get_penalty("tl1")
    with pytest.raises(ValueError, match="no parameters"):
        get_penalty("l1", a=1.0)


_bad_positive = st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf), st.just(-math.inf))
_bad_mu = st.one_of(st.floats(max_value=-1e-300), st.just(math.nan), st.just(math.inf))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(_bad_positive)
def test_tl1_rejects_bad_a(a):
    with pytest.raises(ValueError, match=r"\ba\b.*a > 0"):
        TL1(a)
    with pytest.raises(ValueError, match=r"\ba\b"):
        get_penalty("tl1", a=a)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(_bad_mu, st.sampled_from(ALL))
def test_prox_rejects_bad_mu(mu, P):
    for call in (lambda: P.prox(np.ones(3), mu), lambda: P.threshold(mu), lambda: P.shrink(np.ones(3), mu),
                 lambda: P.prox(np.ones((2, 3)), np.array([0.1, mu]))):
        with pytest.raises(ValueError, match=r"mu.*mu >= 0"):
            call()
