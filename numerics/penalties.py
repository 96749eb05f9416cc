"""Sparsity penalties (l1, l0, transformed l1, MCP, SCAD, l_{1/2}, log-sum) with their thresholding operators.

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

The scalar mathematics lives in small pure functions (``l1_*``, ``l0_*``, ``tl1_*``, ``mcp_*``, ``scad_*``,
``l_half_*``, ``log_sum_*``) taking the array namespace ``xp`` first; the classes only bind parameters and validate
inputs. Every penalty enters RVSM as ``lam * sum_i P(u_i)`` with a ``P`` that does not depend on ``lam`` (for MCP and
SCAD this is the unit-weight member of the usual family: see their docstrings, since libraries disagree).

Threshold of any penalty here (derived in :mod:`theory.penalty_machinery`): the prox keeps ``x`` iff some ``y > 0``
has ``mu P(y) + y^2/2 - x y < 0``, i.e. ``threshold(mu) = inf_{y > 0} T(y)``, ``T(y) = mu P(y)/y + y/2``. The map is
continuous where the infimum is the limit ``y -> 0+`` (``= mu P'(0+)``) and jumps by the minimizing ``y`` otherwise.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import array_api_compat

from numerics._arrays import Array, check_scalar_or_array, device_of, namespace, to_float

__all__ = [
    "L0",
    "L1",
    "MCP",
    "PENALTIES",
    "SCAD",
    "TL1",
    "LHalf",
    "LogSum",
    "ParamSpec",
    "Penalty",
    "expand_param",
    "get_penalty",
    "l0_threshold",
    "l1_shrink",
    "l1_threshold",
    "l_half_derivative",
    "l_half_shrink",
    "l_half_threshold",
    "l_half_value",
    "log_sum_derivative",
    "log_sum_shrink",
    "log_sum_threshold",
    "log_sum_value",
    "mcp_derivative",
    "mcp_shrink",
    "mcp_threshold",
    "mcp_value",
    "scad_derivative",
    "scad_shrink",
    "scad_threshold",
    "scad_value",
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


# MCP (minimax concave penalty), unit weight: P(y) = int_0^|y| (1 - t/gamma)_+ dt
def mcp_value(xp: Any, x: Array, gamma: float) -> Array:
    """MCP of unit weight: ``|x| - x^2/(2 gamma)`` for ``|x| <= gamma``, ``gamma/2`` beyond."""
    ax = xp.abs(x)
    return xp.where(ax <= gamma, ax - ax * ax / (2.0 * gamma), xp.zeros_like(ax) + gamma / 2.0)


def mcp_derivative(xp: Any, x: Array, gamma: float) -> Array:
    """``sign(x) max(1 - |x|/gamma, 0)`` (0 at ``x = 0``)."""
    return xp.sign(x) * xp.maximum(1.0 - xp.abs(x) / gamma, xp.zeros_like(x))


def mcp_threshold(xp: Any, mu: Array, gamma: float) -> Array:
    """MCP prox threshold: ``mu`` if ``mu < gamma`` (firm thresholding, continuous), else ``sqrt(mu gamma)`` (the
    objective is concave on ``[0, gamma]``: hard thresholding onto the flat part, a jump)."""
    return xp.where(mu < gamma, mu, xp.sqrt(mu * gamma))


def mcp_shrink(xp: Any, x: Array, mu: Array, gamma: float) -> Array:
    """Nonzero branch of the MCP prox: ``sign(x) gamma (|x| - mu)/(gamma - mu)`` for ``|x| <= gamma`` when
    ``mu < gamma`` (firm thresholding), ``x`` otherwise; magnitude clamped at 0."""
    ax = xp.abs(x)
    sub = mu < gamma
    den = xp.where(sub, gamma - mu, xp.ones_like(mu))
    firm = gamma * (ax - mu) / den
    mag = xp.where(sub & (ax <= gamma), xp.maximum(firm, xp.zeros_like(firm)), ax)
    return xp.where(mu == 0, x, xp.sign(x) * mag)


# SCAD, unit weight: P'(y) = 1 on (0, 1], (a - y)/(a - 1) on (1, a], 0 beyond
def scad_value(xp: Any, x: Array, a: float) -> Array:
    """SCAD of unit weight: ``|x|`` for ``|x| <= 1``, ``(2 a |x| - x^2 - 1)/(2(a-1))`` up to ``a``, ``(a+1)/2``."""
    ax = xp.abs(x)
    mid = (2.0 * a * ax - ax * ax - 1.0) / (2.0 * (a - 1.0))
    return xp.where(ax <= 1.0, ax, xp.where(ax <= a, mid, xp.zeros_like(ax) + (a + 1.0) / 2.0))


def scad_derivative(xp: Any, x: Array, a: float) -> Array:
    """``sign(x) min(1, max(a - |x|, 0)/(a - 1))`` (0 at ``x = 0``)."""
    ax = xp.abs(x)
    return xp.sign(x) * xp.minimum(xp.maximum(a - ax, xp.zeros_like(ax)) / (a - 1.0), xp.ones_like(ax))


def scad_threshold(xp: Any, mu: Array, a: float) -> Array:
    """SCAD prox threshold: ``mu`` for ``mu <= a + 1`` (the soft branch leaves 0 continuously), else
    ``sqrt(mu (a+1))`` (a jump onto the flat part)."""
    return xp.where(mu <= a + 1.0, mu, xp.sqrt(mu * (a + 1.0)))


def scad_shrink(xp: Any, x: Array, mu: Array, a: float) -> Array:
    """Nonzero branch of the SCAD prox: the global minimizer among the stationary points with ``y > 0``.

    Soft ``|x| - mu`` (valid in ``(0, 1]``), middle ``((a-1)|x| - a mu)/(a - 1 - mu)`` (valid in ``(1, a]``, a local
    minimum only for ``mu < a - 1``), flat ``|x|`` (valid above ``a``). For ``mu < a - 1`` the prox objective is convex
    and exactly one is valid. For ``mu >= a - 1`` the soft and flat ones can both be valid; the flat one wins iff
    ``|x| > (a + 1 + mu)/2`` (a second jump of the map, inside the kept region, for ``a - 1 < mu < a + 1``; a tie
    goes to the smaller magnitude, like the tie at the threshold).
    """
    ax = xp.abs(x)
    soft = ax - mu
    ok_soft = (soft > 0) & (soft <= 1.0)
    convex = mu < a - 1.0
    den = xp.where(convex, a - 1.0 - mu, xp.ones_like(mu))
    mid = ((a - 1.0) * ax - a * mu) / den
    ok_flat = ax > a
    flat_wins = ok_flat & (xp.logical_not(ok_soft) | (ax > (a + 1.0 + mu) / 2.0))
    mag = xp.where(flat_wins, ax, xp.where(ok_soft | xp.logical_not(convex), soft, mid))
    mag = xp.maximum(mag, xp.zeros_like(mag))
    return xp.where(mu == 0, x, xp.sign(x) * mag)


# l_{1/2}: P(y) = |y|^(1/2)
def l_half_value(xp: Any, x: Array) -> Array:
    """``P(x) = |x|^(1/2)``."""
    return xp.sqrt(xp.abs(x))


def l_half_derivative(xp: Any, x: Array) -> Array:
    """``sign(x) / (2 sqrt|x|)`` away from 0, 0 at ``x = 0``."""
    ax = xp.abs(x)
    return xp.where(ax > 0, xp.sign(x) / (2.0 * xp.sqrt(xp.where(ax > 0, ax, xp.ones_like(ax)))), xp.zeros_like(x))


def l_half_threshold(xp: Any, mu: Array) -> Array:
    """Half-thresholding threshold ``(3/2) mu^(2/3)`` (the map always jumps, by ``mu^(2/3)``)."""
    return 1.5 * xp.pow(mu, 2.0 / 3.0)


def l_half_shrink(xp: Any, x: Array, mu: Array) -> Array:
    """Nonzero branch of the l_{1/2} prox (half thresholding, Xu et al. 2012, in this prox convention):
    ``sign(x) (2|x|/3) (1 + cos(2 pi/3 - (2/3) arccos((mu/4) (3/|x|)^(3/2))))``, the largest root of
    ``y + mu / (2 sqrt y) = |x|`` (with ``v = sqrt y``: ``v^3 - |x| v + mu/2 = 0``). The arccos argument is clipped to
    ``[0, 1]`` (below ``|x| = 3 (mu/4)^(2/3)`` no positive root exists; the prox discards that range)."""
    ax = xp.abs(x)
    # |x| raised to 3 (mu/4)^(2/3), where the argument reaches 1: no overflow below it (the prox discards that range)
    safe = xp.maximum(ax, 3.0 * xp.pow(mu / 4.0, 2.0 / 3.0))
    safe = xp.where(safe > 0, safe, xp.ones_like(safe))
    arg = xp.minimum((mu / 4.0) * xp.pow(3.0 / safe, 1.5), xp.ones_like(ax))
    mag = (2.0 * ax / 3.0) * (1.0 + xp.cos(2.0 * math.pi / 3.0 - (2.0 / 3.0) * xp.acos(arg)))
    return xp.where(mu == 0, x, xp.sign(x) * mag)


# log-sum: P(y) = log(1 + |y|/eps)
def log_sum_value(xp: Any, x: Array, eps: float) -> Array:
    """``P(x) = log(1 + |x|/eps)``."""
    return xp.log1p(xp.abs(x) / eps)


def log_sum_derivative(xp: Any, x: Array, eps: float) -> Array:
    """``sign(x) / (eps + |x|)`` (0 at ``x = 0``)."""
    return xp.sign(x) / (eps + xp.abs(x))


_LOG_SUM_BISECTIONS = 200


def log_sum_threshold(xp: Any, mu: Array, eps: float) -> Array:
    """Log-sum prox threshold: ``mu/eps`` for ``mu <= eps^2`` (continuous map), else ``T(y*)``,
    ``T(y) = mu log(1 + y/eps)/y + y/2``, with the jump ``y* = eps z*`` the positive root of
    ``log(1+z) - z/(1+z) = (eps^2/(2 mu)) z^2`` (no closed form: bisection on its bracket ``(0, 2 mu/eps^2]``,
    where the left side minus the right is positive below the root and negative above; unique because
    ``(log(1+z) - z/(1+z))/z^2`` decreases from 1/2, :mod:`theory.penalty_machinery`)."""
    c = (eps * eps) / (2.0 * xp.where(mu > 0, mu, xp.ones_like(mu)))
    try:  # under jax.jit mu is abstract and cannot be tested here (TypeError); eager calls are checked
        underflow = bool(xp.any(xp.logical_and(mu > eps * eps, c == 0)))
    except TypeError:
        underflow = False
    if underflow:
        # eps^2 / (2 mu) underflows: the bracket (0, 1/c] is infinite and the bisection would return NaN, which
        # the prox would read as "keep every entry"
        raise ValueError(f"log-sum: eps^2 / (2 mu) underflows to 0 for eps = {eps!r} (mu up to "
                         f"{float(xp.max(mu))!r}); use a larger eps")
    hi = 1.0 / c
    lo = xp.zeros_like(hi)
    for _ in range(_LOG_SUM_BISECTIONS):
        mid = 0.5 * (lo + hi)
        pos = xp.log1p(mid) - mid / (1.0 + mid) - c * mid * mid > 0
        lo, hi = xp.where(pos, mid, lo), xp.where(pos, hi, mid)
    z = 0.5 * (lo + hi)
    zs = xp.where(z > 0, z, xp.ones_like(z))
    sup = mu * xp.log1p(zs) / (eps * zs) + eps * zs / 2.0
    return xp.where(mu <= eps * eps, mu / eps, xp.minimum(sup, mu / eps))


def log_sum_shrink(xp: Any, x: Array, mu: Array, eps: float) -> Array:
    """Nonzero branch of the log-sum prox: the larger root of ``y + mu/(eps + y) = |x|``,
    ``y = ((|x| - eps) + sqrt((|x| + eps)^2 - 4 mu))/2``, written as ``2 (eps |x| - mu)/(sqrt(D) - (|x| - eps))``
    where ``|x| < eps`` (no cancellation); the discriminant is clipped at 0 and the magnitude at 0 (formal values
    below the threshold, discarded by the prox)."""
    ax = xp.abs(x)
    b = ax - eps
    # sqrt((|x| + eps)^2 - 4 mu) as t sqrt(1 - q^2), t = |x| + eps >= eps, q = 2 sqrt(mu)/t clipped at 1 (a zero
    # discriminant): the square of a large |x| (1e155) overflowed to inf and the prox returned inf
    t = ax + eps
    q = xp.minimum(2.0 * xp.sqrt(mu) / t, xp.ones_like(t))
    sq = t * xp.sqrt(1.0 - q * q)
    den = sq - xp.minimum(b, xp.zeros_like(b))  # used only where b < 0 (no inf - inf where |x| = inf)
    small = xp.where(b < 0, ax, xp.zeros_like(ax))  # the alternative form is used (and evaluated) only for |x| < eps
    alt = 2.0 * (eps * small - mu) / xp.where(den > 0, den, xp.ones_like(den))
    mag = xp.where(b >= 0, 0.5 * (b + sq), alt)
    mag = xp.maximum(mag, xp.zeros_like(mag))
    return xp.where(mu == 0, x, xp.sign(x) * mag)


# ----------------------------------------------------------------------------------------------------------------------
# The penalty contract
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParamSpec:
    """A penalty parameter: its name, the allowed open range ``(low, inf)`` and a range that checks draw from.

    Attributes
    ----------
    name : str
        Keyword of the class constructor and of :func:`get_penalty`.
    low : float
        Exclusive lower bound (the value must be finite and ``> low``).
    allowed : str
        The range as shown to the user, e.g. ``"gamma > 1"``.
    sample : tuple of float
        ``(lo, hi)``: a range of typical values, drawn log-uniformly by the checks and the tests.
    """

    name: str
    low: float
    allowed: str
    sample: tuple[float, float]

    def validate(self, value: Any) -> float:
        """``value`` as a float, or ``ValueError`` naming the parameter and its range."""
        check_scalar_or_array(self.name, value, low=self.low, low_inclusive=False, allowed=f"{self.allowed} (finite)")
        if not isinstance(value, (int, float)):
            raise ValueError(f"{self.name} must be a Python real number ({self.allowed}); got {type(value).__name__}")
        return float(value)


class Penalty(ABC):
    """Base contract of a separable penalty ``P`` with its thresholding operator.

    Subclasses implement the pure pieces ``_value``, ``_derivative``, ``_threshold`` and ``_shrink`` (arrays in,
    arrays out, namespace given); the public methods validate, convert and broadcast, then call them.

    Notes
    -----
    ``prox(x, mu) = argmin_y mu P(y) + (y - x)^2 / 2 = where(|x| > threshold(mu), shrink(x, mu), 0)``.
    """

    name: str = ""
    #: The parameters the constructor takes (validated there; :func:`get_penalty` builds them by keyword).
    PARAMS: ClassVar[tuple[ParamSpec, ...]] = ()

    @property
    def params(self) -> dict[str, float]:
        """The penalty's parameters by name (empty for l1, l0, l_{1/2})."""
        return {p.name: getattr(self, p.name) for p in self.PARAMS}

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
    PARAMS = (ParamSpec("a", 0.0, "a > 0", (0.1, 5.0)),)

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


