"""The array backends the engine is benchmarked on: NumPy, torch CPU, and torch CUDA / CuPy / JAX when a GPU is present.

A backend that is not installed, or a GPU backend without a GPU, is reported with the reason it was skipped; nothing
here imports torch, CuPy or JAX unless they are installed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CPU_BACKENDS", "GPU_BACKENDS", "Backend", "detect"]

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
