"""What a researcher would write instead of the engine: one trial at a time, in NumPy or in PyTorch with autograd.

These are deliberately *independent* implementations, written from the theory page, not from :mod:`numerics` (they share
no code with it), so that agreeing with the engine is evidence that both are right:

- NumPy loops: the closed-form gradient with ``arccos`` of the clipped cosine, the prox written out per penalty, the
  empirical gradient of one filter as two matrix-vector products, and a per-sample Monte Carlo loop.
- PyTorch autograd: an ``nn.Module`` holding the filter as a parameter (the closed-form population loss, or the
  patch network on the samples), ``loss.backward()`` with ``loss = l(w) + (beta/2)|w - u|^2`` (``u`` fixed), an
  ``SGD(lr=eta)`` step and then thresholding ``u = prox(w)`` under ``no_grad``: the structure of public RVSM code.

RVSM (theory page section 4): ``u^0 = prox(w^0)``, ``w^{t+1} = w^t - eta (grad l(w^t) + beta (w^t - u^t))``,
``u^{t+1} = prox(w^{t+1})`` with ``prox = prox_{(lam/beta) P}``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "mc_numpy_loop",
    "mc_torch_autograd",
    "prox_numpy",
    "rvsm_empirical_numpy_loop",
    "rvsm_empirical_torch_autograd",
    "rvsm_population_numpy_loop",
    "rvsm_population_torch_autograd",
]

_PI = math.pi


# ----------------------------------------------------------------------------------------------------------------------
# NumPy, one trial at a time
# ----------------------------------------------------------------------------------------------------------------------
def prox_numpy(x: np.ndarray, mu: float, penalty: str, a: float | None = None) -> np.ndarray:
    """``prox_{mu P}(x)`` for one vector, written out per penalty (ties at the threshold go to 0).

    Notes
    -----
    l1: ``sign(x) max(|x| - mu, 0)``; l0: ``x`` where ``|x| > sqrt(2 mu)``; TL1 (parameter ``a``): 0 where
    ``|x| <= t`` with ``t = mu (a+1)/a`` if ``mu <= a^2/(2(a+1))`` else ``sqrt(2 mu (a+1)) - a/2``, otherwise
    ``sign(x) [(2/3)(a+|x|) cos(phi/3) - 2a/3 + |x|/3]``, ``phi = arccos(1 - 27 mu a (a+1) / (2 (a+|x|)^3))``.
    """
    if penalty == "l1":
        return np.sign(x) * np.maximum(np.abs(x) - mu, 0.0)
    if penalty == "l0":
        return np.where(np.abs(x) > np.sqrt(2.0 * mu), x, 0.0)
    if penalty == "tl1":
        if mu == 0:
            return x.copy()
        ax = np.abs(x)
        if mu <= a * a / (2.0 * (a + 1.0)):
            thr = mu * (a + 1.0) / a
        else:
            thr = math.sqrt(2.0 * mu * (a + 1.0)) - a / 2.0
        phi = np.arccos(np.clip(1.0 - 27.0 * mu * a * (a + 1.0) / (2.0 * (a + ax) ** 3), -1.0, 1.0))
        mag = np.maximum(2.0 / 3.0 * (a + ax) * np.cos(phi / 3.0) - 2.0 * a / 3.0 + ax / 3.0, 0.0)
        return np.where(ax > thr, np.sign(x) * mag, 0.0)
    raise ValueError(f"penalty: unknown name {penalty!r}; known: l0, l1, tl1")


def _population_grad_numpy(w: np.ndarray, ws: np.ndarray, k: int) -> np.ndarray:
    """``(1/k^2) [A(w) w - k (pi - t)/pi w*]`` (theory page section 2), ``t = arccos`` of the clipped cosine, with
    ``A(w) = k + (k^2-k)/pi - k|w*| sin t/(pi|w|) - (k^2-k)|w*|/(pi|w|)``."""
    nw, ns = np.linalg.norm(w), np.linalg.norm(ws)
    t = math.acos(min(1.0, max(-1.0, float(w @ ws) / (nw * ns))))
    kk = k * k - k
    A = k + kk / _PI - k * ns * math.sin(t) / (_PI * nw) - kk * ns / (_PI * nw)
    return (A * w - (k * (_PI - t) / _PI) * ws) / (k * k)


def rvsm_population_numpy_loop(w_star: np.ndarray, w0: np.ndarray, k: int, penalty: str, lam: float, beta: float,
                               eta: float, iters: int, a: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Population RVSM, one trial after the other, ``iters`` iterations each.

    Parameters
    ----------
    w_star, w0 : arrays (n, d)
        Teachers and start points of the n trials.

    Returns
    -------
    w, u : arrays (n, d)
    """
    mu = lam / beta
    W, U = np.empty_like(w0), np.empty_like(w0)
    for b in range(w0.shape[0]):
        w, ws = w0[b].copy(), w_star[b]
        u = prox_numpy(w, mu, penalty, a)
        for _ in range(iters):
            w = w - eta * (_population_grad_numpy(w, ws, k) + beta * (w - u))
            u = prox_numpy(w, mu, penalty, a)
        W[b], U[b] = w, u
    return W, U