class MCP(Penalty):
    """Minimax concave penalty (Zhang 2010) of unit weight, ``gamma > 1``.

    Notes
    -----
    Convention: ``P(y) = int_0^|y| (1 - t/gamma)_+ dt = |y| - y^2/(2 gamma)`` for ``|y| <= gamma`` and ``gamma/2``
    beyond, i.e. the usual ``p_{lam, gamma}`` at ``lam = 1``; RVSM's weight ``lam`` multiplies it, so the knee stays at
    ``|y| = gamma`` whatever ``lam`` (libraries that put the knee at ``gamma lam`` use another parametrization).
    ``gamma > 1`` is the usual range (the prox of the unit-weight penalty with ``mu = 1`` is firm thresholding).
    ``threshold(mu) = mu`` and ``shrink = sign(x) gamma (|x| - mu)/(gamma - mu)`` up to ``|x| = gamma`` (then ``x``)
    for ``mu < gamma``: firm thresholding, continuous. For ``mu >= gamma`` the objective is concave on ``[0, gamma]``:
    ``threshold(mu) = sqrt(mu gamma)``, ``shrink = x`` (a jump of size ``sqrt(mu gamma)``).
    """

    name = "mcp"
    PARAMS = (ParamSpec("gamma", 1.0, "gamma > 1", (1.5, 6.0)),)

    def __init__(self, gamma: float) -> None:
        self.gamma = self.PARAMS[0].validate(gamma)

    def _value(self, xp: Any, x: Array) -> Array:
        return mcp_value(xp, x, self.gamma)

    def _derivative(self, xp: Any, x: Array) -> Array:
        return mcp_derivative(xp, x, self.gamma)

    def _threshold(self, xp: Any, mu: Array) -> Array:
        return mcp_threshold(xp, mu, self.gamma)

    def _shrink(self, xp: Any, x: Array, mu: Array) -> Array:
        return mcp_shrink(xp, x, mu, self.gamma)

    def __repr__(self) -> str:
        return f"MCP(gamma={self.gamma!r})"


