"""Accuracy of the TL1 prox's kept branch in float32 and float64 against 40-digit roots (mpmath), a in [1e-3, 1e8].

Reference: the largest root ``g`` of ``g - x + mu a(a+1)/(a+g)^2 = 0`` by Newton's method in 50 digits from
``g = x`` (no closed form involved; ``F`` is convex with ``F(x) > 0``, so the iterates decrease monotonically to the
largest root, which is the prox above the threshold), the inputs taken as the exact binary numbers the prox sees. The
reference is itself cross-checked against the trigonometric root evaluated in 80 digits.

The bound asserted: ``|prox - g| <= 20 eps kappa |g|``, with ``kappa = (|x dg/dx| + |mu dg/dmu|)/g = (2|x| - g)/(g D)``,
``D = 1 - 2 mu a(a+1)/(a+g)^3`` (the derivative of ``F`` at the root; ``kappa >= 1``), the relative condition number
of the prox. No algorithm working in the dtype can beat ``eps kappa`` in general: rounding ``x`` or ``mu`` by half an
ulp moves the exact root by up to ``eps kappa g / 2``. Far from a continuous threshold ``kappa`` is ~1 (at most ~3
for ``|x| >= 2 t``), so there the bound is a few tens of ulp; near the subcritical threshold (``g << x``) or the
critical ``mu`` (``D -> 0``) it grows with ``kappa`` as it must.

Why 20 (first-order error analysis of :func:`numerics.penalties.tl1_shrink`, ``u = eps/2`` per rounding, ``a`` exact in
the dtype, elementary functions within 1 ulp = ``2u``): ``z = a + |x|`` (1 rounding), ``d0 = mu (a/z)((a+1)/z)``
(z twice, ``a + 1``, two divisions, two products: ``eps_d <= 7u``), ``sin(phi/2) = sqrt(6.75 d0)/sqrt(z)``
(``eps_s <= 7.5u``), ``r = sin(arcsin(s)/3)/s`` (``eps_r <= 6u + L eps_s`` with ``L = |d ln r / d ln s|``), shrinkage
``delta = 9 d0 r^2`` (``eps_delta <= eps_d + 2 eps_r + 3u <= 22u + 15u L``) and ``g = |x| - delta`` (1 rounding). So
``|error| <= delta eps_delta + u g``. With ``delta <= |x| + delta = D kappa g`` and ``L D <= 1`` (the arcsine's
amplification near ``s = 1`` is exactly the prox's own ``1/D``; checked by the test
``test_arcsine_amplification_is_the_prox_conditioning``), ``|error| / g <= (22 D + 15 L D) u kappa + u <= 38 u kappa
= 19 eps kappa``. Measured on the sweep: at most ~1.5 eps kappa (NumPy, array_api_strict, torch). The
trigonometric form ``(2/3)(a+|x|) cos(phi/3) - 2a/3 + |x|/3`` it replaces has an absolute error ``~ (a + |x|) eps``,
i.e. ``~ a / |x|`` times the bound where ``a >> |x|`` (subcritical regime; in the supercritical one ``|x| > a/2``,
so it stays within the bound there but can return ``|prox| > |x|`` for huge ``|x|``): :func:`naive_tl1_shrink` below
(the engine's formula before this fix) fails it on the sweep and on each of the three examples of the issue.
"""

from __future__ import annotations

from functools import cache

import mpmath
import numpy as np
import pytest

from numerics.penalties import TL1, tl1_critical_mu

BOUND = 20.0  # in units of eps * kappa, derived in the module docstring
A_VALUES = tuple(float(np.float32(v)) for v in np.geomspace(1e-3, 1e8, 12))  # exact in float32 and float64
MU_FACTORS = {"sub": (1e-12, 1e-6, 1e-2, 0.3, 0.9, 1.0), "super": (1.001, 1.1, 3.0, 30.0, 1e3, 1e5)}
X_MULTIPLES = (1.001, 1.01, 1.1, 2.0, 19.0, 1e3, 1e6)  # x / threshold