def rvsm_empirical_numpy_loop(Z: np.ndarray, y: np.ndarray, w0: np.ndarray, penalty: str, lam: float, beta: float,
                              eta: float, iters: int, a: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Empirical RVSM on shared samples, one trial after the other.

    Parameters
    ----------
    Z : array (N, k, d)
        Samples shared by all trials.
    y : array (N, n)
        Labels of each trial's teacher.
    w0 : array (n, d)
        Start points.

    Notes
    -----
    Gradient of ``(1/N) sum_n (f(Z_n; w) - y_n)^2``: ``(2/N) sum_n r_n (1/k) sum_i 1{Z_ni . w > 0} Z_ni``
    (theory page section 2), as two matrix-vector products with the flattened samples ``(N k, d)``.
    """
    n, k, d = Z.shape
    zf = Z.reshape(n * k, d)
    mu = lam / beta
    W, U = np.empty_like(w0), np.empty_like(w0)
    for b in range(w0.shape[0]):
        w = w0[b].copy()
        u = prox_numpy(w, mu, penalty, a)
        for _ in range(iters):
            pre = zf @ w
            r = np.maximum(pre, 0.0).reshape(n, k).mean(axis=1) - y[:, b]
            coef = (pre > 0) * np.repeat(r, k) * (2.0 / (n * k))
            w = w - eta * (coef @ zf + beta * (w - u))
            u = prox_numpy(w, mu, penalty, a)
        W[b], U[b] = w, u
    return W, U


def mc_numpy_loop(Z: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> tuple[float, np.ndarray]:
    """Monte Carlo loss and gradient at ``w``, one sample at a time.

    Returns
    -------
    loss : float
        ``(1/N) sum_n (f(Z_n; w) - f(Z_n; w*))^2``.
    grad : array (d,)
        ``(2/N) sum_n r_n (1/k) sum_i 1{Z_ni . w > 0} Z_ni``.
    """
    n, k, d = Z.shape
    total, g = 0.0, np.zeros(d)
    for i in range(n):
        zi = Z[i]
        pre = zi @ w
        r = np.maximum(pre, 0.0).mean() - np.maximum(zi @ w_star, 0.0).mean()
        total += r * r
        g += (2.0 * r / k) * ((pre > 0) @ zi)
    return total / n, g / n


# ----------------------------------------------------------------------------------------------------------------------
# PyTorch with autograd, one trial at a time
# ----------------------------------------------------------------------------------------------------------------------
def _torch_prox(torch: Any, x: Any, mu: float, penalty: str, a: float | None) -> Any:
    if penalty == "l1":
        return torch.sign(x) * torch.clamp(x.abs() - mu, min=0.0)
    if penalty == "l0":
        return torch.where(x.abs() > math.sqrt(2.0 * mu), x, torch.zeros_like(x))
    if penalty == "tl1":
        if mu == 0:
            return x.clone()
        ax = x.abs()
        thr = mu * (a + 1.0) / a if mu <= a * a / (2.0 * (a + 1.0)) else math.sqrt(2.0 * mu * (a + 1.0)) - a / 2.0
        phi = torch.arccos(torch.clamp(1.0 - 27.0 * mu * a * (a + 1.0) / (2.0 * (a + ax) ** 3), -1.0, 1.0))
        mag = torch.clamp(2.0 / 3.0 * (a + ax) * torch.cos(phi / 3.0) - 2.0 * a / 3.0 + ax / 3.0, min=0.0)
        return torch.where(ax > thr, torch.sign(x) * mag, torch.zeros_like(x))
    raise ValueError(f"penalty: unknown name {penalty!r}; known: l0, l1, tl1")


def _modules(torch: Any) -> tuple[type, type]:
    nn = torch.nn

    class ClosedFormLoss(nn.Module):
        """The population loss of the patch network as a module of its filter ``w`` (theory page section 2)."""

        def __init__(self, w0: Any, w_star: Any, k: int):
            super().__init__()
            self.w = nn.Parameter(w0.clone())
            self.register_buffer("w_star", w_star)
            self.k = k

        def forward(self) -> Any:
            w, ws, k = self.w, self.w_star, self.k
            nw, ns = torch.linalg.vector_norm(w), torch.linalg.vector_norm(ws)
            t = torch.arccos(torch.clamp(torch.dot(w, ws) / (nw * ns), -1.0, 1.0))
            g = nw * ns * (torch.sin(t) + (_PI - t) * torch.cos(t)) / (2 * _PI)
            return (k / 2 * (nw**2 + ns**2) - 2 * k * g + (k * k - k) / (2 * _PI) * (nw - ns) ** 2) / (k * k)

    class PatchCNN(nn.Module):
        """``f(Z; w) = (1/k) sum_i relu(Z_i . w)`` for samples ``Z`` of shape (N, k, d)."""

        def __init__(self, w0: Any):
            super().__init__()
            self.w = nn.Parameter(w0.clone())

        def forward(self, Z: Any) -> Any:
            return torch.relu(Z @ self.w).mean(dim=1)

    return ClosedFormLoss, PatchCNN


def _rvsm_torch(torch: Any, net: Any, loss_fn: Any, penalty: str, lam: float, beta: float, eta: float, iters: int,
                a: float | None) -> tuple[np.ndarray, np.ndarray]:
    mu = lam / beta
    opt = torch.optim.SGD(net.parameters(), lr=eta)
    with torch.no_grad():
        u = _torch_prox(torch, net.w, mu, penalty, a)
    for _ in range(iters):
        opt.zero_grad()
        total = loss_fn() + 0.5 * beta * torch.sum((net.w - u) ** 2)
        total.backward()
        opt.step()
        with torch.no_grad():
            u = _torch_prox(torch, net.w, mu, penalty, a)
    return net.w.detach().numpy().copy(), u.numpy().copy()


def rvsm_population_torch_autograd(w_star: np.ndarray, w0: np.ndarray, k: int, penalty: str, lam: float,
                                   beta: float, eta: float, iters: int,
                                   a: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Population RVSM with autograd through the closed-form loss, one trial at a time (float64, CPU).

    Returns
    -------
    w, u : arrays (n, d)
    """
    import torch

    ClosedFormLoss, _ = _modules(torch)
    W, U = np.empty_like(w0), np.empty_like(w0)
    for b in range(w0.shape[0]):
        net = ClosedFormLoss(torch.from_numpy(w0[b]), torch.from_numpy(w_star[b]), k)
        W[b], U[b] = _rvsm_torch(torch, net, net, penalty, lam, beta, eta, iters, a)
    return W, U


def rvsm_empirical_torch_autograd(Z: np.ndarray, y: np.ndarray, w0: np.ndarray, penalty: str, lam: float,
                                  beta: float, eta: float, iters: int,
                                  a: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Empirical RVSM with an ``nn.Module`` on the samples and autograd, one trial at a time (float64, CPU).

    Parameters
    ----------
    Z : array (N, k, d)
    y : array (N, n)
        Labels of each trial.
    w0 : array (n, d)
    """
    import torch

    _, PatchCNN = _modules(torch)
    Zt = torch.from_numpy(Z)
    W, U = np.empty_like(w0), np.empty_like(w0)
    for b in range(w0.shape[0]):
        net = PatchCNN(torch.from_numpy(w0[b]))
        yb = torch.from_numpy(np.ascontiguousarray(y[:, b]))

        def loss_fn(net=net, yb=yb):
            return torch.mean((net(Zt) - yb) ** 2)

        W[b], U[b] = _rvsm_torch(torch, net, loss_fn, penalty, lam, beta, eta, iters, a)
    return W, U


def mc_torch_autograd(Z: np.ndarray, w: np.ndarray, w_star: np.ndarray) -> tuple[float, np.ndarray]:
    """Monte Carlo loss and its gradient at ``w`` with an ``nn.Module`` and ``loss.backward()`` (all samples in one
    batch, as a PyTorch user writes it)."""
    import torch

    _, PatchCNN = _modules(torch)
    Zt = torch.from_numpy(Z)
    net = PatchCNN(torch.from_numpy(w))
    with torch.no_grad():
        y = torch.relu(Zt @ torch.from_numpy(w_star)).mean(dim=1)
    loss = torch.mean((net(Zt) - y) ** 2)
    loss.backward()
    return float(loss.detach()), net.w.grad.numpy().copy()
