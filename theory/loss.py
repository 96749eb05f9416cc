"""The population loss of the no-overlap one-hidden-layer CNN and its gradient (THEORY.md section 2).

Convention: l(w) = E[(f(Z; w) - f(Z; w*))^2] with NO factor 1/2, f(Z; w) = (1/k) sum_i relu(Z_i . w), Z_i i.i.d.
N(0, I_d) patches.

Public API
----------
``loss_expr()``              l as a SymPy expression in (nw, ns, theta, k) of :mod:`theory.symbols`.
``gradient_coefficients()``  (q, s) with grad l(w) = q w - s w*, both in (nw, ns, theta, k); valid for w != 0.
``structured_gradient_coefficients()``  the structured form (A(w)/k^2, (pi - t)/(k pi)) to be checked against it.
``verify_loss_monte_carlo``, ``verify_gradient_symbolic``, ``verify_gradient_finite_difference``,
``verify_gradient_explicit_vectors`` take candidate expressions and return a :class:`Check`.
``derive_population_loss()``, ``derive_gradient()`` return the records ``"population_loss"`` and ``"gradient"``.
"""

from __future__ import annotations

from functools import lru_cache

import sympy as sp

from .gaussian import NU, NV, arccos_kernel_expr, independent_patch_expr
from .symbols import k, ns, nw, theta

LOSS_CONVENTION = "l(w) = E[(f(Z;w) - f(Z;w*))^2] with no factor 1/2 (BG17); a factor 1/2 would halve l and grad l"

_i = sp.Symbol("i", integer=True, positive=True)
_j = sp.Symbol("j", integer=True, positive=True)


def _cross_moment(norm_a: sp.Expr, norm_b: sp.Expr, angle: sp.Expr) -> sp.Expr:
    """E[f(Z; a) f(Z; b)] by summing the patch-pair expectations over i, j = 1..k.

    Notes
    -----
    E[f_a f_b] = (1/k^2) sum_i sum_j E[relu(Z_i.a) relu(Z_j.b)]; the (i, i) terms are the arc-cosine kernel, the
    (i, j != i) terms the independent-patch product. Written as sum_i [g + sum_{j=1}^k m - m] so that SymPy does the
    counting: k diagonal and k^2 - k off-diagonal pairs.
    """
    sub = {NU: norm_a, NV: norm_b}
    g = arccos_kernel_expr().subs(sub).subs(theta, angle)
    m = independent_patch_expr().subs(sub)
    pair_sum = sp.Sum(g + sp.Sum(m, (_j, 1, k)) - m, (_i, 1, k)).doit()
    return sp.expand(pair_sum / k**2)


@lru_cache(maxsize=1)
def _loss_steps() -> dict[str, sp.Expr]:
    e_ww = _cross_moment(nw, nw, sp.Integer(0))
    e_ws = _cross_moment(nw, ns, theta)
    e_ss = _cross_moment(ns, ns, sp.Integer(0))
    loss = e_ww - 2 * e_ws + e_ss  # expand the square
    return {"E_ww": e_ww, "E_ws": e_ws, "E_ss": e_ss, "loss": sp.simplify(loss)}


def loss_expr() -> sp.Expr:
    """The population loss l(w), derived from the Gaussian moments by counting patch pairs.

    Returns
    -------
    sympy expression
        In ``nw`` (= |w|), ``ns`` (= |w*|), ``theta`` (= angle(w, w*)) and ``k`` from :mod:`theory.symbols`.

    Notes
    -----
    .. math:: l(w) = \\frac{1}{k^2}\\Big[\\frac{k}{2}(|w|^2 + |w^*|^2) - 2k\\,g(w, w^*)
              + \\frac{k^2-k}{2\\pi}(|w| - |w^*|)^2\\Big],

    with g the arc-cosine kernel. No factor 1/2 in front of the expectation.
    """
    return _loss_steps()["loss"]


@lru_cache(maxsize=1)
def _gradient_steps() -> dict[str, sp.Expr]:
    # l depends on w only through nw = |w| and c = cos(theta) = w.w*/(nw ns). Chain rule:
    #   grad nw = w/nw,   grad c = w*/(nw ns) - c w/nw^2,   dl/dc = (dl/dtheta) / (dc/dtheta) = -(dl/dtheta)/sin(theta).
    # So grad l = [l_nw/nw + l_theta cos(theta)/(sin(theta) nw^2)] w - [l_theta/(sin(theta) nw ns)] w*.
    loss = loss_expr()
    l_nw = sp.diff(loss, nw)
    l_th = sp.diff(loss, theta)
    dl_dc = -l_th / sp.sin(theta)
    q = sp.simplify(l_nw / nw - dl_dc * sp.cos(theta) / nw**2)
    s = sp.simplify(-dl_dc / (nw * ns))
    return {"dl_dnw": sp.simplify(l_nw), "dl_dtheta": sp.simplify(l_th), "q": q, "s": s}


def gradient_coefficients() -> tuple[sp.Expr, sp.Expr]:
    """Coefficients (q, s) of the gradient grad l(w) = q w - s w*, for w != 0.

    Returns
    -------
    q, s : sympy expressions
        In ``nw``, ``ns``, ``theta``, ``k`` (:mod:`theory.symbols`), obtained by differentiating :func:`loss_expr`
        through |w| and cos(theta) with the chain rule.

    Notes
    -----
    .. math:: q = \\frac{A(w)}{k^2},\\quad A(w) = k + \\frac{k^2-k}{\\pi} - \\frac{k|w^*|\\sin t}{\\pi |w|}
              - \\frac{(k^2-k)|w^*|}{\\pi|w|},\\qquad s = \\frac{\\pi - t}{k\\pi}.

    The ``sin(theta)`` divided out by the chain rule cancels symbolically, so both are regular on [0, pi].
    """
    steps = _gradient_steps()
    return steps["q"], steps["s"]


def structured_gradient_coefficients() -> tuple[sp.Expr, sp.Expr]:
    """The structured form (A(w)/k^2, (pi - t)/(k pi)) of THEORY.md section 2, typed in to be checked.

    It enters the toolkit only through :func:`verify_gradient_symbolic` (difference with the derived
    :func:`gradient_coefficients` simplifies to zero) and the finite-difference check.
    """
    a_w = k + (k**2 - k) / sp.pi - k * ns * sp.sin(theta) / (sp.pi * nw) - (k**2 - k) * ns / (sp.pi * nw)
    return a_w / k**2, (sp.pi - theta) / (k * sp.pi)
