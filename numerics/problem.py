"""An RVSM problem: the teacher, the number of patches, the penalty and its weights, validated once.

:class:`Problem` is what every other part of :mod:`numerics` takes first: :func:`numerics.run` iterates it,
:func:`numerics.predict` predicts its limit. It is also the one home of the quantities derived from it: the prox
parameter ``mu = lam / beta`` and the relaxed Lagrangian (:func:`relaxed_lagrangian`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from numerics._arrays import (
    Array,
    check_positive_int,
    check_scalar_or_array,
    check_teacher,
    namespace,
    to_float,
    to_numpy,
)
from numerics.penalties import Penalty, get_penalty

__all__ = ["Problem", "relaxed_lagrangian", "resolve_penalty"]


def resolve_penalty(penalty: Penalty | str, a: float | None = None, *,
                    params: Mapping[str, float] | None = None) -> Penalty:
    """The penalty object for a name (``"l1"``, ``"l0"``, ``"tl1"`` with ``a``, ...) or a :class:`Penalty` as it is.

    This is the one place where a penalty given by name becomes an object. ``a`` is the shorthand for the
    parameter named ``a`` (TL1, SCAD); ``params`` gives any parameters by name (e.g. ``{"gamma": 3.0}`` for MCP,
    ``{"eps": 0.5}`` for log-sum), see :func:`numerics.penalties.get_penalty`.

    Raises
    ------
    ValueError
        Unknown name, a parameter missing or out of range, ``a`` or ``params`` given with a penalty object or with a
        penalty that takes no parameter, ``a`` given twice, or an object that is not a
        :class:`numerics.penalties.Penalty`.
    """
    if params is not None and not isinstance(params, Mapping):
        raise ValueError(f"params must be a mapping of parameter names to numbers; got {type(params).__name__}")
    if isinstance(penalty, Penalty):
        if a is not None or params:
            which = "a" if a is not None else "params"
            raise ValueError(f"{which} is only used with a penalty name (e.g. penalty='tl1', a=1.0); "
                             f"the penalty object {penalty!r} already carries its parameters")
        return penalty
    if isinstance(penalty, str):
        kw = dict(params or {})
        if a is not None:
            if "a" in kw:
                raise ValueError("a given twice (as a= and in params)")
            kw["a"] = a
        return get_penalty(penalty, **kw)
    raise ValueError(f"penalty must be a Penalty object or a name ('l1', 'l0', 'tl1'); got {penalty!r}")


def _weight(name: str, value: Any, *, low_inclusive: bool, allowed: str) -> float | np.ndarray:
    """lam or beta: a Python float, or a float64 NumPy array of shape (B,)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a real number ({allowed}); got {value!r}")
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=np.float64)
    if isinstance(value, (int, float, np.integer, np.floating)):
        check_scalar_or_array(name, float(value), low=0.0, low_inclusive=low_inclusive, allowed=allowed)
        return float(value)
    if not array_api_compat.is_array_api_obj(value):
        raise ValueError(f"{name} must be a real number or an array of shape (B,) ({allowed}); got "
                         f"{type(value).__name__}")
    arr = to_numpy(value, name)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be real numbers ({allowed}); got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64)  # a copy: the read-only flag below must not reach the caller's array
    check_scalar_or_array(name, arr, low=0.0, low_inclusive=low_inclusive, allowed=allowed)
    if arr.ndim == 0:
        return float(arr)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a scalar or have shape (B,) with B >= 1; got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


def relaxed_lagrangian(penalty: Penalty, loss: Array, w: Array, u: Array, lam: Any, beta: Any) -> Array:
    """The relaxed Lagrangian ``L_beta(w, u) = l(w) + lam sum_i P(u_i) + (beta/2) |w - u|^2``, per trial.

    Parameters
    ----------
    penalty : Penalty
    loss : array (...)
        ``l(w)`` for each trial (the population loss, an empirical loss or the binarized network's loss).
    w, u : arrays (..., d)
    lam, beta : scalars or arrays (...)

    Returns
    -------
    array (...)

    Notes
    -----
    ADMM's augmented Lagrangian with the multiplier dropped; RVSM is gradient descent on it in ``w`` with an exact
    minimization in ``u``, and it does not increase along the iteration for a small enough step.
    """
    xp = namespace(w)
    diff = w - u
    return loss + lam * xp.sum(penalty.value(u), axis=-1) + 0.5 * beta * xp.sum(diff * diff, axis=-1)


