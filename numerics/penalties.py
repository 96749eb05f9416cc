"""Sparsity penalties l1, l0 and transformed l1 (TL1) with their proximal (thresholding) operators.

Convention (theory page section 3): ``prox_{mu P}(x) = argmin_y mu P(y) + (y - x)^2 / 2``, coordinatewise. Every penalty
here has the form ``prox(x, mu) = where(|x| > threshold(mu), shrink(x, mu), 0)``: a threshold below which the
minimizer is 0, and a nonzero branch ``shrink`` used above it. **Ties at the threshold go to 0.** A NaN input gives
NaN (every penalty; a NaN is never silently thresholded to 0), ``+-inf`` gives ``+-inf``.

``mu = 0`` is allowed and gives exactly the identity map (every threshold is 0 and every ``shrink`` is the identity at
``mu = 0``), so RVSM with ``lam = 0`` is plain gradient descent; ``mu < 0`` or a non-finite ``mu`` raises
``ValueError``.

Broadcasting rule for parameters (used throughout :mod:`numerics`): a parameter such as ``mu`` is either a scalar
(Python number or 0-d array), which applies to every entry, or an array whose shape equals the *leading* axes of the
data, ``mu.shape == x.shape[:mu.ndim]``; it is then expanded with trailing axes, so ``mu`` of shape ``(B,)`` applies
one value per row of an ``x`` of shape ``(B, d)``, and ``mu`` of shape ``x.shape`` applies entrywise. Any other shape
raises ``ValueError`` naming the parameter. (This is leading-axis alignment, the opposite of NumPy's trailing
alignment: it is what a batch of trials needs.)

The scalar mathematics lives in small pure functions (``l1_*``, ``l0_*``, ``tl1_*``) taking the array namespace
``xp`` first; the classes only bind parameters and validate inputs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import array_api_compat

from numerics._arrays import Array, check_scalar_or_array, device_of, namespace, to_float

__all__ = [
    "L0",
    "L1",
    "PENALTIES",
    "TL1",
    "Penalty",
    "expand_param",
    "get_penalty",
    "l0_threshold",
    "l1_shrink",
    "l1_threshold",
    "tl1_critical_mu",
    "tl1_derivative",
    "tl1_shrink",
    "tl1_threshold",
    "tl1_value",
]


# ----------------------------------------------------------------------------------------------------------------------
# Parameter broadcasting (leading-axis rule, see module docstring)
# ----------------------------------------------------------------------------------------------------------------------
def expand_param(name: str, value: Any, like: Array, xp: Any) -> Array:
    """``value`` as an array of the dtype and device of ``like``, expanded by the leading-axis rule.

    Parameters
    ----------
    name : str
        Parameter name for the error message.
    value : scalar or array
        Scalar, or an array with ``value.shape == like.shape[:value.ndim]``.
    like : array
        The data the parameter applies to.
    xp : namespace
        Array namespace of ``like``.

    Returns
    -------
    array
        0-d for a scalar; otherwise ``value`` reshaped to ``value.shape + (1,) * (like.ndim - value.ndim)``.
    """
    v = to_float(value, xp, like=like)
    if v.ndim == 0:
        return v
    shape = tuple(v.shape)
    if v.ndim > like.ndim or tuple(like.shape[: v.ndim]) != shape:
        raise ValueError(
            f"{name} must be a scalar or an array whose shape equals the leading axes of the data "
            f"{tuple(like.shape)}; got shape {shape}"
        )
    return xp.reshape(v, shape + (1,) * (like.ndim - v.ndim))


def _check_mu(mu: Any) -> None:
    check_scalar_or_array("mu", mu, low=0.0, low_inclusive=True, allowed="mu >= 0 (finite)")


def _as_float_array(x: Any) -> tuple[Any, Array]:
    xp = namespace(x)
    return xp, to_float(x, xp)


# ----------------------------------------------------------------------------------------------------------------------
# Scalar mathematics (pure functions, elementwise, namespace first)
# ----------------------------------------------------------------------------------------------------------------------
def l1_threshold(xp: Any, mu: Array) -> Array:
    """Soft-thresholding threshold ``mu``."""
    return mu + xp.zeros_like(mu)


def l1_shrink(xp: Any, x: Array, mu: Array) -> Array:
    """Nonzero branch of the l1 prox: ``sign(x) (|x| - mu)`` (valid for ``|x| > mu``)."""
    return xp.sign(x) * (xp.abs(x) - mu)


def l0_threshold(xp: Any, mu: Array) -> Array:
    """Hard-thresholding threshold ``sqrt(2 mu)``: ``mu`` (cost of a nonzero) equals ``x^2/2`` (cost of zero)."""
    return xp.sqrt(2.0 * mu)


def tl1_value(xp: Any, x: Array, a: float) -> Array:
    """Transformed l1 ``rho_a(x) = (a + 1)|x| / (a + |x|)``."""
    ax = xp.abs(x)
    return (a + 1.0) * ax / (a + ax)


def tl1_derivative(xp: Any, x: Array, a: float) -> Array:
    """``rho_a'(|x|) sign(x) = sign(x) a (a + 1) / (a + |x|)^2`` (0 at ``x = 0``)."""
    return xp.sign(x) * (a * (a + 1.0)) / (a + xp.abs(x)) ** 2


