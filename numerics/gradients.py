"""Gradient sources for the w-step of RVSM: one small class per model, one interface.

A gradient source says where ``grad l(w)`` comes from. :func:`numerics.run` binds it once to the batch of teachers
(:meth:`GradientSource.bind`) and then asks the bound object, per iteration, for the gradient of the active trials.

=====================  ================================================================================
:class:`Population`    the closed-form population gradient of the ReLU network (the default)
:class:`Empirical`     the gradient of the empirical loss of the ReLU network on N samples (shared by the trials)
:class:`ExpectedCoarse`  the binarized network's expected coarse gradient ``c (w/|w| - w*/|w*|)`` (closed form)
:class:`SampledCoarse`   the binarized network's coarse gradient on N samples
=====================  ================================================================================

A new model is a new pair of classes here (a source and its bound form), never a new branch in the loop. The bound
form implements :class:`BoundGradient`: ``loss``, either ``coefficients`` (when the gradient has the form
``q w - s w*`` with per-trial scalars, the cheaper update) or ``grad``, ``take`` (restrict to some trials, for the
loop's compaction) and, where the model's iteration lives on the unit sphere, ``project`` and ``project_with_norm``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import array_api_compat

from numerics import binary, model, population
from numerics._arrays import Array, check_positive_int, make_rng, to_float

__all__ = ["BoundGradient", "Empirical", "ExpectedCoarse", "GradientSource", "Population", "SampledCoarse"]


class BoundGradient(ABC):
    """A gradient source bound to the teachers ``w_star`` (B, d) of the active trials of a run."""

    w_star: Array

    def coefficients(self, w: Array) -> tuple[Array, Array] | None:
        """``(q, s)`` of shape (B,) with ``grad l(w) = q w - s w*``, or None when the gradient has no such form."""
        return None

    def grad(self, w: Array) -> Array:
        """``grad l(w)``, shape (B, d) (by default from :meth:`coefficients`)."""
        q, s = self.coefficients(w)  # type: ignore[misc]
        return q[:, None] * w - s[:, None] * self.w_star

    @abstractmethod
    def loss(self, w: Array) -> Array:
        """The loss ``l(w)`` of the model, shape (B,) (for the history's relaxed Lagrangian)."""

    @abstractmethod
    def take(self, idx: Array) -> BoundGradient:
        """The same source restricted to the trials ``idx`` (an integer index array)."""

    def project(self, w: Array) -> Array:
        """Applied after every w-step (identity unless the model's iteration is normalized)."""
        return w

    def project_with_norm(self, w: Array) -> tuple[Array, Array | None]:
        """:meth:`project` and, where the projection normalizes (``w -> w/|w|``), the norms ``|w|`` (B,) it divided
        by; None for a projection that does not normalize.

        The loop's stationarity measure needs those norms (:func:`numerics.run`, Notes: for a normalized iteration
        it bounds the tangential gradient). A source whose ``project`` normalizes overrides this method; the default
        is ``(self.project(w), None)``.
        """
        return self.project(w), None

    def smoothness(self) -> Array | None:
        """A smoothness constant ``L`` of ``grad l`` near the teacher, per trial (B,), or None when the model has
        none (then a divergence report gives no stable step size)."""
        return None


class GradientSource(ABC):
    """Where the gradient of the w-step comes from (see the module docstring)."""

    @abstractmethod
    def bind(self, w_star: Array, k: int) -> BoundGradient:
        """Bind to the teachers ``w_star`` of shape (B, d) (the backend, dtype and device of the run)."""

    def prepare_start(self, w0: Array) -> Array:
        """The start point as the iteration uses it (identity unless normalized); validated here."""
        return w0


def _take_rows(xp: Any, x: Array, idx: Array) -> Array:
    return xp.take(x, idx, axis=0)


def _normalize_rows(xp: Any, w: Array) -> tuple[Array, Array]:
    """``(w/|w|, |w|)`` row by row; rows with ``w = 0`` stay 0."""
    nw = xp.sqrt(xp.vecdot(w, w))
    pos = nw > 0
    return xp.where(pos[:, None], w / xp.where(pos, nw, xp.ones_like(nw))[:, None], w), nw


def _normalized_start(xp: Any, w0: Array) -> Array:
    n0 = xp.sqrt(xp.sum(w0 * w0, axis=-1, keepdims=True))
    if not bool(xp.all(n0 > 0)):
        raise ValueError("w0 must be nonzero (every row) when normalize=True")
    return w0 / n0


# ----------------------------------------------------------------------------------------------------------------------
# The ReLU network: closed-form population gradient
# ----------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Population(GradientSource):
    """The closed-form population gradient of the ReLU network (:func:`numerics.population.grad`).

    Notes
    -----
    ``grad l(w) = q w - s w*`` with ``s = (pi - t)/(k pi)`` and ``q = A(w)/k^2`` (``t = angle(w, w*)``), so the
    w-step is three (B, d) terms: ``(1 - eta (q + beta)) w + eta s w* + eta beta u``.
    """

    def bind(self, w_star: Array, k: int) -> BoundGradient:
        xp = array_api_compat.array_namespace(w_star)
        ns2 = xp.vecdot(w_star, w_star)
        return _BoundPopulation(xp, w_star, k, ns2, xp.sqrt(ns2))


@dataclass(frozen=True)
class _BoundPopulation(BoundGradient):
    xp: Any
    w_star: Array
    k: int
    ns2: Array
    ns: Array

    def coefficients(self, w: Array) -> tuple[Array, Array]:
        q, s, _ = population.coefficients_batch(self.xp, w, self.w_star, self.ns2, self.k, self.ns)
        return q, s

    def loss(self, w: Array) -> Array:
        return population.loss(w, self.w_star, self.k, validate=False)

    def smoothness(self) -> Array:
        return population.lipschitz_estimate(self.w_star, self.k, validate=False)

    def project_with_norm(self, w: Array) -> tuple[Array, None]:
        return w, None  # (no projection; one Python call less per iteration than the default)

    def take(self, idx: Array) -> BoundGradient:
        xp = self.xp
        return _BoundPopulation(xp, _take_rows(xp, self.w_star, idx), self.k, xp.take(self.ns2, idx),
                                xp.take(self.ns, idx))


# ----------------------------------------------------------------------------------------------------------------------
# Sampled networks (ReLU and binarized): samples shared by all trials, labels per trial
# ----------------------------------------------------------------------------------------------------------------------
def _samples(n_samples: int | None, samples: Any, seed: Any) -> tuple[int | None, Any, Any]:
    """Validate the sample options: drawn (``n_samples`` with a valid ``seed``) or given (``samples``), not both."""
    if n_samples is not None:
        n_samples = check_positive_int("n_samples", n_samples)
    if samples is None and n_samples is None:
        raise ValueError("n_samples must be given (n_samples >= 1) for a sampled gradient without samples")
    if samples is not None and n_samples is not None:
        raise ValueError("give either n_samples (drawn samples) or samples (explicit ones), not both")
    if samples is None:
        make_rng(seed)  # the seed rule of numerics: an integer >= 0, a SeedSequence or a Generator; None is rejected
    return n_samples, samples, seed


def _bind_samples(n_samples: int | None, samples: Any, seed: Any, w_star: Array, k: int,
                  label_fn: Any) -> tuple[Any, Array, Array, int]:
    """Flattened samples ``zf`` (N k, d), labels (N, B) and N, on the backend of ``w_star``."""
    xp = array_api_compat.array_namespace(w_star)
    b, d = int(w_star.shape[0]), int(w_star.shape[1])
    dev = array_api_compat.device(w_star)
    if samples is None:
        Z = model.sample_patches(n_samples, k, d, seed=seed, xp=xp, device=dev, dtype=w_star.dtype)
        y = None
    else:
        Z, y = (samples, None) if array_api_compat.is_array_api_obj(samples) else (*tuple(samples), None)[:2]
        if not array_api_compat.is_array_api_obj(Z) or Z.ndim != 3 or int(Z.shape[1]) != k or int(Z.shape[2]) != d:
            raise ValueError(f"samples Z must have shape (N, k, d) = (N, {k}, {d}); got "
                             f"{tuple(getattr(Z, 'shape', ()))}")
        if array_api_compat.is_numpy_array(Z) and not array_api_compat.is_numpy_array(w_star):
            Z = xp.asarray(Z, dtype=w_star.dtype, device=dev)
        Z = to_float(Z, xp, like=w_star)
        if not bool(xp.all(xp.isfinite(Z))):
            raise ValueError("samples Z must be finite (found NaN or inf)")
    n = int(Z.shape[0])
    if y is None:
        y = label_fn(Z, w_star)  # (N, B)
    else:
        if array_api_compat.is_numpy_array(y) and not array_api_compat.is_numpy_array(w_star):
            y = xp.asarray(y, dtype=w_star.dtype, device=dev)
        y = to_float(y, xp, like=w_star)
        if not bool(xp.all(xp.isfinite(y))):
            raise ValueError("samples labels y must be finite (found NaN or inf)")
        if y.ndim == 1 and int(y.shape[0]) == n:
            y = xp.expand_dims(y, axis=1)
        if y.ndim != 2 or int(y.shape[0]) != n or int(y.shape[1]) not in (1, b):
            raise ValueError(f"samples labels y must have shape (N,) or (N, B) = ({n}, {b}); got {tuple(y.shape)}")
        y = xp.asarray(xp.broadcast_to(y, (n, b)), copy=True)
    return Z, xp.reshape(Z, (n * k, d)), y, n


@dataclass(frozen=True, eq=False)
class Empirical(GradientSource):
    """The gradient of the empirical loss of the ReLU network on N samples, shared by all trials.

    Parameters
    ----------
    n_samples : int, optional
        Number of samples drawn with :func:`numerics.model.sample_patches` and ``seed`` (unless ``samples``).
    samples : array (N, k, d) or tuple (Z,) or (Z, y), optional
        Explicit samples, and labels y of shape (N,) or (N, B) (by default ``y = f(Z; w*)`` per trial).
    seed : int >= 0, numpy SeedSequence or Generator
        Seed of the drawn samples (default 0; None is rejected, so every run is reproducible).

    Notes
    -----
    ``grad l_N(w) = (2/N) sum_n r_n (1/k) sum_i 1{Z_ni . w > 0} Z_ni``, ``r_n = f(Z_n; w) - y_n``: two matrix
    products per iteration (:func:`numerics.model.loss_and_grad_batch`).
    """

    n_samples: int | None = None
    samples: Any = None
    seed: Any = 0

    def __post_init__(self) -> None:
        _samples(self.n_samples, self.samples, self.seed)

    def bind(self, w_star: Array, k: int) -> BoundGradient:
        xp = array_api_compat.array_namespace(w_star)
        # Z was checked finite by _bind_samples (or drawn), w* by Problem: the labels skip a second check
        _, zf, y, n = _bind_samples(self.n_samples, self.samples, self.seed, w_star, k,
                                    lambda Z, ws: model.labels(Z, ws, validate=False))
        return _BoundSampled(xp, w_star, k, zf, None, y, n, None)


@dataclass(frozen=True)
class _BoundSampled(BoundGradient):
    """Empirical ReLU gradient (``ste is None``) or sampled coarse gradient of the binarized network."""

    xp: Any
    w_star: Array
    k: int
    zf: Array
    zsum: Array | None
    y: Array
    n: int
    ste: str | None
    normalize: bool = False

    def _both(self, w: Array) -> tuple[Array, Array]:
        if self.ste is None:
            return model.loss_and_grad_batch(self.xp, self.zf, w, self.y, self.n, self.k)
        return binary.loss_and_coarse_grad_batch(self.xp, self.zf, self.zsum, w, self.y, self.n, self.k, self.ste)

    def grad(self, w: Array) -> Array:
        return self._both(w)[1]

    def smoothness(self) -> Array | None:
        # the empirical ReLU gradient's expectation is the population gradient: its constant is the estimate
        return None if self.ste is not None else population.lipschitz_estimate(self.w_star, self.k, validate=False)

    def loss(self, w: Array) -> Array:
        return self._both(w)[0]

    def take(self, idx: Array) -> BoundGradient:
        xp = self.xp
        return _BoundSampled(xp, _take_rows(xp, self.w_star, idx), self.k, self.zf, self.zsum,
                             xp.take(self.y, idx, axis=1), self.n, self.ste, self.normalize)

    def project(self, w: Array) -> Array:
        return _normalize_rows(self.xp, w)[0] if self.normalize else w

    def project_with_norm(self, w: Array) -> tuple[Array, Array | None]:
        return _normalize_rows(self.xp, w) if self.normalize else (w, None)


# ----------------------------------------------------------------------------------------------------------------------
# The binarized network: coarse (straight-through) gradients
# ----------------------------------------------------------------------------------------------------------------------
def _check_coarse(ste: Any, normalize: Any) -> None:
    if ste not in binary.STES:
        raise ValueError(f"ste must be one of {', '.join(repr(v) for v in binary.STES)}; got {ste!r}")
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize must be True or False; got {normalize!r}")


@dataclass(frozen=True)
class ExpectedCoarse(GradientSource):
    """The expected coarse gradient of the binarized network, ``c (w/|w| - w*/|w*|)`` in closed form.

    Parameters
    ----------
    ste : {"relu", "identity"}
        Straight-through estimator: ``sigma'`` replaced by ``1{t > 0}`` (``c = 1/(k sqrt(2 pi))``) or by 1
        (``c = 2/(k sqrt(2 pi))``), :func:`numerics.binary.coarse_coefficient`.
    normalize : bool
        After each w-step set ``w <- w/|w|`` (the start is normalized first and must be nonzero). The binarized
        network's loss and coarse gradient depend on the direction of ``w`` only; its limit is then predicted by
        :func:`numerics.predict_binary`.

    Notes
    -----
    ``E g = q w - s w*`` with ``q = c/|w|``, ``s = c/|w*|`` (both 0 at ``w = 0`` for the ReLU STE; ``q = 0``,
    ``s = c/|w*|`` there for the identity STE, :func:`numerics.binary.expected_coarse_grad`).
    """

    ste: str = "relu"
    normalize: bool = False

    def __post_init__(self) -> None:
        _check_coarse(self.ste, self.normalize)

    def bind(self, w_star: Array, k: int) -> BoundGradient:
        xp = array_api_compat.array_namespace(w_star)
        return _BoundExpectedCoarse(xp, w_star, k, binary.coarse_coefficient(k, self.ste),
                                    xp.sqrt(xp.vecdot(w_star, w_star)), self.ste, self.normalize)

    def prepare_start(self, w0: Array) -> Array:
        return _normalized_start(array_api_compat.array_namespace(w0), w0) if self.normalize else w0


@dataclass(frozen=True)
class _BoundExpectedCoarse(BoundGradient):
    xp: Any
    w_star: Array
    k: int
    c: float
    ns: Array
    ste: str
    normalize: bool

    def coefficients(self, w: Array) -> tuple[Array, Array]:
        xp = self.xp
        nw = xp.sqrt(xp.vecdot(w, w))
        pos = nw > 0
        q = xp.where(pos, self.c / xp.where(pos, nw, xp.ones_like(nw)), xp.zeros_like(nw))
        s = self.c / self.ns
        return q, (xp.where(pos, s, xp.zeros_like(s)) if self.ste == "relu" else s)

    def loss(self, w: Array) -> Array:
        return binary.loss(w, self.w_star, self.k, validate=False)

    def take(self, idx: Array) -> BoundGradient:
        xp = self.xp
        return _BoundExpectedCoarse(xp, _take_rows(xp, self.w_star, idx), self.k, self.c, xp.take(self.ns, idx),
                                    self.ste, self.normalize)

    def project(self, w: Array) -> Array:
        return _normalize_rows(self.xp, w)[0] if self.normalize else w

    def project_with_norm(self, w: Array) -> tuple[Array, Array | None]:
        return _normalize_rows(self.xp, w) if self.normalize else (w, None)


@dataclass(frozen=True, eq=False)
class SampledCoarse(GradientSource):
    """The coarse gradient of the binarized network on N samples shared by all trials.

    Parameters
    ----------
    ste, normalize
        As :class:`ExpectedCoarse`.
    n_samples, samples, seed
        As :class:`Empirical` (labels ``y = f(Z; w*)`` of the binarized teacher unless given).

    Notes
    -----
    ``g_N(w) = (2/N) sum_n r_n (1/k) sum_i mu'(Z_ni . w) Z_ni`` with ``mu'`` the STE's derivative
    (:func:`numerics.binary.coarse_grad`); its expectation is :class:`ExpectedCoarse`.
    """

    ste: str = "relu"
    normalize: bool = False
    n_samples: int | None = None
    samples: Any = None
    seed: Any = 0

    def __post_init__(self) -> None:
        _check_coarse(self.ste, self.normalize)
        _samples(self.n_samples, self.samples, self.seed)

    def bind(self, w_star: Array, k: int) -> BoundGradient:
        xp = array_api_compat.array_namespace(w_star)
        Z, zf, y, n = _bind_samples(self.n_samples, self.samples, self.seed, w_star, k, binary.labels)
        zsum = xp.sum(Z, axis=1) if self.ste == "identity" else None
        return _BoundSampled(xp, w_star, k, zf, zsum, y, n, self.ste, self.normalize)

    def prepare_start(self, w0: Array) -> Array:
        return _normalized_start(array_api_compat.array_namespace(w0), w0) if self.normalize else w0
