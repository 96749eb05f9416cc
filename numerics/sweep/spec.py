"""A sweep spec: the grid, the trials per cell and the run's options, read from TOML and validated once.

A spec file has two tables::

    [sweep]                  # how every cell is run
    trials = 64              # trials per grid cell, >= 1
    block = 32               # trials per task (one batched engine call), >= 1; default min(trials, 4096)
    iters = 2000             # maximal iterations, >= 1
    tol = 1e-10              # stop a trial once its stationarity residual is below tol, > 0
    seed = 0                 # >= 0; teachers and start points derive from it and the grid index
    dtype = "float64"        # or "float32"
    backend = "numpy"        # or "torch"
    engine = "array"         # or "fused", "jax" (NumPy backend)
    match_tol = 1e-6         # optional: max-norm distance that counts as reaching the predicted limit

    [grid]                   # one axis per key; a scalar is an axis of length one
    penalty = ["l1", "l0", "tl1"]
    a = [1.0]                # TL1 parameter (> 0); cells of l1 / l0 do not use it
    lam = [1e-3, 1e-2]       # >= 0
    beta = [0.1, 1.0]        # > 0
    eta = [0.5]              # > 0
    k = [4]                  # >= 1
    d = [5]                  # >= 1
    teacher = ["sparse"]     # "gaussian" or "sparse"
    sparsity = [0.5]         # in [0, 1), round(sparsity d) < d; gaussian teachers do not use it
    init = ["sphere"]        # "sphere" or "angle:<degrees in [0, 180]>"

Every error is a :class:`SpecError` (a ValueError) whose one-line message starts with the key (``grid.lam``,
``sweep.trials``) and says the allowed range.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numerics import engines

__all__ = ["ENGINES", "GRID_AXES", "SpecError", "SweepSpec", "load_spec", "parse_spec"]

#: The grid axes, in the order of the store's dimensions (then ``trial``).
GRID_AXES = ("penalty", "a", "lam", "beta", "eta", "k", "d", "teacher", "sparsity", "init")
#: Engines of :func:`numerics.run` a spec may name ("array" is numerics.run's default).
ENGINES = engines.ENGINES
_GRID_DEFAULTS: dict[str, list[Any]] = {"a": [1.0], "eta": [0.5], "teacher": ["gaussian"], "sparsity": [0.0],
                                        "init": ["sphere"]}
_GRID_REQUIRED = ("penalty", "lam", "beta", "k", "d")
_SWEEP_KEYS = ("trials", "block", "iters", "tol", "seed", "dtype", "backend", "engine", "match_tol")
#: Default and largest block (trials per task): large enough to keep the engine vectorized, small enough to keep a
#: worker's working set at a few tens of MB for moderate d.
DEFAULT_BLOCK = 4096


class SpecError(ValueError):
    """A sweep spec that cannot be run; the message names the key (``grid.lam``) and its allowed range."""


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec (see the module docstring for the keys).

    Attributes
    ----------
    grid : dict
        Axis name -> tuple of values, for every axis of :data:`GRID_AXES` in that order.
    trials, block, iters, seed : int
    tol : float
    match_tol : float or None
    dtype, backend, engine : str
    """

    grid: dict[str, tuple[Any, ...]]
    trials: int
    block: int
    iters: int
    tol: float
    seed: int
    dtype: str
    backend: str
    engine: str
    match_tol: float | None

    @property
    def shape(self) -> tuple[int, ...]:
        """Cells along each grid axis."""
        return tuple(len(self.grid[a]) for a in GRID_AXES)

    @property
    def n_cells(self) -> int:
        return math.prod(self.shape)

    @property
    def n_blocks(self) -> int:
        """Tasks per cell: ``ceil(trials / block)``."""
        return -(-self.trials // self.block)

    @property
    def n_tasks(self) -> int:
        return self.n_cells * self.n_blocks

    @property
    def max_d(self) -> int:
        return max(self.grid["d"])

    def as_dict(self) -> dict[str, Any]:
        """The spec as plain data (what is stored and hashed), every default filled in."""
        return {"sweep": {k: getattr(self, k) for k in _SWEEP_KEYS},
                "grid": {a: list(self.grid[a]) for a in GRID_AXES}}

    def canonical_json(self) -> str:
        """Sorted-key JSON of :meth:`as_dict` (floats in their shortest round-trip form)."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        """SHA-256 of :meth:`canonical_json`: two specs run the same tasks iff their hashes agree."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def match_tolerance(self, k: int) -> float:
        """The distance below which a trial counts as having reached the predicted limit: ``match_tol`` if given,
        else ``max(1e-6, 100 k max(tol, eps))`` (the rule of ``python -m numerics run``: a stop at residual ``tol``
        leaves about ``k tol`` to the fixed point, since the smallest curvature is ``1/k``; rounding about ``k eps``).
        """
        if self.match_tol is not None:
            return self.match_tol
        eps = {"float64": 2.0 ** -52, "float32": 2.0 ** -23}[self.dtype]
        return max(1e-6, 100 * k * max(self.tol, eps))


def _err(key: str, msg: str) -> SpecError:
    return SpecError(f"spec key {key}: {msg}")


def _number(key: str, v: Any, *, integer: bool = False) -> float | int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)):
        raise _err(key, f"must be {'an integer' if integer else 'a number'}; got {v!r}")
    if isinstance(v, float) and not math.isfinite(v):
        raise _err(key, f"must be finite; got {v!r}")
    return v


def _check(key: str, v: Any, ok: bool, allowed: str) -> None:
    if not ok:
        raise _err(key, f"got {v!r}; allowed {allowed}")


