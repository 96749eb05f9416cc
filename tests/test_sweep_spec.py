"""Sweep specs: every bad key is refused up front with a one-line error naming it; tasks and seeds depend on the
spec and the grid index only."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from numerics.sweep import SPECS, SpecError, example_spec, load_spec, parse_spec
from numerics.sweep.plan import start_seed, task, teacher_seed
from numerics.sweep.spec import GRID_AXES

BASE = {"sweep": {"trials": 10, "block": 4, "iters": 100},
        "grid": {"penalty": ["l1", "tl1"], "lam": [0.0, 1e-2], "beta": 0.5, "k": 3, "d": [2, 4],
                 "teacher": "sparse", "sparsity": 0.25}}


def _with(table: str, key: str, value) -> dict:
    data = copy.deepcopy(BASE)
    if value is _DROP:
        del data[table][key]
    else:
        data[table][key] = value
    return data


_DROP = object()


@pytest.mark.parametrize(("table", "key", "value", "named"), [
    ("sweep", "trials", 0, "sweep.trials"),
    ("sweep", "trials", 2.5, "sweep.trials"),
    ("sweep", "trials", _DROP, "sweep.trials"),
    ("sweep", "block", 0, "sweep.block"),
    ("sweep", "iters", True, "sweep.iters"),
    ("sweep", "tol", -1.0, "sweep.tol"),
    ("sweep", "tol", float("nan"), "sweep.tol"),
    ("sweep", "seed", -3, "sweep.seed"),
    ("sweep", "dtype", "float16", "sweep.dtype"),
    ("sweep", "backend", "cupy", "sweep.backend"),
    ("sweep", "engine", "turbo", "sweep.engine"),
    ("sweep", "match_tol", 0.0, "sweep.match_tol"),
    ("sweep", "iterations", 5, "sweep.iterations"),
    ("grid", "penalty", ["l2"], "grid.penalty"),
    ("grid", "penalty", _DROP, "grid.penalty"),
    ("grid", "a", [0.0], "grid.a"),
    ("grid", "lam", [-1e-3], "grid.lam"),
    ("grid", "lam", [], "grid.lam"),
    ("grid", "lam", [0.1, 0.1], "grid.lam"),
    ("grid", "beta", [0.0], "grid.beta"),
    ("grid", "eta", ["fast"], "grid.eta"),
    ("grid", "k", [0], "grid.k"),
    ("grid", "d", [2.0], "grid.d"),
    ("grid", "teacher", ["uniform"], "grid.teacher"),
    ("grid", "sparsity", [1.0], "grid.sparsity"),
    ("grid", "sparsity", [0.9], "grid.sparsity"),  # round(0.9 * 2) = 2 zeros of d = 2
    ("grid", "init", ["angle:200"], "grid.init"),
    ("grid", "init", ["random"], "grid.init"),
    ("grid", "lamda", [0.1], "grid.lamda"),
])
def test_a_bad_key_is_named_in_one_line(table, key, value, named):
    with pytest.raises(SpecError) as err:
        parse_spec(_with(table, key, value))
    msg = str(err.value)
    assert msg.startswith(f"spec key {named}:"), msg
    assert "\n" not in msg


def test_unknown_table_and_bad_toml_are_refused(tmp_path):
    with pytest.raises(SpecError, match="spec key grids: unknown table"):
        parse_spec({**BASE, "grids": {}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[sweep]\ntrials = \n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.toml")


def test_defaults_are_filled_in_and_part_of_the_hash():
    spec = parse_spec(BASE)
    assert spec.grid["eta"] == (0.5,) and spec.grid["init"] == ("sphere",) and spec.tol == 1e-10
    assert spec.engine == "array" and spec.dtype == "float64"
    assert tuple(spec.grid) == GRID_AXES
    assert spec.shape == (2, 1, 2, 1, 1, 1, 2, 1, 1, 1) and spec.n_blocks == 3 and spec.n_tasks == 24
    explicit = _with("sweep", "tol", 1e-10)
    assert parse_spec(explicit).sha256 == spec.sha256  # a default written out is the same spec
    assert parse_spec(_with("sweep", "iters", 101)).sha256 != spec.sha256
    assert parse_spec(_with("grid", "lam", [1e-2, 0.0])).sha256 != spec.sha256  # axis order is the layout


def test_the_example_specs_validate():
    names = sorted(p.stem for p in SPECS.glob("*.toml"))
    assert {"tiny", "phase_diagram", "phase_diagram_step", "ten_million"} <= set(names)
    for name in names:
        spec = load_spec(example_spec(name))
        assert spec.n_tasks >= 1
    big = load_spec(example_spec("ten_million"))
    assert big.n_cells * big.trials == 10**7
    with pytest.raises(ValueError, match=f"unknown example spec 'nope'; known: {', '.join(names)}"):
        example_spec("nope")


def test_tasks_cover_every_trial_once():
    spec = parse_spec(BASE)
    seen = {}
    for i in range(spec.n_tasks):
        t = task(spec, i)
        for j in range(t.start, t.stop):
            assert (t.cell, j) not in seen
            seen[(t.cell, j)] = i
    assert len(seen) == spec.n_cells * spec.trials
    assert [task(spec, i).n for i in range(3)] == [4, 4, 2]
    with pytest.raises(ValueError, match="task index"):
        task(spec, spec.n_tasks)


def test_seeds_come_from_the_seed_and_the_grid_index():
    spec = parse_spec(BASE)
    seeds = [start_seed(spec, task(spec, i)) for i in range(spec.n_tasks)]
    assert len(set(seeds)) == spec.n_tasks  # every task its own stream
    assert seeds == [start_seed(spec, task(spec, i)) for i in reversed(range(spec.n_tasks))][::-1]
    other = parse_spec(_with("sweep", "seed", 1))
    assert start_seed(other, task(other, 0)) != seeds[0]
    # the teacher depends on (d, teacher, sparsity) only: every lam, beta, penalty of one d learns the same one
    a, b = task(spec, 0).cell, task(spec, spec.n_tasks - 1).cell
    same_d = tuple(a[i] if GRID_AXES[i] != "d" else b[i] for i in range(len(a)))
    assert teacher_seed(spec, same_d).spawn_key == teacher_seed(spec, b).spawn_key
    assert teacher_seed(spec, a).spawn_key != teacher_seed(spec, b).spawn_key
    # the iteration count does not move the random draws (only the spec's seed and the grid index do)
    longer = parse_spec(_with("sweep", "iters", 500))
    assert start_seed(longer, task(longer, 5)) == seeds[5]


def test_the_specs_engine_runs_the_task_and_agrees_with_the_array_engine():
    """``sweep.engine`` reaches numerics.run: a fused task's per-trial results equal the array engine's to the 1e-12
    that the engines are held to (flags and iteration counts exactly), and an engine that cannot run the spec's
    backend is refused naming the key, before any task runs."""
    import importlib.util

    from numerics.sweep.task import check_engine, run_task

    if importlib.util.find_spec("numba") is None:
        pytest.skip("the fused engine needs numba")
    base = _with("grid", "penalty", ["l1", "tl1"])
    array = parse_spec(base)
    fused = parse_spec({**base, "sweep": {**base["sweep"], "engine": "fused"}})
    for i in range(array.n_tasks):
        (ta, _), (tf, _) = run_task(array, task(array, i)), run_task(fused, task(fused, i))
        for key, ref in ta.items():
            if ref.dtype.kind == "f":
                np.testing.assert_allclose(tf[key], ref, rtol=1e-12, atol=1e-12, err_msg=key)
            else:
                np.testing.assert_array_equal(tf[key], ref, err_msg=key)
    torch_fused = parse_spec({**base, "sweep": {**base["sweep"], "engine": "fused", "backend": "torch"}})
    with pytest.raises(SpecError, match=r"spec key sweep.engine: 'fused' runs NumPy arrays"):
        check_engine(torch_fused)


def test_a_gaussian_teacher_is_one_teacher_whatever_the_sparsity_axis():
    """Gaussian teachers do not use ``sparsity``: cells that differ only there learn the same teacher, while sparse
    teachers of different sparsity are different draws."""
    from numerics.sweep.task import cell_teacher

    grid = {**BASE["grid"], "teacher": ["gaussian", "sparse"], "sparsity": [0.0, 0.5], "d": [6]}
    spec = parse_spec({**BASE, "grid": grid})
    axes = list(GRID_AXES)

    def cell(teacher: int, sparsity: int) -> tuple[int, ...]:
        idx = [0] * len(axes)
        idx[axes.index("teacher")], idx[axes.index("sparsity")] = teacher, sparsity
        return tuple(idx)

    np.testing.assert_array_equal(cell_teacher(spec, cell(0, 0)), cell_teacher(spec, cell(0, 1)))
    assert not np.array_equal(cell_teacher(spec, cell(1, 0)), cell_teacher(spec, cell(1, 1)))
