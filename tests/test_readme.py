"""The README stays true: its Python example runs and prints what it says, and its first lines are the two
set-up commands that .ci/run reads."""

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_python_example_runs_and_matches_its_comment(capsys):
    block = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
    converged, err = capsys.readouterr().out.split()
    assert converged == "True"
    assert float(err) < 1e-9


def test_readme_starts_with_the_two_setup_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(first_block) == 2
    assert "python -m theory" in first_block[0] and "python -m paper_figures" in first_block[0]
    assert "pytest" in first_block[1] and ".[test]" in first_block[1]
    assert README.index("```bash") < README.index("## ")
