"""The derivation report: Markdown and LaTeX are written, the LaTeX is valid text-mode LaTeX, and it compiles
(when pdflatex is installed), so a paper can include it."""

import re
import shutil
import subprocess

import pytest

from theory import registry, report
from theory.__main__ import main

# Math segments of a derivation body; everything else is text mode, where _ ^ ~ & % # must be escaped.
_MATH = re.compile(r"\$\$.*?\$\$|\$.*?\$|\\\[.*?\\\]|\\\(.*?\\\)|"
                   r"\\begin\{(equation|align|aligned|gather|multline)\*?\}.*?\\end\{\1\*?\}", re.S)


@pytest.fixture(scope="module")
def derivations():
    return [registry.get(name)() for name in registry.DERIVATIONS]


def test_text_mode_has_no_unescaped_specials(derivations):
    for der in derivations:
        text = re.sub(r"\\texttt\{[^}]*\}", " ", _MATH.sub(" ", der.latex))
        bad = [text[max(0, m.start() - 30):m.start() + 10] for m in re.finditer(r"(?<!\\)[_^~&%#]", text)]
        assert not bad, f"{der.name}: unescaped LaTeX specials in text mode: {bad}"


def test_escaping_helpers():
    assert report.tex_escape("x ~ N(0, I_d) & 50%") == r"x \textasciitilde{} N(0, I\_d) \& 50\%"
    assert report.markdown_emphasis_to_tex("**Mean.** a") == r"\textbf{Mean.} a"


def test_cli_writes_both_files_and_reports_status(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--only", "prox_l1", "prox_l0"]) == 0
    out = capsys.readouterr().out
    assert "VERIFIED  prox_l1" in out and "2/2 derivations verified" in out
    md = (tmp_path / "derivations.md").read_text()
    tex = (tmp_path / "derivations.tex").read_text()
    assert "| Prox of the l1 penalty" in md and r"\subsection*{Prox of the l1 penalty" in tex


def test_cli_bad_name_exits_2():
    with pytest.raises(SystemExit) as exc:
        main(["--only", "no_such_derivation"])
    assert exc.value.code == 2


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed (optional)")
def test_latex_report_compiles(derivations, tmp_path):
    (tmp_path / "derivations.tex").write_text(report.latex(derivations))
    (tmp_path / "main.tex").write_text("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n"
                                       "\\begin{document}\n\\input{derivations.tex}\n\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "main.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "main.pdf").stat().st_size > 10_000
