"""Closed-form population loss and gradient of the one-hidden-layer, non-overlapping-patch ReLU CNN.

Model (theory page section 1): ``f(Z; w) = (1/k) sum_i relu(Z_i . w)``, ``Z_i`` i.i.d. N(0, I_d), teacher ``w* != 0``,
loss ``l(w) = E[(f(Z; w) - f(Z; w*))^2]`` (**no factor 1/2**, as in Brutzkus & Globerson 2017).

All functions take ``w`` and ``w_star`` of shape ``(..., d)``; their leading axes broadcast against each other (a
single teacher ``(d,)`` with a batch ``(B, d)``, or one teacher per trial). Results have the broadcast leading shape
(``loss``, ``angle``, ``gradient_coefficients``) or ``(..., d)`` (``grad``), and the floating dtype and device of ``w``.
``k`` is a Python integer ``>= 1`` shared by the batch.

Every public function validates its inputs (shapes, ``k``, ``w_star`` nonzero and finite); ``validate=False`` skips
the value checks that need a host synchronisation, for hot loops that validated once.
"""

from __future__ import annotations

import math
from typing import Any

from numerics._arrays import Array, check_positive_int, check_teacher, device_of, namespace, to_float

__all__ = ["angle", "coefficients_batch", "grad", "gradient_coefficients", "lipschitz_estimate", "loss"]

_PI = math.pi


# ----------------------------------------------------------------------------------------------------------------------
# Validation and small helpers
# ----------------------------------------------------------------------------------------------------------------------
def _prepare(w: Array, w_star: Array, validate: bool) -> tuple[Any, Array, Array]:
    xp = namespace(w, w_star)
    w = to_float(w, xp)
    w_star = to_float(w_star, xp, like=w)
    if w.ndim < 1 or w_star.ndim < 1:
        raise ValueError(
            f"w and w_star must have shape (..., d); got shapes {tuple(w.shape)} and {tuple(w_star.shape)}"
        )
    if w.shape[-1] != w_star.shape[-1]:
        raise ValueError(
            f"w and w_star must have the same last dimension d; got shapes {tuple(w.shape)} and {tuple(w_star.shape)}"
        )
    lead_w, lead_s = tuple(w.shape[:-1]), tuple(w_star.shape[:-1])
    n = max(len(lead_w), len(lead_s))
    pw, ps = (1,) * (n - len(lead_w)) + lead_w, (1,) * (n - len(lead_s)) + lead_s
    if any(a != b and a != 1 and b != 1 for a, b in zip(pw, ps, strict=True)):
        raise ValueError(
            f"the leading (batch) axes of w {tuple(w.shape)} and w_star {tuple(w_star.shape)} do not broadcast"
        )
    if validate:
        check_teacher(w_star)
        if not bool(xp.all(xp.isfinite(w))):
            raise ValueError("w must be finite (found NaN or inf)")
    return xp, w, w_star


def _pow2_below(xp: Any, m: Array) -> Array:
    """The power of two ``2^floor(log2 m)`` (1 where ``m`` is 0 or NaN): dividing by it is exact."""
    m = xp.where(m > 0, m, xp.ones_like(m))
    return xp.pow(xp.asarray(2.0, dtype=m.dtype, device=device_of(m)), xp.floor(xp.log2(m)))


def _norm(xp: Any, v: Array) -> Array:
    """``|v|`` over the last axis without overflow or underflow of ``|v|^2`` (e.g. ``|v| ~ 1e200``).

    ``v`` is scaled by the power of two at its largest entry first; the scaling is exact, so wherever the plain
    ``sqrt(sum v^2)`` neither overflows nor underflows the result is the same.
    """
    s = _pow2_below(xp, xp.max(xp.abs(v), axis=-1))
    vs = v / s[..., None]
    return s * xp.sqrt(xp.sum(vs * vs, axis=-1))


