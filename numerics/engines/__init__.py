"""Engines behind :func:`numerics.run`: the array engine (the default and the reference) and two fused ones.

* ``"array"``: array-API code, one (B, d) operation at a time (:mod:`numerics.rvsm`); any backend.
* ``"fused"``: a compiled CPU kernel (numba): each trial's whole trajectory in registers and L1, trials in parallel
  (:mod:`numerics.engines.fused`); NumPy arrays; needs the ``fused`` extra.
* ``"jax"``: the array engine's own update (the same penalty and gradient code) with the loop under ``jax.jit`` /
  ``lax.while_loop`` (:mod:`numerics.engines.jax_engine`); CPU or GPU; needs the ``jax`` extra.

Every engine computes the same iteration with the same stopping rule, divergence report and history; the tests
compare the fused ones with the array engine to 1e-12 (float64). The name is validated once here
(:func:`check_engine`); an engine whose compiler is not installed raises :class:`EngineUnavailableError` naming the
extra to install. Nothing heavy is imported until an engine is used.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
from collections.abc import Iterator
from typing import Any

__all__ = ["ENGINES", "EngineUnavailableError", "check_engine", "choose_engine", "prefer", "run_engine", "supports"]

#: The engines :func:`numerics.run` accepts.
ENGINES = ("array", "fused", "jax")

_NEEDS = {"fused": ("numba", "fused"), "jax": ("jax", "jax")}
_PREFERRED: contextvars.ContextVar[str] = contextvars.ContextVar("numerics_engine", default="array")


class EngineUnavailableError(ImportError):
    """An engine was asked for whose compiler is not installed (the message names the extra)."""


def check_engine(engine: Any) -> str:
    """``engine`` validated: one of :data:`ENGINES`, with its compiler installed.

    Raises
    ------
    ValueError
        An unknown name (the message lists the engines).
    EngineUnavailableError
        ``"fused"`` without numba or ``"jax"`` without JAX (the message names the extra:
        ``pip install 'rvsm-toolkit[fused]'`` or ``[jax]``).
    """
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}")
    if engine in _NEEDS:
        module, extra = _NEEDS[engine]
        if importlib.util.find_spec(module) is None:
            raise EngineUnavailableError(
                f"engine={engine!r} needs {module}, which is not installed: install the {extra!r} extra "
                f"(pip install 'rvsm-toolkit[{extra}]') or use engine='array'")
    return engine


def run_engine(engine: str, start: Any, **options: Any) -> Any:
    """Run a validated non-array engine; ``start(w0)`` is the array engine's preparation (see
    :func:`numerics.engines.driver.drive` for the options)."""
    if engine == "fused":
        from numerics.engines import fused

        return fused.run_fused(start, **options)
    from numerics.engines import jax_engine

    return jax_engine.run_jax(start, **options)


def supports(engine: str, *, penalty: Any, w0: Any, gradient: Any) -> bool:
    """Whether ``engine`` runs this kind of problem: the fused engine takes NumPy start points, the gradients
    ``Population`` / ``ExpectedCoarse`` (or the default) and the built-in penalties; the JAX engine NumPy or JAX
    arrays; the array engine everything."""
    import numpy as np

    from numerics import gradients, penalties

    if engine == "fused":
        return (isinstance(w0, np.ndarray) and type(penalty) in (penalties.L1, penalties.L0, penalties.TL1)
                and (gradient is None or isinstance(gradient, (gradients.Population, gradients.ExpectedCoarse))))
    if engine == "jax":
        return isinstance(w0, np.ndarray) or type(w0).__module__.startswith("jax")
    return True


@contextlib.contextmanager
def prefer(engine: str) -> Iterator[str]:
    """Within the block, :func:`numerics.run` calls that name no engine use ``engine`` where it runs the problem
    (:func:`supports`) and the array engine elsewhere; results agree to rounding either way.

    For callers that run many problems, some of which only the array engine takes (``python -m checks --engine
    fused``). An explicit ``engine=`` argument is always obeyed. Raises as :func:`check_engine`.
    """
    token = _PREFERRED.set(check_engine(engine))
    try:
        yield engine
    finally:
        _PREFERRED.reset(token)


def choose_engine(engine: str | None, *, penalty: Any, w0: Any, gradient: Any) -> str:
    """The engine of one run: ``engine`` validated when given, else the preferred one (:func:`prefer`) where it
    supports the problem, else ``"array"``."""
    if engine is not None:
        return check_engine(engine)
    preferred = _PREFERRED.get()
    if preferred != "array" and supports(preferred, penalty=penalty, w0=w0, gradient=gradient):
        return preferred
    return "array"
