"""numerics.limits: the smaller kept root, the linearized RVSM map and the stable fixed points (theory page s.5).

References written here, independent of the code under test: the roots of the TL1 kept equation from NumPy's
companion-matrix ``np.roots``; a plain RVSM step (the closed-form gradient of tests/test_numerics_limits.py and the
penalty's prox, tested on its own against brute force) and its Jacobian by central differences; RVSM itself
(``numerics.run``) for what is reached and what is left. No assertion compares floats bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import numerics as nm
import numerics.limits as limits
from numerics.limits import (
    LimitPrediction,
    fixed_points,
    linearized_map,
    matches_a_stable_limit,
    reached_branches,
)
from tests.test_numerics_limits import grad_ref

# The smaller-root example: RVSM ends on the smaller TL1 root (0.93118 of the roots 0.93118 and 10.08).
ISSUE = dict(w_star=np.array([-0.9900207784249657, -0.8170524907856052]), k=13, a=2.483, lam=0.07564, beta=0.3974,
             eta=0.6003, w0=np.array([-1.0624753663382795, -0.9540614307210286]))
# Three fixed points: kept on the larger root (stable), second coordinate zeroed (stable), and the second coordinate
# on its smaller root between them (unstable).
BAND = dict(w_star=np.array([-1.3323454211747188, 0.6052935754185879]), k=11, a=0.8842192767005106,
            lam=0.020668874624666187, beta=0.42184998012149494, eta=1.2466780784755163)


def _problem(case):
    return nm.Problem(case["w_star"], case["k"], "tl1", case["lam"], case["beta"], a=case["a"])


def _step(problem, w, eta, beta):
    ws = np.asarray(problem.w_star)
    return w - eta * (grad_ref(w, ws, problem.k) + beta * (w - problem.penalty.prox(w, problem.mu)))


def _fd_jacobian(problem, w, eta, beta, h=1e-7):
    return np.column_stack([(_step(problem, w + h * e, eta, beta) - _step(problem, w - h * e, eta, beta)) / (2 * h)
                            for e in np.eye(w.size)])


@pytest.fixture(scope="module")
def issue_limit():
    problem = _problem(ISSUE)
    res = nm.run(problem, ISSUE["w0"], eta=ISSUE["eta"], iters=50_000, tol=1e-13)
    assert bool(res.converged)
    return problem, np.asarray(res.w), np.asarray(res.u)


# ---------------------------------------------------------------------------------------------------------------
# The smaller root
def _companion_roots(x, mu_bar, a):
    zs = np.roots([1.0, -(a + x), 0.0, mu_bar * a * (a + 1)])
    zs = np.sort(zs[np.abs(zs.imag) < 1e-9].real) - a
    return zs[zs > 0]


@pytest.mark.parametrize(("a", "mu_bar"), [(2.483, 13.3), (0.1, 0.05), (1.0, 1.0), (5.0, 40.0)])
def test_tl1_smaller_root_is_the_middle_root_of_the_cubic(a, mu_bar):
    xs = np.linspace(0.01, 2 * mu_bar * (a + 1) / a + 1, 400)
    got = limits._tl1_smaller_root(xs, np.full_like(xs, mu_bar), a)
    n_two = 0
    for x, g in zip(xs, got, strict=True):
        roots = _companion_roots(x, mu_bar, a)
        if roots.size == 2 and roots[1] - roots[0] > 1e-6:
            n_two += 1
            assert abs(g - roots[0]) <= 1e-12 * (1 + roots[1])
        elif roots.size < 2:
            assert np.isnan(g)
    assert n_two > 20


class _OpaqueTL1(nm.TL1):
    """TL1 with its own derivative method (same values): the closed forms do not apply, the generic scan does."""

    def _derivative(self, xp, x):
        return super()._derivative(xp, x)


def test_generic_scan_finds_the_same_smaller_root():
    a, mu_bar = 0.8, 2.0
    xs = np.linspace(0.05, 5.0, 200)
    tl1, opaque = nm.TL1(a), _OpaqueTL1(a)
    large = np.asarray(tl1.shrink(xs, mu_bar))
    exact = limits._smaller_root(tl1, xs, np.full_like(xs, mu_bar), large)
    scanned = limits._smaller_root(opaque, xs, np.full_like(xs, mu_bar), large)
    assert np.array_equal(np.isnan(exact), np.isnan(scanned)) and np.isfinite(exact).sum() > 20
    fin = np.isfinite(exact)
    assert np.max(np.abs(exact[fin] - scanned[fin])) < 1e-12
    # and the second derivative by differences agrees with TL1's closed form
    u = np.linspace(0.01, 3.0, 50)
    assert np.max(np.abs(limits._second_derivative(opaque, u) - limits._second_derivative(tl1, u))) < 1e-7


def test_l1_and_l0_have_no_smaller_root():
    xs = np.linspace(0.1, 3.0, 20)
    for pen in (nm.L1(), nm.L0()):
        assert np.all(np.isnan(limits._smaller_root(pen, xs, np.full_like(xs, 0.5), np.asarray(pen.shrink(xs, 0.5)))))


# ---------------------------------------------------------------------------------------------------------------
# The smaller-root example
def test_issue_example_reaches_a_stable_smaller_root(issue_limit):
    problem, w, u = issue_limit
    assert abs(u[0] + 0.93118) < 1e-5 and u[1] == 0
    support, small = reached_branches(problem, w, u)
    assert support.tolist() == [True, False] and small.tolist() == [True, False]
    p = nm.predict(problem, support=support, root=small)
    assert bool(p.ok) and p.root_small.tolist() == [True, False]
    assert np.max(np.abs(p.w - w)) < 1e-9 and np.max(np.abs(p.u - u)) < 1e-9
    # both kept candidates at the limit's (s, q): the roots 0.93118 and 10.08 of u + mu_bar rho'(u) = r |w*_0|
    assert abs(p.u_kept_small[0] - u[0]) < 1e-9 and abs(p.u_kept[0] + 10.0805) < 1e-3
    rho = float(p.spectral_radius(ISSUE["eta"]))
    assert abs(rho - 0.81601) < 1e-4 and bool(p.stable(ISSUE["eta"]))
    # the radius is that of a finite-difference Jacobian of one plain RVSM step
    fd = np.max(np.abs(np.linalg.eigvals(_fd_jacobian(problem, w, ISSUE["eta"], ISSUE["beta"]))))
    assert abs(rho - fd) < 1e-6
    m = matches_a_stable_limit(problem, w, u, eta=ISSUE["eta"])
    assert bool(m.matched) and float(m.error) < 1e-9
    # with the larger root at that support there is no fixed point (the documented decline)
    assert not bool(nm.predict(problem, support=support).ok)


def test_issue_example_fixed_points_lists_exactly_the_reached_limit(issue_limit):
    problem, w, u = issue_limit
    fp = fixed_points(problem)
    assert len(fp) == 1 and not fp.truncated
    i, err = fp.nearest(w, u)
    assert i == 0 and err < 1e-9
    assert fp.stable(ISSUE["eta"]).tolist() == [True]


def test_issue_limit_observed_rate_is_the_predicted_spectral_radius(issue_limit):
    problem, w, u = issue_limit
    p = matches_a_stable_limit(problem, w, u, eta=ISSUE["eta"]).prediction
    # RVSM from a point 1e-4 away: the distance to the limit shrinks by the predicted radius per step
    v = np.array([0.6, -0.8])
    x = p.w + 1e-4 * v
    dist = []
    for _ in range(60):
        x = _step(problem, x, ISSUE["eta"], ISSUE["beta"])
        dist.append(np.linalg.norm(x - p.w))
    dist = np.array(dist)
    rate = math.exp(np.mean(np.log(dist[31:] / dist[30:-1])))
    assert abs(rate - float(p.spectral_radius(ISSUE["eta"]))) < 1e-3


# ---------------------------------------------------------------------------------------------------------------
# An unstable smaller root
def test_band_example_has_two_stable_fixed_points_and_an_unstable_one_between():
    problem = _problem(BAND)
    fp = fixed_points(problem)
    c = fp.candidates
    assert len(fp) == 3
    small = np.any(c.root_small, axis=-1)
    stable = fp.stable(BAND["eta"])
    assert small.sum() == 1 and not stable[small][0] and stable[~small].all()
    i = int(np.flatnonzero(small)[0])
    rho = float(c.spectral_radius(BAND["eta"])[i])
    assert rho > 1.04
    # RVSM started 1e-9 away (along the unstable direction of a finite-difference Jacobian) leaves at that rate
    vals, vecs = np.linalg.eig(_fd_jacobian(problem, c.w[i], BAND["eta"], BAND["beta"]))
    x = c.w[i] + 1e-9 * np.real(vecs[:, np.argmax(np.abs(vals))])
    dist = []
    while len(dist) < 2000 and (not dist or dist[-1] < 1e-4):
        x = _step(problem, x, BAND["eta"], BAND["beta"])
        dist.append(np.linalg.norm(x - c.w[i]))
    d = np.array(dist)
    sel = d[(d > 1e-8) & (d < 1e-5)]
    assert d[-1] >= 1e-4 and abs(math.exp(np.mean(np.log(sel[1:] / sel[:-1]))) - rho) < 1e-3
    # the unstable point is a genuine fixed point, but not a stable limit
    m = matches_a_stable_limit(problem, c.w[i], c.u[i], eta=BAND["eta"])
    assert bool(m.prediction.ok) and float(m.error) < 1e-9 and not bool(m.matched)


# ---------------------------------------------------------------------------------------------------------------
# The linearization against finite differences
@pytest.mark.parametrize(("name", "a", "lam"), [("l1", None, 1e-2), ("l0", None, 1e-3), ("tl1", 1.0, 1e-2),
                                                ("tl1", 0.1, 1e-2)])
def test_curvature_gives_the_jacobian_of_a_step(name, a, lam):
    rng = np.random.default_rng(11)
    ws = rng.normal(size=(6, 5))
    ws[:, 0] = 1.0
    problem = nm.Problem(ws, 4, name, lam, 0.3, a=a)
    p = nm.predict(problem)
    assert p.ok.all()
    eta = 0.7
    jac = linearized_map(problem, p.w, p.u, eta=eta)
    for i in range(ws.shape[0]):
        one = nm.Problem(ws[i], 4, name, lam, 0.3, a=a)
        fd = _fd_jacobian(one, p.w[i], eta, 0.3)
        assert np.max(np.abs(jac[i] - fd)) < 1e-6
        assert abs(p.spectral_radius(eta)[i] - np.max(np.abs(np.linalg.eigvals(fd)))) < 1e-6


def test_jacobi_linearization_against_finite_differences():
    problem = _problem(ISSUE)
    res = nm.run(problem, ISSUE["w0"], eta=ISSUE["eta"], iters=50_000, tol=1e-13)
    w, u = np.asarray(res.w), np.asarray(res.u)
    eta, beta, h = ISSUE["eta"], ISSUE["beta"], 1e-7
    ws = np.asarray(problem.w_star)

    def jacobi(z):
        wv, uv = z[:2], z[2:]
        return np.concatenate([wv - eta * (grad_ref(wv, ws, problem.k) + beta * (wv - uv)),
                               problem.penalty.prox(wv, problem.mu)])

    z = np.concatenate([w, u])
    fd = np.column_stack([(jacobi(z + h * e) - jacobi(z - h * e)) / (2 * h) for e in np.eye(4)])
    got = linearized_map(problem, w, u, eta=eta, update="jacobi")
    assert got.shape == (4, 4) and np.max(np.abs(got - fd)) < 1e-6
    # the Jacobi order has the same fixed point, here also stable (a different radius)
    assert np.max(np.abs(np.linalg.eigvals(got))) < 1


# ---------------------------------------------------------------------------------------------------------------
# API
def test_default_root_is_the_larger_one_and_new_fields_are_consistent():
    rng = np.random.default_rng(12)
    ws = rng.normal(size=(20, 6))
    p = nm.predict(nm.Problem(ws, 4, "tl1", 1e-2, 0.3, a=0.5))
    assert p.ok.all() and not p.root_small.any()
    assert p.curvature.shape == ws.shape and np.all(np.diff(p.curvature, axis=-1) >= 0)
    # where a smaller root exists it is smaller than the larger one and solves the same equation
    fin = np.isfinite(p.u_kept_small)
    assert np.all(np.abs(p.u_kept_small[fin]) < np.abs(p.u_kept[fin]))


def test_prediction_without_curvature_says_so():
    p = nm.predict(nm.Problem(np.array([1.0, 0.5]), 2, "l1", 1e-3, 0.5))
    fields = {f: getattr(p, f) for f in LimitPrediction.__dataclass_fields__ if f not in (
        "root_small", "u_kept_small", "w_kept_small", "kept_small_ok", "_curvature_matrix",
        "_curvature_matrix_of")}
    old = LimitPrediction(**fields)  # built the old way: the new fields default to None
    with pytest.raises(ValueError, match="curvature"):
        old.spectral_radius(0.5)


@pytest.mark.parametrize(("kwargs", "param"), [
    ({"root": "middle"}, "root"),
    ({"root": np.ones(3)}, "root"),
    ({"root": np.ones(4, dtype=bool)}, "root"),
])
def test_root_validation_names_the_parameter(kwargs, param):
    problem = nm.Problem(np.array([[1.0, 0.5, 0.0], [0.3, -1.0, 0.0]]), 4, "tl1", 1e-3, 0.3, a=1.0)
    with pytest.raises(ValueError, match=param):
        nm.predict(problem, **kwargs)


def test_fixed_points_takes_one_problem():
    with pytest.raises(ValueError, match="one problem"):
        fixed_points(nm.Problem(np.ones((2, 3)), 2, "l1", 1e-3, 0.5))


def test_a_smaller_root_that_does_not_exist_is_reported_inconsistent():
    p = nm.predict(nm.Problem(np.array([1.0, -0.6]), 3, "tl1", 1e-3, 0.5, a=1.0), support=np.array([True, True]),
                   root="small")
    assert not bool(p.ok)


# ---------------------------------------------------------------------------------------------------------------
# Symmetric starts: RVSM keeps tied coordinates tied, and can converge to a fixed point unstable only across that
def test_invariant_subspace_of_tied_coordinates():
    from numerics.limits import invariant_subspace

    b = invariant_subspace([1.0, 1.0, -1.0, 0.0, 2.0, 0.0], [0.5, 0.5, -0.5, 0.0, 1.0, 0.3])
    assert b.shape == (6, 3) and np.allclose(b.T @ b, np.eye(3))
    assert np.allclose(np.abs(b[:3, 0]), 1 / np.sqrt(3)) and b[2, 0] == -b[0, 0]  # tied up to sign
    assert np.all(b[3] == 0)  # w*_i = w0_i = 0 stays 0
    assert invariant_subspace([1.0, 0.5], [0.3, 0.2]).shape == (2, 2)  # generic: the whole space
    with pytest.raises(ValueError, match="shape"):
        invariant_subspace([1.0, 0.5], [0.3])


def test_symmetric_start_converges_to_a_point_unstable_across_the_symmetry():
    from numerics.limits import invariant_subspace

    ws = np.array([1.0, 1.0])
    problem = nm.Problem(ws, 8, "tl1", 0.1, 1.0, a=1.0)
    eta = 0.7124937160421811
    res = nm.run(problem, ws, eta=eta, iters=50_000, tol=1e-13)
    w, u = np.asarray(res.w), np.asarray(res.u)
    assert bool(res.converged) and u[0] == u[1] and abs(u[0] - 0.78059) < 1e-5  # exactly tied, both on the smaller root
    full = matches_a_stable_limit(problem, w, u, eta=eta)
    on_line = matches_a_stable_limit(problem, w, u, eta=eta, w0=ws)
    assert not bool(full.matched) and 1.001 < float(full.spectral_radius) < 1.003
    assert bool(on_line.matched) and abs(float(on_line.spectral_radius) - 0.76683) < 1e-4
    p = full.prediction
    assert abs(float(p.spectral_radius(eta, within=invariant_subspace(ws, ws))) - 0.76683) < 1e-4
    # the Jacobian of a plain step agrees, and RVSM started 1e-9 across the line leaves
    fd = _fd_jacobian(problem, w, eta, 1.0)
    assert abs(np.max(np.abs(np.linalg.eigvals(fd))) - float(full.spectral_radius)) < 1e-6
    off = nm.run(problem, w + 1e-9 * np.array([1.0, -1.0]), eta=eta, iters=50_000, tol=1e-13)
    assert np.max(np.abs(np.asarray(off.w) - w)) > 0.1


def test_free_active_set_repairs_a_support_it_settled_on_inconsistently():
    # l1, w* = (1, 1, 1, 1, 2), k = 13, lam = beta = 0.1: the band rule alone settled on the empty support with the
    # last coordinate neither kept- nor zeroed-consistent (ok False); RVSM ends with that coordinate kept
    ws = np.array([1.0, 1.0, 1.0, 1.0, 2.0])
    problem = nm.Problem(ws, 13, "l1", 0.1, 0.1)
    p = nm.predict(problem)
    assert bool(p.ok) and p.support.tolist() == [False] * 4 + [True]
    res = nm.run(problem, ws, eta=2.1242806699213173, iters=50_000, tol=1e-13)
    assert bool(res.converged) and np.max(np.abs(np.asarray(res.u) - p.u)) < 1e-9