def _angle(xp: Any, w: Array, w_star: Array, nw: Array, ns: Array) -> Array:
    """Kahan's ``2 atan2(|a - b|, |a + b|)`` for unit ``a = w/|w|`` (0 if ``w = 0``), ``b = w*/|w*|``."""
    pos = nw != 0  # not `nw > 0`: a NaN norm must propagate, not pass for w = 0
    safe = xp.where(pos, nw, xp.ones_like(nw))
    a = xp.where(pos[..., None], w / safe[..., None], xp.zeros_like(w))
    b = w_star / ns[..., None]
    return 2.0 * xp.atan2(_norm(xp, a - b), _norm(xp, a + b))


# ----------------------------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------------------------
def angle(w: Array, w_star: Array, *, validate: bool = True) -> Array:
    """Angle between ``w`` and ``w*`` in ``[0, pi]``, over the last axis.

    Parameters
    ----------
    w, w_star : array, shape (..., d)
        Leading axes broadcast.
    validate : bool
        Check that ``w_star`` is finite and nonzero.

    Returns
    -------
    array, shape (...)
        The angle; ``pi/2`` where ``w = 0`` (the zero vector is orthogonal to everything: ``w . w* = 0``).

    Notes
    -----
    Computed as ``2 atan2(|a - b|, |a + b|)`` with ``a = w/|w|``, ``b = w*/|w*|`` (Kahan), which is accurate to
    rounding near 0 and pi, where ``arccos`` of the clipped cosine loses half the digits. The result always lies in
    ``[0, pi]``.
    """
    xp, w, w_star = _prepare(w, w_star, validate)
    return _angle(xp, w, w_star, _norm(xp, w), _norm(xp, w_star))


def loss(w: Array, w_star: Array, k: int, *, validate: bool = True) -> Array:
    """Population loss ``l(w) = E[(f(Z; w) - f(Z; w*))^2]``.

    Parameters
    ----------
    w, w_star : array, shape (..., d)
        Student and teacher filters; leading axes broadcast.
    k : int
        Number of patches, ``k >= 1``.
    validate : bool
        Check ``w_star`` (finite, nonzero).

    Returns
    -------
    array, shape (...)
        The loss; finite everywhere including ``w = 0``, where it equals
        ``(1/k^2) [k/2 + (k^2 - k)/(2 pi)] |w*|^2``.

    Notes
    -----
    With ``t = angle(w, w*)`` and the arc-cosine kernel ``g = |w||w*| (sin t + (pi - t) cos t) / (2 pi)``:

    ``l(w) = (1/k^2) [ (k/2)(|w|^2 + |w*|^2) - 2k g + ((k^2 - k)/(2 pi)) (|w| - |w*|)^2 ]``.

    The first two terms are the ``k`` same-patch pairs (``E[relu(u.x)^2] = |u|^2/2``), the last the ``k^2 - k``
    independent pairs (``E[relu(u.x)] = |u|/sqrt(2 pi)``).

    ``l`` is homogeneous of degree 2 in ``(w, w*)``: it is evaluated at ``(w, w*)/m`` with ``m`` the power of two
    at ``max(|w|, |w*|)`` and multiplied by ``m^2`` (exact scalings), so ``|w|^2`` never overflows: for
    ``|w| ~ 1e200`` the result is ``inf`` (the true value exceeds the float range), never NaN; where nothing
    overflows the result is that of the plain formula (except that rounding below 0, possible at ``w = w*``, is
    returned as 0: the loss is an expected square).
    """
    k = check_positive_int("k", k)
    xp, w, w_star = _prepare(w, w_star, validate)
    nw, ns = _norm(xp, w), _norm(xp, w_star)
    t = _angle(xp, w, w_star, nw, ns)
    m = _pow2_below(xp, xp.maximum(nw, ns))
    a, b = nw / m, ns / m
    g = a * b * (xp.sin(t) + (_PI - t) * xp.cos(t)) / (2.0 * _PI)
    kk = float(k * k - k)
    scaled = (0.5 * k * (a * a + b * b) - 2.0 * k * g + kk / (2.0 * _PI) * (a - b) ** 2) / float(k * k)
    scaled = xp.where(scaled < 0, xp.zeros_like(scaled), scaled)  # an expected square: < 0 only by rounding at w*
    return scaled * m * m


