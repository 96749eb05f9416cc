"""Tests of ``python -m numerics run``: outputs, teacher generator, bad arguments (exit code 2, one line)."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest

import numerics as nm
from numerics import cli


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
        # distance to the predicted limit: the stop criterion |step| < tol leaves an error ~ tol k / eta
        assert float(r["dist_u_support"]) < 1e-8 and int(r["support_consistent"]) == 1
    settings = json.loads((out / "settings.json").read_text())
    assert settings["penalty"] == "tl1" and settings["trials"] == 12
    assert settings["csv_columns"] == list(cli.CSV_COLUMNS)
    assert settings["summary"]["converged_fraction"] == 1.0


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


@pytest.mark.parametrize("argv, name", [
    (["--beta", "0"], "--beta"), (["--lam", "-1"], "--lam"), (["--eta", "-0.5"], "--eta"), (["--a", "0"], "--a"),
    (["--trials", "0"], "--trials"), (["--tol", "0"], "--tol"), (["--sparsity", "1.5"], "--sparsity"),
    (["--penalty", "l2"], "--penalty"), (["--d", "x"], "--d"), (["--k", "0"], "--k"),
])
def test_bad_argument_exits_2_with_one_line(argv, name, capsys):
    with pytest.raises(SystemExit) as info:
        code = cli.main(["run", "--trials", "2", "--iters", "5", "--quiet", *argv])
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err


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
