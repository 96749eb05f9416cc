"""Checks of the exact trade-off fronts (theory page, "Exact trade-off fronts"; :mod:`numerics.fronts`).

``front_stationary``
    Every point of the front (l1 closed form, TL1 continuation) is a KKT point of ``l + lam P`` with its ``lam``:
    ``|grad_i l + lam P'(w_i)| `` on the support and ``(|grad_i l| - lam P'(0+))_+`` off it, recomputed with
    :func:`numerics.population.grad`, at most ``1e-12 (1 + |w*|)``: the gradient's terms are of size
    ``|w*| (1 + (k - 1)/pi)/k <= |w*|`` and the path is solved to rounding (closed form; Newton to 1e-14), so a few
    hundred ulps of them is generous, while a wrong scale or ``lam`` leaves residuals of order ``lam`` or ``|w|``.
``front_not_beaten``
    No epsilon-constraint solve (minimize ``l`` s.t. ``sum P(w_i) <= tau``, SLSQP from random starts,
    :func:`numerics.fronts.epsilon_constraint`, which uses nothing of the front) is below the front's value at
    ``tau`` by more than ``1e-10`` (SLSQP stops at ``ftol = 1e-15``; the front is exact at ``tau``). Taus at 10 %,
    45 % and 80 % of ``P(w*)``, and in the middle of the nonconvex stretch where there is one.
``front_folds_match_hull``
    The ``lam`` intervals :func:`numerics.fronts.find_folds` reports and the nonconvex stretch (points above the
    lower convex hull by more than ``1e-12``) agree: a nonempty stretch iff a fold, and the stretch's ``lam`` values
    lie in a fold interval (to the sampling of ``lam``: the largest lam step of the path next to the stretch's
    points, within one piece of the path).
``l0_staircase_brute_force``
    The l0 staircase equals, for every support size, the minimum over all supports of that size of ``l`` minimized
    by Nelder-Mead (``d <= 4`` quick, ``<= 7`` thorough): staircase ``<=`` brute force ``+ 1e-12`` and
    ``>=`` brute force ``- 1e-8`` (Nelder-Mead's accuracy).
``rvsm_excess_decreases``
    For l1 and a ``lam`` that zeroes at least one coordinate, RVSM's sparse output (:func:`numerics.predict`) has an
    excess loss over the front that falls from ``beta = 30`` to ``300`` with a log-log slope ``<= -1.5`` (measured
    about -2: ``u_bar`` is ``O(1/beta)`` off the front along it, and at equal penalty the loss is flat to first
    order there). Not negative beyond ``1e-12`` at ``beta = 3, 30, 300`` (the front is the least loss at that
    penalty). The decrease is asymptotic, not monotone: the thorough profile found ``w* = (-1.5, -0.5, -0.562)``,
    ``k = 2``, ``lam = 0.2287`` with excess 0 at ``beta = 3`` (``u_bar = 0``, itself a front point) and 5.3e-6 at
    ``beta = 30``, and ``lam = 0.0723`` with 7.8e-7 at ``beta = 3`` below 1.1e-6 at ``beta = 30``.

Mutations (on each spec): a ``lam`` in units of ``w*`` (``lam = kappa``), the untied segment formula for tied
teachers, a front without the tied teachers' ``q = 0`` family, the weighted-sum (``lam`` sweep) points taken as the
front, a fold detector that assumes ``lam`` monotone, the best l0 support taken as the first ``m`` coordinates, an l0
scale without its cross-patch term, the naive limit ``prox_{lam (k + 1/beta) P}(w*)`` for RVSM, and the dense
``w_bar`` scored instead of ``u_bar``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from scipy.optimize import minimize

import numerics as nm
from numerics import fronts as F
from numerics import population
from numerics.penalties import get_penalty

from .framework import CheckSpec, Mutation, Outcome, register


@dataclass(frozen=True)
class FrontCase:
    """A teacher, ``k`` and a penalty (``a`` for TL1, 0 otherwise)."""

    w_star: tuple[float, ...]
    k: int
    penalty: str
    a: float = 0.0

    def front(self, builder: Any) -> F.Front:
        return builder(np.array(self.w_star), self.k, self.penalty, a=self.a if self.penalty == "tl1" else None)


_D = {"quick": (2, 4), "thorough": (2, 6)}
_K = {"quick": (1, 10), "thorough": (1, 16)}
FOLD = (1.0, 0.95, 0.9, 0.0)
TIED = (0.3, -1.0, 1.0, 0.5, 0.0)


@st.composite
def _teacher(draw, profile: str, *, untied: bool) -> tuple[float, ...]:
    d = draw(st.integers(*_D[profile]))
    vals = draw(st.lists(st.floats(0.1, 1.5), min_size=d, max_size=d))
    signs = draw(st.lists(st.sampled_from((-1.0, 1.0)), min_size=d, max_size=d))
    zero = draw(st.lists(st.booleans(), min_size=d, max_size=d))
    w = tuple(0.0 if z and i > 0 else round(s * v, 3) for i, (v, s, z) in enumerate(zip(vals, signs, zero,
                                                                                          strict=True)))
    nz = [abs(x) for x in w if x != 0]
    if untied:
        assume(len(set(nz)) == len(nz) and min(abs(a - b) for a, b in itertools.combinations(nz, 2)) > 1e-2
               if len(nz) > 1 else True)
    return w


@st.composite
def _cases(draw, profile: str) -> FrontCase:
    pen = draw(st.sampled_from(("l1", "tl1")))
    w = draw(_teacher(profile, untied=pen == "tl1"))
    k = draw(st.integers(*_K[profile]))
    a = draw(st.sampled_from((0.3, 1.0, 3.0))) if pen == "tl1" else 0.0
    return FrontCase(w, k, pen, a)


# ----------------------------------------------------------------------------------------------------------------------
# front_stationary
# ----------------------------------------------------------------------------------------------------------------------
def _kkt_residual(front: F.Front, pen: Any) -> float:
    dp0 = float(np.abs(pen.derivative(np.array([1e-300])))[0])
    worst = 0.0
    for w, lam in zip(front.w, front.lam, strict=True):
        if not np.any(w != 0):
            continue
        if not np.isfinite(lam):
            return math.inf
        g = population.grad(w, front.w_star, front.k)
        on = w != 0
        r = np.concatenate([np.abs(g[on] + lam * np.asarray(pen.derivative(w[on]))),
                            np.maximum(np.abs(g[~on]) - lam * dp0, 0.0)])
        worst = max(worst, float(np.max(r)))
    return worst


def _prop_stationary(case: FrontCase, ingr: dict[str, Any]) -> Outcome:
    front = case.front(ingr["pareto_front"])
    pen = get_penalty(case.penalty, a=case.a) if case.penalty == "tl1" else get_penalty(case.penalty)
    res = _kkt_residual(front, pen)
    # The front's points are solved to rounding (closed form for l1; Newton to ~1e-15 for continuation) and the
    # gradient at them carries ~10 eps |w*| of rounding, so a residual of a correct front is ~1e-14 (1 + |w*|): the
    # thorough profile's worst was 0.009 of this tolerance, while a wrong lam (the mutations) leaves O(lam) residuals.
    tol = 1e-12 * (1.0 + float(np.linalg.norm(case.w_star)))
    return Outcome(res / tol, f"{len(front)} points; worst KKT residual {res:.2e} (tolerance {tol:.1e})")


def _front_lam_in_w_units(w_star: Any, k: int, penalty: str, *, a: Any = None) -> F.Front:
    front = F.pareto_front(w_star, k, penalty, a=a)
    if penalty != "l1":
        return front
    lam = np.where(front.piece == 0, front.param, front.lam)  # lam = kappa: the threshold taken on w* itself
    return replace(front, lam=lam)


def _front_untied_segment(w_star: Any, k: int, penalty: str, *, a: Any = None) -> F.Front:
    front = F.pareto_front(w_star, k, penalty, a=a)
    if penalty != "l1":
        return front
    w_star = np.asarray(w_star, dtype=float)
    sym = front.piece == 1
    n_top = int(np.sum(np.abs(w_star) == np.abs(w_star).max()))
    # the true lam is s a_max + (b - c0 m)/sqrt(T), equal to s a_max at the segment's first point; the mistake
    # drops the 1/sqrt(T): lam = s a_max + (b - c0 m)
    lam_t = front.lam[sym]
    lam = front.lam.copy()
    lam[sym] = lam_t[0] + (lam_t - lam_t[0]) * math.sqrt(n_top)
    return replace(front, lam=lam)


FRONT_STATIONARY = register(CheckSpec(
    name="front_stationary",
    statement=("Every point of the exact l1 / TL1 front is a KKT point of l + lam P with its lam, to rounding "
               "(theory page, exact fronts)"),
    section="fronts",
    strategy=lambda profile: _cases(profile),
    prop=_prop_stationary,
    ingredients=lambda: {"pareto_front": F.pareto_front},
    max_examples={"quick": 5, "thorough": 100},
    mutations=(
        Mutation("lam_in_teacher_units", "l1: lam = kappa (the soft threshold on w*) instead of kappa s",
                 {"pareto_front": _front_lam_in_w_units}),
        Mutation("untied_segment_formula", "l1: lam = s a_max + b - c0 m near the origin also for T tied coordinates",
                 {"pareto_front": _front_untied_segment}),
    ),
    examples=(FrontCase(FOLD, 8, "l1"), FrontCase(TIED, 5, "l1"), FrontCase(FOLD, 8, "tl1", 1.0)),
))


# ----------------------------------------------------------------------------------------------------------------------
# front_not_beaten
# ----------------------------------------------------------------------------------------------------------------------
def _prop_not_beaten(case: FrontCase, ingr: dict[str, Any]) -> Outcome:
    front = case.front(ingr["pareto_front"])
    worst, detail = 0.0, ""
    a = case.a if case.penalty == "tl1" else None
    taus = [frac * float(front.penalty_value[0]) for frac in (0.1, 0.45, 0.8)]
    gap = F.convex_hull_gap(front)
    if np.any(gap > 1e-12):  # and the middle of the nonconvex stretch, where a weighted-sum method has no point
        stretch = front.penalty_value[gap > 1e-12]
        taus.append(0.5 * float(stretch.min() + stretch.max()))
    for j, tau in enumerate(taus):
        best, _ = F.epsilon_constraint(np.array(case.w_star), case.k, case.penalty, tau, a=a, starts=5, seed=j)
        gap = float(front.value_at(tau)) - best
        if not np.isfinite(gap):
            return Outcome(math.inf, f"tau {tau:.3g}: front {front.value_at(tau)}, epsilon-constraint {best}")
        if gap > worst:
            worst, detail = gap, f"tau {tau:.4g}: front {float(front.value_at(tau)):.12g}, solve {best:.12g}"
    return Outcome(worst / 1e-10, f"largest front - epsilon-constraint = {worst:.2e} (allowed 1e-10) {detail}")


def _front_without_q0_family(w_star: Any, k: int, penalty: str, *, a: Any = None) -> F.Front:
    front = F.pareto_front(w_star, k, penalty, a=a)
    keep = (front.piece != 2) & (front.piece != 3)
    return replace(front, penalty_value=front.penalty_value[keep], loss=front.loss[keep], lam=front.lam[keep],
                   w=front.w[keep], pareto=front.pareto[keep], piece=front.piece[keep], param=front.param[keep])


class _WeightedSumFront:
    """What the weighted-sum method (a lam sweep) reports, with its one real defect and nothing else wrong: the exact
    front's points on the lower convex hull only. Outside the nonconvex stretch it is the exact front; inside it the
    best point it offers at penalty <= tau is the hull vertex below the stretch."""

    def __init__(self, front: F.Front) -> None:
        self._front = front
        self._hull = F.convex_hull_gap(front) <= 1e-12

    def __getattr__(self, name: str) -> Any:
        return getattr(self._front, name)

    def value_at(self, tau: float) -> float:
        f = self._front
        inside = ~self._hull
        if inside.any() and f.penalty_value[inside].min() <= tau <= f.penalty_value[inside].max():
            return float(np.min(f.loss[self._hull & (f.penalty_value <= tau)]))
        return float(f.value_at(tau))


def _weighted_sum_front(w_star: Any, k: int, penalty: str, *, a: Any = None) -> Any:
    """The front as the weighted-sum method sees it (no point on the nonconvex stretch)."""
    return _WeightedSumFront(F.pareto_front(w_star, k, penalty, a=a))


FRONT_NOT_BEATEN = register(CheckSpec(
    name="front_not_beaten",
    statement=("No random-multistart epsilon-constraint solve (min l s.t. sum P <= tau) beats the exact front by "
               "more than 1e-10 (theory page, exact fronts)"),
    section="fronts",
    strategy=lambda profile: _cases(profile),
    prop=_prop_not_beaten,
    ingredients=lambda: {"pareto_front": F.pareto_front},
    max_examples={"quick": 2, "thorough": 60},
    mutations=(
        Mutation("symmetric_path_only", "tied largest coordinates: the symmetric path kept, the q = 0 family missed",
                 {"pareto_front": _front_without_q0_family}),
        Mutation("weighted_sum_front", "the lam sweep's points (weighted-sum method) taken as the front",
                 {"pareto_front": _weighted_sum_front}),
    ),
    examples=(FrontCase(TIED, 5, "l1"), FrontCase((1.0, 0.95, 0.6, 0.0), 8, "l1"), FrontCase(FOLD, 8, "tl1", 1.0)),
))


# ----------------------------------------------------------------------------------------------------------------------
# front_folds_match_hull
# ----------------------------------------------------------------------------------------------------------------------
def _prop_folds(case: FrontCase, ingr: dict[str, Any]) -> Outcome:
    front = F.pareto_front(np.array(case.w_star), case.k, case.penalty,
                           a=case.a if case.penalty == "tl1" else None)
    absw = np.abs(np.array(case.w_star))
    tied = case.penalty == "l1" and int(np.sum(absw == absw.max())) > 1
    # the path in order (for tied l1 teachers the symmetric segment near 0 is an offshoot, not on the path)
    folds = ingr["find_folds"](front.lam[front.piece != 1] if tied else front.lam)
    gap = F.convex_hull_gap(front)
    # the stretch is judged on the path the folds are read from: a tied teacher's symmetric segment is a dominated
    # offshoot whose points sit above the hull without being part of the front
    inside = (gap > 1e-12) & ((front.piece != 1) if tied else True)
    if inside.any() != bool(folds):
        return Outcome(math.inf, f"nonconvex stretch: {int(inside.sum())} points (max gap {gap.max():.2e}); "
                                 f"folds {folds}")
    if not folds:
        return Outcome(0.0, "no fold, convex front")
    lam_in = front.lam[inside]
    # the resolution in lam at the stretch: the path's lam steps next to its points, within one piece of the path
    # (a step between pieces, e.g. onto the segment near the origin, can be most of the lam range)
    idx = np.flatnonzero(inside)
    nb = np.unique(np.clip(np.concatenate([idx - 1, idx]), 0, front.lam.size - 2))
    nb = nb[front.piece[nb] == front.piece[nb + 1]]
    steps = np.abs(front.lam[nb + 1] - front.lam[nb])
    steps = steps[np.isfinite(steps)]
    res = float(steps.max()) if steps.size else 0.0
    tol = max(res, 1e-9)
    out = [float(min(max(lo - v, v - hi, 0.0) for lo, hi in folds)) for v in lam_in]
    worst = max(out)
    return Outcome(worst / tol, f"folds {folds}; stretch lam in [{lam_in.min():.6g}, {lam_in.max():.6g}]; largest "
                                f"distance outside a fold {worst:.2e} (allowed one lam step {tol:.1e})")


def _folds_assuming_monotone(lam: Any) -> tuple:
    return ()


def _folds_in_path_order(lam: Any) -> tuple:
    """A fold taken as the stretch of the path where lam decreases, reported by its index range (not lam)."""
    lv = np.asarray(lam, dtype=float)
    down = np.flatnonzero(np.diff(lv) < 0)
    return ((float(down[0]), float(down[-1])),) if down.size else ()


FRONT_FOLDS = register(CheckSpec(
    name="front_folds_match_hull",
    statement=("The lam intervals with several critical points (folds) are exactly where the front leaves its "
               "convex hull (theory page, exact fronts: dl/dP = -lam)"),
    section="fronts",
    strategy=lambda profile: _cases(profile),
    prop=_prop_folds,
    ingredients=lambda: {"find_folds": F.find_folds},
    max_examples={"quick": 5, "thorough": 100},
    mutations=(
        Mutation("monotone_lam_assumed", "no fold reported (lam assumed monotone along the path)",
                 {"find_folds": _folds_assuming_monotone}),
        Mutation("fold_by_index", "the fold reported in path indices where lam decreases, not as a lam interval",
                 {"find_folds": _folds_in_path_order}),
    ),
    # the tied teacher: found by the thorough profile once the lam resolution was local (its dominated symmetric
    # segment had been counted as part of the nonconvex stretch)
    examples=(FrontCase(FOLD, 8, "l1"), FrontCase((1.0, -0.5, 0.2), 4, "l1"), FrontCase((-1.0, -1.0), 2, "l1")),
))


# ----------------------------------------------------------------------------------------------------------------------
# l0_staircase_brute_force
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class L0Case:
    w_star: tuple[float, ...]
    k: int


_L0D = {"quick": (2, 4), "thorough": (2, 7)}


@st.composite
def _l0_cases(draw, profile: str) -> L0Case:
    d = draw(st.integers(*_L0D[profile]))
    w = draw(st.lists(st.floats(-1.5, 1.5).map(lambda x: round(x, 3)), min_size=d, max_size=d))
    assume(any(x != 0 for x in w))
    return L0Case(tuple(w), draw(st.integers(*_K[profile])))


def _brute_force_l0(w_star: np.ndarray, k: int) -> np.ndarray:
    d = w_star.size
    rng = np.random.default_rng(0)
    best = np.full(d + 1, np.inf)
    best[0] = float(population.loss(np.zeros(d), w_star, k))
    for m in range(1, d + 1):
        for sup in itertools.combinations(range(d), m):
            idx = list(sup)

            def f(x: np.ndarray, idx: list = idx) -> float:
                w = np.zeros(d)
                w[idx] = x
                return float(population.loss(w, w_star, k, validate=False))

            for x0 in (w_star[idx] + 0.05, 0.7 * rng.standard_normal(m)):
                res = minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-15,
                                                                      "maxiter": 4000})
                best[m] = min(best[m], float(res.fun))
    return best


def _prop_l0(case: L0Case, ingr: dict[str, Any]) -> Outcome:
    ws = np.array(case.w_star)
    stair = ingr["l0_front"](ws, case.k).loss
    brute = _brute_force_l0(ws, case.k)
    above = float(np.max(stair - brute))
    below = float(np.max(brute - stair))
    if not (np.isfinite(above) and np.isfinite(below)):
        return Outcome(math.inf, "non-finite staircase")
    return Outcome(max(above / 1e-12, below / 1e-8),
                   f"staircase - brute force in [{-below:.2e}, {above:.2e}] (allowed [-1e-8, 1e-12])")


def _l0_first_m(w_star: Any, k: int) -> F.Front:
    w_star = np.asarray(w_star, dtype=float)
    front = F.l0_front(w_star, k)
    d = w_star.size
    w = np.zeros((d + 1, d))
    for m in range(1, d + 1):
        w[m] = F.l0_best_on_support(w_star, k, np.arange(d) < m)
    return replace(front, w=w, loss=np.asarray(population.loss(w, w_star, k)))


def _l0_scale_without_cross_patch(w_star: Any, k: int) -> F.Front:
    w_star = np.asarray(w_star, dtype=float)
    front = F.l0_front(w_star, k)
    ns = float(np.linalg.norm(w_star))
    w = front.w.copy()
    for m in range(1, w.shape[0]):
        nws = float(np.linalg.norm(w[m]))
        t = math.atan2(math.sqrt(max(ns**2 - (w[m] @ w_star / nws) ** 2, 0.0)), float(w[m] @ w_star) / nws)
        h = math.sin(t) + (math.pi - t) * math.cos(t)
        w[m] *= ns * h / math.pi / nws  # k h/(k pi): the same-patch pull only
    return replace(front, w=w, loss=np.asarray(population.loss(w, w_star, k)))


L0_STAIRCASE = register(CheckSpec(
    name="l0_staircase_brute_force",
    statement=("The exact l0 front is the staircase over top-m supports with the explicit scale: it equals brute "
               "force over all supports (theory page, exact fronts)"),
    section="fronts",
    strategy=lambda profile: _l0_cases(profile),
    prop=_prop_l0,
    ingredients=lambda: {"l0_front": F.l0_front},
    max_examples={"quick": 3, "thorough": 60},
    mutations=(
        Mutation("first_m_coordinates", "the support of size m taken as the first m coordinates, not the top m",
                 {"l0_front": _l0_first_m}),
        Mutation("scale_without_cross_patch", "the scale |w*| h(t)/pi: the (k^2 - k) cross-patch pull dropped",
                 {"l0_front": _l0_scale_without_cross_patch}),
    ),
    examples=(L0Case((0.2, -1.0, 0.6, 0.35), 3),),
))


# ----------------------------------------------------------------------------------------------------------------------
# rvsm_excess_decreases
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExcessCase:
    w_star: tuple[float, ...]
    k: int
    where: float  # where kappa = lam/s lies between the smallest and the next |w*_i| (0..1)


@st.composite
def _excess_cases(draw, profile: str) -> ExcessCase:
    w = draw(_teacher(profile, untied=True))
    assume(sum(x != 0 for x in w) >= 2)
    return ExcessCase(w, draw(st.integers(2, _K[profile][1])), draw(st.floats(0.2, 0.8)))


BETAS = (3.0, 30.0, 300.0)


def _u_bar(pred: Any) -> np.ndarray:
    return np.asarray(pred.u)


def _prop_excess(case: ExcessCase, ingr: dict[str, Any]) -> Outcome:
    ws = np.array(case.w_star)
    front = F.pareto_front(ws, case.k, "l1")
    a = np.sort(np.abs(ws[ws != 0]))
    kap = a[0] + case.where * (a[1] - a[0])  # zeroes the smallest nonzero coordinate, keeps the others
    i = int(np.argmin(np.abs(np.where(front.piece == 0, front.param, np.inf) - kap)))
    lam = float(front.lam[i])
    ex = []
    for beta in BETAS:
        pred = ingr["predict"](nm.Problem(ws, case.k, "l1", lam, beta))
        if not bool(np.all(pred.ok)):
            assume(False)
        u = np.asarray(ingr["output"](pred))
        ex.append(float(F.excess_loss(front, u[None, :])[2][0]))
    ex = np.array(ex)
    if np.any(ex < -1e-12):
        return Outcome(math.inf, f"negative excess {ex} (RVSM below the front)")
    if np.all(ex <= 1e-13):
        return Outcome(0.0, f"excess {ex} at rounding level")
    if ex[1] <= 1e-13 and ex[2] <= 1e-13:
        return Outcome(0.0, f"excess {ex}: at rounding level from beta = 30 on")
    slope = math.log(max(ex[2], 1e-300) / ex[1]) / math.log(BETAS[2] / BETAS[1]) if ex[1] > 0 else math.inf
    disc = slope + 2.5  # <= 1 exactly when the slope is <= -1.5 (so the excess falls from beta = 30 to 300)
    return Outcome(disc, f"lam {lam:.4g}: excess at beta {BETAS} = {ex}; slope 30..300 = {slope:.3f} (<= -1.5)")


def _naive_limit(problem: Any) -> Any:
    """The naive limit prox_{lam (k + 1/beta) P}(w*) in place of the fixed point."""
    pred = nm.predict(problem)
    mu = float(problem.lam) * (problem.k + 1.0 / float(problem.beta))
    u = np.asarray(problem.penalty.prox(np.asarray(problem.w_star, dtype=float), mu))
    return replace(pred, u=u)


RVSM_EXCESS = register(CheckSpec(
    name="rvsm_excess_decreases",
    statement=("RVSM's sparse output u_bar (l1) sits above the exact front by an excess loss that vanishes as beta "
               "grows, like 1/beta^2 (theory page, exact fronts)"),
    section="fronts",
    strategy=lambda profile: _excess_cases(profile),
    prop=_prop_excess,
    ingredients=lambda: {"predict": nm.predict, "output": _u_bar},
    max_examples={"quick": 6, "thorough": 100},
    mutations=(
        Mutation("naive_prox_limit", "u_bar = prox_{lam (k + 1/beta) P}(w*), the naive thresholding of the truth",
                 {"predict": _naive_limit}),
        Mutation("dense_w_scored", "the dense w_bar scored instead of the sparse output u_bar",
                 {"output": lambda pred: np.asarray(pred.w)}),
    ),
    examples=(ExcessCase(FOLD[:3], 8, 0.5), ExcessCase((1.0, -0.5, 0.2), 4, 0.5),
              ExcessCase((-1.5, -0.5, -0.562), 2, 0.5)),
))
