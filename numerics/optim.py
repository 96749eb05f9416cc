"""RVSM for any PyTorch model: a ``torch.optim.Optimizer`` that keeps the sparse copy ``u`` of every weight.

This is the only module of :mod:`numerics` that imports torch (``import numerics`` does not import it). The prox is
the project's one implementation (:mod:`numerics.penalties`, array-API code that runs on torch tensors); the update is
the one of :func:`numerics.run`:

    u^0 = prox_{mu P}(w^0),
    w^{t+1} = w^t - lr (g^t + beta (w^t - u^t)),     g^t = grad l(w^t) (+ weight decay, momentum: see RVSM),
    u^{t+1} = prox_{mu P}(w^{t+1})      (``update="jacobi"``: prox_{mu P}(w^t)),     mu = lam / beta.

Typical use::

    opt = RVSM([{"params": weights}, {"params": biases, "lam": 0.0}], lr=0.1, penalty="tl1", a=1.0,
               lam=1e-3, beta=1.0)
    ...  loss.backward(); opt.step()  ...
    with opt.sparse_weights():          # evaluate the model with u in place of w
        accuracy = evaluate(model)
    opt.export_sparse()                 # write u into the weights for good

:class:`ProximalSGD` is the single-variable baseline ``w <- prox_{lr lam P}(w - lr grad l(w))``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import array_api_compat
import torch

from numerics.penalties import Penalty, expand_param
from numerics.problem import resolve_penalty

__all__ = ["RVSM", "ProximalSGD", "group_sparsity"]

_UPDATES = ("gauss-seidel", "jacobi")


def _check_weight(name: str, value: Any, *, positive: bool) -> float | torch.Tensor:
    """``lam`` (>= 0) or ``beta`` (> 0): a real number, or a 1-D tensor of one value per leading index."""
    allowed = f"{name} > 0" if positive else f"{name} >= 0"
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be a real number or a 1-D tensor ({allowed}); got {value!r}")
    if isinstance(value, torch.Tensor):
        if value.ndim > 1 or not value.is_floating_point() or value.numel() == 0:
            raise ValueError(f"{name} must be a real number or a non-empty 1-D floating tensor ({allowed}); got "
                             f"shape {tuple(value.shape)}, dtype {value.dtype}")
        v = value.detach()
        bad = ~torch.isfinite(v) | ((v <= 0) if positive else (v < 0))
        if bool(bad.any()):
            raise ValueError(f"{name} must be finite with {allowed}; got {value}")
        return v.clone()
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or a 1-D tensor ({allowed}); got {value!r}") from None
    if not (f == f and abs(f) != float("inf")) or (f <= 0 if positive else f < 0):
        raise ValueError(f"{name} must be finite with {allowed}; got {value!r}")
    return f


def _check_float(name: str, value: Any, low: float, high: float, *, high_open: bool = True) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number; got {value!r}") from None
    ok = low <= f < high if high_open else low <= f <= high
    if not ok:
        closing = ")" if high_open else "]"
        raise ValueError(f"{name} must be in [{low:g}, {high:g}{closing}; got {value!r}")
    return f


def _param(value: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A group weight on the parameter's dtype and device, expanded by the leading-axis rule of
    :func:`numerics.penalties.expand_param` (a (G,) tensor applies one value per slice ``p[g]``)."""
    if isinstance(value, torch.Tensor):
        value = value.to(dtype=like.dtype, device=like.device)
    else:
        value = torch.tensor(value, dtype=like.dtype, device=like.device)
    return expand_param("lam/beta", value, like, array_api_compat.array_namespace(like))