@dataclass(frozen=True, init=False, eq=False)
class Problem:
    """One RVSM problem, or a batch of B problems: teacher ``w*``, patches ``k``, penalty ``P``, ``lam``, ``beta``.

    Parameters
    ----------
    w_star : array (d,) or (B, d)
        Teacher filter(s): finite, none zero. Any array backend; integers are promoted to float64. Kept as given
        (backend, dtype, device); :func:`numerics.run` moves it to the backend of its start points.
    k : int
        Number of non-overlapping patches, ``k >= 1``.
    penalty : str or Penalty
        ``"l1"``, ``"l0"``, ``"tl1"`` (then ``a`` is needed) or a :class:`numerics.penalties.Penalty`.
    lam : float or array (B,)
        Penalty weight, ``lam >= 0`` (``lam = 0`` is plain gradient descent).
    beta : float or array (B,)
        Relaxation (coupling) weight, ``beta > 0``.
    a : float, optional
        TL1 parameter ``a > 0`` (or SCAD's ``a > 2``), only with a penalty by name.
    params : mapping, optional
        Other parameters of a penalty given by name, e.g. ``{"gamma": 3.0}`` for ``"mcp"`` (:func:`resolve_penalty`).

    Attributes
    ----------
    w_star, k, penalty, lam, beta
        As validated: ``penalty`` is always an object; ``lam`` and ``beta`` are Python floats or read-only float64
        NumPy arrays of shape (B,).
    batch_size : int or None
        B, the number of problems, or None for one unbatched problem (then every result has no trial axis).
    d : int
        Dimension of the filter.

    Raises
    ------
    ValueError
        Naming the parameter and its allowed range: a zero, non-finite or wrongly shaped teacher, ``k`` not an
        integer >= 1, ``lam < 0``, ``beta <= 0``, a penalty problem (see :func:`resolve_penalty`), or batch sizes of
        ``w_star``, ``lam``, ``beta`` that disagree.

    Notes
    -----
    The method (with ``mu = lam / beta``, :attr:`mu`)::

        u^0 = prox_{mu P}(w^0),
        w^{t+1} = w^t - eta (grad l(w^t) + beta (w^t - u^t)),
        u^{t+1} = prox_{mu P}(w^{t+1}),

    gradient descent in ``w`` on the relaxed Lagrangian :meth:`lagrangian`, exact minimization in ``u``.
    """

    w_star: Array
    k: int
    penalty: Penalty
    lam: float | np.ndarray
    beta: float | np.ndarray

    def __init__(self, w_star: Any, k: int, penalty: Penalty | str, lam: Any, beta: Any, *,
                 a: float | None = None, params: Mapping[str, float] | None = None) -> None:
        if isinstance(w_star, (list, tuple)):
            w_star = np.asarray(w_star, dtype=np.float64)
        if not array_api_compat.is_array_api_obj(w_star) or isinstance(w_star, (int, float)):
            raise ValueError(f"w_star must be an array of shape (d,) or (B, d); got {type(w_star).__name__}")
        xp = namespace(w_star)
        w_star = to_float(w_star, xp)
        if w_star.ndim not in (1, 2) or int(w_star.shape[-1]) < 1:
            raise ValueError(f"w_star must have shape (d,) or (B, d) with d >= 1; got shape {tuple(w_star.shape)}")
        if w_star.ndim == 2 and int(w_star.shape[0]) == 0:
            raise ValueError("w_star must have at least one teacher (B >= 1); got shape (0, d)")
        check_teacher(w_star)
        w_star = xp.asarray(w_star, copy=True)  # the problem owns its teacher: a later change of the caller's array
        if isinstance(w_star, np.ndarray):     # cannot bypass the validation above
            w_star.setflags(write=False)
        object.__setattr__(self, "w_star", w_star)
        object.__setattr__(self, "k", check_positive_int("k", k))
        object.__setattr__(self, "penalty", resolve_penalty(penalty, a, params=params))
        object.__setattr__(self, "lam", _weight("lam", lam, low_inclusive=True, allowed="lam >= 0"))
        object.__setattr__(self, "beta", _weight("beta", beta, low_inclusive=False, allowed="beta > 0"))
        sizes = {"w_star": int(w_star.shape[0]) if w_star.ndim == 2 else None,
                 "lam": None if isinstance(self.lam, float) else int(self.lam.shape[0]),
                 "beta": None if isinstance(self.beta, float) else int(self.beta.shape[0])}
        given = {n: s for n, s in sizes.items() if s is not None}
        if len(set(given.values())) > 1:
            desc = ", ".join(f"{n}: {s}" for n, s in given.items())
            raise ValueError(f"batch sizes do not match (w_star, lam, beta must share B or have none); got {desc}")
        object.__setattr__(self, "_batch_size", next(iter(given.values()), None))

    # -- shape ------------------------------------------------------------------------------------------------------
    @property
    def d(self) -> int:
        """Dimension of the filter."""
        return int(self.w_star.shape[-1])

    @property
    def batch_size(self) -> int | None:
        """B for a batch of problems, None for one unbatched problem."""
        return self._batch_size  # type: ignore[attr-defined]

    # -- derived quantities -----------------------------------------------------------------------------------------
    @property
    def mu(self) -> float | np.ndarray:
        """The prox parameter ``mu = lam / beta`` (float or (B,) array)."""
        return self.lam / self.beta

    def lagrangian(self, loss: Array, w: Array, u: Array) -> Array:
        """``L_beta(w, u) = l(w) + lam sum_i P(u_i) + (beta/2)|w - u|^2`` (:func:`relaxed_lagrangian`).

        ``loss`` is ``l(w)`` per trial; ``w``, ``u`` have shape (d,) or (B, d) in any backend (the weights are
        moved to it).
        """
        xp = namespace(w)

        def weight(v: float | np.ndarray) -> Any:
            if isinstance(v, float):
                return v
            if not array_api_compat.is_numpy_array(w):  # the NumPy (B,) weights onto the backend of w
                v = xp.asarray(v, dtype=w.dtype, device=array_api_compat.device(w), copy=True)
            return to_float(v, xp, like=w)

        return relaxed_lagrangian(self.penalty, loss, w, u, weight(self.lam), weight(self.beta))

    def on_host(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The problem as float64 NumPy rows, for the predictors: ``(w_star (n, d), lam (n,), beta (n,))`` with
        ``n = B`` for a batched problem (the teacher broadcast) and ``n = 1`` for an unbatched one."""
        n = 1 if self.batch_size is None else self.batch_size
        ws = np.asarray(to_numpy(self.w_star, "w_star"), dtype=np.float64)
        ws = np.broadcast_to(ws.reshape(-1, self.d), (n, self.d)).copy()
        lam, beta = (np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)).copy() for v in (self.lam, self.beta))
        return ws, lam, beta

    def support_mask(self, support: Any) -> np.ndarray:
        """A kept set given by the user, validated: a boolean mask of shape (d,) or the teacher's batch shape
        (B, d), False wherever ``w* = 0``; returned as NumPy (n, d) rows like :meth:`on_host`."""
        ws, _, _ = self.on_host()
        n, d = ws.shape
        shape = (d,) if self.batch_size is None else (n, d)
        sup = to_numpy(support, "support")
        if sup.dtype != bool:
            raise ValueError(f"support must be a boolean mask; got dtype {sup.dtype}")
        if sup.shape not in ((d,), shape):
            raise ValueError(f"support must have shape (d,) = {(d,)} or the batch shape {shape}; got {sup.shape}")
        sup = np.broadcast_to(sup, shape).reshape(n, d).copy()
        if np.any(sup & (ws == 0)):
            raise ValueError("support must be False where w_star is 0 (those coordinates have u = w = 0)")
        return sup

    def __repr__(self) -> str:
        def show(v: Any) -> str:
            return repr(v) if isinstance(v, float) else f"array(shape={tuple(v.shape)})"

        return (f"Problem(w_star=array(shape={tuple(self.w_star.shape)}), k={self.k}, penalty={self.penalty!r}, "
                f"lam={show(self.lam)}, beta={show(self.beta)})")