def root(x: float, mu: float, a: float, dps: int = 50) -> tuple[mpmath.mpf, mpmath.mpf]:
    """Largest root ``g`` of ``g - x + mu a(a+1)/(a+g)^2`` for ``x > 0`` (Newton from ``g = x``) and ``kappa``."""
    with mpmath.workdps(dps):
        xm, mm, am = mpmath.mpf(x), mpmath.mpf(mu), mpmath.mpf(a)
        K = mm * am * (am + 1)
        g = xm
        for _ in range(5000):
            step = (g - xm + K / (am + g) ** 2) / (1 - 2 * K / (am + g) ** 3)
            g -= step
            if abs(step) <= abs(g) * mpmath.mpf(10) ** (5 - dps):
                break
        else:
            raise AssertionError(f"Newton did not converge at x={x!r}, mu={mu!r}, a={a!r}")
        D = 1 - 2 * K / (am + g) ** 3
        return +g, (2 * xm - g) / (g * D)


def exact_threshold(mu: float, a: float) -> mpmath.mpf:
    with mpmath.workdps(50):
        mm, am = mpmath.mpf(mu), mpmath.mpf(a)
        if mm <= am * am / (2 * (am + 1)):
            return mm * (am + 1) / am
        return mpmath.sqrt(2 * mm * (am + 1)) - am / 2


def naive_tl1_shrink(x, mu, a: float, dtype) -> np.ndarray:
    """The engine's kept branch before the fix (``(2/3)(a+|x|) cos(phi/3) - 2a/3 + |x|/3``), verbatim, in ``dtype``."""
    x, mu = np.asarray(x, dtype=dtype), np.asarray(mu, dtype=dtype)
    ax = np.abs(x)
    z = a + ax
    arg = 1.0 - (13.5 * a * (a + 1.0)) * (mu / z / z / z)
    arg = np.minimum(np.maximum(arg, -1.0), 1.0)
    phi = np.arccos(arg)
    mag = (2.0 / 3.0) * z * np.cos(phi / 3.0) - (2.0 / 3.0) * a + ax / 3.0
    return np.where(mu == 0, x, np.sign(x) * np.maximum(mag, np.zeros_like(mag)))


@cache
def sweep(dtype_name: str, regime: str) -> tuple[tuple[float, float, float, float, float], ...]:
    """Kept-branch cases ``(x, mu, a, g, kappa)`` (``g = |prox|`` in 50 digits): ``x`` and ``mu`` exact in the dtype,
    both signs, every ``|x|`` above the exact threshold by at least 1e-4 relative (so the kept/zero decision is never a
    rounding question)."""
    dtype = np.dtype(dtype_name).type
    out = []
    for a in A_VALUES:
        for f in MU_FACTORS[regime]:
            mu = float(dtype(f * tl1_critical_mu(a)))
            t = exact_threshold(mu, a)
            for i, m in enumerate(X_MULTIPLES):
                x = float(dtype(m * float(t)))
                if not mpmath.mpf(x) > t * (1 + mpmath.mpf(1e-4)):
                    continue
                g, kappa = root(x, mu, a)
                sign = 1.0 if i % 2 == 0 else -1.0
                out.append((sign * x, mu, a, g, float(kappa)))
    return tuple(out)


def error_ratios(values: np.ndarray, cases, eps: float) -> np.ndarray:
    """``|value - prox| / (eps kappa |prox|)`` per case (``inf`` for a non-finite value or a wrong sign)."""
    ratios = []
    for v, (x, _, _, g, kappa) in zip(values, cases, strict=True):
        ok = np.isfinite(v) and np.sign(v) == np.sign(x)
        ratios.append(float(abs(mpmath.mpf(float(abs(v))) - g) / g) / (eps * kappa) if ok else np.inf)
    return np.asarray(ratios)


