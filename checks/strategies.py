"""Hypothesis strategies for RVSM problem instances (theory page sections 1-5).

An :class:`Instance` is a plain frozen dataclass of Python numbers and tuples, so the repr of a (shrunk) falsifying
example is a call that rebuilds it: ``checks.replay("name", Instance(d=2, k=1, ...))``.

Ranges (``quick`` / ``thorough``): d in 2..6 / 2..20, k in 1..8 / 1..16, lam log-uniform in [1e-4, 1e-1], beta
log-uniform in [0.05, 1], TL1 ``a`` log-uniform in [0.1, 5] (mu = lam/beta then falls on both sides of the TL1
critical value a^2/(2(a+1)), so both threshold regimes occur), step size ``eta = frac * 2/(L + beta)`` with frac in
[0.1, 0.8] and L the local smoothness constant at w* (:func:`numerics.population.lipschitz_estimate`), i.e. inside
the range where the descent lemma applies near the teacher.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import numerics as nm
from numerics.init import at_angle
from numerics.penalties import Penalty
from numerics.population import lipschitz_estimate
from numerics.problem import resolve_penalty

PENALTIES = ("l1", "l0", "tl1")
TEACHERS = ("dense", "sparse", "near_threshold")

_DIMS = {"quick": (2, 6), "thorough": (2, 20)}
_PATCHES = {"quick": (1, 8), "thorough": (1, 16)}


@dataclass(frozen=True)
class Instance:
    """One RVSM problem: teacher, penalty and its parameters, step size and start point.

    Attributes
    ----------
    d, k : int
        Patch dimension and number of patches.
    w_star : tuple of float
        Teacher filter (nonzero).
    penalty : {"l1", "l0", "tl1"}
    a : float or None
        TL1 parameter (None for l1 and l0).
    lam, beta, eta : float
        Penalty weight, splitting weight, step size.
    w0 : tuple of float
        Initial point of the w-iteration.
    """

    d: int
    k: int
    w_star: tuple[float, ...]
    penalty: str
    a: float | None
    lam: float
    beta: float
    eta: float
    w0: tuple[float, ...]

    @property
    def teacher(self) -> np.ndarray:
        return np.asarray(self.w_star, dtype=np.float64)

    @property
    def start(self) -> np.ndarray:
        return np.asarray(self.w0, dtype=np.float64)

    def make_penalty(self) -> Penalty:
        """The :mod:`numerics.penalties` object of this instance (also where ``lam`` is not set yet)."""
        return resolve_penalty(self.penalty, self.a)

    def problem(self, penalty: Penalty | None = None) -> nm.Problem:
        """The :class:`numerics.Problem` of this instance; ``penalty`` replaces its penalty (e.g. a mutated one)."""
        if penalty is None:
            return nm.Problem(self.teacher, self.k, self.penalty, self.lam, self.beta, a=self.a)
        return nm.Problem(self.teacher, self.k, penalty, self.lam, self.beta)

    def stable_step(self) -> float:
        """2/(L + beta), L the smoothness constant at the teacher."""
        return 2.0 / (float(lipschitz_estimate(self.teacher, self.k)) + self.beta)


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats whose logarithm is uniform on [log low, log high] (shrinks towards ``low``)."""
    lo, hi = math.log10(low), math.log10(high)
    return st.floats(lo, hi).map(lambda e: float(10.0**e))


def _coordinate() -> st.SearchStrategy[float]:
    return st.builds(lambda sgn, mag: sgn * mag, st.sampled_from((1.0, -1.0)), st.floats(0.2, 2.0))


@st.composite
def teachers(draw, d: int, kind: str) -> tuple[float, ...]:
    """A teacher of dimension ``d``: ``dense`` (every |w*_i| in [0.2, 2]), ``sparse`` (at least one zero and one
    nonzero coordinate when d >= 2), or ``near_threshold`` (placed later by :func:`instances`)."""
    w = [draw(_coordinate()) for _ in range(d)]
    if kind == "sparse" and d >= 2:
        zeros = draw(st.lists(st.integers(0, d - 1), min_size=1, max_size=d - 1, unique=True))
        for i in zeros:
            w[i] = 0.0
    return tuple(w)