class SCAD(Penalty):
    """Smoothly clipped absolute deviation (Fan & Li 2001) of unit weight, ``a > 2``.

    Notes
    -----
    Convention: ``P(y) = |y|`` for ``|y| <= 1``, ``(2 a |y| - y^2 - 1)/(2 (a - 1))`` for ``1 < |y| <= a``,
    ``(a + 1)/2`` beyond: the usual ``p_{lam, a}`` at ``lam = 1`` (knees at 1 and ``a`` whatever RVSM's ``lam``).
    Prox: ``threshold(mu) = mu`` for ``mu <= a + 1``, ``sqrt(mu (a + 1))`` above. For ``mu < a - 1`` the prox
    objective is convex (soft, then linear, then identity: continuous). For ``a - 1 <= mu`` the middle branch is a
    local maximum and the map jumps from the soft branch to the identity at ``|x| = (a + 1 + mu)/2`` (for
    ``mu < a + 1``), or at the threshold itself (``mu >= a + 1``). Fan & Li's thresholding rule is the case
    ``mu = 1``.
    """

    name = "scad"
    PARAMS = (ParamSpec("a", 2.0, "a > 2", (2.5, 6.0)),)

    def __init__(self, a: float) -> None:
        self.a = self.PARAMS[0].validate(a)

    def _value(self, xp: Any, x: Array) -> Array:
        return scad_value(xp, x, self.a)

    def _derivative(self, xp: Any, x: Array) -> Array:
        return scad_derivative(xp, x, self.a)

    def _threshold(self, xp: Any, mu: Array) -> Array:
        return scad_threshold(xp, mu, self.a)

    def _shrink(self, xp: Any, x: Array, mu: Array) -> Array:
        return scad_shrink(xp, x, mu, self.a)

    def __repr__(self) -> str:
        return f"SCAD(a={self.a!r})"