def gradient_coefficients(w: Array, w_star: Array, k: int, *, validate: bool = True) -> tuple[Array, Array]:
    """Coefficients ``(q, s)`` with ``grad l(w) = q w - s w*``.

    Parameters
    ----------
    w, w_star : array, shape (..., d)
    k : int
        ``k >= 1``.
    validate : bool
        Check ``w_star``.

    Returns
    -------
    q, s : arrays, shape (...)
        For ``w != 0``: ``q = A(w)/k^2`` and ``s = (pi - t)/(k pi)``, ``t = angle(w, w*)``, with
        ``A(w) = k + (k^2-k)/pi - k |w*| sin t / (pi |w|) - (k^2-k) |w*| / (pi |w|)``.
        At ``w = 0`` (where ``A`` is singular): ``q = 0`` and ``s = (k + (k^2-k)/pi)/k^2``, so that ``q w - s w*``
        equals the convention of :func:`grad` there.

    Notes
    -----
    These are the constants of the fixed-point equation ``(q + beta) w_bar = s w* + beta u_bar``
    (theory page section 5).
    """
    k = check_positive_int("k", k)
    xp, w, w_star = _prepare(w, w_star, validate)
    nw, ns = _norm(xp, w), _norm(xp, w_star)
    t = _angle(xp, w, w_star, nw, ns)
    kk = float(k * k - k)
    c0 = (k + kk / _PI) / float(k * k)
    pos = nw != 0  # not `nw > 0`: a NaN norm must propagate, not pass for w = 0
    safe = xp.where(pos, nw, xp.ones_like(nw))
    q_pos = c0 - (k * xp.sin(t) + kk) * ns / (_PI * safe) / float(k * k)
    q = xp.where(pos, q_pos, xp.zeros_like(q_pos))
    s_pos = (_PI - t) / (k * _PI)
    s = xp.where(pos, s_pos, xp.zeros_like(s_pos) + c0)
    return q, s


def grad(w: Array, w_star: Array, k: int, *, validate: bool = True) -> Array:
    """Gradient of the population loss, with a documented value at ``w = 0``.

    Parameters
    ----------
    w, w_star : array, shape (..., d)
    k : int
        ``k >= 1``.
    validate : bool
        Check ``w_star``.

    Returns
    -------
    array, shape (..., d)
        ``grad l(w)``; dtype and device of ``w``.

    Notes
    -----
    For ``w != 0``, with ``t = angle(w, w*)`` and ``e = w/|w|``:

    ``grad l(w) = (1/k^2) [ (k + (k^2-k)/pi) w - (k |w*| sin t + (k^2-k) |w*|)/pi e - k (pi - t)/pi w* ]``
    ``= (1/k^2) [ A(w) w - k (pi - t)/pi w* ]``.

    ``l`` is not differentiable at ``w = 0`` (for ``k >= 2`` it is a strict local maximum). **Convention:** at
    ``w = 0`` the function returns the one-sided limit along the teacher,
    ``lim_{eps -> 0+} grad l(eps w*) = -(1/k^2)(k + (k^2-k)/pi) w*`` (i.e. ``e := w*/|w*|`` and ``t := 0``), so that
    a gradient step from 0 moves towards ``w*``. It is finite: never a NaN.
    """
    k = check_positive_int("k", k)
    xp, w, w_star = _prepare(w, w_star, validate)
    nw, ns = _norm(xp, w), _norm(xp, w_star)
    pos = nw != 0  # not `nw > 0`: a NaN norm must propagate, not pass for w = 0
    t = xp.where(pos, _angle(xp, w, w_star, nw, ns), xp.zeros_like(nw))
    safe = xp.where(pos, nw, xp.ones_like(nw))
    e = xp.where(pos[..., None], w / safe[..., None], w_star / ns[..., None])
    kk = float(k * k - k)
    radial = (k * xp.sin(t) + kk) * ns / _PI
    return ((k + kk / _PI) * w - radial[..., None] * e - (k * (_PI - t) / _PI)[..., None] * w_star) / float(k * k)


