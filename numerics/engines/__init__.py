"""Engines behind :func:`numerics.run`: the array engine (the default and the reference) and two fused ones.

==========  =============================================================================================
``"array"``  array-API code, one (B, d) operation at a time (:mod:`numerics.rvsm`); any backend
``"fused"``  a compiled CPU kernel (numba): each trial's whole trajectory in registers and L1, trials in
             parallel (:mod:`numerics.engines.fused`); NumPy arrays; needs the ``fused`` extra
``"jax"``    the array engine's own update (the same penalty and gradient code) with the loop under
             ``jax.jit`` / ``lax.while_loop`` (:mod:`numerics.engines.jax_engine`); CPU or GPU; needs the
             ``jax`` extra
==========  =============================================================================================

Every engine computes the same iteration with the same stopping rule, divergence report and history; the tests
compare the fused ones with the array engine to 1e-12 (float64). The name is validated once here
(:func:`check_engine`); an engine whose compiler is not installed raises :class:`EngineUnavailableError` naming the
extra to install. Nothing heavy is imported until an engine is used.
"""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["ENGINES", "EngineUnavailableError", "check_engine", "run_engine"]

#: The engines :func:`numerics.run` accepts.
ENGINES = ("array", "fused", "jax")

_NEEDS = {"fused": ("numba", "fused"), "jax": ("jax", "jax")}


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
