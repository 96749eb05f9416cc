"""The array backends the engine is benchmarked on: NumPy, torch CPU, and torch CUDA / CuPy / JAX when a GPU is present.

A backend that is not installed, or a GPU backend without a GPU, is reported with the reason it was skipped; nothing
here imports torch, CuPy or JAX unless they are installed.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CPU_BACKENDS", "GPU_BACKENDS", "THREAD_ENV", "Backend", "detect", "torch_threads"]

#: environment variables that set the thread pools of the BLAS libraries and OpenMP (read once, at library load)
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")

CPU_BACKENDS = ("numpy", "torch")
GPU_BACKENDS = ("torch_cuda", "cupy", "jax_gpu")


@dataclass(frozen=True)
class Backend:
    """One array backend on one device.

    Attributes
    ----------
    name : str
        ``"numpy"``, ``"torch"`` (CPU), ``"torch_cuda"``, ``"cupy"`` or ``"jax_gpu"``.
    xp : module
        The array namespace the engine receives (arrays of this namespace are passed to :func:`numerics.run`).
    device : Any
        Device for array creation (None: the namespace's default).
    gpu : bool
        Whether the backend runs on a GPU.
    """

    name: str
    xp: Any
    device: Any = None
    gpu: bool = False
    _sync: Callable[[], None] = field(default=lambda: None, repr=False)

    def asarray(self, x: np.ndarray) -> Any:
        """Copy a NumPy float64 array to this backend (float64)."""
        if self.name == "jax_gpu":
            return self.xp.asarray(x, dtype=self.xp.float64)
        if self.device is None:
            return self.xp.asarray(x, dtype=self.xp.float64)
        return self.xp.asarray(x, dtype=self.xp.float64, device=self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        """Copy an array of this backend to NumPy (synchronizes)."""
        if hasattr(x, "detach"):
            return x.detach().cpu().numpy()
        if self.name == "cupy":
            return x.get()
        return np.asarray(x)

    def sync(self) -> None:
        """Wait for queued device work (no-op on the CPU)."""
        self._sync()


def _numpy() -> Backend:
    return Backend("numpy", np)


def _torch(cuda: bool) -> Backend:
    torch = importlib.import_module("torch")
    if not cuda:
        return Backend("torch", torch, torch.device("cpu"))
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device")
    return Backend("torch_cuda", torch, torch.device("cuda"), gpu=True, _sync=torch.cuda.synchronize)


def _cupy() -> Backend:
    cp = importlib.import_module("cupy")
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing: cupy raises its own runtime error type
        raise RuntimeError(f"no CUDA device ({type(exc).__name__})") from exc
    if n < 1:
        raise RuntimeError("no CUDA device")
    return Backend("cupy", cp, gpu=True, _sync=lambda: cp.cuda.Device().synchronize())


def _jax() -> Backend:
    jax = importlib.import_module("jax")
    if not any(dev.platform == "gpu" for dev in jax.devices()):
        raise RuntimeError("no GPU device for JAX")
    jax.config.update("jax_enable_x64", True)
    jnp = importlib.import_module("jax.numpy")

    def sync() -> None:
        jax.effects_barrier()

    return Backend("jax_gpu", jnp, gpu=True, _sync=sync)


_LOADERS: dict[str, Callable[[], Backend]] = {
    "numpy": _numpy, "torch": lambda: _torch(False), "torch_cuda": lambda: _torch(True), "cupy": _cupy,
    "jax_gpu": _jax,
}


def detect(names: tuple[str, ...] = CPU_BACKENDS + GPU_BACKENDS) -> tuple[list[Backend], dict[str, str]]:
    """Load the backends that are usable here.

    Returns
    -------
    backends : list of Backend
        In the order of ``names``.
    skipped : dict
        ``name -> reason`` for each backend that is not installed or has no device (e.g. ``"not run (no GPU)"``).
    """
    found, skipped = [], {}
    for name in names:
        if name not in _LOADERS:
            raise ValueError(f"backend: unknown name {name!r}; known: {', '.join(_LOADERS)}")
        try:
            found.append(_LOADERS[name]())
        except ImportError:
            skipped[name] = "not installed" + (" (no GPU)" if name in GPU_BACKENDS else "")
        except RuntimeError as exc:
            skipped[name] = f"not run (no GPU): {exc}"
    return found, skipped


def _blas_threads() -> str:
    """The BLAS thread pools of this process as threadpoolctl sees them, or why they are unknown."""
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (threadpoolctl not installed; see the environment variables)"
    pools = threadpoolctl.threadpool_info()
    return ", ".join(f"{p.get('internal_api')} {p.get('num_threads')}" for p in pools) or "none loaded"


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[dict[str, str]]:
    """Run the block with torch's intra-op thread count set to ``n`` (``None``: torch's default, untouched), and
    restore the previous count after it. Yields the thread settings in effect, for the report.

    Why the benchmarks default to one torch thread: NumPy's BLAS and torch each keep a pool of worker threads that
    spin for a while after each parallel call. In one process, on a machine with few cores, torch's default pool
    (one thread per core) competes with NumPy's on the same cores and with whatever else runs: on a 2-core machine
    under load the torch rows came out 3 to 100 times slower than NumPy, and with one thread they matched. With
    ``n = 1`` the torch rows measure the backend, not oversubscription; the NumPy engine's elementwise work is single
    threaded too, so W1 and W3 compare like with like (W2's matrix products use NumPy's BLAS threads, reported here).
    """
    settings = {"environment": ", ".join(f"{var}={os.environ.get(var, '(unset)')}" for var in THREAD_ENV),
                "BLAS (NumPy)": _blas_threads()}
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        settings["torch intra-op"] = "torch not installed"
        yield settings
        return
    before = torch.get_num_threads()
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"torch threads must be an integer >= 1 (or None for torch's default); got {n!r}")
        torch.set_num_threads(n)
    settings["torch intra-op"] = (f"{torch.get_num_threads()} (set for the benchmarks; it was {before})"
                                  if n is not None else f"{before} (torch's default, untouched)")
    settings["torch inter-op"] = str(torch.get_num_interop_threads())
    try:
        yield settings
    finally:
        torch.set_num_threads(before)