class LHalf(Penalty):
    """The l_{1/2} quasi-norm penalty ``P(y) = |y|^(1/2)``; its prox is half thresholding.

    Notes
    -----
    In this prox convention (``mu P(y) + (y - x)^2/2``; Xu et al. 2012 minimize ``(y - x)^2 + lam' |y|^(1/2)``, i.e.
    ``lam' = 2 mu``): ``threshold(mu) = (3/2) mu^(2/3)`` (their ``54^(1/3)/4 lam'^(2/3)``), and above it
    ``shrink = sign(x) (2|x|/3)(1 + cos(2 pi/3 - (2/3) arccos((mu/4)(3/|x|)^(3/2))))``. The map always jumps (by
    ``mu^(2/3)``): ``P'(0+) = inf``.
    """

    name = "l_half"

    def _value(self, xp: Any, x: Array) -> Array:
        return l_half_value(xp, x)

    def _derivative(self, xp: Any, x: Array) -> Array:
        return l_half_derivative(xp, x)

    def _threshold(self, xp: Any, mu: Array) -> Array:
        return l_half_threshold(xp, mu)

    def _shrink(self, xp: Any, x: Array, mu: Array) -> Array:
        return l_half_shrink(xp, x, mu)


class LogSum(Penalty):
    """Log-sum penalty ``P(y) = log(1 + |y|/eps)``, ``eps > 0`` (Candes, Wakin & Boyd 2008 up to a constant).

    Notes
    -----
    Convention: ``log(1 + |y|/eps) = log(|y| + eps) - log(eps)``, so ``P(0) = 0`` and ``P'(0+) = 1/eps``. Prox: the
    kept branch is the larger root of ``y + mu/(eps + y) = |x|``; ``threshold(mu) = mu/eps`` for ``mu <= eps^2``
    (continuous map), else ``inf_y mu P(y)/y + y/2`` at a jump found by bisection (no closed form;
    :func:`log_sum_threshold`).
    """

    name = "log_sum"
    PARAMS = (ParamSpec("eps", 0.0, "eps > 0", (0.1, 2.0)),)

    def __init__(self, eps: float) -> None:
        self.eps = self.PARAMS[0].validate(eps)

    def _value(self, xp: Any, x: Array) -> Array:
        return log_sum_value(xp, x, self.eps)

    def _derivative(self, xp: Any, x: Array) -> Array:
        return log_sum_derivative(xp, x, self.eps)

    def _threshold(self, xp: Any, mu: Array) -> Array:
        return log_sum_threshold(xp, mu, self.eps)

    def _shrink(self, xp: Any, x: Array, mu: Array) -> Array:
        return log_sum_shrink(xp, x, mu, self.eps)

    def __repr__(self) -> str:
        return f"LogSum(eps={self.eps!r})"


