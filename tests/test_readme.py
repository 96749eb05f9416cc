"""The README stays true: its Python example runs and prints what it says, and its first lines are the two
set-up commands that .ci/run reads."""

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _python_example():
    return re.search(r"```python\n(.*?)```", README, re.S).group(1)


def test_python_example_runs_and_matches_its_comment(capsys):
    exec(compile(_python_example(), "README.md", "exec"), {})
    converged, err = capsys.readouterr().out.split()
    assert converged == "True"
    assert float(err) < 1e-9


def test_python_example_uses_the_public_face():
    """The example shows the API a user starts from: ``import numerics as nm``, then nm.Problem, nm.run, nm.predict."""
    block = _python_example()
    assert "import numerics as nm" in block
    assert "from numerics" not in block
    for name in ("nm.Problem(", "nm.run(", "nm.predict("):
        assert name in block


def test_readme_shows_no_removed_api():
    """The engine's calls from before Problem and the gradient sources (positional teacher and weights, model flags,
    the predictors and make_teachers by their old module paths) appear nowhere in the README."""
    for old in ("rvsm.run(", "limits.predict", "predict_binary(w_star", "gradient=\"empirical\"",
                "activation=\"binary\"", "cli.make_teachers"):
        assert old not in README, old


def test_readme_starts_with_the_two_setup_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(first_block) == 2
    assert "python -m theory" in first_block[0] and "python -m paper_figures" in first_block[0]
    assert "pytest" in first_block[1] and ".[test]" in first_block[1]
    assert README.index("```bash") < README.index("## ")