def tl1_critical_mu(a: float) -> float:
    """``mu_c = a^2 / (2 (a + 1))``: the prox is continuous for ``mu <= mu_c`` and jumps at its threshold above."""
    return a * a / (2.0 * (a + 1.0))


def tl1_threshold(xp: Any, mu: Array, a: float) -> Array:
    """TL1 prox threshold: ``mu (a+1)/a`` if ``mu <= a^2/(2(a+1))``, else ``sqrt(2 mu (a+1)) - a/2``."""
    sub = mu * ((a + 1.0) / a)
    sup = xp.sqrt(2.0 * mu * (a + 1.0)) - a / 2.0
    return xp.where(mu <= tl1_critical_mu(a), sub, sup)


def tl1_shrink(xp: Any, x: Array, mu: Array, a: float) -> Array:
    """Nonzero branch of the TL1 prox (Zhang & Xin 2017), valid for ``|x| > tl1_threshold(mu, a)``.

    The root ``sign(x) [(2/3)(a + |x|) cos(phi/3) - 2a/3 + |x|/3]``, ``phi = arccos(1 - 27 mu a (a+1) /
    (2 (a + |x|)^3))``, evaluated in the cancellation-free form (derived and proved equal in
    :mod:`theory.thresholding`, ``tl1_shrink_stable_expr``)::

        sign(x) [|x| - d0 psi(u)],   d0 = mu a (a+1) / (a + |x|)^2 = mu rho_a'(|x|),
        u = sin(phi/2) = sqrt(27 d0 / (4 (a + |x|))),   psi(u) = 9 (sin(arcsin(u)/3) / u)^2  in [1, 9/4],

    the magnitude clamped at 0. ``1 - cos(phi) = 2 sin^2(phi/2)`` and ``1 - cos(phi/3) = 2 sin^2(phi/6)`` turn the
    difference of two terms of size ``a + |x|`` (absolute error ``~ (a + |x|) eps``: 9 % relative in float32 for
    ``TL1(50)`` at 19 times the threshold) into the shrinkage ``d0 psi(u)`` itself, computed as a product of
    positive factors to a few ulp; the only subtraction left, ``|x| - shrinkage``, is the intrinsic one (its
    relative error is bounded by a few ulp times the condition number of the prox, see
    ``tests/test_numerics_tl1_accuracy.py``). The factors are scaled so that nothing overflows or underflows before
    the result does: ``d0`` from the ratios ``a/(a+|x|)``, ``(a+1)/(a+|x|)``, and ``u`` from two square roots.
    ``u`` is clipped at 1: above the threshold it is <= 1 already (up to rounding); below it, where ``prox``
    discards the branch, the clip only prevents NaN and floating-point warnings. Where ``u = 0`` (``d0 = 0``:
    ``mu = 0``, an underflow, or ``|x| = inf``) the shrinkage is 0. NaN propagates.
    """
    ax = xp.abs(x)
    z = a + ax
    d0 = mu * (a / z) * ((a + 1.0) / z)  # mu rho_a'(|x|): the first-order shrinkage
    u = xp.minimum(xp.sqrt(6.75 * d0) / xp.sqrt(z), 1.0)  # sin(phi/2), phi/2 in [0, pi/2]
    # sin(phi/6)/sin(phi/2), in [1/3, 1/2]; at u = 0 (then d0 = 0: mu = 0, an underflow, |x| = inf) it is 0/1 and
    # the shrinkage is 0 either way
    ratio = xp.sin(xp.asin(u) / 3.0) / xp.where(u > 0, u, xp.ones_like(u))
    mag = ax - (9.0 * d0) * (ratio * ratio)
    # The minimizer has the sign of x (P is even and nondecreasing in |y|); just above a continuous threshold the
    # root is ~0 and rounding may give a -1e-17: clamp the magnitude at 0. At mu = 0 the formula is the identity;
    # return x exactly anyway (RVSM with lam = 0 is exactly gradient descent, whatever the rounding).
    return xp.where(mu == 0, x, xp.sign(x) * xp.maximum(mag, xp.zeros_like(mag)))


