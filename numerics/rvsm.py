"""The relaxed variable splitting method (RVSM), batched over trials (THEORY.md section 4).

One call runs B independent trials at once (teacher, start point and lam/beta/eta may differ per trial). With a
tolerance, each trial stops when its update is smaller than ``tol``; finished trials are frozen and periodically
removed from the working set (compaction), so the remaining work is spent on the trials still running.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from numerics import binary, model
from numerics._arrays import (
    Array,
    check_positive_int,
    check_scalar_or_array,
    check_teacher,
    namespace,
    to_float,
    to_numpy,
)

__all__ = ["DivergenceError", "History", "RVSMResult", "run"]

#: Housekeeping (divergence check, compaction, early exit, progress) happens every this many iterations.
_HOUSEKEEPING_EVERY = 16
#: Compact the working set once at least this fraction of it has finished (0 < f <= 1; > 1 disables compaction).
_COMPACT_FRACTION = 0.125
_PROGRESS_SECONDS = 2.0


class DivergenceError(ArithmeticError):
    """Raised when an iterate becomes non-finite (NaN or inf).

    Attributes
    ----------
    trial : int
        Index of the first diverging trial in the batch (0 for an unbatched run).
    iteration : int
        The update (1-based) that produced the first non-finite iterate of that trial.
    stable_eta : float
        The largest stable step size 2/(L + beta) for that instance, L the local smoothness estimate
        :func:`numerics.population.lipschitz_estimate`.
    eta : float
        The step size that was used for that trial.
    """

    def __init__(self, trial: int, iteration: int, eta: float, stable_eta: float):
        self.trial, self.iteration, self.eta, self.stable_eta = trial, iteration, eta, stable_eta
        super().__init__(
            f"RVSM diverged: trial {trial} has a non-finite iterate at iteration {iteration} with eta = {eta:.6g}; "
            f"the largest stable step size for this instance is 2/(L + beta) = {stable_eta:.6g}: use eta below it")


@dataclass(frozen=True)
class History:
    """Quantities recorded every ``record_every`` iterations (plus the start and the end of the run).

    Attributes
    ----------
    iteration : array (n_records,)
        The iteration numbers t of the records (0 is the start w^0, u^0).
    lagrangian : array (n_records, B)
        Relaxed Lagrangian L_beta(w^t, u^t) = l(w^t) + lam sum_i P(u^t_i) + (beta/2) |w^t - u^t|^2, with the
        population loss, or the empirical loss for ``gradient="empirical"``.
    angle : array (n_records, B)
        Angle between w^t and w* in radians.
    support : array (n_records, B)
        Number of nonzero coordinates of u^t.
    step : array (n_records, B)
        |w^t - w^{t-1}| (NaN at t = 0).

    Trials that stopped (``tol``) repeat their final values in later records. For an unbatched run (all inputs
    without a batch axis) the trailing B axis is absent.
    """

    iteration: Array
    lagrangian: Array
    angle: Array
    support: Array
    step: Array


@dataclass(frozen=True)
class RVSMResult:
    """Result of :func:`run`.

    Attributes
    ----------
    w, u : arrays (B, d) (or (d,) for an unbatched run)
        Final iterates; u is the sparse output.
    iterations : int array (B,) (or ())
        Number of updates each trial performed (the step at which it stopped, or ``iters``).
    converged : bool array (B,) (or ())
        Whether the trial stopped because its update norm fell below ``tol`` (all False when tol is None).
    history : History or None
        Recorded quantities, or None when ``record_every`` is None.
    """

    w: Array
    u: Array
    iterations: Array
    converged: Array
    history: History | None


def _as_param(name: str, value: Any, xp: Any, like: Array, *, low: float, low_inclusive: bool, allowed: str) -> Array:
    """Validate lam/beta/eta and return it as an array of shape () or (B,) with the dtype and device of ``like``."""
    if isinstance(value, (list, tuple)):
        value = np.asarray(value, dtype=np.float64)
    if isinstance(value, (np.integer, np.floating)):
        value = float(value)
    check_scalar_or_array(name, value, low=low, low_inclusive=low_inclusive, allowed=allowed)
    if isinstance(value, (int, float, np.integer, np.floating)) or getattr(value, "ndim", None) == 0:
        value = float(value)
    elif array_api_compat.is_numpy_array(value) and not array_api_compat.is_numpy_array(like):
        value = xp.asarray(value, dtype=like.dtype, device=array_api_compat.device(like))
    arr = to_float(value, xp, like=like)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or have shape (B,); got shape {tuple(arr.shape)}")
    return arr


def _batch_size(shapes: dict[str, int | None]) -> int | None:
    sizes = {n: s for n, s in shapes.items() if s is not None and s != 1}
    if len(set(sizes.values())) > 1:
        desc = ", ".join(f"{n}: {s}" for n, s in shapes.items() if s is not None)
        raise ValueError(f"batch sizes do not match (w_star, w0, lam, beta, eta must share B or have none); got {desc}")
    if sizes:
        return next(iter(sizes.values()))
    return 1 if any(s is not None for s in shapes.values()) else None


def _resolve_penalty(penalty: Any, a: float | None) -> Any:
    from numerics import penalties

    if isinstance(penalty, str):
        if a is None:
            return penalties.get_penalty(penalty)
        return penalties.get_penalty(penalty, a=a)
    if a is not None:
        raise ValueError("a must be None when penalty is a penalty object (set the parameter on the object)")
    for attr in ("prox", "value"):
        if not callable(getattr(penalty, attr, None)):
            raise ValueError(f"penalty must be a name ('l1', 'l0', 'tl1') or a penalty object; got {penalty!r}")
    return penalty


def _take(xp: Any, x: Array, idx: Array, axis: int = 0) -> Array:
    return xp.take(x, idx, axis=axis)


def run(w_star: Array, k: int, penalty: Any, lam: Any, beta: Any, eta: Any, w0: Array, iters: int,
        tol: float | None = None, gradient: str = "population", record_every: int | None = None, *,
        a: float | None = None, n_samples: int | None = None, seed: Any = 0, samples: Any = None,
        progress: bool = False, activation: str = "relu", ste: str = "relu", normalize: bool = False) -> RVSMResult:
    """Run RVSM for one instance or a batch of B instances.

    Parameters
    ----------
    w_star : array (d,) or (B, d)
        Teacher filter(s); nonzero and finite.
    k : int
        Number of patches, k >= 1.
    penalty : str or penalty object
        ``"l1"``, ``"l0"``, ``"tl1"`` (see :mod:`numerics.penalties`) or an object with ``value`` and ``prox``.
    lam, beta, eta : float or array (B,)
        Penalty weight lam >= 0 (lam = 0 is plain gradient descent), relaxation beta > 0, step size eta > 0.
    w0 : array (d,) or (B, d)
        Start points; their dtype and device are kept for every array of the run.
    iters : int
        Maximal number of updates, iters >= 1.
    tol : float, optional
        When given (tol > 0), a trial stops once |w^{t+1} - w^t| < tol.
    gradient : {"population", "empirical"}
        Closed-form population gradient, or the empirical gradient on N samples shared by all trials.
    record_every : int, optional
        Record the history every this many iterations (None: no history is kept).
    a : float, optional
        TL1 parameter a > 0 (only with ``penalty="tl1"``).
    n_samples : int, optional
        Number of samples for ``gradient="empirical"`` (drawn with :func:`numerics.model.sample_patches` and
        ``seed``), unless ``samples`` is given. Validated (``>= 1``) whenever given; unused by the population
        gradient, as are ``seed`` and ``samples``.
    seed : int >= 0, numpy SeedSequence or Generator
        Seed of the samples for ``gradient="empirical"`` (default 0; ``None`` is rejected, so every run is
        reproducible).
    samples : array (N, k, d) or tuple (Z,) or (Z, y), optional
        Explicit samples (and labels y of shape (N,) or (N, B); by default y = f(Z; w*)).
    progress : bool
        Print a one-line status to stderr at most every ~2 s.
    activation : {"relu", "binary"}
        The network: ReLU (THEORY.md sections 1-5) or the binarized ``sigma(t) = 1{t > 0}`` (section 6,
        :mod:`numerics.binary`), trained with the coarse gradient: its closed-form expectation
        (``gradient="population"``) or the sampled coarse gradient on the shared samples (``"empirical"``, labels
        ``y = f(Z; w*)`` of the binarized teacher unless given). The Lagrangian in the history uses the matching loss.
    ste : {"relu", "identity"}
        Straight-through estimator of the binary network (``sigma'`` replaced by ``1{t > 0}`` or by 1). With
        ``activation="relu"`` only ``"relu"`` is allowed (the ReLU's own derivative, i.e. its true gradient).
    normalize : bool
        After each w-update set ``w <- w/|w|`` (then ``u <- prox(w)``); ``w0`` is normalized first and must be
        nonzero. Only with ``activation="binary"``: its loss and coarse gradient depend on the direction of ``w``
        only, while the ReLU loss is not scale-invariant (projecting it to the sphere would change its minimizer
        unless ``|w*| = 1``), so ``activation="relu"`` with ``normalize=True`` raises ``ValueError``.

    Returns
    -------
    RVSMResult

    Raises
    ------
    ValueError
        On an invalid parameter (named in the message with its allowed range).
    DivergenceError
        When an iterate becomes non-finite (names the trial, the iteration and the stable step 2/(L + beta)).

    Notes
    -----
    Exactly THEORY.md section 4, with mu = lam / beta:

        u^0 = prox_{mu P}(w^0),
        w^{t+1} = w^t - eta (grad l(w^t) + beta (w^t - u^t)),
        u^{t+1} = prox_{mu P}(w^{t+1}).

    Where lam = 0, u^t = w^t exactly (plain gradient descent on l). Trials of a batch are independent: a batched run
    performs the same floating-point operations per trial as separate runs.

    With ``activation="binary"`` the gradient is the coarse gradient; its expectation is
    ``c (w/|w| - w*/|w*|)`` (:func:`numerics.binary.expected_coarse_grad`, 0 at ``w = 0`` for the ReLU STE). With
    ``normalize=True`` the step is ``w^{t+1} = v/|v|``, ``v = w^t - eta (g(w^t) + beta (w^t - u^t))``, and the limit
    is predicted by :func:`numerics.binary_limits.predict_binary`.
    """
    from numerics import penalties, population

    k = check_positive_int("k", k)
    iters = check_positive_int("iters", iters)
    if record_every is not None:
        record_every = check_positive_int("record_every", record_every)
    if tol is not None:
        check_scalar_or_array("tol", tol, low=0.0, low_inclusive=False, allowed="tol > 0")
        if not isinstance(tol, (int, float)):
            raise ValueError(f"tol must be a positive float (tol > 0); got {tol!r}")
        tol = float(tol)
    if gradient not in ("population", "empirical"):
        raise ValueError(f"gradient must be 'population' or 'empirical'; got {gradient!r}")
    if n_samples is not None:
        # validated even where it is unused (gradient="population"), so a bad value never passes silently
        n_samples = check_positive_int("n_samples", n_samples)
    if not isinstance(progress, bool):
        raise ValueError(f"progress must be True or False; got {progress!r}")
    if a is not None:
        check_scalar_or_array("a", a, low=0.0, low_inclusive=False, allowed="a > 0")
    pen = _resolve_penalty(penalty, a)
    if activation not in ("relu", "binary"):
        raise ValueError(f"activation must be 'relu' or 'binary'; got {activation!r}")
    if ste not in binary.STES:
        raise ValueError(f"ste must be one of {', '.join(repr(v) for v in binary.STES)}; got {ste!r}")
    if activation == "relu" and ste != "relu":
        raise ValueError(f"ste={ste!r} needs activation='binary' (the ReLU network uses its own derivative, "
                         "ste='relu')")
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize must be True or False; got {normalize!r}")
    if normalize and activation != "binary":
        raise ValueError("normalize=True needs activation='binary' (the ReLU loss is not scale-invariant)")

    if not array_api_compat.is_array_api_obj(w0):
        raise ValueError(f"w0 must be an array of shape (d,) or (B, d); got {type(w0).__name__}")
    xp = namespace(w0)
    w0 = to_float(w0, xp)
    if not array_api_compat.is_array_api_obj(w_star):
        raise ValueError(f"w_star must be an array of shape (d,) or (B, d); got {type(w_star).__name__}")
    if namespace(w_star) is not xp:
        raise ValueError("w_star and w0 must be arrays of the same backend")
    w_star = to_float(w_star, xp, like=w0)
    if w0.ndim not in (1, 2) or w_star.ndim not in (1, 2):
        raise ValueError(f"w_star and w0 must have shape (d,) or (B, d); got {tuple(w_star.shape)} and "
                         f"{tuple(w0.shape)}")
    d = int(w0.shape[-1])
    if int(w_star.shape[-1]) != d or d < 1:
        raise ValueError(f"w_star and w0 must have the same last dimension d >= 1; got {tuple(w_star.shape)} and "
                         f"{tuple(w0.shape)}")
    check_teacher(w_star)
    if not bool(xp.all(xp.isfinite(w0))):
        raise ValueError("w0 must be finite (found NaN or inf)")
    if normalize:
        n0 = xp.sqrt(xp.sum(w0 * w0, axis=-1, keepdims=True))
        if not bool(xp.all(n0 > 0)):
            raise ValueError("w0 must be nonzero (every row) when normalize=True")
        w0 = w0 / n0
    lam_a = _as_param("lam", lam, xp, w0, low=0.0, low_inclusive=True, allowed="lam >= 0")
    beta_a = _as_param("beta", beta, xp, w0, low=0.0, low_inclusive=False, allowed="beta > 0")
    eta_a = _as_param("eta", eta, xp, w0, low=0.0, low_inclusive=False, allowed="eta > 0")

    def bsize(x: Array, ndim_batched: int) -> int | None:
        return int(x.shape[0]) if x.ndim == ndim_batched else None

    bdims = {"w_star": bsize(w_star, 2), "w0": bsize(w0, 2), "lam": bsize(lam_a, 1), "beta": bsize(beta_a, 1),
             "eta": bsize(eta_a, 1)}
    B = _batch_size(bdims)
    batched = B is not None
    B = 1 if B is None else B
    dtype, dev = w0.dtype, array_api_compat.device(w0)

    def full(x: Array, shape: tuple[int, ...]) -> Array:
        if x.ndim == len(shape) and tuple(x.shape) == shape:
            return x
        if x.ndim == 1 and len(shape) == 2 and int(x.shape[0]) == shape[1]:
            x = xp.expand_dims(x, axis=0)
        elif x.ndim == 0:
            x = xp.reshape(x, (1,) * len(shape))
        return xp.asarray(xp.broadcast_to(x, shape), copy=True)

    ws = full(w_star, (B, d))
    w = full(w0, (B, d))
    lam_v, beta_v, eta_v = (full(p, (B,)) for p in (lam_a, beta_a, eta_a))
    mu_v = lam_v / beta_v

    # --- the gradient (and the loss for the history) --------------------------------------------------------------
    if gradient == "empirical":
        if samples is None:
            if n_samples is None:
                raise ValueError("n_samples must be given (n_samples >= 1) for gradient='empirical' without samples")
            n_samples = check_positive_int("n_samples", n_samples)
            Z = model.sample_patches(n_samples, k, d, seed=seed, xp=xp, device=dev, dtype=dtype)
            y = None
        else:
            Z, y = (samples, None) if array_api_compat.is_array_api_obj(samples) else (*tuple(samples), None)[:2]
            if Z.ndim != 3 or int(Z.shape[1]) != k or int(Z.shape[2]) != d:
                raise ValueError(f"samples Z must have shape (N, k, d) = (N, {k}, {d}); got {tuple(Z.shape)}")
            Z = to_float(Z, xp, like=w0)
            if not bool(xp.all(xp.isfinite(Z))):
                raise ValueError("samples Z must be finite (found NaN or inf)")
        n = int(Z.shape[0])
        zf = xp.reshape(Z, (n * k, d))
        if y is None:
            y = (binary.labels if activation == "binary" else model.labels)(Z, ws)  # (N, B)
        else:
            y = to_float(y, xp, like=w0)
            if not bool(xp.all(xp.isfinite(y))):
                raise ValueError("samples labels y must be finite (found NaN or inf)")
            if y.ndim == 1 and int(y.shape[0]) == n:
                y = xp.expand_dims(y, axis=1)
            if y.ndim != 2 or int(y.shape[0]) != n or int(y.shape[1]) not in (1, B):
                raise ValueError(f"samples labels y must have shape (N,) or (N, B) = ({n}, {B}); got "
                                 f"{tuple(y.shape)}")
            y = xp.asarray(xp.broadcast_to(y, (n, B)), copy=True)

        if activation == "binary":
            zsum = xp.sum(Z, axis=1) if ste == "identity" else None

            def grad_fn(wa: Array, st: dict) -> Array:
                return binary._loss_and_coarse_grad_shared(xp, zf, zsum, wa, st["y"], n, k, ste)[1]

            def loss_fn(wa: Array, st: dict) -> Array:
                return binary._loss_and_coarse_grad_shared(xp, zf, zsum, wa, st["y"], n, k, ste)[0]
        else:
            def grad_fn(wa: Array, st: dict) -> Array:
                return model._loss_and_grad_shared(xp, zf, wa, st["y"], n, k)[1]

            def loss_fn(wa: Array, st: dict) -> Array:
                return model._loss_and_grad_shared(xp, zf, wa, st["y"], n, k)[0]
        coef_fn = None
    elif activation == "binary":
        y = None
        grad_fn = None
        c_ste = binary.coarse_coefficient(k, ste)

        def coef_fn(wa: Array, st: dict) -> tuple[Array, Array]:
            # E[coarse gradient] = c (w/|w| - w*/|w*|) = q w - s w* with q = c/|w|, s = c/|w*| (0, 0 at w = 0 for the
            # ReLU STE; q = 0, s = c/|w*| for the identity STE: numerics.binary.expected_coarse_grad)
            nw = xp.sqrt(xp.vecdot(wa, wa))
            pos = nw > 0
            q = xp.where(pos, c_ste / xp.where(pos, nw, xp.ones_like(nw)), xp.zeros_like(nw))
            s = c_ste / xp.sqrt(st["ns2"])
            return q, (xp.where(pos, s, xp.zeros_like(s)) if ste == "relu" else s)

        def loss_fn(wa: Array, st: dict) -> Array:
            return binary.loss(wa, st["ws"], k, validate=False)
    else:
        y = None
        grad_fn = None

        def coef_fn(wa: Array, st: dict) -> tuple[Array, Array]:
            q, s, _ = population._coefficients_fast(xp, wa, st["ws"], st["ns2"], k, st["ns"])
            return q, s

        def loss_fn(wa: Array, st: dict) -> Array:
            return population.loss(wa, st["ws"], k, validate=False)

    # lam = 0 gives u = w exactly (plain gradient descent), independent of the penalty's behaviour at mu = 0. Which
    # trials have lam = 0 is decided once on the host: "none", "all" or "mixed" (then a per-row where).
    lam_zero = np.asarray(to_numpy(lam_v == 0), dtype=bool).reshape(-1)
    lam_mode = "all" if lam_zero.all() else ("none" if not lam_zero.any() else "mixed")
    mu_host = np.asarray(to_numpy(mu_v), dtype=np.float64).reshape(-1)
    # One mu for every trial (the usual case): a 0-d array, so that the prox broadcasts a scalar, not a column.
    mu_shared = mu_v[0] if bool(np.all(mu_host == mu_host[0])) else None
    eb_host = np.asarray(to_numpy(eta_v * beta_v), dtype=np.float64).reshape(-1)
    eb_shared = (eta_v * beta_v)[0] if bool(np.all(eb_host == eb_host[0])) else None  # likewise for eta beta

    if isinstance(pen, penalties.Penalty):
        def prox_fn(x: Array, st: dict) -> Array:
            # = pen.prox(x, mu, validate=False): mu validated above (lam >= 0, beta > 0) and expanded here
            return pen._prox(xp, x, col(st["mu"]) if mu_shared is None else mu_shared)
    else:
        def prox_fn(x: Array, st: dict) -> Array:
            return pen.prox(x, st["mu"])

    def prox(wa: Array, st: dict) -> Array:
        if lam_mode == "all":
            return wa
        ua = prox_fn(wa, st)
        if lam_mode == "mixed":
            ua = xp.where(xp.expand_dims(st["lam"] == 0, axis=1), wa, ua)
        return ua

    def col(v: Array) -> Array:
        return v[:, None]

    def w_step(wa: Array, ua: Array, st: dict) -> Array:
        """The w-update w^{t+1} = w^t - eta (grad l(w^t) + beta (w^t - u^t)) of the active rows of ``st``.

        A gradient model plugs in either as ``coef_fn`` (grad l(w) = q w - s w*, per-row q and s: the update is
        then three (B, d) terms, (1 - eta (q + beta)) w + eta s w* + eta beta u, also where lam = 0 so that a trial
        computes the same whether or not it is batched with others) or as ``grad_fn`` (the gradient array itself).
        """
        eta_r = st["eta"]
        if coef_fn is not None:
            q, s = coef_fn(wa, st)
            wn = col(1.0 - eta_r * (q + st["beta"])) * wa
            wn += col(eta_r * s) * st["ws"]  # in place on the fresh array: fewer (B, d) temporaries
            wn += (col(st["eb"]) if eb_shared is None else eb_shared) * ua
            return wn
        g = grad_fn(wa, st)
        return wa - col(eta_r) * (g + col(st["beta"]) * (wa - ua))

    def w_update(wa: Array, ua: Array, st: dict) -> Array:
        """:func:`w_step`, followed by ``w <- w/|w|`` when ``normalize`` (rows with w = 0 are left at 0)."""
        wn = w_step(wa, ua, st)
        if not normalize:
            return wn
        nw = xp.sqrt(xp.vecdot(wn, wn))
        pos = nw > 0
        return xp.where(col(pos), wn / col(xp.where(pos, nw, xp.ones_like(nw))), wn)

    def metrics(st: dict) -> tuple[Array, Array, Array, Array]:
        wa, ua = st["w"], st["u"]
        diff = wa - ua
        lag = (loss_fn(wa, st) + st["lam"] * xp.sum(pen.value(ua), axis=-1)
               + 0.5 * st["beta"] * xp.sum(diff * diff, axis=-1))
        ang = population.angle(wa, st["ws"], validate=False)
        sup = xp.sum(xp.astype(ua != 0, xp.int64), axis=-1)
        return lag, ang, sup, st["step"]

    # Working state of the active trials (rows in working order; `order` maps them to the original trials).
    st: dict[str, Any] = {"w": w, "ws": ws, "lam": lam_v, "beta": beta_v, "eta": eta_v, "mu": mu_v,
                          "ns2": xp.vecdot(ws, ws), "eb": eta_v * beta_v,
                          "step": xp.full((B,), math.nan, dtype=dtype, device=dev),
                          "it": xp.zeros((B,), dtype=xp.int64, device=dev),
                          "done": xp.zeros((B,), dtype=xp.bool, device=dev)}
    if y is not None:
        st["y"] = y
    st["ns"] = xp.sqrt(st["ns2"])
    st["u"] = prox(w, st)
    order = np.arange(B)
    retired: list[dict[str, Any]] = []  # finished trials removed from the working set
    rec_iter: list[int] = []
    rec_vals: list[tuple[Array, ...]] = []
    row_keys = ("w", "ws", "lam", "beta", "eta", "mu", "ns2", "ns", "eb", "step", "it", "done", "u")

    def gather_full(active_vals: list[Array], retired_key: str | None, retired_vals: list[Array]) -> list[Array]:
        """Reassemble per-trial arrays (active rows + retired rows) into the original trial order."""
        if not retired:
            return active_vals
        pos = np.concatenate([order] + [r["order"] for r in retired])
        inv = xp.asarray(np.argsort(pos, kind="stable"), device=dev)
        out = []
        for j, v in enumerate(active_vals):
            parts = [v] + [r[retired_key][j] if retired_key else r[retired_vals[j]] for r in retired]
            out.append(_take(xp, xp.concat(parts, axis=0), inv))
        return out

    def record(t: int) -> None:
        vals = list(metrics(st))
        rec_iter.append(t)
        rec_vals.append(tuple(gather_full(vals, "metrics", [])))

    if record_every is not None:
        record(0)

    # Divergence is checked at housekeeping only (every _HOUSEKEEPING_EVERY iterations): the iterates of the last
    # check (`ck`, finite) are kept, and when a row is found non-finite its iterations since then are replayed
    # (rows are independent) to find the first non-finite iterate.
    ck: dict[str, Any] = {"t": 0, "w": st["w"], "u": st["u"]}

    def nonfinite_rows(wa: Array) -> np.ndarray:
        return np.nonzero(~np.asarray(to_numpy(xp.all(xp.isfinite(wa), axis=-1)), dtype=bool).reshape(-1))[0]

    def raise_divergence(rows: np.ndarray, t_now: int) -> None:
        idx = xp.asarray(rows, device=dev)
        sub = {key: _take(xp, st[key], idx) for key in row_keys}
        sub["w"], sub["u"] = _take(xp, ck["w"], idx), _take(xp, ck["u"], idx)
        if y is not None:
            sub["y"] = _take(xp, st["y"], idx, axis=1)
        first = np.zeros(rows.size, dtype=np.int64)
        for tt in range(ck["t"] + 1, t_now + 1):
            sub["w"] = w_update(sub["w"], sub["u"], sub)
            sub["u"] = prox(sub["w"], sub)
            first[(first == 0) & np.isin(np.arange(rows.size), nonfinite_rows(sub["w"]))] = tt
        first[first == 0] = t_now  # (not reproduced: report the check's iteration)
        j = int(np.argmin(first))
        row_x = xp.asarray(np.asarray([rows[j]]), device=dev)
        ws_r, beta_r, eta_r = (_take(xp, st[key], row_x) for key in ("ws", "beta", "eta"))
        L = to_numpy(population.lipschitz_estimate(ws_r, k)).reshape(-1)[0]
        stable = 2.0 / (float(L) + float(to_numpy(beta_r)[0]))
        raise DivergenceError(int(order[rows[j]]), int(first[j]), float(to_numpy(eta_r)[0]), stable)

    use_tol = tol is not None
    t0 = time.monotonic()
    last_print = t0
    t = 0
    with np.errstate(all="ignore"):
        while t < iters:
            wa, ua = st["w"], st["u"]
            wn = w_update(wa, ua, st)
            un = prox(wn, st)
            t += 1
            need_step = use_tol or (record_every is not None and (t % record_every == 0 or t == iters))
            if need_step:
                diff = wn - wa
                step = xp.sqrt(xp.vecdot(diff, diff))
            if use_tol:
                moving = xp.logical_not(st["done"])
                m2 = xp.expand_dims(moving, axis=1)
                st["w"] = xp.where(m2, wn, wa)
                st["u"] = xp.where(m2, un, ua)
                st["step"] = xp.where(moving, step, st["step"])
                st["it"] = xp.where(moving, xp.asarray(t, dtype=xp.int64, device=dev), st["it"])
                st["done"] = xp.logical_or(st["done"], step < tol)
            else:
                st["w"], st["u"] = wn, un
                if need_step:
                    st["step"] = step
            if record_every is not None and t % record_every == 0:
                record(t)
            if t % _HOUSEKEEPING_EVERY == 0 or t == iters:
                bad_rows = nonfinite_rows(st["w"])
                if bad_rows.size:
                    raise_divergence(bad_rows, t)
                if use_tol:
                    done = to_numpy(st["done"])
                    n_done, n_act = int(done.sum()), int(done.size)
                    if n_done == n_act:
                        break
                    if n_done >= max(1.0, _COMPACT_FRACTION * n_act):
                        keep = np.nonzero(~done)[0]
                        gone = np.nonzero(done)[0]
                        gone_x = xp.asarray(gone, device=dev)
                        saved = {key: _take(xp, st[key], gone_x) for key in ("w", "u", "it", "done")}
                        if record_every is not None:
                            sub = {key: _take(xp, st[key], gone_x) for key in row_keys}
                            if y is not None:
                                sub["y"] = _take(xp, st["y"], gone_x, axis=1)
                            saved["metrics"] = list(metrics(sub))
                        saved["order"] = order[gone]
                        retired.append(saved)
                        keep_x = xp.asarray(keep, device=dev)
                        for key in row_keys:
                            st[key] = _take(xp, st[key], keep_x)
                        if y is not None:
                            st["y"] = _take(xp, st["y"], keep_x, axis=1)
                        order = order[keep]
                ck = {"t": t, "w": st["w"], "u": st["u"]}
                if progress and time.monotonic() - last_print >= _PROGRESS_SECONDS:
                    last_print = time.monotonic()
                    n_act = int(order.size)
                    print(f"rvsm: iteration {t}/{iters}, active trials {n_act}/{B}, elapsed {last_print - t0:.1f} s",
                          file=sys.stderr, flush=True)
    if not use_tol:
        st["it"] = xp.full_like(st["it"], t)
    if record_every is not None and rec_iter[-1] != t:
        record(t)

    w_f, u_f, it_f, done_f = gather_full([st["w"], st["u"], st["it"], st["done"]], None, ["w", "u", "it", "done"])
    history = None
    if record_every is not None:
        cols = list(zip(*rec_vals, strict=True))
        history = History(iteration=xp.asarray(np.asarray(rec_iter, dtype=np.int64), device=dev),
                          lagrangian=xp.stack(cols[0]), angle=xp.stack(cols[1]), support=xp.stack(cols[2]),
                          step=xp.stack(cols[3]))
    if not batched:
        w_f, u_f, it_f, done_f = w_f[0, ...], u_f[0, ...], it_f[0, ...], done_f[0, ...]
        if history is not None:
            history = History(history.iteration, *(v[:, 0] for v in (history.lagrangian, history.angle,
                                                                     history.support, history.step)))
    return RVSMResult(w=w_f, u=u_f, iterations=it_f, converged=done_f, history=history)