def _edges(pred: nm.LimitPrediction, problem: nm.Problem) -> tuple[float, float]:
    """The kept/zeroed edges, in units of r|w*_i|, of the coordinatewise limit map at the predicted (s, q)."""
    q, r = float(pred.q), float(pred.r)
    if problem.penalty.name == "l1":
        edge = float(pred.mu_bar)
        return edge / r, edge / r
    if problem.penalty.name == "l0":
        thr = float(problem.penalty.threshold(problem.mu))
        return thr / r, thr * (1.0 + problem.beta / q) / r
    return float(pred.mu_bar) / r, float(pred.mu_bar) / r  # TL1: only a scale to aim near


def place_near_threshold(w_star: tuple[float, ...], k: int, penalty: str, a: float | None, lam: float, beta: float,
                         index: int, offset: float, edge: int = 0) -> tuple[float, ...] | None:
    """Move coordinate ``index`` of ``w_star`` to ``(1 + offset)`` times a threshold edge of the predicted limit map.

    The edge depends on (s, q), which depend on w* itself, so the placement is repeated three times (the map is a
    contraction in practice; the result is near, not exactly at, the edge). Returns None where the edge is not
    defined: the predictor's (s, q) has q <= 0 (large lam k, outside its scope; see numerics.predict), which
    makes ``mu_bar`` and the edges non-finite, or the prediction is not a genuine fixed point (``ok`` False: its
    (s, q) and hence its edges belong to no limit).
    """
    w = list(w_star)
    sign = 1.0 if w[index] >= 0 else -1.0
    for _ in range(3):
        problem = nm.Problem(np.asarray(w), k, penalty, lam, beta, a=a)
        pred = nm.predict(problem)
        low, high = _edges(pred, problem)
        target = (low, high)[edge]
        if not (math.isfinite(target) and float(pred.q) > 0 and bool(pred.ok)):
            return None
        w[index] = sign * target * (1.0 + offset)
        if not any(v != 0 for v in w):
            w[index] = sign * max(target, 1e-3)
    return tuple(w)


@st.composite
def instances(
    draw,
    profile: str = "quick",
    penalties: tuple[str, ...] = PENALTIES,
    teacher_kinds: tuple[str, ...] = TEACHERS,
    k_min: int = 1,
    eta_frac: tuple[float, float] = (0.1, 0.8),
) -> Instance:
    """RVSM problem instances (module docstring lists the ranges)."""
    d = draw(st.integers(*_DIMS[profile]))
    k = draw(st.integers(max(k_min, _PATCHES[profile][0]), _PATCHES[profile][1]))
    penalty = draw(st.sampled_from(penalties))
    a = draw(log_uniform(0.1, 5.0)) if penalty == "tl1" else None
    lam = draw(log_uniform(1e-4, 1e-1))
    beta = draw(log_uniform(0.05, 1.0))
    kind = draw(st.sampled_from(teacher_kinds))
    w_star = draw(teachers(d, "dense" if kind == "near_threshold" else kind))
    if kind == "near_threshold":
        index = draw(st.integers(0, d - 1))
        offset = draw(st.sampled_from((-1.0, 1.0))) * draw(log_uniform(1e-3, 1e-1))
        edge = draw(st.integers(0, 1))
        placed = place_near_threshold(w_star, k, penalty, a, lam, beta, index, offset, edge)
        assume(placed is not None)  # counted as a rejected example, never a silent NaN teacher
        w_star = placed
    frac = draw(st.floats(*eta_frac))
    eta = frac * 2.0 / (float(lipschitz_estimate(np.asarray(w_star), k)) + beta)
    w0 = draw(start_points(w_star))
    return Instance(d=d, k=k, w_star=w_star, penalty=penalty, a=a, lam=lam, beta=beta, eta=eta, w0=w0)


@st.composite
def start_points(draw, w_star: tuple[float, ...], max_angle: float = math.pi * 0.9) -> tuple[float, ...]:
    """A start point at a drawn angle in [0, max_angle] to w* with norm |w*| times a factor in [0.5, 2]."""
    ws = np.asarray(w_star, dtype=np.float64)
    angle = draw(st.floats(0.0, max_angle))
    scale = draw(st.floats(0.5, 2.0))
    seed = draw(st.integers(0, 2**16))
    w0 = at_angle(ws, angle, seed=seed, norm=scale * float(np.linalg.norm(ws)))
    return tuple(float(v) for v in np.asarray(w0))