class _ProxOptimizer(torch.optim.Optimizer):
    """Shared parts: per-group penalty resolution (by name, so that ``state_dict`` stays plain data)."""

    _penalty_cache: dict[tuple[str, tuple[tuple[str, float], ...]], Penalty]

    def _resolve_group(self, group: dict[str, Any]) -> None:
        """Resolve the group's penalty once and keep it as plain data: its name and all its parameters
        (``penalty_params``, e.g. ``{"gamma": 3.0}`` for MCP), so that ``torch.save`` and
        ``torch.load(weights_only=True)`` round-trip it and two groups of one penalty with different parameters stay
        apart. ``a`` stays the shorthand for a parameter named ``a`` (TL1, SCAD), as in
        :func:`numerics.problem.resolve_penalty`."""
        pen, a, extra = group["penalty"], group.get("a"), group.get("penalty_params")
        if isinstance(pen, Penalty):
            if a is not None or extra:
                which = "a" if a is not None else "penalty_params"
                raise ValueError(f"{which} is only used with a penalty name (e.g. penalty='tl1', a=1.0); "
                                 f"the penalty object {pen!r} already carries its parameters")
            obj = pen
        else:
            obj = resolve_penalty(pen, a, params=extra)
        group["penalty"], group["penalty_params"] = obj.name, dict(obj.params)
        group["a"] = obj.params.get("a")
        self._penalty_cache[self._penalty_key(group)] = obj

    @staticmethod
    def _penalty_key(group: dict[str, Any]) -> tuple[str, tuple[tuple[str, float], ...]]:
        return group["penalty"], tuple(sorted(group["penalty_params"].items()))

    def penalty_of(self, group: dict[str, Any]) -> Penalty:
        """The :class:`numerics.penalties.Penalty` of a parameter group (its name and ``penalty_params``)."""
        key = self._penalty_key(group)
        if key not in self._penalty_cache:
            self._penalty_cache[key] = resolve_penalty(key[0], params=dict(key[1]))
        return self._penalty_cache[key]

    def _loss_direction(self, group: dict[str, Any], p: torch.Tensor) -> torch.Tensor:
        """The loss gradient plus weight decay, averaged by the damped momentum (``m^0 = g^0``) when asked: the
        direction both optimizers step along (the RVSM coupling is added apart, never averaged)."""
        mom, wd = group["momentum"], group["weight_decay"]
        g = p.grad if wd == 0 else p.grad + wd * p
        if mom == 0:
            return g
        st = self.state[p]
        buf = st.get("momentum_buffer")
        if buf is None:
            buf = st["momentum_buffer"] = g.detach().clone()
        else:
            buf.mul_(mom).add_(g, alpha=1.0 - mom)
        return buf

    def _prox(self, group: dict[str, Any], x: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        return self.penalty_of(group).prox_kernel(array_api_compat.array_namespace(x), x, mu)


class RVSM(_ProxOptimizer):
    """The relaxed variable splitting method as a PyTorch optimizer.

    Parameters
    ----------
    params : iterable of tensors or of dicts (parameter groups)
        A group may set its own ``lr``, ``penalty``, ``a``, ``lam``, ``beta``, ``momentum``, ``weight_decay``.
        Biases and normalization layers stay dense in a group with ``lam = 0`` (then ``u = w`` exactly and the
        coupling vanishes: plain (momentum) SGD) or when left out of the optimizer.
    lr : float
        Step size ``lr > 0`` (``eta`` of :func:`numerics.run`).
    penalty : str or Penalty
        A registered name (``"l1"``, ``"l0"``, ``"tl1"`` with ``a``, ``"mcp"``, ``"scad"``, ``"l_half"``,
        ``"log_sum"``; :data:`numerics.penalties.PENALTIES`) with its parameters, or a
        :class:`numerics.penalties.Penalty`.
    lam : float or 1-D tensor
        Penalty weight ``lam >= 0``. A tensor of shape (G,) applies ``lam[g]`` to the slice ``p[g]`` of every
        parameter of the group (stacked independent models, one per configuration: a whole sweep in one program).
    beta : float or 1-D tensor
        Coupling weight ``beta > 0`` (shape rule as ``lam``).
    a : float, optional
        The parameter named ``a`` of a penalty given by name (TL1 ``a > 0``, SCAD ``a > 2``).
    penalty_params : mapping, optional
        Any parameters of a penalty given by name, e.g. ``{"gamma": 3.0}`` (MCP) or ``{"eps": 0.5}`` (log-sum).
    momentum : float
        ``0 <= momentum < 1``: an exponential moving average of the loss gradient (Notes).
    weight_decay : float
        ``>= 0``: an l2 term ``(weight_decay / 2) |w|^2`` added to the loss (Notes).
    update : {"gauss-seidel", "jacobi"}
        ``u^{t+1} = prox(w^{t+1})`` (default) or ``prox(w^t)``, as :func:`numerics.run`.

    Notes
    -----
    Update order (the one of :func:`numerics.run`, default Gauss-Seidel), with ``mu = lam / beta``::

        u^0     = prox_{mu P}(w^0)                                 (at construction: w^0 is the weight given)
        g^t     = grad l(w^t) + weight_decay w^t                    (.grad of the parameter, plus the l2 term)
        m^t     = momentum m^{t-1} + (1 - momentum) g^t,  m^0 = g^0   (momentum = 0: m^t = g^t)
        w^{t+1} = w^t - lr (m^t + beta (w^t - u^t))
        u^{t+1} = prox_{mu P}(w^{t+1})                              ("jacobi": prox_{mu P}(w^t))

    Momentum and weight decay act on the loss gradient only, never on the coupling ``beta (w - u)``. The coupling is
    the exact gradient of the quadratic ``(beta/2)|w - u|^2`` with ``u`` known, not a noisy estimate, so averaging it
    only delays the pull toward ``u`` by ``~1 / (1 - momentum)`` steps; letting weight decay see it (as the
    authors' code does) rescales it. The momentum is the damped average (``dampening = momentum``), so at a
    stationary point ``m = g`` and the fixed points are RVSM's: ``grad l(w) + weight_decay w + beta (w - u) = 0``,
    ``u = prox_{mu P}(w)``, for every ``momentum`` (heavy-ball momentum without damping would multiply the loss
    gradient by ``1 / (1 - momentum)`` at stationarity and so change ``beta`` effectively). With ``momentum = 0``
    and ``weight_decay = 0`` a step is exactly the :func:`numerics.run` update.

    ``state[p]["u"]`` holds ``u`` (saved and restored by ``state_dict``); ``sparse_weights()`` evaluates the model
    with ``u`` in place of ``w``, ``export_sparse()`` writes ``u`` into the weights, ``sparsity()`` reports the
    fraction of exact zeros of ``u`` per group.
    """

    def __init__(self, params: Iterable[Any], lr: float, *, penalty: str | Penalty, lam: Any, beta: Any,
                 a: float | None = None, penalty_params: Mapping[str, float] | None = None, momentum: float = 0.0,
                 weight_decay: float = 0.0, update: str = "gauss-seidel") -> None:
        self._penalty_cache = {}
        defaults = {"lr": lr, "penalty": penalty, "a": a, "penalty_params": penalty_params, "lam": lam,
                    "beta": beta, "momentum": momentum, "weight_decay": weight_decay, "update": update}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (validated; the penalty resolved; ``u = prox(w)`` initialized for its parameters)."""
        super().add_param_group(param_group)
        g = self.param_groups[-1]
        g["lr"] = _check_float("lr", g["lr"], 0.0, float("inf"))
        if g["lr"] <= 0:
            raise ValueError(f"lr must be > 0; got {g['lr']!r}")
        g["lam"] = _check_weight("lam", g["lam"], positive=False)
        g["beta"] = _check_weight("beta", g["beta"], positive=True)
        g["momentum"] = _check_float("momentum", g["momentum"], 0.0, 1.0)
        g["weight_decay"] = _check_float("weight_decay", g["weight_decay"], 0.0, float("inf"))
        if g["update"] not in _UPDATES:
            raise ValueError(f"update must be one of {', '.join(map(repr, _UPDATES))}; got {g['update']!r}")
        self._resolve_group(g)
        with torch.no_grad():
            for p in g["params"]:
                if not p.is_floating_point():
                    raise ValueError(f"RVSM parameters must be floating tensors; got dtype {p.dtype}")
                self.state[p]["u"] = self._prox(g, p.detach().clone(), self._mu(g, p))

    @staticmethod
    def _mu(group: dict[str, Any], p: torch.Tensor) -> torch.Tensor:
        return _param(group["lam"], p) / _param(group["beta"], p)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One RVSM update of every parameter with a ``.grad`` (class Notes); returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                g = self._loss_direction(group, p)
                mu = self._mu(group, p)
                u = st["u"]
                w_old = p.detach().clone() if group["update"] == "jacobi" else None
                # w - lr (g + beta (w - u)), written as in numerics.run: w - lr * (g + beta * (w - u))
                p.sub_(lr * (g + _param(group["beta"], p) * (p - u)))
                st["u"] = self._prox(group, p.detach().clone() if w_old is None else w_old, mu)
        return loss

    # -- the sparse copy ---------------------------------------------------------------------------------------------
    def _params(self) -> Iterator[tuple[dict[str, Any], torch.Tensor]]:
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    @contextlib.contextmanager
    def sparse_weights(self) -> Iterator[None]:
        """Context manager: inside it every parameter holds ``u`` (the sparse weights); ``w`` is restored on exit,
        also after an exception. Use it to evaluate the sparse model (under ``torch.no_grad()``)."""
        saved = []
        with torch.no_grad():
            for _, p in self._params():
                saved.append(p.detach().clone())
                p.copy_(self.state[p]["u"])
        try:
            yield
        finally:
            with torch.no_grad():
                for (_, p), w in zip(self._params(), saved, strict=True):
                    p.copy_(w)

    @torch.no_grad()
    def export_sparse(self) -> None:
        """Write ``u`` into the weights (``w := u``) for export; the optimizer's state stays consistent
        (``u = prox(u)`` is not assumed: ``u`` is kept as it is)."""
        for _, p in self._params():
            p.copy_(self.state[p]["u"])

    def sparsity(self) -> list[dict[str, Any]]:
        """Per group: ``{"group": i, "zeros": n, "total": N, "fraction": n / N}``, the exact zeros of ``u``."""
        return group_sparsity(self, lambda p: self.state[p]["u"])


class ProximalSGD(_ProxOptimizer):
    """Proximal (stochastic) gradient descent: ``w <- prox_{lr lam P}(w - lr g)``, exact zeros in ``w`` itself.

    Parameters
    ----------
    params, lr, penalty, a, penalty_params, momentum, weight_decay
        As for :class:`RVSM` (``g`` is the damped momentum average of the loss gradient).
    lam : float or 1-D tensor
        ``lam >= 0``; a (G,) tensor applies ``lam[g]`` to the slice ``p[g]``.

    Notes
    -----
    ``w^{t+1} = prox_{lr lam P}(w^t - lr m^t)``: the forward-backward splitting step on ``l + lam P``. With
    ``penalty="l1"`` this is the l1 proximal SGD baseline (soft thresholding with threshold ``lr lam``).
    """

    def __init__(self, params: Iterable[Any], lr: float, *, penalty: str | Penalty, lam: Any,
                 a: float | None = None, penalty_params: Mapping[str, float] | None = None, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        self._penalty_cache = {}
        super().__init__(params, {"lr": lr, "penalty": penalty, "a": a, "penalty_params": penalty_params, "lam": lam,
                                  "momentum": momentum, "weight_decay": weight_decay})

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (validated, the penalty resolved)."""
        super().add_param_group(param_group)
        g = self.param_groups[-1]
        g["lr"] = _check_float("lr", g["lr"], 0.0, float("inf"))
        if g["lr"] <= 0:
            raise ValueError(f"lr must be > 0; got {g['lr']!r}")
        g["lam"] = _check_weight("lam", g["lam"], positive=False)
        g["momentum"] = _check_float("momentum", g["momentum"], 0.0, 1.0)
        g["weight_decay"] = _check_float("weight_decay", g["weight_decay"], 0.0, float("inf"))
        self._resolve_group(g)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One proximal gradient step of every parameter with a ``.grad``; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = self._loss_direction(group, p)
                p.copy_(self._prox(group, p - lr * g, lr * _param(group["lam"], p)))
        return loss

    def sparsity(self) -> list[dict[str, Any]]:
        """Per group: ``{"group": i, "zeros": n, "total": N, "fraction": n / N}``, the exact zeros of ``w``."""
        return group_sparsity(self, lambda p: p.detach())


def group_sparsity(optimizer: torch.optim.Optimizer, tensor_of: Any) -> list[dict[str, Any]]:
    """Exact zeros of ``tensor_of(p)`` over the parameters of each group of ``optimizer``.

    Returns
    -------
    list of dict
        ``{"group": i, "zeros": n, "total": N, "fraction": n / N}`` per group (``fraction`` NaN for an empty group).
    """
    out = []
    for i, group in enumerate(optimizer.param_groups):
        zeros = sum(int((tensor_of(p) == 0).sum()) for p in group["params"])
        total = sum(int(p.numel()) for p in group["params"])
        out.append({"group": i, "zeros": zeros, "total": total,
                    "fraction": zeros / total if total else float("nan")})
    return out
