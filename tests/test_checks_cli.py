"""`python -m checks`: the quick profile passes (this is the CI run of every theorem check), the table is printed,
and bad arguments exit 2."""

import subprocess
import sys

import pytest

from checks.__main__ import main
from checks.framework import REGISTRY, _load_all


def test_quick_profile_passes_and_prints_table(capsys):
    code = main(["--profile", "quick"])
    out = capsys.readouterr().out
    assert code == 0, out
    _load_all()
    for name in REGISTRY:
        assert name in out
    assert "checks passed" in out


def test_list_and_bad_arguments(capsys):
    assert main(["--list"]) == 0
    assert "limit_matches_prediction" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--only", "no_such_check"])
    assert exc.value.code == 2


def test_failing_check_exits_nonzero(monkeypatch, capsys):
    # A check fed a deliberately wrong ingredient makes the whole command fail and print a replay line.
    from checks import framework

    spec = framework.get("prox_global_minimizer")
    wrong = {**spec.ingredients(), **spec.mutation("l0_threshold_sqrt_mu").overrides}
    monkeypatch.setitem(framework.REGISTRY, spec.name, framework.CheckSpec(
        **{**spec.__dict__, "ingredients": lambda: dict(wrong)}))
    code = main(["--only", "prox_global_minimizer"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED prox_global_minimizer" in out and "reproduce:" in out


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "checks", "--list"], capture_output=True, text=True)
    assert proc.returncode == 0 and "initialization_probability" in proc.stdout
