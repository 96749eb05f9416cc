"""The table: printed as text, written as JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.workloads import Row
from numerics import _io

__all__ = ["COLUMNS", "format_table", "markdown", "write"]

COLUMNS = ("workload", "case", "implementation", "backend", "time / unit", "ratio to engine", "machine limit",
           "max |diff|", "note")


def _time(sec: float | None) -> str:
    if sec is None:
        return "-"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if sec >= scale:
            return f"{sec / scale:.3g} {unit}"
    return f"{sec * 1e9:.3g} ns"


def _cells(r: Row) -> list[str]:
    unit = "trial-it" if r.unit == "trial-iteration" else r.unit
    lim = "-" if r.limit_value is None else f"{r.limit_value:.3g} {r.limit_name}"
    return [r.workload, r.case, r.implementation, r.backend, f"{_time(r.seconds)}/{unit}" if r.seconds else "-",
            "-" if r.ratio is None else f"{r.ratio:.3g}x", lim,
            "-" if r.max_abs_diff is None else f"{r.max_abs_diff:.1e}", r.note]


def format_table(rows: list[Row]) -> str:
    """Fixed-width text table of the rows (one header line)."""
    cells = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c[i].ljust(widths[i]) for i in range(len(COLUMNS))).rstrip() for c in cells)


def markdown(rows: list[Row], meta: dict[str, Any]) -> str:
    """Markdown: the machine and limits, the table, the structural measurements."""
    lines = ["# Benchmarks: the engine against per-trial loops, autograd and the machine's limits", "",
             f"Profile `{meta['profile']}`; machine: {meta['machine']['cpu']}, "
             f"{meta['machine']['nproc']} CPUs (load average at start {meta['machine'].get('loadavg_start')}, "
             f"end {meta['machine'].get('loadavg_end')}); numpy {meta['machine']['numpy']}, "
             f"torch {meta['machine']['torch']}.",
             ""]
    for key, val in meta.get("limits", {}).items():
        lines.append(f"- {key}: {val}")
    for key, val in meta.get("threads", {}).items():
        lines.append(f"- threads, {key}: {val}")
    for name, why in meta.get("skipped", {}).items():
        lines.append(f"- backend {name}: {why}")
    lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in _cells(r)) + " |" for r in rows]
    if "structure" in meta:
        lines += ["", "## Structure", "", "```", json.dumps(meta["structure"], indent=2), "```"]
    lines += ["", "ratio to engine: time per unit / NumPy engine's time per unit (> 1: the engine is faster).",
              "machine limit: W1 passes over the (B, d) float64 state per iteration at the measured bandwidth; "
              "W2 achieved flop rate / matmul rate of the same shapes; W3 passes over the samples Z.", ""]
    return "\n".join(lines)


def write(rows: list[Row], meta: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``benchmarks.json`` and ``benchmarks.md`` under ``out`` (created if needed).

    Both are written atomically (:func:`numerics._io.atomic_path`, nested: neither is replaced unless both were
    written in full), so an interrupt leaves the previous pair and no temporary file.
    """
    pj, pm = Path(out) / "benchmarks.json", Path(out) / "benchmarks.md"
    text_json = json.dumps({"meta": meta, "rows": [r.as_dict() for r in rows]}, indent=2, default=str) + "\n"
    text_md = markdown(rows, meta)
    with _io.atomic_path(pj) as tj, _io.atomic_path(pm) as tm:
        _io.write_text(tj, text_json)
        _io.write_text(tm, text_md)
    return pj, pm
