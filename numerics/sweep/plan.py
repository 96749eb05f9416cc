"""The tasks of a sweep and their seeds.

A task is one block of one grid cell's trials: cell index ``(i_penalty, i_a, ..., i_init)`` (the order of
:data:`numerics.sweep.spec.GRID_AXES`) and block ``b`` (trials ``b * block`` to ``min((b + 1) * block, trials)``).
Tasks are numbered cell-major: ``task = flat_cell * n_blocks + b``. Every random draw of a task derives from the
spec's ``seed`` and the task's grid index through :class:`numpy.random.SeedSequence` spawn keys, never from the order
in which a scheduler runs the tasks, so a task computes the same numbers whenever and wherever it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from numerics.sweep.spec import GRID_AXES, SweepSpec

__all__ = ["Task", "cell_values", "start_seed", "task", "teacher_seed"]

#: First spawn-key entry of each stream (teachers and start points never share a stream).
_TEACHER_STREAM, _START_STREAM = 0, 1


@dataclass(frozen=True)
class Task:
    """One block of one cell: ``index`` (the task number), ``cell`` (grid index), ``block``, trials
    ``[start, stop)`` of the cell."""

    index: int
    cell: tuple[int, ...]
    block: int
    start: int
    stop: int

    @property
    def n(self) -> int:
        return self.stop - self.start


def task(spec: SweepSpec, index: int) -> Task:
    """Task number ``index`` of ``spec`` (``0 <= index < spec.n_tasks``)."""
    if not 0 <= index < spec.n_tasks:
        raise ValueError(f"task index must be in [0, {spec.n_tasks}); got {index}")
    flat, block = divmod(index, spec.n_blocks)
    cell = tuple(int(i) for i in np.unravel_index(flat, spec.shape))
    start = block * spec.block
    return Task(index, cell, block, start, min(spec.trials, start + spec.block))


def cell_values(spec: SweepSpec, cell: tuple[int, ...]) -> dict[str, Any]:
    """Axis name -> value of the cell."""
    return {a: spec.grid[a][i] for a, i in zip(GRID_AXES, cell, strict=True)}


def teacher_seed(spec: SweepSpec, cell: tuple[int, ...]) -> np.random.SeedSequence:
    """The teacher's seed: from ``seed`` and the cell's (d, teacher, sparsity) indices only, so every cell with the
    same d, teacher family and sparsity learns the same teacher (a phase diagram then shows the effect of the
    method's parameters on one teacher, not a new teacher per cell)."""
    idx = dict(zip(GRID_AXES, cell, strict=True))
    # a Gaussian teacher does not use the sparsity axis: every sparsity value of it is the same teacher
    sparsity = idx["sparsity"] if spec.grid["teacher"][idx["teacher"]] == "sparse" else 0
    return np.random.SeedSequence(spec.seed, spawn_key=(_TEACHER_STREAM, idx["d"], idx["teacher"], sparsity))


def start_seed(spec: SweepSpec, t: Task) -> int:
    """The seed of the task's start points (a 63-bit integer): from ``seed``, the flat cell index and the block."""
    flat = int(np.ravel_multi_index(t.cell, spec.shape))
    ss = np.random.SeedSequence(spec.seed, spawn_key=(_START_STREAM, flat, t.block))
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
