"""Array-API plumbing shared by the numerics modules: namespaces, devices, dtypes and input validation.

Every public function of :mod:`numerics` validates at the boundary with these helpers, so that a bad parameter raises
``ValueError`` naming the parameter and its allowed range, on every backend.
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

Array = Any  # any array-API array (numpy, array_api_strict, torch, cupy, jax)


def namespace(*arrays: Any) -> Any:
    """The array-API namespace of ``arrays`` (NumPy for Python scalars only)."""
    arrs = [x for x in arrays if x is not None and not isinstance(x, (int, float, bool))]
    if not arrs:
        return array_api_compat.array_namespace(np.empty(0))
    return array_api_compat.array_namespace(*arrs)


def matmul(xp: Any, a: Array, b: Array) -> Array:
    """``a @ b`` at the full precision of the dtype on every backend.

    JAX on a GPU multiplies float32 matrices in TF32 by default (10 mantissa bits, relative error ~1e-3), which is
    not float32 arithmetic: a float32 empirical gradient then differed from the float64 one by 2e-2 relative on an
    H200 where IEEE float32 gives ~1e-6. The array API has no precision argument, so JAX is asked for its highest
    precision here; every other backend multiplies in the dtype's own precision (torch leaves TF32 off for matrix
    products by default).
    """
    if array_api_compat.is_jax_namespace(xp):
        return xp.matmul(a, b, precision="highest")
    return xp.matmul(a, b)


def device_of(x: Array) -> Any:
    """Device of ``x`` (kept for every array the function creates)."""
    return array_api_compat.device(x)


def to_float(x: Any, xp: Any, *, like: Array | None = None) -> Array:
    """``x`` as a floating array of namespace ``xp``: keeps a floating dtype, promotes integers to float64,
    and places it on the device of ``like`` when given."""
    if like is not None:
        dev = device_of(like)
        dtype = like.dtype if xp.isdtype(like.dtype, "real floating") else xp.float64
        if array_api_compat.is_array_api_obj(x) and not isinstance(x, (int, float)):
            if xp.isdtype(x.dtype, "real floating") and x.dtype == dtype:
                return x
            return xp.astype(x, dtype)
        return xp.asarray(x, dtype=dtype, device=dev)
    if array_api_compat.is_array_api_obj(x) and not isinstance(x, (int, float)):
        return x if xp.isdtype(x.dtype, "real floating") else xp.astype(x, xp.float64)
    return xp.asarray(x, dtype=xp.float64)


def _all(xp: Any, cond: Array) -> bool:
    return bool(xp.all(cond))


def check_scalar_or_array(name: str, value: Any, *, low: float, low_inclusive: bool,
                          high: float = math.inf, allowed: str) -> None:
    """Raise ``ValueError`` unless every entry of ``value`` is finite and in the given range.

    Parameters
    ----------
    name : str
        Parameter name used in the message.
    value : scalar or array
        The value to validate.
    low, high : float
        Range limits; ``high`` is exclusive (``inf`` for unbounded).
    low_inclusive : bool
        Whether ``low`` itself is allowed.
    allowed : str
        The allowed range as shown to the user, e.g. ``"lam >= 0"``.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a real number ({allowed}); got {value!r}")
    if isinstance(value, (int, float)):
        v = float(value)
        ok = math.isfinite(v) and (v >= low if low_inclusive else v > low) and v < high
        if not ok:
            raise ValueError(f"{name} out of range: got {value!r}; allowed {allowed}")
        return
    xp = namespace(value)
    v = to_float(value, xp)
    ok = _all(xp, xp.isfinite(v)) and _all(xp, (v >= low) if low_inclusive else (v > low)) and _all(xp, v < high)
    if not ok:
        raise ValueError(f"{name} out of range: some entries violate {allowed} or are not finite")


def check_positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Return ``value`` as int, raising ``ValueError`` unless it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} out of range: got {value}; allowed {name} >= {minimum}")
    return int(value)


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Return ``value`` unless it is not one of ``allowed`` (then ``ValueError`` listing them)."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def check_positive_float(name: str, value: Any) -> float:
    """Return ``value`` as float unless it is not a finite real number ``> 0`` (then ``ValueError``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} out of range: got {value!r}; allowed {name} > 0 (finite)")
    return float(value)


def check_teacher(w_star: Array) -> None:
    """Raise ``ValueError`` unless ``w_star`` has at least one axis, is finite and no teacher vector is zero."""
    xp = namespace(w_star)
    if w_star.ndim < 1 or w_star.shape[-1] < 1:
        raise ValueError(f"w_star must have shape (..., d) with d >= 1; got shape {tuple(w_star.shape)}")
    if not _all(xp, xp.isfinite(w_star)):
        raise ValueError("w_star must be finite (found NaN or inf)")
    if not _all(xp, xp.any(w_star != 0, axis=-1)):
        raise ValueError("w_star must be nonzero: the teacher w* = 0 is excluded (theory page section 1)")


def make_rng(seed: Any) -> np.random.Generator:
    """A NumPy Generator from ``seed``: an integer >= 0, a ``numpy.random.SeedSequence`` or a ``Generator``.

    ``None`` is rejected: a draw from OS entropy would make a run irreproducible without saying so.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0 (or a numpy SeedSequence / Generator); got {seed!r}")
    return np.random.default_rng(int(seed))


def to_numpy(x: Any, name: str = "array") -> np.ndarray:
    """``x`` (any array backend, or a Python number / sequence) as a NumPy array on the host.

    NumPy arrays are returned as they are; torch tensors are detached and copied from their device; CuPy arrays are
    copied with ``.get()``; array_api_strict and other DLPack arrays go through the CPU device. Raises ValueError
    naming ``name`` when ``x`` cannot be converted.
    """
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(x):
        return x.get()
    try:
        return np.asarray(x)
    except Exception as exc:  # array_api_strict and others: through the CPU device and DLPack
        try:
            return np.from_dlpack(array_api_compat.to_device(x, "cpu"))
        except Exception:
            raise ValueError(f"{name}: cannot convert an object of type {type(x).__name__} to a NumPy array") from exc