def prox_by_a(backend, cases, dtype_name: str) -> np.ndarray:
    """``TL1(a).prox`` of every case on ``backend`` (one batched call per ``a``, ``mu`` entrywise)."""
    xp = backend.xp
    dt = getattr(xp, dtype_name)
    out = np.empty(len(cases))
    for a in sorted({c[2] for c in cases}):
        idx = [i for i, c in enumerate(cases) if c[2] == a]
        x = backend.asarray(np.array([cases[i][0] for i in idx]), dtype=dt)
        mu = backend.asarray(np.array([cases[i][1] for i in idx]), dtype=dt)
        y = TL1(a).prox(x, mu)
        assert y.dtype == dt
        out[idx] = backend.to_numpy(y).astype(float)
    return out


# ----------------------------------------------------------------------------------------------------------------------
# The sweep: both regimes, both dtypes, every backend
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("regime", ["sub", "super"])
@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_tl1_prox_relative_error_within_bound(backend, dtype_name, regime):
    cases = sweep(dtype_name, regime)
    assert len(cases) >= 400
    got = prox_by_a(backend, cases, dtype_name)
    eps = float(np.finfo(dtype_name).eps)
    ratios = error_ratios(got, cases, eps)
    worst = int(np.argmax(ratios))
    assert ratios[worst] <= BOUND, (
        f"relative error {ratios[worst]:.3g} eps kappa > {BOUND} at (x, mu, a, g, kappa) = {cases[worst]}, "
        f"prox = {got[worst]!r}")
    # the minimizer has the sign of x and |prox| <= |x| (P is even and nondecreasing in |y|)
    xs = np.array([c[0] for c in cases])
    assert np.all(np.sign(got) == np.sign(xs)) and np.all(np.abs(got) <= np.abs(xs))


@pytest.mark.parametrize("regime", ["sub", "super"])
@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_well_conditioned_cases_are_within_a_few_ulp(dtype_name, regime):
    """Where ``kappa <= 3`` (every ``|x| >= 2 t`` of the sweep) the bound is ``60 eps``; measured ~``2 eps``."""
    cases = [c for c in sweep(dtype_name, regime) if c[4] <= 3.0]
    assert len(cases) >= 150
    got = prox_by_a(_NUMPY, cases, dtype_name)
    rel = error_ratios(got, [(*c[:4], 1.0) for c in cases], 1.0)  # plain relative error
    assert rel.max() <= BOUND * 3.0 * float(np.finfo(dtype_name).eps), rel.max()


class _NumpyBackend:
    xp = np

    @staticmethod
    def asarray(x, dtype=None):
        return np.asarray(x, dtype=dtype)

    @staticmethod
    def to_numpy(x):
        return np.asarray(x)


_NUMPY = _NumpyBackend()


@pytest.mark.parametrize("regime", ["sub", "super"])
@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_dense_and_compacted_paths_agree(dtype_name, regime):
    """The 0-d calls (dense ``where``) and the batched call (compacted branch, ``_prox_compact``) agree exactly."""
    cases = sweep(dtype_name, regime)[::7]
    dt = np.dtype(dtype_name).type
    batched = prox_by_a(_NUMPY, cases, dtype_name)
    single = [float(TL1(a).prox(np.asarray(x, dtype=dt), dt(mu))) for x, mu, a, _, _ in cases]
    np.testing.assert_array_equal(batched, single)


# ----------------------------------------------------------------------------------------------------------------------
# The examples of the issue, and the bound catches the cancelling form
# ----------------------------------------------------------------------------------------------------------------------
ISSUE_EXAMPLES = [  # (dtype, a, x, mu): what the trigonometric form got wrong
    pytest.param("float32", 50.0, 4.388939e-05, 2.329393e-06, id="f32_a50_x19t"),  # 8.8e-2 relative at x = 19 t
    pytest.param("float64", 1e8, 1e-4, 5e-5, id="f64_a1e8_tiny_output"),  # 1.5e-4 relative, kappa = 3
    pytest.param("float64", 1e8, 1e-3, 1e-9, id="f64_a1e8_exceeds_input"),  # the prox of 0.001 exceeded 0.001
]