# ----------------------------------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------------------------------
PENALTIES: dict[str, type[Penalty]] = {"l1": L1, "l0": L0, "tl1": TL1, "mcp": MCP, "scad": SCAD, "l_half": LHalf,
                                       "log_sum": LogSum}


def get_penalty(name: str, **params: Any) -> Penalty:
    """Build a penalty by name with its parameters: ``"l1"``, ``"l0"``, ``"l_half"`` (none), ``"tl1"`` (``a > 0``),
    ``"mcp"`` (``gamma > 1``), ``"scad"`` (``a > 2``), ``"log_sum"`` (``eps > 0``).

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), a missing or unexpected parameter, or one out of range.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in PENALTIES:
        raise ValueError(f"penalty: unknown name {name!r}; known penalties: {', '.join(sorted(PENALTIES))}")
    cls = PENALTIES[key]
    names = [p.name for p in cls.PARAMS]
    if not names:
        if params:
            raise ValueError(f"penalty {key!r} takes no parameters; got {sorted(params)}")
        return cls()
    missing = [p for p in cls.PARAMS if p.name not in params]
    if missing:
        need = ", ".join(f"{p.name} ({p.allowed})" for p in missing)
        raise ValueError(f"penalty {key!r} needs the parameter {need}")
    extra = set(params) - set(names)
    if extra:
        raise ValueError(f"penalty {key!r} takes only the parameter {', '.join(names)}; got also {sorted(extra)}")
    return cls(**{n: params[n] for n in names})
