"""Smoke test of the benchmarks (the engine against per-trial loops, autograd and the machine's limits) on a tiny
configuration: the table's structure, and that every comparator computes the same result as the engine (the
comparators are correct implementations, not just timed code). No test here asserts a time."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchmarks import reference, report, structure, workloads
from benchmarks.__main__ import main, run
from benchmarks.backends import detect, torch_threads
from benchmarks.timing import measure

# Agreement with the engine: same float64 arithmetic up to operation order, over <= 40 contracting iterations; a
# wrong comparator (mutation tests below) differs by O(1e-2) or more.
AGREE = 1e-10


@pytest.fixture(scope="module")
def tiny_run():
    lines: list[str] = []
    rows, meta = run(workloads.TINY, with_structure=False, log=lines.append)
    return rows, meta, lines


@pytest.fixture(scope="module")
def tiny(tiny_run):
    return tiny_run[:2]


def test_table_structure(tiny):
    rows, meta = tiny
    timed = [r for r in rows if r.workload != "all"]
    cases = {(r.workload, r.case) for r in timed}
    assert {("W1", p) for p in workloads.TINY.penalties} | {("W2", workloads.TINY.w2_penalty)} <= cases
    assert any(w == "W3" for w, _ in cases)
    for wl, case in cases:
        group = [r for r in timed if (r.workload, r.case) == (wl, case)]
        eng = [r for r in group if r.implementation == workloads.ENGINE and r.backend == "numpy"]
        assert len(eng) == 1 and eng[0].ratio == 1.0
        impls = {r.implementation for r in group}
        assert any("numpy loop" in i for i in impls)
        for r in group:
            assert r.seconds is not None and r.seconds > 0 and math.isfinite(r.ratio)
            assert r.limit_value is not None and r.limit_value > 0
            assert r.limit_name in ("passes over state", "fraction of matmul rate", "passes over Z")
    text = report.format_table(rows)
    assert text.splitlines()[0].split()[:2] == ["workload", "case"]
    assert len(text.splitlines()) == len(rows) + 1
    assert {"bandwidth[numpy] (GB/s)", "matmul rate W2 shapes[numpy] (GFLOP/s)"} <= set(meta["limits"])


def test_every_comparator_agrees_with_engine(tiny):
    rows, _ = tiny
    compared = [r for r in rows if r.workload != "all" and not (r.implementation == workloads.ENGINE
                                                                  and r.backend == "numpy") and "draw" not in
                r.implementation]
    names = {r.implementation for r in compared}
    assert "numpy loop (per trial)" in names and "numpy loop (per sample)" in names
    try:
        import torch  # noqa: F401
        assert {"torch autograd (per trial)", "torch autograd (batched)"} <= names
    except ImportError:
        pass
    for r in compared:
        assert r.max_abs_diff is not None, r
        assert r.max_abs_diff < AGREE, r


def test_gpu_rows_skip_cleanly(tiny):
    rows, meta = tiny
    _, skipped = detect()
    for name, why in skipped.items():
        assert meta["skipped"][name] == why
        assert any(r.backend == name and r.seconds is None and r.note == why for r in rows)


def test_cli_writes_json_and_markdown_only_under_out(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["--profile", "tiny", "--no-structure", "--repeats", "1", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["benchmarks.json", "benchmarks.md"]
    data = json.loads((out / "benchmarks.json").read_text())
    assert {"meta", "rows"} <= set(data) and data["rows"]
    assert {"workload", "implementation", "seconds", "ratio", "limit_value", "max_abs_diff"} <= set(data["rows"][0])
    md = (out / "benchmarks.md").read_text()
    assert "| workload | case | implementation |" in md
    assert "ratio to engine" in capsys.readouterr().out


def test_progress_has_a_line_per_measurement(tiny_run):
    rows, _, lines = tiny_run
    for r in rows:
        if r.workload == "all" or "draw" in r.implementation:
            continue
        name = f"{r.implementation} [{r.backend}]" if r.implementation == workloads.ENGINE else r.implementation
        assert any(ln.startswith(f"{r.workload} {r.case}: {name} ") for ln in lines), (r, lines)
    assert lines[0].startswith("threads: ") and any(ln.startswith("W1 done in") for ln in lines)


def test_torch_runs_with_one_thread_reported_and_restored(tiny):
    torch = pytest.importorskip("torch")
    _, meta = tiny
    assert meta["threads"]["torch intra-op"].startswith("1 (set for the benchmarks")
    assert "OMP_NUM_THREADS=" in meta["threads"]["environment"] and meta["threads"]["BLAS (NumPy)"]
    before = torch.get_num_threads()
    with torch_threads(None) as settings:  # None leaves torch's default alone and says so
        assert torch.get_num_threads() == before and "untouched" in settings["torch intra-op"]
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before  # the global setting is restored for the rest of the process
    with pytest.raises(ValueError, match="torch threads"), torch_threads(0):
        pass


@pytest.mark.parametrize("kind", ["file", "inside a file", "empty", "unwritable"])
def test_bad_out_exits_2_with_one_line_before_measuring(tmp_path, monkeypatch, capsys, kind):
    import benchmarks.__main__ as cli
    import numerics._io

    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"file": str(afile), "inside a file": str(afile / "sub"), "empty": "", "unwritable": str(tmp_path)}[kind]
    if kind == "unwritable":  # as root a chmod would not stop the write: the permission query says no instead
        monkeypatch.setattr(numerics._io.os, "access", lambda path, mode: False)

    def forbidden(*args, **kwargs):
        raise AssertionError("nothing may be measured when --out is bad")

    monkeypatch.setattr(cli, "run", forbidden)
    assert main(["--profile", "tiny", "--out", out]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured
    assert captured.err.startswith("python -m benchmarks: error: --out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_interrupted_write_leaves_the_previous_files_and_no_temporary_file(tiny, tmp_path, monkeypatch):
    from numerics import _io

    rows, meta = tiny
    report.write(rows, meta, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = _io.write_text

    def interrupted(path, text):  # the JSON is written in full, the Markdown is cut midway
        if ".md." in path.name:
            real(path, text[: len(text) // 2])
            raise KeyboardInterrupt
        real(path, text + "changed")

    monkeypatch.setattr(_io, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.write(rows, meta, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


# ----------------------------------------------------------------------------------------------------------------------
# The agreement check can fail: deliberately wrong comparators are reported as different from the engine
# ----------------------------------------------------------------------------------------------------------------------
def _engine_w1(pen, iters=30):
    import numerics as nm

    cfg = workloads.TINY
    ws, w0 = workloads.problem(4, 5, 1)
    prob = nm.Problem(ws, cfg.k, pen, cfg.lam, cfg.beta, a=cfg.a if pen == "tl1" else None)
    res = nm.run(prob, w0, eta=cfg.eta, iters=iters)
    return ws, w0, (res.w, res.u)


@pytest.mark.parametrize("pen", ["l1", "l0", "tl1"])
def test_numpy_loop_matches_engine_and_a_wrong_threshold_does_not(pen, monkeypatch):
    cfg = workloads.TINY
    a = cfg.a if pen == "tl1" else None
    ws, w0, eng = _engine_w1(pen)
    good = reference.rvsm_population_numpy_loop(ws, w0, cfg.k, pen, cfg.lam, cfg.beta, cfg.eta, 30, a)
    assert workloads._diff(eng, good) < AGREE
    right = reference.prox_numpy

    def wrong(x, mu, penalty, a=None):  # l0 at threshold mu instead of sqrt(2 mu); l1 / TL1 with mu doubled
        if penalty == "l0":
            return np.where(np.abs(x) > mu, x, 0.0)
        return right(x, 2.0 * mu, penalty, a)

    monkeypatch.setattr(reference, "prox_numpy", wrong)
    bad = reference.rvsm_population_numpy_loop(ws, w0, cfg.k, pen, cfg.lam, cfg.beta, cfg.eta, 30, a)
    assert workloads._diff(eng, bad) > 1e-3


def test_wrong_gradient_constant_is_caught(monkeypatch):
    cfg = workloads.TINY
    ws, w0, eng = _engine_w1("l1")
    right = reference._population_grad_numpy
    monkeypatch.setattr(reference, "_population_grad_numpy", lambda w, s, k: 0.5 * right(w, s, k))  # loss with 1/2
    bad = reference.rvsm_population_numpy_loop(ws, w0, cfg.k, "l1", cfg.lam, cfg.beta, cfg.eta, 30)
    assert workloads._diff(eng, bad) > 1e-3


def test_monte_carlo_loop_matches_engine_and_catches_a_dropped_factor():
    from numerics import model

    rng = np.random.default_rng(5)
    Z, w, ws = rng.standard_normal((300, 3, 4)), rng.standard_normal(4), rng.standard_normal(4)
    y = model.labels(Z, ws)
    loss, grad = reference.mc_numpy_loop(Z, w, ws)
    assert abs(loss - model.empirical_loss(w, Z, y)) < 1e-12
    np.testing.assert_allclose(grad, model.empirical_grad(w, Z, y), rtol=0, atol=1e-12)
    # a dropped factor 2 in the gradient is far outside that tolerance
    assert np.max(np.abs(0.5 * grad - model.empirical_grad(w, Z, y))) > 1e-3


def test_no_python_loop_over_trials_or_samples():
    cfg = workloads.TINY
    assert structure.calls_per_iteration("W1", cfg, 4) == structure.calls_per_iteration("W1", cfg, 64)
    assert structure.calls_per_iteration("W2", cfg, 8, (4, 8)) == structure.calls_per_iteration("W2", cfg, 128, (4, 8))


def test_measure_validates_repeats():
    with pytest.raises(ValueError, match="repeats"):
        measure(lambda: None, repeats=0)
    t = measure(lambda: 7, repeats=2)
    assert t.result == 7 and len(t.times) == 2 and t.best <= t.median