# ----------------------------------------------------------------------------------------------------------------------
# The penalty contract
# ----------------------------------------------------------------------------------------------------------------------
class Penalty(ABC):
    """Base contract of a separable penalty ``P`` with its thresholding operator.

    Subclasses implement the pure pieces ``_value``, ``_derivative``, ``_threshold`` and ``_shrink`` (arrays in,
    arrays out, namespace given); the public methods validate, convert and broadcast, then call them.

    Notes
    -----
    ``prox(x, mu) = argmin_y mu P(y) + (y - x)^2 / 2 = where(|x| > threshold(mu), shrink(x, mu), 0)``.
    """

    name: str = ""

    # -- pure pieces ------------------------------------------------------------------------------------------------
    @abstractmethod
    def _value(self, xp: Any, x: Array) -> Array: ...

    @abstractmethod
    def _derivative(self, xp: Any, x: Array) -> Array: ...

    @abstractmethod
    def _threshold(self, xp: Any, mu: Array) -> Array: ...

    @abstractmethod
    def _shrink(self, xp: Any, x: Array, mu: Array) -> Array: ...

    # -- public API -------------------------------------------------------------------------------------------------
    def value(self, x: Array) -> Array:
        """Elementwise penalty ``P(x)`` (same shape, dtype and device as ``x``; integers promoted to float64)."""
        xp, x = _as_float_array(x)
        return self._value(xp, x)

    def derivative(self, x: Array) -> Array:
        """Elementwise ``rho'(|x|) sign(x)`` away from 0 (0 at ``x = 0``).

        This is the term of the kept-branch stationarity equation ``u + mu * derivative(u) = target`` (used by
        :mod:`numerics.limits`); l1 gives ``sign(x)``, l0 gives 0, TL1 gives ``sign(x) a (a+1)/(a+|x|)^2``.
        """
        xp, x = _as_float_array(x)
        return self._derivative(xp, x)

    def threshold(self, mu: Any, *, validate: bool = True) -> Array:
        """Threshold of ``prox(., mu)``: ``prox(x, mu) = 0`` iff ``|x| <= threshold(mu)``.

        ``mu`` is a scalar or array (``mu >= 0``); the result has its shape, dtype and device (NumPy float64 for a
        Python scalar).
        """
        if validate:
            _check_mu(mu)
        xp, m = _as_float_array(mu)
        return self._threshold(xp, m)

    def shrink(self, x: Array, mu: Any, *, validate: bool = True) -> Array:
        """Nonzero branch of the prox; meaningful only where ``|x| > threshold(mu)``. ``mu`` broadcasts by the
        leading-axis rule."""
        if validate:
            _check_mu(mu)
        xp, x = _as_float_array(x)
        m = expand_param("mu", mu, x, xp)
        return self._shrink(xp, x, m)

    def prox(self, x: Array, mu: Any, *, validate: bool = True) -> Array:
        """Proximal operator ``argmin_y mu P(y) + (y - x)^2 / 2``, elementwise; ties at the threshold go to 0.

        Parameters
        ----------
        x : array, shape (..., d) or any shape
            Input; its dtype (floating) and device are kept.
        mu : float or array
            ``mu >= 0``; scalar, or an array over the leading axes of ``x`` (module docstring). ``mu = 0`` gives the
            identity.
        validate : bool
            Check ``mu`` (a host synchronisation for device arrays); a hot loop that validated once may pass False.

        Returns
        -------
        array
            Same shape, dtype and device as ``x``.

        Notes
        -----
        ``prox(x, mu) = where(|x| > threshold(mu), shrink(x, mu), 0)``.
        """
        if validate:
            _check_mu(mu)
        xp, x = _as_float_array(x)
        m = expand_param("mu", mu, x, xp)
        return self.prox_kernel(xp, x, m)

    def prox_kernel(self, xp: Any, x: Array, mu: Array) -> Array:
        """:meth:`prox` without validation or conversion, for a hot loop that validated once.

        ``x`` is a floating array of the namespace ``xp``; ``mu`` a 0-d array or already expanded by the leading-axis
        rule (e.g. shape (B, 1) for ``x`` of shape (B, d)). Computes ``where(|x| > threshold(mu), shrink(x, mu), 0)``
        (subclasses may override with an equal, cheaper form). The test is written ``not |x| <= threshold`` so that
        a NaN entry takes the ``shrink`` branch and stays NaN (as in the l1 and l0 kernels), never a silent 0.
        """
        keep = xp.logical_not(xp.abs(x) <= self._threshold(xp, mu))  # NaN -> kept -> NaN
        return xp.where(keep, self._shrink(xp, x, mu), xp.zeros_like(x))

    def _prox_compact(self, xp: Any, x: Array, mu: Array) -> Array:
        """:meth:`prox_kernel` with ``shrink`` evaluated on the entries above the threshold only.

        For a costly ``shrink`` (TL1: an arcsine and a sine per entry) on mostly thresholded data. Array-API code
        without mask assignment: the kept entries are gathered (``nonzero``, ``take``), shrunk, and scattered back by
        a gather from ``[0, shrunk...]`` with index ``cumsum(keep) * keep``. Elementwise, so each entry equals the
        dense form's (NaN included). The output shape depends on the data (``nonzero``), which forces a device
        synchronisation: use it on the CPU.
        """
        shape = tuple(x.shape)
        xf = xp.reshape(x, (-1,))
        keep = xp.reshape(xp.logical_not(xp.abs(x) <= self._threshold(xp, mu)), (-1,))  # NaN kept, as dense
        idx = xp.nonzero(keep)[0]
        mk = mu if mu.ndim == 0 else xp.take(xp.reshape(xp.broadcast_to(mu, shape), (-1,)), idx)
        vals = self._shrink(xp, xp.take(xf, idx), mk)
        src = xp.concat([xp.zeros((1,), dtype=x.dtype, device=device_of(x)), vals])
        itype = xp.int32 if int(xf.shape[0]) < 2**31 - 1 else xp.int64  # half the index traffic when it fits
        kf = xp.astype(keep, itype)
        pos = xp.cumulative_sum(kf, dtype=itype)
        pos *= kf  # 1-based position of a kept entry in vals, 0 (-> src[0] = 0) elsewhere
        return xp.reshape(xp.take(src, pos), shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class L1(Penalty):
    """l1 penalty ``P(y) = |y|``; its prox is soft thresholding.

    Notes
    -----
    ``threshold(mu) = mu``, ``shrink(x, mu) = sign(x)(|x| - mu)``, so ``prox(x, mu) = sign(x) max(|x| - mu, 0)``.
    """

    name = "l1"

    def _value(self, xp: Any, x: Array) -> Array:
        return xp.abs(x)

    def _derivative(self, xp: Any, x: Array) -> Array:
        return xp.sign(x)

    def _threshold(self, xp: Any, mu: Array) -> Array:
        return l1_threshold(xp, mu)

    def _shrink(self, xp: Any, x: Array, mu: Array) -> Array:
        return l1_shrink(xp, x, mu)

    def prox_kernel(self, xp: Any, x: Array, mu: Array) -> Array:
        # x - clip(x, -mu, mu) equals where(|x| > mu, sign(x)(|x| - mu), 0) exactly (x -/+ mu either way; x - x = 0
        # on the tie and below), in two passes instead of seven; NaN stays NaN.
        if type(self)._threshold is not L1._threshold or type(self)._shrink is not L1._shrink:
            return super().prox_kernel(xp, x, mu)
        return x - xp.clip(x, -mu, mu)


class L0(Penalty):
    """l0 penalty ``P(y) = 1{y != 0}``; its prox is hard thresholding.

    Notes
    -----
    ``threshold(mu) = sqrt(2 mu)`` (not ``mu``: that is another convention), ``shrink(x, mu) = x``.
    """

    name = "l0"

    def _value(self, xp: Any, x: Array) -> Array:
        return xp.astype(x != 0, x.dtype)

    def _derivative(self, xp: Any, x: Array) -> Array:
        return xp.zeros_like(x)

    def _threshold(self, xp: Any, mu: Array) -> Array:
        return l0_threshold(xp, mu)

    def _shrink(self, xp: Any, x: Array, mu: Array) -> Array:
        return x + xp.zeros_like(mu)

    def prox_kernel(self, xp: Any, x: Array, mu: Array) -> Array:
        # x * 1{|x| > threshold}: the same values as the where() (ties to 0; -0.0 below the threshold for x < 0;
        # |x| = inf is always kept, so no inf * 0), without where()'s per-entry branch.
        if type(self)._shrink is not L0._shrink:
            return super().prox_kernel(xp, x, mu)
        return x * xp.astype(xp.abs(x) > self._threshold(xp, mu), x.dtype)


class TL1(Penalty):
    """Transformed l1 penalty ``rho_a(y) = (a + 1)|y| / (a + |y|)``, ``a > 0`` (Zhang & Xin 2017).

    Tends to l0 as ``a -> 0+`` and to l1 as ``a -> inf``.

    Notes
    -----
    With ``mu_c = a^2 / (2(a+1))``:
    ``threshold(mu) = mu (a+1)/a`` if ``mu <= mu_c`` (continuous prox), else ``sqrt(2 mu (a+1)) - a/2`` (the prox
    jumps there). Above the threshold the prox is the root of ``y - x + mu sign(y) a(a+1)/(a+|y|)^2 = 0``:
    ``sign(x) [(2/3)(a+|x|) cos(phi/3) - 2a/3 + |x|/3]``, ``phi = arccos(1 - 27 mu a(a+1) / (2 (a+|x|)^3))``,
    evaluated without cancellation as ``sign(x) [|x| - mu rho_a'(|x|) psi(sin(phi/2))]`` (:func:`tl1_shrink`).
    """

    name = "tl1"

    def __init__(self, a: float) -> None:
        check_scalar_or_array("a", a, low=0.0, low_inclusive=False, allowed="a > 0 (finite)")
        if not isinstance(a, (int, float)):
            raise ValueError(f"a must be a Python real number (a > 0); got {type(a).__name__}")
        self.a = float(a)

    def _value(self, xp: Any, x: Array) -> Array:
        return tl1_value(xp, x, self.a)

    def _derivative(self, xp: Any, x: Array) -> Array:
        return tl1_derivative(xp, x, self.a)

    def _threshold(self, xp: Any, mu: Array) -> Array:
        return tl1_threshold(xp, mu, self.a)

    def _shrink(self, xp: Any, x: Array, mu: Array) -> Array:
        return tl1_shrink(xp, x, mu, self.a)

    def prox_kernel(self, xp: Any, x: Array, mu: Array) -> Array:
        # On the CPU (NumPy, torch) arcsin and sin cost far more than a pass over the data (NumPy's float64 ones are
        # scalar: ~40 passes): evaluate the branch only above the threshold. Device arrays keep the dense form (no
        # synchronisation), and so does array_api_strict (which keeps the dense form tested).
        cpu = array_api_compat.is_numpy_namespace(xp) or (
            array_api_compat.is_torch_namespace(xp) and getattr(device_of(x), "type", None) == "cpu")
        if cpu and x.ndim > 0:
            return self._prox_compact(xp, x, mu)
        return super().prox_kernel(xp, x, mu)

    def __repr__(self) -> str:
        return f"TL1(a={self.a!r})"


# ----------------------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------------------
PENALTIES: dict[str, type[Penalty]] = {"l1": L1, "l0": L0, "tl1": TL1}


def get_penalty(name: str, **params: Any) -> Penalty:
    """Build a penalty by name: ``"l1"``, ``"l0"`` or ``"tl1"`` (which needs ``a > 0``).

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), a missing or unexpected parameter, or ``a <= 0``.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in PENALTIES:
        raise ValueError(f"penalty: unknown name {name!r}; known penalties: {', '.join(sorted(PENALTIES))}")
    cls = PENALTIES[key]
    if cls is TL1:
        if "a" not in params:
            raise ValueError("penalty 'tl1' needs the parameter a (a > 0)")
        extra = set(params) - {"a"}
        if extra:
            raise ValueError(f"penalty 'tl1' takes only the parameter a; got also {sorted(extra)}")
        return TL1(params["a"])
    if params:
        raise ValueError(f"penalty {key!r} takes no parameters; got {sorted(params)}")
    return cls()