def _axis(key: str, raw: Any) -> list[Any]:
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        raise _err(key, "empty list; give at least one value")
    return values


def _check_grid(grid: dict[str, list[Any]]) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for name in GRID_AXES:
        key, values = f"grid.{name}", grid[name]
        checked: list[Any] = []
        for v in values:
            if name == "penalty":
                _check(key, v, v in ("l1", "l0", "tl1"), "'l1', 'l0' or 'tl1'")
            elif name == "teacher":
                _check(key, v, v in ("gaussian", "sparse"), "'gaussian' or 'sparse'")
            elif name == "init":
                _check(key, v, isinstance(v, str) and (v == "sphere" or v.startswith("angle:")),
                       "'sphere' or 'angle:<degrees>'")
                if v != "sphere":
                    try:
                        deg = float(v.split(":", 1)[1])
                    except ValueError:
                        deg = math.nan
                    _check(key, v, 0.0 <= deg <= 180.0, "'angle:<degrees>' with 0 <= degrees <= 180")
            elif name in ("k", "d"):
                v = _number(key, v, integer=True)
                _check(key, v, v >= 1, f"{name} >= 1")
            else:
                v = float(_number(key, v))
                allowed = {"a": (v > 0, "a > 0"), "lam": (v >= 0, "lam >= 0"), "beta": (v > 0, "beta > 0"),
                           "eta": (v > 0, "eta > 0"), "sparsity": (0 <= v < 1, "0 <= sparsity < 1")}[name]
                _check(key, v, *allowed)
            checked.append(v)
        if len(set(checked)) != len(checked):
            raise _err(key, f"repeated value in {values!r}; every value of an axis must differ")
        out[name] = tuple(checked)
    if "sparse" in out["teacher"]:
        for s in out["sparsity"]:
            for d in out["d"]:
                if round(s * d) >= d:
                    raise _err("grid.sparsity", f"round({s} * d) = {round(s * d)} zeros leave no nonzero coordinate "
                                                f"for d = {d}; allowed round(sparsity d) < d")
    return out


def parse_spec(data: dict[str, Any]) -> SweepSpec:
    """Validate a spec given as data (the parsed TOML); :class:`SpecError` naming the first bad key."""
    if not isinstance(data, dict):
        raise SpecError(f"a spec is a table with [sweep] and [grid]; got {type(data).__name__}")
    for t in data:
        if t not in ("sweep", "grid"):
            raise _err(t, "unknown table; known: [sweep], [grid]")
    for t in ("sweep", "grid"):
        if not isinstance(data.get(t), dict):
            raise _err(t, f"missing table [{t}]" if t not in data else f"must be a table; got {data[t]!r}")
    sw, gr = data["sweep"], data["grid"]
    for key in sw:
        if key not in _SWEEP_KEYS:
            raise _err(f"sweep.{key}", f"unknown key; known: {', '.join(_SWEEP_KEYS)}")
    for key in gr:
        if key not in GRID_AXES:
            raise _err(f"grid.{key}", f"unknown key; known: {', '.join(GRID_AXES)}")
    for key in (*_GRID_REQUIRED,):
        if key not in gr:
            raise _err(f"grid.{key}", "missing; it has no default")
    for key in ("trials", "iters"):
        if key not in sw:
            raise _err(f"sweep.{key}", "missing; it has no default")
    grid = _check_grid({name: _axis(f"grid.{name}", gr.get(name, _GRID_DEFAULTS.get(name))) for name in GRID_AXES})

    trials = _number("sweep.trials", sw["trials"], integer=True)
    _check("sweep.trials", trials, trials >= 1, "trials >= 1")
    block = _number("sweep.block", sw.get("block", min(trials, DEFAULT_BLOCK)), integer=True)
    _check("sweep.block", block, 1 <= block, "block >= 1")
    block = min(block, trials)
    iters = _number("sweep.iters", sw["iters"], integer=True)
    _check("sweep.iters", iters, iters >= 1, "iters >= 1")
    tol = float(_number("sweep.tol", sw.get("tol", 1e-10)))
    _check("sweep.tol", tol, tol > 0, "tol > 0")
    seed = _number("sweep.seed", sw.get("seed", 0), integer=True)
    _check("sweep.seed", seed, seed >= 0, "seed >= 0")
    match_tol = sw.get("match_tol")
    if match_tol is not None:
        match_tol = float(_number("sweep.match_tol", match_tol))
        _check("sweep.match_tol", match_tol, match_tol > 0, "match_tol > 0")
    choices = {"dtype": ("float64", "float32"), "backend": ("numpy", "torch"), "engine": ENGINES}
    picked = {}
    for key, allowed in choices.items():
        v = sw.get(key, allowed[0])
        _check(f"sweep.{key}", v, v in allowed, " or ".join(map(repr, allowed)))
        picked[key] = v
    return SweepSpec(grid=grid, trials=trials, block=block, iters=iters, tol=tol, seed=seed, match_tol=match_tol,
                     **picked)


def _tomllib() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 reads TOML with the tomli backport (the sweep extra installs it)
        import tomli as tomllib
    return tomllib


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a TOML spec file; :class:`SpecError` for a missing file, bad TOML or a bad key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"spec file {str(path)!r}: cannot read it: {exc.strerror or exc}") from exc
    tomllib = _tomllib()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec file {str(path)!r}: not valid TOML: {exc}") from exc
    return parse_spec(data)


def spec_from_json(text: str) -> SweepSpec:
    """The spec stored in a sweep's store (:meth:`SweepSpec.canonical_json`), validated again."""
    return parse_spec(json.loads(text))
