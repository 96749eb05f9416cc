"""Tests of ``python -m numerics run``: outputs, teacher generator, bad arguments (exit code 2, one line), what the
summary says about convergence, atomic output, chunked large runs, progress and the memory check."""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import numerics as nm
from numerics import cli

HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_small_run_writes_csv_and_json(tmp_path, capsys):
    out = tmp_path / "res"
    code = cli.main(["run", "--penalty", "tl1", "--a", "1", "--lam", "1e-3", "--beta", "0.1", "--eta", "0.5",
                     "--d", "8", "--k", "4", "--trials", "12", "--iters", "5000", "--tol", "1e-11", "--seed", "3",
                     "--teacher", "sparse", "--sparsity", "0.25", "--out", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "converged 100.0%" in printed and "support recovery" in printed
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12 and tuple(rows[0].keys()) == cli.CSV_COLUMNS
    for r in rows:
        assert all(math.isfinite(float(r[c])) for c in cli.CSV_COLUMNS)
        assert int(r["support_true"]) == 6  # round(0.25 * 8) = 2 zeros
        assert int(r["false_pos"]) == 0  # u_bar is zero wherever w* is (theory page section 5)
        # distance to the predicted limit: the stop at residual |grad l(w) + beta (w - u)| < tol leaves ~ k tol
        assert float(r["dist_u_support"]) < 1e-8 and int(r["support_consistent"]) == 1
        assert float(r["residual"]) < 1e-11 and int(r["reached_limit"]) == 1 and int(r["opposite"]) == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["penalty"] == "tl1" and settings["trials"] == 12 and settings["a"] == 1.0
    assert settings["csv_columns"] == list(cli.CSV_COLUMNS)
    assert settings["summary"]["converged_fraction"] == 1.0
    assert settings["csv_rows"] == 12
    assert settings["csv_sha256"] == hashlib.sha256((out / "results.csv").read_bytes()).hexdigest()
    # only the options that were used: no start angle (sphere starts), no samples (population), no device (numpy)
    assert settings["sparsity"] == 0.25 and settings["teacher"] == "sparse"
    assert not {"init_angle", "samples", "device"} & set(settings)
    assert sorted(os.listdir(out)) == ["results.csv", "settings.json"]  # no temporary file left


def test_runs_are_deterministic_under_the_seed(tmp_path):
    args = ["run", "--penalty", "l0", "--lam", "1e-2", "--d", "5", "--k", "3", "--trials", "4", "--iters", "300",
            "--gradient", "empirical", "--samples", "50", "--quiet", "--seed", "9"]
    for name in ("a", "b"):
        assert cli.main([*args, "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a" / "results.csv").read_text() == (tmp_path / "b" / "results.csv").read_text()


def test_make_teachers():
    w = nm.make_teachers(500, 10, kind="sparse", sparsity=0.3, seed=1)
    assert w.shape == (500, 10)
    np.testing.assert_array_equal((w == 0).sum(axis=1), 3)
    # zero positions are spread over all coordinates; nonzero entries are N(0, 1): E w^2 = 1 within 5 SE
    assert np.all((w == 0).mean(axis=0) > 0.15)
    nz = w[w != 0]
    assert abs(np.mean(nz**2) - 1) < 5 * math.sqrt(2 / nz.size)
    np.testing.assert_array_equal(w, nm.make_teachers(500, 10, kind="sparse", sparsity=0.3, seed=1))
    with pytest.raises(ValueError, match="sparsity"):
        nm.make_teachers(2, 2, kind="sparse", sparsity=0.9, seed=0)


_TORCH_DEVICE_CASES = [(["--backend", "torch", "--device", "nonsense"], "--device")]
if HAS_TORCH:
    import torch

    if not torch.cuda.is_available():
        _TORCH_DEVICE_CASES.append((["--backend", "torch", "--device", "cuda"], "--device"))


@pytest.mark.parametrize("argv, name", [
    (["--beta", "0"], "--beta"), (["--lam", "-1"], "--lam"), (["--eta", "-0.5"], "--eta"), (["--a", "0"], "--a"),
    (["--trials", "0"], "--trials"), (["--tol", "0"], "--tol"),
    (["--teacher", "sparse", "--sparsity", "1.5"], "--sparsity"),
    (["--penalty", "l2"], "--penalty"), (["--d", "x"], "--d"), (["--k", "0"], "--k"),
    (["--chunk", "0"], "--chunk"), (["--match-tol", "0"], "--match-tol"), (["--tol", "nan"], "--tol"),
    # these were tracebacks once
    (["--teacher", "sparse", "--sparsity", "0.99", "--d", "20"], "--sparsity"),
    (["--device", "cuda"], "--device"), (["--device", "cpu"], "--device"),
    # options recorded in settings.json but ignored are rejected
    (["--init-angle", "30"], "--init-angle"), (["--samples", "5"], "--samples"),
    (["--penalty", "l1", "--a", "2"], "--a"), (["--sparsity", "0.3"], "--sparsity"),
    # the penalties' parameters, read off the registry: required, in range, only with a penalty that takes them
    (["--penalty", "mcp"], "--gamma"), (["--penalty", "mcp", "--gamma", "1"], "--gamma"),
    (["--penalty", "l1", "--gamma", "3"], "--gamma"), (["--penalty", "scad"], "--a"),
    (["--penalty", "scad", "--a", "2"], "--a"), (["--penalty", "log_sum", "--eps", "0"], "--eps"),
    (["--penalty", "tl1", "--eps", "1"], "--eps"),
    # an engine that cannot run what the other options ask for is refused before the run
    (["--engine", "fused", "--penalty", "mcp", "--gamma", "3"], "--engine"),
    (["--engine", "fused", "--gradient", "empirical"], "--engine"), (["--engine", "gpu"], "--engine"),
    *([] if HAS_TORCH else [(["--backend", "torch"], "--backend")]),
    *(_TORCH_DEVICE_CASES if HAS_TORCH else []),
])
def test_bad_argument_exits_2_with_one_line(argv, name, capsys, monkeypatch):
    monkeypatch.setattr(cli, "execute", _must_not_run, raising=False)
    with pytest.raises(SystemExit) as info:
        code = cli.main(["run", "--trials", "2", "--iters", "5", "--quiet", *argv])
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err and "Traceback" not in err


def _must_not_run(setup):
    raise AssertionError("the run started although the arguments were rejected")


@pytest.mark.parametrize("kind", ["file", "under_a_file", "empty", "blank"])
def test_bad_out_is_rejected_before_computing(kind, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "execute", _must_not_run, raising=False)
    (tmp_path / "f").write_text("x")
    out = {"file": str(tmp_path / "f"), "under_a_file": str(tmp_path / "f" / "sub"), "empty": "",
           "blank": "  "}[kind]
    code = cli.main(["run", "--trials", "2", "--quiet", "--out", out])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--out" in err
    assert (tmp_path / "f").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through directory permissions")
def test_unwritable_out_is_rejected_before_computing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "execute", _must_not_run, raising=False)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        code = cli.main(["run", "--trials", "2", "--quiet", "--out", str(locked / "res")])
    finally:
        locked.chmod(0o700)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--out" in err


def test_unwritable_out_probe(tmp_path, monkeypatch):
    # the write probe (not os.access, which root passes everywhere) decides; a failed probe removes the new folder
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(ValueError, match="--out: cannot write"):
        cli._check_out(str(tmp_path / "new"))
    assert not (tmp_path / "new").exists()


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    run = cli._parser()._subparsers._group_actions[0].choices["run"]
    options = [a for a in run._actions if a.dest != "help"]
    assert len(options) == 27
    for action in options:
        assert "(default:" in (action.help or ""), action.option_strings
        assert " ".join(action.help.split()) in text  # shown as written


def test_module_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "numerics", "run", "--beta", "-1"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "--beta" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_divergence_exits_1_with_one_line(tmp_path, capsys):
    from numerics.cli import main

    code = main(["run", "--eta", "50", "--trials", "3", "--quiet", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and "diverged" in err[0] and "2/(L + beta)" in err[0]
    assert os.listdir(tmp_path) == []  # nothing half-written


def test_divergence_names_the_trial_of_the_whole_run(capsys):
    # chunks of 2 trials: the diverging trial is named by its index in the run, not in its chunk
    args = cli._parser().parse_args(["run", "--trials", "6", "--chunk", "2", "--quiet"])
    setup = cli.prepare(args)
    ws, w0 = nm.make_teachers(2, 20, seed=0), nm.uniform_sphere(2, 20, seed=1)
    setup.args.eta = 50.0
    with pytest.raises(nm.DivergenceError) as info:
        cli._run_chunk(setup, ws, w0, None, 4)
    assert info.value.trial in (4, 5) and f"trial {info.value.trial}" in str(info.value)


# ----------------------------------------------------------------------------------------------------------------------
# Item 5: the summary says which trials converged, which stopped opposite w*, which reached the prediction
# ----------------------------------------------------------------------------------------------------------------------
def _read(out):
    with open(out / "results.csv") as fh:
        return list(csv.DictReader(fh))


def test_tiny_step_size_is_not_reported_converged(tmp_path, capsys):
    # with a step-based stopping rule, eta = 1e-12 stopped every trial after one update, "converged 100 %",
    # 3.2 away from the limit
    out = tmp_path / "r"
    assert cli.main(["run", "--eta", "1e-12", "--trials", "20", "--iters", "200", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "converged 0.0%" in printed and "reached the predicted limit" in printed and ": 0 of 20" in printed
    rows = _read(out)
    assert all(r["converged"] == "0" and r["iterations"] == "200" and r["reached_limit"] == "0" for r in rows)
    assert min(float(r["residual"]) for r in rows) > 0.1


def test_d1_opposite_trials_are_reported(tmp_path, capsys):
    # with d = 1, the trials that start opposite w* stop at the critical point there (angle pi); they were
    # reported converged and self-consistent, with nothing saying that they are not at the predicted limit
    out = tmp_path / "r"
    assert cli.main(["run", "--d", "1", "--trials", "20", "--quiet", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "at the critical point opposite w* (angle pi, not the predicted limit): 12 trials" in printed
    assert "reached the predicted limit" in printed and ": 8 of 20 (40.0%)" in printed
    rows = _read(out)
    for r in rows:
        opposite = r["opposite"] == "1"
        assert r["converged"] == "1"
        assert opposite == (float(r["angle_deg"]) == 180.0)
        assert r["reached_limit"] == ("0" if opposite else "1")
    summary = json.loads((out / "settings.json").read_text())["summary"]
    assert summary["opposite_count"] == 12 and summary["reached_limit_count"] == 8
    assert summary["not_reached_trials_first"] == [i for i, r in enumerate(rows) if r["opposite"] == "1"][:10]


# ----------------------------------------------------------------------------------------------------------------------
# Items 6 and 7: atomic output, chunks, progress of every phase, the memory check
# ----------------------------------------------------------------------------------------------------------------------
_SMALL = ["run", "--penalty", "l1", "--lam", "1e-2", "--d", "6", "--k", "3", "--trials", "10", "--iters", "4000",
          "--seed", "2"]


def test_chunked_run_writes_the_same_rows(tmp_path, monkeypatch):
    seen = []
    columns = cli._columns

    def spy(ws, res, *args):
        seen.append(ws.shape[0])
        return columns(ws, res, *args)

    monkeypatch.setattr(cli, "_columns", spy)
    assert cli.main([*_SMALL, "--quiet", "--out", str(tmp_path / "one")]) == 0
    assert seen == [10]
    assert cli.main([*_SMALL, "--quiet", "--chunk", "3", "--out", str(tmp_path / "chunks")]) == 0
    assert seen[1:] == [3, 3, 3, 1]  # never more than a chunk at a time
    one, chunks = _read(tmp_path / "one"), _read(tmp_path / "chunks")
    assert [r["trial"] for r in chunks] == [str(i) for i in range(10)]
    for a, b in zip(one, chunks, strict=True):  # the population gradient: the same operations per trial
        for c in cli.CSV_COLUMNS:
            assert float(a[c]) == pytest.approx(float(b[c]), rel=1e-9, abs=1e-15), c


def test_progress_covers_every_phase(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 0.0)
    assert cli.main([*_SMALL, "--chunk", "5", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "10 trials in 2 chunks of up to 5" in err
    for phase in ("(chunk 1/2): iterating", "(chunk 2/2): iterating", "predicting the limits", "writing rows",
                  "wrote results.csv (10 rows) and settings.json"):
        assert phase in err, phase


@pytest.mark.parametrize("when", ["first chunk", "second chunk"])
def test_interrupt_leaves_the_previous_output_untouched(when, tmp_path, capsys, monkeypatch):
    out = tmp_path / "r"
    assert cli.main([*_SMALL, "--quiet", "--out", str(out)]) == 0
    before = {name: (out / name).read_bytes() for name in ("results.csv", "settings.json")}
    calls = []
    text = cli._csv_text

    def interrupted(cols):
        calls.append(1)
        if len(calls) == (1 if when == "first chunk" else 2):
            raise KeyboardInterrupt
        return text(cols)

    monkeypatch.setattr(cli, "_csv_text", interrupted)
    code = cli.main([*_SMALL, "--quiet", "--seed", "3", "--chunk", "5", "--out", str(out)])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["results.csv", "settings.json"]  # no temporary file left
    assert {name: (out / name).read_bytes() for name in before} == before


def test_failed_run_removes_the_folder_it_created(tmp_path):
    out = tmp_path / "new" / "deeper"
    assert cli.main(["run", "--eta", "50", "--trials", "3", "--quiet", "--out", str(out)]) == 1
    assert not out.exists()


def test_run_too_large_for_memory_is_refused_before_it_starts(capsys, monkeypatch):
    monkeypatch.setattr(cli, "execute", _must_not_run, raising=False)
    code = cli.main(["run", "--trials", "2000000000", "--quiet"])  # 2e9 teachers of d = 20: ~0.7 TB
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "--trials" in err and "GiB" in err
    monkeypatch.setattr(cli, "_available_memory", lambda: 50 << 20)
    code = cli.main(["run", "--trials", "200000", "--quiet"])  # 200,000 x 20: 80 MB of teachers alone
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--trials" in err and "0.05 GiB is available" in err
    code = cli.main(["run", "--trials", "100", "--gradient", "empirical", "--samples", "10000000", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--samples" in err


def test_chunk_follows_the_memory_available(monkeypatch):
    args = cli._parser().parse_args(["run", "--trials", "200000"])
    monkeypatch.setattr(cli, "_available_memory", lambda: 24 << 30)
    big = cli.prepare(args)
    assert big.chunk == (1 << 20) // 20  # the CPU cap: arrays of a few MB
    monkeypatch.setattr(cli, "_available_memory", lambda: 300 << 20)
    small = cli.prepare(cli._parser().parse_args(["run", "--trials", "200000"]))
    assert 1000 < small.chunk < big.chunk
    assert small.memory.fixed + small.chunk * small.memory.per_trial <= 0.8 * (300 << 20)
    monkeypatch.setattr(cli, "_available_memory", lambda: None)  # unknown: no check, the cap
    assert cli.prepare(cli._parser().parse_args(["run", "--trials", "200000"])).chunk == big.chunk


def test_available_memory_is_positive():
    avail = cli._available_memory()
    assert avail is None or avail > 0


def test_a_limit_on_the_smaller_tl1_root_counts_as_reached():
    # The smaller-root example: RVSM ends at u = (-0.93118, 0), the smaller of the kept roots 0.931 and 10.08 of
    # its first coordinate; the summary's reference (the fixed point with the branches reached) must be that limit.
    args = cli._parser().parse_args(["run", "--d", "2", "--k", "13", "--a", "2.483", "--lam", "0.07564",
                                     "--beta", "0.3974", "--eta", "0.6003", "--tol", "1e-13"])
    cli._check_args(args)
    ws = np.array([[-0.9900207784249657, -0.8170524907856052]])
    w0 = np.array([[-1.0624753663382795, -0.9540614307210286]])
    res = nm.run(cli._problem(ws, args), w0, eta=args.eta, iters=50_000, tol=args.tol)
    assert bool(res.converged[0]) and abs(float(res.u[0, 0]) + 0.93118) < 1e-4 and float(res.u[0, 1]) == 0.0
    cols = cli._columns(ws, res, args, 1e-6, 0)
    assert bool(cols["support_consistent"][0]) and bool(cols["reached_limit"][0])
    assert cols["dist_u_support"][0] < 1e-8 and cols["dist_u"][0] > 1e-2  # not the default (larger-root) prediction


def test_a_registered_penalty_runs_with_its_parameter(tmp_path, capsys):
    """MCP through the command line: its gamma reaches the problem (recorded in settings.json), and the trials reach
    the limit that numerics.predict gives for that penalty."""
    out = tmp_path / "mcp"
    code = cli.main(["run", "--penalty", "mcp", "--gamma", "3", "--lam", "1e-3", "--beta", "0.1", "--d", "6",
                     "--k", "4", "--trials", "6", "--iters", "5000", "--tol", "1e-11", "--seed", "2",
                     "--out", str(out), "--quiet"])
    assert code == 0
    settings = json.loads((out / "settings.json").read_text())
    assert settings["penalty"] == "mcp" and settings["gamma"] == 3.0 and settings["a"] is None
    assert settings["summary"]["converged_fraction"] == 1.0
    with open(out / "results.csv") as fh:
        assert all(int(r["reached_limit"]) == 1 for r in csv.DictReader(fh))


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="the fused engine needs numba")
def test_fused_engine_from_the_command_line_gives_the_array_engines_rows(tmp_path):
    """--engine fused runs the same trials: every number of every row agrees with the array engine's to the 1e-12
    that the two engines are held to (the CSV prints 17 significant digits), and the iteration counts are equal."""
    args = ["run", "--penalty", "l1", "--lam", "1e-2", "--d", "5", "--k", "3", "--trials", "5", "--iters", "3000",
            "--tol", "1e-11", "--seed", "4", "--quiet"]
    for engine in ("array", "fused"):
        assert cli.main([*args, "--engine", engine, "--out", str(tmp_path / engine)]) == 0
    rows = {}
    for engine in ("array", "fused"):
        with open(tmp_path / engine / "results.csv") as fh:
            rows[engine] = list(csv.DictReader(fh))
    for ra, rf in zip(rows["array"], rows["fused"], strict=True):
        assert ra["iterations"] == rf["iterations"]
        for c in cli.CSV_COLUMNS:
            assert abs(float(ra[c]) - float(rf[c])) <= 1e-12 * max(1.0, abs(float(ra[c]))), c
    assert json.loads((tmp_path / "fused" / "settings.json").read_text())["engine"] == "fused"