@pytest.mark.parametrize("dtype_name,a,x,mu", ISSUE_EXAMPLES)
def test_issue_examples(dtype_name, a, x, mu):
    dt = np.dtype(dtype_name).type
    x, mu = float(dt(x)), float(dt(mu))
    eps = float(np.finfo(dtype_name).eps)
    g, kappa = root(x, mu, a)
    assert mpmath.mpf(x) > exact_threshold(mu, a) and kappa < 4  # kept, and well conditioned
    case = [(x, mu, a, g, float(kappa))]
    new = float(TL1(a).prox(np.asarray(x, dtype=dt), dt(mu)))
    old = float(naive_tl1_shrink(x, mu, a, dt))
    assert error_ratios(np.array([new]), case, eps)[0] <= BOUND
    assert 0 < new < x
    assert error_ratios(np.array([old]), case, eps)[0] > 1e3 * BOUND  # the old formula fails the same bound
    if a == 1e8 and x == 1e-3:
        assert old > x  # a shrinkage that grew its input


@pytest.mark.parametrize("dtype_name", ["float64", "float32"])
def test_the_bound_catches_the_cancelling_form(dtype_name):
    """Mutation: the trigonometric form, fed through the same sweep and bound, fails by orders of magnitude."""
    cases = sweep(dtype_name, "sub") + sweep(dtype_name, "super")
    dt = np.dtype(dtype_name).type
    got = np.empty(len(cases))
    for i, (x, mu, a, _, _) in enumerate(cases):
        got[i] = float(naive_tl1_shrink(x, mu, a, dt))
    ratios = error_ratios(got, cases, float(np.finfo(dtype_name).eps))
    assert ratios.max() > 1e4 * BOUND
    assert np.mean(ratios > BOUND) > 0.1  # not one unlucky case: a whole region (a >> |x|)


# ----------------------------------------------------------------------------------------------------------------------
# The reference and the lemma behind the bound
# ----------------------------------------------------------------------------------------------------------------------
def test_reference_root_matches_the_trigonometric_root_in_80_digits():
    rng = np.random.default_rng(5)
    for regime in ("sub", "super"):
        cases = sweep("float64", regime)
        for j in rng.choice(len(cases), 20, replace=False):
            x, mu, a, _, _ = cases[j]
            g, _ = root(abs(x), mu, a)
            with mpmath.workdps(80):
                xm, mm, am = mpmath.mpf(abs(x)), mpmath.mpf(mu), mpmath.mpf(a)
                phi = mpmath.acos(1 - 27 * mm * am * (am + 1) / (2 * (am + xm) ** 3))
                trig = 2 * (am + xm) * mpmath.cos(phi / 3) / 3 - 2 * am / 3 + xm / 3
                assert abs(trig - g) <= mpmath.mpf(10) ** -30 * g, (x, mu, a)


def test_arcsine_amplification_is_the_prox_conditioning():
    """``L D <= 1``: ``L = |d ln r/d ln s|``, ``r = sin(arcsin(s)/3)/s``, and ``D = 3(2 cos 2v - 1)/(1 + 2 cos 2v)``
    with ``s = sin 3v`` (``D`` at the root: ``a + g = (a+|x|)(1 + 2 cos 2v)/3``), on ``s`` in (0, 1)."""
    s = np.concatenate([np.geomspace(1e-8, 0.5, 2000), 1 - np.geomspace(0.5, 1e-12, 4000)])
    v = np.arcsin(s) / 3
    L = np.abs(s / np.tan(v) / (3 * np.sqrt(1 - s * s)) - 1)
    D = 3 * (2 * np.cos(2 * v) - 1) / (1 + 2 * np.cos(2 * v))
    assert np.all(L * D <= 1 + 1e-9)
    # and D is the derivative of F at the root: compare with the 50-digit root at one point per decade of 1 - s
    for one_minus_s in (0.5, 1e-2, 1e-4):
        a, x = 2.0, 3.0
        sv = 1 - one_minus_s
        mu = 4 * (a + x) ** 3 * sv * sv / (27 * a * (a + 1))
        g, kappa = root(x, mu, a)
        vv = np.arcsin(sv) / 3
        d_formula = 3 * (2 * np.cos(2 * vv) - 1) / (1 + 2 * np.cos(2 * vv))
        assert float((2 * x - g) / (g * kappa)) == pytest.approx(d_formula, rel=1e-6)
