"""Initial points for RVSM: uniform on the sphere, or at a prescribed angle to the teacher ``w*``.

Randomness always comes from a seeded ``numpy.random.Generator`` (``numpy.random.default_rng(seed)``), drawn in
float64 on the host and then converted to the requested backend, dtype and device: the same seed gives the same
points on every backend (up to the final rounding to the dtype).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from numerics._arrays import (
    Array,
    check_positive_int,
    check_scalar_or_array,
    check_teacher,
    device_of,
    make_rng,
    namespace,
    to_float,
)
from numerics.penalties import expand_param

__all__ = ["at_angle", "uniform_sphere"]

# pi as rounded to float32 (3.14159274 > math.pi) is accepted as an angle: it is pi to the precision of its dtype
_PI_HIGH = math.nextafter(float(np.float32(math.pi)), math.inf)


def _rng(seed: Any) -> np.random.Generator:
    return make_rng(seed)


def _to_backend(arr: np.ndarray, xp: Any, device: Any, dtype: Any) -> Array:
    if dtype is None:
        dtype = xp.float64
    if device is None:
        return xp.asarray(arr, dtype=dtype)
    return xp.asarray(arr, dtype=dtype, device=device)


def _check_floating_dtype(xp: Any, dtype: Any) -> None:
    """Raise ``ValueError`` unless ``dtype`` (when given) is a real floating dtype of ``xp``.

    Unit vectors rounded to an integer dtype are zeros (and to a bool dtype, ones): never a direction.
    """
    if dtype is None:
        return
    try:
        probe = xp.empty(0, dtype=dtype)  # what the namespace makes of it (NumPy also takes "float32")
    except Exception:  # not a dtype of this namespace at all
        probe = None
    if probe is None or not namespace(probe).isdtype(probe.dtype, "real floating"):
        raise ValueError(f"dtype must be a real floating dtype (directions on the unit sphere need one, e.g. "
                         f"float64 or float32); got {dtype!r}")


def _reject(xp: Any, v: Array, e: Array) -> Array:
    return v - xp.sum(v * e, axis=-1)[..., None] * e


def _orthogonal_direction(xp: Any, g: Array, e: Array) -> Array:
    """Unit vector orthogonal to the unit vector ``e`` (last axis): the normalised rejection of ``g`` from ``e``.

    The rejection is done twice ("twice is enough", Kahan/Parlett), so it is orthogonal to rounding even when ``g`` is
    nearly parallel to ``e``. If ``g`` is parallel to ``e`` to 1e-8 (e.g. a teacher drawn with the same seed), the
    coordinate axis least aligned with ``e`` is used instead.
    """
    v = _reject(xp, _reject(xp, g, e), e)
    nv = xp.sqrt(xp.sum(v * v, axis=-1))
    ng = xp.sqrt(xp.sum(g * g, axis=-1))
    d = e.shape[-1]
    idx = xp.argmin(xp.abs(e), axis=-1)
    axes = xp.arange(d, device=device_of(e))
    onehot = xp.astype(axes == idx[..., None], e.dtype)
    f = _reject(xp, _reject(xp, onehot, e), e)
    nf = xp.sqrt(xp.sum(f * f, axis=-1))
    ok = nv > 1e-8 * ng
    safe_nv = xp.where(ok, nv, xp.ones_like(nv))
    return xp.where(ok[..., None], v / safe_nv[..., None], f / nf[..., None])


def uniform_sphere(
    n: int, d: int, *, seed: int, xp: Any = None, device: Any = None, dtype: Any = None
) -> Array:
    """``n`` points drawn independently and uniformly from the unit sphere ``S^{d-1}``.

    Parameters
    ----------
    n : int
        Number of points, ``n >= 1``.
    d : int
        Dimension, ``d >= 1``.
    seed : int
        Seed of the NumPy generator, ``seed >= 0``.
    xp : namespace, optional
        Target array namespace (default NumPy); e.g. ``torch`` or ``array_api_strict``.
    device : optional
        Target device (default: the namespace's default).
    dtype : optional
        Real floating dtype of ``xp`` (default ``xp.float64``).

    Returns
    -------
    array, shape (n, d)
        Unit vectors (to the rounding of ``dtype``).

    Raises
    ------
    ValueError
        If ``n`` or ``d`` is not an integer ``>= 1``, or ``dtype`` is not a real floating dtype of ``xp`` (an
        integer dtype would round every direction to zeros).

    Notes
    -----
    ``g ~ N(0, I_d)`` is rotation invariant, so ``g / |g|`` is uniform on ``S^{d-1}``. (``g = 0`` has probability 0.)
    """
    n = check_positive_int("n", n)
    d = check_positive_int("d", d)
    if xp is None:
        xp = namespace()
    _check_floating_dtype(xp, dtype)
    rng = _rng(seed)
    g = rng.standard_normal((n, d))
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    return _to_backend(g, xp, device, dtype)


def at_angle(w_star: Array, angle: Any, *, seed: int, norm: Any = None) -> Array:
    """Random points at an exact angle to ``w*``: ``|w| cos(angle) e + |w| sin(angle) v``.

    Parameters
    ----------
    w_star : array, shape (d,) or (..., d)
        Teacher(s), nonzero and finite.
    angle : float or array, shape matching the leading axes of ``w_star``
        Angle in ``[0, pi]`` (pi rounded up to float32 is accepted); an array of shape ``w_star.shape[:-1]`` gives
        one angle per teacher (leading-axis rule of :mod:`numerics.penalties`). For ``d = 1`` only ``0`` and ``pi``
        are possible.
    seed : int
        Seed of the NumPy generator for the random orthogonal direction, ``seed >= 0``.
    norm : float or array, optional
        Norm of the returned points, ``> 0``; default ``|w*|``.

    Returns
    -------
    array, same shape as ``w_star``
        Points with ``angle(w, w*) = angle``; dtype and device of ``w_star``.

    Notes
    -----
    ``e = w*/|w*|``; ``v`` is the normalised component of a standard Gaussian vector orthogonal to ``e``, i.e. a
    direction uniform on the unit sphere of ``e``'s orthogonal complement (a fixed coordinate direction if the
    Gaussian vector happens to be parallel to ``e``, which only a teacher drawn from the same seed makes likely).
    """
    xp = namespace(w_star)
    w_star = to_float(w_star, xp)
    check_teacher(w_star)
    check_scalar_or_array("angle", angle, low=0.0, low_inclusive=True, high=_PI_HIGH, allowed="0 <= angle <= pi")
    if norm is not None:
        check_scalar_or_array("norm", norm, low=0.0, low_inclusive=False, allowed="norm > 0 (finite)")
    lead = w_star[..., 0]
    theta = expand_param("angle", angle, lead, xp)
    theta = xp.zeros_like(lead) + theta
    d = w_star.shape[-1]
    ns = xp.sqrt(xp.sum(w_star * w_star, axis=-1))
    e = w_star / ns[..., None]
    rng = _rng(seed)
    g = xp.asarray(rng.standard_normal(tuple(w_star.shape)), dtype=w_star.dtype, device=device_of(w_star))
    if d == 1:  # no direction orthogonal to w*: only 0 and pi (cos = +-1 exactly) are reachable
        is_pi = xp.abs(theta - math.pi) <= 4.0 * xp.finfo(theta.dtype).eps
        if not bool(xp.all((theta == 0.0) | is_pi)):
            raise ValueError("angle must be 0 or pi when d = 1 (there is no direction orthogonal to w_star)")
        cos_t = xp.where(is_pi, -xp.ones_like(theta), xp.ones_like(theta))
        sin_t, v = xp.zeros_like(theta), xp.zeros_like(w_star)
    else:
        cos_t, sin_t = xp.cos(theta), xp.sin(theta)
        v = _orthogonal_direction(xp, g, e)
    r = ns if norm is None else xp.zeros_like(ns) + expand_param("norm", norm, lead, xp)
    return r[..., None] * (cos_t[..., None] * e + sin_t[..., None] * v)
