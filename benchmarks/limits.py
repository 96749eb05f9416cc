"""The machine's own limits, measured in the same run: memory bandwidth and the matrix-product rate.

Both are measured with plain NumPy on the CPU (the reference of every comparator row) and, for a GPU backend, with that
backend's own arrays on its device, so that each engine row is compared with the limit of the device it ran on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.backends import Backend
from benchmarks.timing import measure

__all__ = ["Bandwidth", "MatmulRate", "bandwidth", "matmul_rate"]


@dataclass(frozen=True)
class Bandwidth:
    """Memory bandwidth in bytes per second.

    Attributes
    ----------
    copy, add : float
        ``b[:] = a`` (2 arrays moved) and ``c = a + b`` (3 arrays moved), each counted as the bytes read plus
        written (STREAM convention; write-allocate traffic is not counted).
    best : float
        ``max(copy, add)``: the limit the benchmarks compare with.
    nbytes : int
        Size of one array (far larger than the last-level cache).
    """

    copy: float
    add: float
    best: float
    nbytes: int


@dataclass(frozen=True)
class MatmulRate:
    """Floating-point rate of the given matrix-product shapes.

    Attributes
    ----------
    flops : float
        ``2 m n p`` summed over the shapes.
    seconds : float
        Best time of all the products together (the limit: the fastest the machine did them).
    rate : float
        ``flops / seconds`` (flop/s).
    shapes : tuple
        ``((m, n), (n, p))`` pairs.
    """

    flops: float
    seconds: float
    rate: float
    shapes: tuple[tuple[tuple[int, int], tuple[int, int]], ...]


def _copy_fn(backend: Backend, a, b):
    if backend.name in ("numpy", "cupy"):
        xp = backend.xp
        return lambda: xp.copyto(b, a)
    if backend.name in ("torch", "torch_cuda"):
        return lambda: b.copy_(a)
    return lambda: (a + 0.0).block_until_ready()  # JAX: immutable arrays, a fresh output array


def bandwidth(backend: Backend, nbytes: int = 256 * 2**20, repeats: int = 5) -> Bandwidth:
    """Measure copy and add bandwidth on arrays of ``nbytes`` bytes (float64) of ``backend``.

    Notes
    -----
    copy: ``2 * nbytes / t``; add ``c = a + b``: ``3 * nbytes / t`` (best of ``repeats`` after a warm-up).
    """
    n = max(1, nbytes // 8)
    host = np.random.default_rng(0).standard_normal(n)
    a, b = backend.asarray(host), backend.asarray(host[::-1].copy())
    c = backend.asarray(np.zeros(n))
    t_copy = measure(_copy_fn(backend, a, c), repeats=repeats, sync=backend.sync).best
    if backend.name in ("numpy", "cupy"):
        xp = backend.xp

        def add():
            xp.add(a, b, out=c)
    elif backend.name in ("torch", "torch_cuda"):
        torch = backend.xp

        def add():
            torch.add(a, b, out=c)
    else:
        def add():
            (a + b).block_until_ready()
    t_add = measure(add, repeats=repeats, sync=backend.sync).best
    copy_bw, add_bw = 2 * n * 8 / t_copy, 3 * n * 8 / t_add
    return Bandwidth(copy=copy_bw, add=add_bw, best=max(copy_bw, add_bw), nbytes=n * 8)


def matmul_rate(backend: Backend, shapes: list[tuple[tuple[int, int], tuple[int, int]]], repeats: int = 5,
                seed: int = 0) -> MatmulRate:
    """Rate of ``backend.xp.matmul`` on the given shapes, all products timed together (best of ``repeats``).

    Notes
    -----
    flops = sum over the shapes of ``2 m n p`` for an (m, n) @ (n, p) product.
    """
    rng = np.random.default_rng(seed)
    pairs = []
    for (m, n), (n2, p) in shapes:
        if n != n2:
            raise ValueError(f"shapes: inner dimensions differ in {(m, n)} @ {(n2, p)}")
        pairs.append((backend.asarray(rng.standard_normal((m, n))), backend.asarray(rng.standard_normal((n, p)))))
    xp = backend.xp

    def run():
        out = [xp.matmul(x, y) for x, y in pairs]
        if backend.name == "jax_gpu":
            for o in out:
                o.block_until_ready()
        return out

    t = measure(run, repeats=repeats, sync=backend.sync)
    flops = float(sum(2 * m * n * p for (m, n), (_, p) in shapes))
    return MatmulRate(flops=flops, seconds=t.best, rate=flops / t.best, shapes=tuple(shapes))
