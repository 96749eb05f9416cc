"""Exact trade-off fronts (numerics.fronts) against independent references: the gradient, epsilon-constraint solves,
brute force over supports, and the comparators' behaviour at a fold."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy.optimize import minimize

from numerics import fronts as F
from numerics import population
from numerics.penalties import L1, TL1

FOLD = (np.array([1.0, 0.95, 0.9, 0.0]), 8)  # lam(kappa) folds for this teacher
PLAIN = (np.array([1.0, -0.5, 0.2]), 4)  # no fold for l1
TIED = (np.array([0.3, -1.0, 1.0, 0.5, 0.0]), 5)  # tied largest |w*_i|: the front breaks the symmetry near 0


class L1ViaContinuation(L1):
    """The same l1, but not the exact class: pareto_front must use continuation for it."""

    def _derivative(self, xp, x):
        return super()._derivative(xp, x)


@pytest.fixture(scope="module")
def fold_l1():
    return F.pareto_front(*FOLD, "l1")


def _stationarity_residual(front: F.Front, pen) -> float:
    """max over points of the KKT residual of l + lam P, from population.grad (independent of the path formulas)."""
    worst = 0.0
    for w, lam in zip(front.w, front.lam, strict=True):
        if not np.any(w != 0):
            continue
        g = population.grad(w, front.w_star, front.k)
        on = w != 0
        r_on = np.abs(g[on] + lam * np.asarray(pen.derivative(w[on])))
        dp0 = float(np.abs(pen.derivative(np.array([1e-300])))[0])
        r_off = np.maximum(np.abs(g[~on]) - lam * dp0, 0.0)
        worst = max(worst, float(np.max(r_on, initial=0)), float(np.max(r_off, initial=0)))
    return worst


@pytest.mark.parametrize("case", [FOLD, PLAIN, TIED])
def test_l1_front_points_are_stationary(case):
    front = F.pareto_front(*case, "l1")
    # the gradient has terms of size ~ |w*| (1 + (k - 1)/pi)/k; rounding of a few ulps of them
    assert _stationarity_residual(front, L1()) < 1e-13
    assert front.loss[0] == pytest.approx(0.0, abs=1e-15)  # starts at w*
    assert np.all(front.w[-1] == 0)  # ends at 0
    assert front.lam[0] == 0.0


def test_tl1_front_points_are_stationary():
    front = F.pareto_front(*FOLD, "tl1", a=1.0)
    assert np.all(np.isfinite(front.lam))  # no off-support violation was met
    assert _stationarity_residual(front, TL1(1.0)) < 1e-12


def test_l1_closed_form_equals_continuation(fold_l1):
    cont = F.pareto_front(*FOLD, L1ViaContinuation())
    taus = np.linspace(0.02, 2.8, 23)
    # both are exact at tau (brentq on kappa, Newton on the stationarity): they agree to rounding
    np.testing.assert_allclose(cont.value_at(taus), fold_l1.value_at(taus), rtol=0, atol=1e-13)
    assert len(cont.folds) == len(fold_l1.folds) == 1
    np.testing.assert_allclose(cont.folds[0], fold_l1.folds[0], atol=1e-5)  # sampled turning points


_SLOW = pytest.mark.slow


@pytest.mark.parametrize("case,pen,a", [
    (FOLD, "l1", None), (FOLD, "tl1", 1.0), (PLAIN, "tl1", 0.3),
    pytest.param(PLAIN, "l1", None, marks=_SLOW), pytest.param(PLAIN, "tl1", 1.0, marks=_SLOW),
    pytest.param(FOLD, "tl1", 0.3, marks=_SLOW)])
def test_epsilon_constraint_does_not_beat_the_front(case, pen, a):
    front = F.pareto_front(*case, pen, a=a)
    pmax = front.penalty_value[0]
    for j, tau in enumerate(np.array([0.1, 0.45, 0.8]) * pmax):
        best, _ = F.epsilon_constraint(*case, pen, tau, a=a, starts=5, seed=j)
        fv = float(front.value_at(tau))
        assert fv <= best + 1e-10, (tau, fv, best)
        # and the front is attained: the multistart finds it (to SLSQP's accuracy) from some start
        assert best <= fv + 1e-6


def test_tied_teacher_front_breaks_the_symmetry():
    front = F.pareto_front(*TIED, "l1")
    assert set(np.unique(front.piece)) == {0, 1, 2, 3}
    sym = (front.piece == 1) & (front.penalty_value > 0) & (front.param < front.param[front.piece == 1].max())
    # the symmetric segment near 0 (but its first point, where it leaves the path) is dominated: the exact front
    # is strictly below it at its own penalty values
    assert np.all(front.value_at(front.penalty_value[sym]) < front.loss[sym] - 1e-6)
    for j, frac in enumerate((0.05, 0.2, 0.4, 0.6)):
        tau = frac * front.penalty_value[0]
        best, _ = F.epsilon_constraint(*TIED, "l1", tau, starts=6, seed=j)
        assert abs(float(front.value_at(tau)) - best) < 1e-10


def _brute_l0(w_star, k):
    """min l over each support, by BFGS from several starts (no closed form used)."""
    d = w_star.size
    rng = np.random.default_rng(0)
    best = np.full(d + 1, np.inf)
    best[0] = float(population.loss(np.zeros(d), w_star, k))
    for m in range(1, d + 1):
        for sup in itertools.combinations(range(d), m):
            sup = list(sup)

            def f(x, sup=sup):
                w = np.zeros(d)
                w[sup] = x
                return float(population.loss(w, w_star, k))

            for x0 in [w_star[sup] + 0.1, *rng.standard_normal((2, m))]:
                best[m] = min(best[m], minimize(f, x0, method="Nelder-Mead",
                                                options={"xatol": 1e-10, "fatol": 1e-15, "maxiter": 4000}).fun)
    return best


@pytest.mark.parametrize("case", [pytest.param((np.array([0.2, -1.0, 0.6, 0.0, 0.35]), 3), marks=_SLOW),
                                  (np.array([1.0, 1.0, -0.4, 0.1]), 7)])
def test_l0_staircase_equals_brute_force_over_supports(case):
    front = F.pareto_front(*case, "l0")
    brute = _brute_l0(*case)
    # Nelder-Mead reaches the minimum to ~1e-12 in loss; the staircase must never be above it
    assert np.all(front.loss <= brute + 1e-12)
    np.testing.assert_allclose(front.loss, brute, atol=1e-9)
    assert np.array_equal(front.penalty_value, np.arange(case[0].size + 1))


def test_folds_agree_with_the_gap_to_the_convex_hull(fold_l1):
    gap = F.convex_hull_gap(fold_l1)
    inside = gap > 1e-12
    assert inside.any() and len(fold_l1.folds) == 1
    lo, hi = fold_l1.folds[0]
    # the nonconvex stretch is exactly the stretch whose lam lies in the fold interval (the envelope dl/dP = -lam)
    assert lo - 1e-4 <= fold_l1.lam[inside].min() and fold_l1.lam[inside].max() <= hi + 1e-4
    plain = F.pareto_front(*PLAIN, "l1")
    assert plain.folds == () and F.convex_hull_gap(plain).max() < 1e-12


def test_lam_sweep_jumps_over_the_fold_and_path_follower_does_not(fold_l1):
    gap = F.convex_hull_gap(fold_l1)
    p_lo, p_hi = fold_l1.penalty_value[gap > 1e-12].min(), fold_l1.penalty_value[gap > 1e-12].max()
    sweep = F.lam_sweep(fold_l1, np.linspace(0.002, 0.12, 30))
    assert sweep.ok.all() and np.max(np.abs(sweep.excess)) < 1e-12
    mid = (sweep.penalty_value > p_lo + 0.05) & (sweep.penalty_value < p_hi - 0.05)
    assert not mid.any()  # no weighted-sum point in the nonconvex stretch
    follower = F.path_follower(fold_l1, shrink=0.05)
    assert follower.ok.all() and np.max(follower.excess) < 1e-9 and np.min(follower.excess) > -1e-12
    inside = (follower.penalty_value > p_lo + 0.05) & (follower.penalty_value < p_hi - 0.05)
    assert inside.sum() >= 5


def test_rvsm_excess_loss_decreases_with_beta(fold_l1):
    lams = np.array([0.01, 0.03, 0.06])
    ex = []
    for beta in (0.3, 3.0, 30.0):
        sc = F.rvsm_limits(fold_l1, lams, beta)
        assert sc.ok.all()
        assert np.all(sc.excess > -1e-12)
        ex.append(sc.excess)
    ex = np.array(ex)
    assert np.all(ex[1:] < ex[:-1])
    # measured rate about 1/beta^2 (u_bar is O(1/beta) off the front along it, and the front is first-order flat
    # in that direction at equal penalty); at least a factor 10 per decade is asked here
    assert np.all(ex[2] < ex[1] / 10)


def test_pareto_mask_and_find_folds_on_small_cases():
    m = F.pareto_mask([0, 1, 1, 2, 3], [5, 3, 4, 3, 1])
    assert m.tolist() == [True, True, False, False, True]
    assert F.find_folds([0, 1, 2, 3]) == ()
    folds = F.find_folds([0, 1, 2, 1.5, 1.2, 2.5, 3])
    assert len(folds) == 1 and folds[0] == pytest.approx((1.2, 2.0))
    # a path whose lam falls at its end (TL1 near 0): the values in (end, max) are met twice
    folds = F.find_folds([0, 1, 2, 3, 2.5])
    assert len(folds) == 1 and folds[0] == pytest.approx((2.5, 3.0))


def test_batched_teachers_give_one_front_each():
    ws = np.stack([FOLD[0], np.array([0.5, 0.0, -1.0, 0.2])])
    fronts = F.pareto_front(ws, 8, "l1", n_points=50)
    assert len(fronts) == 2
    for w, fr in zip(ws, fronts, strict=True):
        one = F.pareto_front(w, 8, "l1", n_points=50)
        np.testing.assert_array_equal(fr.loss, one.loss)


def test_validation_messages():
    with pytest.raises(ValueError, match="w_star"):
        F.pareto_front(np.zeros(3), 2, "l1")
    with pytest.raises(ValueError, match="k must"):
        F.pareto_front(FOLD[0], 0, "l1")
    with pytest.raises(ValueError, match="continuation"):
        F.continuation_front(FOLD[0], 8, "l0")
    with pytest.raises(ValueError, match="tied"):
        F.pareto_front(np.array([1.0, 1.0, 0.3]), 8, "tl1", a=1.0)
    with pytest.raises(ValueError, match="tau"):
        F.epsilon_constraint(FOLD[0], 8, "l1", -1.0)
    with pytest.raises(ValueError, match="beta"):
        F.rvsm_limits(F.pareto_front(*PLAIN, "l1", n_points=10), [0.1], -1.0)


def test_write_front(tmp_path, fold_l1):
    csv, js = F.write_front(fold_l1, tmp_path / "out")
    meta = json.loads(js.read_text())
    assert meta["penalty"] == "l1" and meta["n_points"] == len(fold_l1) and len(meta["folds"]) == 1
    rows = csv.read_text().strip().splitlines()
    assert len(rows) == len(fold_l1) + 1 and rows[0].startswith("penalty_value,loss,lam")
    with pytest.raises(ValueError, match="--out"):
        F.write_front(fold_l1, csv)  # a file, not a folder


def test_front_subcommand(tmp_path, capsys):
    from numerics.cli import main

    assert main(["front", "--penalty", "l1", "--w-star", "1,0.95,0.9,0", "--k", "8", "--points", "50",
                 "--out", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pareto"] == summary["points"] and len(summary["folds"]) == 1
    assert (tmp_path / "front.csv").exists() and (tmp_path / "front.json").exists()
    assert main(["front", "--penalty", "l1", "--a", "2", "--out", str(tmp_path)]) == 2
    assert "--a" in capsys.readouterr().err
    assert main(["front", "--w-star", "1,x", "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize(("w_star", "k", "penalty"), [((1.0, 0.5, 0.2), 2, TL1(a=1.0)),
                                                       ((1.0, -0.6, 0.3, 0.0), 4, "mcp")])
def test_a_continuation_front_ends_exactly_at_the_origin(w_star, k, penalty):
    """The last coordinate runs into w = 0, where q -> -inf and the step control gives up within rounding of 0:
    the front still ends at w = 0 exactly, so the front at penalty 0 is l(0) (it was +inf, and every all-zero point
    then scored an excess loss of -inf)."""
    from numerics.penalties import MCP

    pen = MCP(gamma=3.0) if penalty == "mcp" else penalty
    ws = np.array(w_star)
    front = F.pareto_front(ws, k, pen)
    assert np.all(front.w[-1] == 0)
    l0 = float(population.loss(np.zeros_like(ws), ws, k))
    assert front.value_at(0.0) == pytest.approx(l0, rel=1e-15)
    assert np.all(F.excess_loss(front, np.zeros((1, ws.size)))[2] > -1e-15)


def test_continuation_refuses_a_front_it_cannot_trace():
    """l_{1/2} has an infinite slope at 0, so a coordinate cannot leave the support continuously: the path stops
    short of w = 0, and an incomplete front is refused instead of returned (its value_at was +inf below the
    stop)."""
    from numerics.penalties import LHalf

    with pytest.raises(ValueError, match="continuation could not trace the front of LHalf"):
        F.pareto_front(np.array([1.0, -0.6, 0.3, 0.0]), 4, LHalf())


def test_value_at_nan_is_nan_and_point_counts_are_integers():
    """A NaN penalty value has no front value (it was +inf, 'nothing feasible'); a non-integer point count is a
    ValueError naming it (it was a TypeError from linspace)."""
    front = F.pareto_front(np.array([1.0, -0.5, 0.2]), 4, "l1")
    assert np.isnan(front.value_at(np.nan))
    out = front.value_at([0.5, np.nan])
    assert np.isfinite(out[0]) and np.isnan(out[1])
    with pytest.raises(ValueError, match="n_points must be an integer"):
        F.l1_front(np.array([1.0, -0.5, 0.2]), 4, n_points=2.5)


def test_pareto_mask_leaves_out_points_without_finite_values():
    """A NaN penalty value or loss sorts last and used to be marked non-dominated."""
    mask = F.pareto_mask([0.0, 1.0, np.nan, 2.0, 0.5], [1.0, 0.5, 0.1, 0.2, np.nan])
    np.testing.assert_array_equal(mask, [True, True, False, True, False])
