"""The derivation report: Markdown and LaTeX are written, the LaTeX is valid text-mode LaTeX, and it compiles
(when pdflatex is installed), so a paper can include it."""

import re
import shutil
import subprocess

import pytest

from theory import _io, registry, report
from theory.__main__ import main, report_stem

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
    md = (tmp_path / "derivations-only-prox_l1+prox_l0.md").read_text()
    tex = (tmp_path / "derivations-only-prox_l1+prox_l0.tex").read_text()
    assert "| Prox of the l1 penalty" in md and r"\subsection*{Prox of the l1 penalty" in tex
    assert "Partial report" in md.splitlines()[2] and "% Partial report" in tex


def test_only_never_overwrites_the_full_report(tmp_path):
    """--only writes its partial report under its own name; the full report beside it is left as it was."""
    full_md, full_tex = tmp_path / "derivations.md", tmp_path / "derivations.tex"
    full_md.write_text("the full report")
    full_tex.write_text("the full report (tex)")
    assert main(["--out", str(tmp_path), "--only", "prox_l1"]) == 0
    assert full_md.read_text() == "the full report" and full_tex.read_text() == "the full report (tex)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["derivations-only-prox_l1.md", "derivations-only-prox_l1.tex",
                                                          "derivations.md", "derivations.tex"]


def test_report_stem():
    every = list(registry.DERIVATIONS)
    assert report_stem(every) == report_stem(every[::-1]) == "derivations"  # all of them is the full report
    assert report_stem(["prox_l1", "prox_l0"]) == "derivations-only-prox_l1+prox_l0"
    many = report_stem(every[:-1])
    assert many.startswith(f"derivations-only-{len(every) - 1}-of-{len(every)}-") and len(many) < 60


@pytest.mark.parametrize("kind", ["file", "inside a file", "empty", "unwritable"])
def test_bad_out_exits_2_with_one_line_before_deriving(tmp_path, monkeypatch, capsys, kind):
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = {"file": str(afile), "inside a file": str(afile / "sub"), "empty": "", "unwritable": str(tmp_path)}[kind]
    if kind == "unwritable":  # as root a chmod would not stop the write: the permission query says no instead
        monkeypatch.setattr(_io.os, "access", lambda path, mode: False)

    def derive(name):
        raise AssertionError("nothing may be derived when --out is bad")

    monkeypatch.setattr(registry, "get", derive)
    assert main(["--out", out, "--only", "prox_l1"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured
    assert captured.err.startswith("python -m theory: error: --out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_interrupted_write_leaves_the_previous_report_and_no_temporary_file(tmp_path, monkeypatch):
    assert main(["--out", str(tmp_path), "--only", "prox_l1"]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    real = _io.write_text

    def interrupted(path, text):  # the first file is written in full, the second is cut midway
        if ".tex." in path.name:
            real(path, text[: len(text) // 2])
            raise KeyboardInterrupt
        real(path, text)

    monkeypatch.setattr(_io, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["--out", str(tmp_path), "--only", "prox_l1"])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # both old files, nothing else


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