def coefficients_batch(xp: Any, w: Array, w_star: Array, ns2: Array, k: int, ns: Array | None = None
                       ) -> tuple[Array, Array, Array]:
    """``(q, s, |w|^2)`` for 2-d ``w``, ``w_star`` of shape (B, d) with ``ns2 = |w*|^2`` of shape (B,) (no checks).

    The hot-loop form of :func:`gradient_coefficients` used by :func:`numerics.rvsm.run`: four passes over the
    (B, d) arrays (the dot product with w*, the projection, one norm; ``|w|^2 = p^2/|w*|^2 + |r|^2``), the rest on
    (B,) arrays. ``ns = sqrt(ns2)`` may be passed precomputed.

    Notes
    -----
    With ``p = w . w*`` and the component of ``w`` orthogonal to the teacher ``r = w - (p/|w*|^2) w*``,
    ``|r| = |w| sin t`` and ``t = atan2(|r| |w*|, p)``: accurate to rounding for every angle (no cancellation near
    ``t = 0`` or ``pi``, like Kahan's formula of :func:`angle`). Then ``q = c0 - (k |r|/|w| + k^2 - k) |w*| /
    (pi k^2 |w|)``, ``s = (pi - t)/(k pi)`` for ``w != 0``, and the ``w = 0`` convention ``q = 0``, ``s = c0``
    with ``c0 = (k + (k^2-k)/pi)/k^2``.
    """
    p = xp.vecdot(w, w_star)
    r = (p / ns2)[:, None] * w_star
    r -= w  # -(w - (p/|w*|^2) w*), in place: same norm, one temporary
    nr2 = xp.vecdot(r, r)
    nr = xp.sqrt(nr2)
    nw2 = p * p / ns2 + nr2  # Pythagoras: |w|^2 = (w.w*)^2/|w*|^2 + |r|^2, two terms >= 0 (no cancellation)
    ns = xp.sqrt(ns2) if ns is None else ns
    t = xp.atan2(nr * ns, p)
    kk = float(k * k - k)
    c0 = (k + kk / _PI) / float(k * k)
    pos = nw2 != 0  # a NaN norm must propagate, not pass for w = 0
    nw = xp.sqrt(xp.where(pos, nw2, xp.ones_like(nw2)))
    q = xp.where(pos, c0 - (k * nr / nw + kk) * ns / (_PI * nw) / float(k * k), xp.zeros_like(nw))
    s = xp.where(pos, (_PI - t) / (k * _PI), xp.zeros_like(t) + c0)
    return q, s, nw2


def lipschitz_estimate(w_star: Array, k: int, *, validate: bool = True) -> Array:
    """Local smoothness constant of ``l`` at the teacher: the largest Hessian eigenvalue at ``w*``.

    Parameters
    ----------
    w_star : array, shape (..., d)
    k : int
        ``k >= 1``.
    validate : bool
        Check ``w_star``.

    Returns
    -------
    array, shape (...)
        ``L = max(1/k, (k + (k^2-k)/pi)/k^2) = (k + (k^2-k)/pi)/k^2``; dtype and device of ``w_star``. It does
        not depend on ``|w*|`` (``grad l`` is jointly homogeneous of degree 1 in ``(w, w*)``, so the Hessian is of
        degree 0).

    Notes
    -----
    The Hessian at ``w*`` is ``1/k`` on the ``d - 1`` directions orthogonal to ``w*`` and ``(k + (k^2-k)/pi)/k^2``
    along ``w*``. ``grad l`` is **not** globally Lipschitz: the ``w/|w|`` terms make its derivative blow up like
    ``|w*|/|w|`` as ``w -> 0``. ``L`` is therefore an estimate valid near ``w*`` (where RVSM iterates end), and the
    step ``eta < 2/(L + beta)`` is the stable step of the linearisation there, not a global guarantee.
    """
    k = check_positive_int("k", k)
    xp = namespace(w_star)
    w_star = to_float(w_star, xp)
    if w_star.ndim < 1:
        raise ValueError(f"w_star must have shape (..., d); got shape {tuple(w_star.shape)}")
    if validate:
        check_teacher(w_star)
    value = max(1.0 / k, (k + (k * k - k) / _PI) / float(k * k))
    return xp.zeros_like(w_star[..., 0]) + value
