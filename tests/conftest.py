"""Shared pytest fixtures: the array-backend fixture ``xp`` (in the style of SciPy's array-API test setup).

``xp`` is parametrized over every installed backend: numpy, array_api_strict, torch (CPU), and, when a GPU is
present, torch on CUDA, CuPy and jax.numpy. Select a subset with ``RVSM_BACKENDS=numpy,torch`` (names as in the test
ids). Backends that are not installed, or that need a GPU where none is present, are skipped with a reason.

Tests receive a :class:`Backend` with ``xp`` (the namespace), ``device`` (or None) and ``name``; ``backend.asarray``
creates float64 arrays on the right device.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest


@dataclass(frozen=True)
class Backend:
    name: str
    xp: Any
    device: Any = None

    def asarray(self, x, dtype=None):
        dtype = self.xp.float64 if dtype is None else dtype
        if self.device is None:
            return self.xp.asarray(x, dtype=dtype)
        return self.xp.asarray(x, dtype=dtype, device=self.device)

    def to_numpy(self, x) -> np.ndarray:
        if hasattr(x, "detach"):
            return x.detach().cpu().numpy()
        if self.name == "cupy":
            return x.get()
        if self.name == "array_api_strict":
            import array_api_strict

            return np.asarray(array_api_strict.asarray(x, device=array_api_strict.Device("CPU_DEVICE")))
        return np.asarray(x)


def _load(name: str) -> Backend:
    if name == "numpy":
        return Backend("numpy", np)
    if name == "array_api_strict":
        mod = importlib.import_module("array_api_strict")
        return Backend(name, mod)
    if name == "torch":
        torch = importlib.import_module("torch")
        return Backend(name, torch, torch.device("cpu"))
    if name == "torch_cuda":
        torch = importlib.import_module("torch")
        if not torch.cuda.is_available():
            pytest.skip("torch_cuda: no CUDA device")
        # an array on the GPU reports an indexed device ("cuda:0"), which does not compare equal to "cuda"
        return Backend(name, torch, torch.device("cuda", torch.cuda.current_device()))
    if name == "cupy":
        cp = importlib.import_module("cupy")
        try:
            cp.cuda.runtime.getDeviceCount()
        except Exception:
            pytest.skip("cupy: no CUDA device")
        return Backend(name, cp)
    if name == "jax":
        jax = importlib.import_module("jax")
        if not any(dev.platform == "gpu" for dev in jax.devices()):
            pytest.skip("jax: exercised only on a GPU (CPU JAX is not part of the CI matrix)")
        jax.config.update("jax_enable_x64", True)
        return Backend(name, importlib.import_module("jax.numpy"))
    raise ValueError(name)


ALL_BACKENDS = ("numpy", "array_api_strict", "torch", "torch_cuda", "cupy", "jax")
_MODULE_OF = {"torch_cuda": "torch", "jax": "jax"}


def _selected() -> list[str]:
    env = os.environ.get("RVSM_BACKENDS")
    if env:
        names = [n.strip() for n in env.split(",") if n.strip()]
        unknown = set(names) - set(ALL_BACKENDS)
        if unknown:
            raise pytest.UsageError(f"RVSM_BACKENDS: unknown backend(s) {sorted(unknown)}; known {ALL_BACKENDS}")
        return names
    return list(ALL_BACKENDS)


def _params():
    params = []
    for name in _selected():
        marks = [pytest.mark.gpu] if name in ("torch_cuda", "cupy", "jax") else []
        try:
            importlib.import_module(_MODULE_OF.get(name, name))
        except ImportError:
            marks.append(pytest.mark.skip(reason=f"{name} is not installed"))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


@pytest.fixture(params=_params())
def backend(request) -> Backend:
    """An array backend (see module docstring)."""
    return _load(request.param)


@pytest.fixture
def xp(backend):
    """The array namespace of the current backend."""
    return backend.xp
