"""``python -m benchmarks [--quick] [--out DIR] [--torch-threads N] [--workloads W1,W2] [--fused] [--scaling B,..]
[--gpu]``: run W1, W2, W3 (or the ones named) and print / write the table.

``--out`` is checked before anything is measured (a file, a folder that cannot be written or an empty name: one line
on stderr, exit 2); ``benchmarks.json`` and ``benchmarks.md`` are written atomically. Progress goes to stderr, one
line per measurement. torch runs with one intra-op thread unless ``--torch-threads`` says otherwise (see
:func:`benchmarks.backends.torch_threads` for why); the thread settings are part of the report.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Any

import numpy as np

from benchmarks import engines as eng
from benchmarks import limits as lim
from benchmarks import report, structure, workloads
from benchmarks.backends import detect, torch_threads
from numerics._io import check_out_dir

PROFILES = {"full": workloads.FULL, "quick": workloads.QUICK, "tiny": workloads.TINY}


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (or the platform string)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _loadavg() -> str:
    """1/5/15-minute load averages: other processes on a shared machine make absolute times drift."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def run(cfg: workloads.Config, *, with_structure: bool = True, log: Any = None,
        threads: int | None = 1, selected: tuple[str, ...] = ("W1", "W2", "W3"), fused: bool = False,
        scaling: tuple[int, ...] = ()) -> tuple[list[workloads.Row], dict[str, Any]]:
    """Run every workload of ``cfg``; return the rows and the metadata (machine, limits, threads, skipped backends).

    ``threads``: torch's intra-op thread count during the run (``None``: torch's default); restored afterwards.
    ``log`` receives the progress lines (default: stderr). ``selected``: the workloads to run; ``fused``: add the
    fused and JAX engines' rows and W1's roofline (:mod:`benchmarks.engines`); ``scaling``: trial counts for the
    fused engine's scaling rows.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    with torch_threads(threads) as settings:
        log("threads: " + "; ".join(f"{k} {v}" for k, v in settings.items()))
        rows, meta = _run(cfg, with_structure, log, selected, fused, scaling)
    meta["threads"] = settings
    return rows, meta


def _run(cfg: workloads.Config, with_structure: bool, log: Any, selected: tuple[str, ...] = ("W1", "W2", "W3"),
         fused: bool = True, scaling: tuple[int, ...] = ()) -> tuple[list[workloads.Row], dict[str, Any]]:
    backends, skipped = detect()
    torch_ok = any(b.name == "torch" for b in backends)
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = "not installed"
    log(f"backends: {[b.name for b in backends]}; skipped: {skipped}")
    bw = {b.name: lim.bandwidth(b, cfg.bandwidth_bytes) for b in backends if b.name == "numpy" or b.gpu}
    rates = workloads.w2_rates(cfg, backends)
    meta: dict[str, Any] = {
        "profile": cfg.name, "config": cfg.__dict__,
        "machine": {"cpu": cpu_model(), "nproc": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "torch": torch_version, "loadavg_start": _loadavg()},
        "limits": {f"bandwidth[{n}] (GB/s)": f"copy {b.copy / 1e9:.1f}, add {b.add / 1e9:.1f}, best {b.best / 1e9:.1f}"
                   for n, b in bw.items()}
        | {f"matmul rate W2 shapes[{n}] (GFLOP/s)": f"{r.rate / 1e9:.1f} ({r.seconds * 1e3:.2f} ms per iteration)"
           for n, r in rates.items()},
        "skipped": {n: why for n, why in skipped.items()},
    }
    rows: list[workloads.Row] = []
    for name, fn, arg in (("W1", workloads.run_w1, bw), ("W2", workloads.run_w2, rates), ("W3", workloads.run_w3, bw)):
        if name not in selected:
            continue
        t0 = time.perf_counter()
        log(f"{name} ...")
        rows += fn(cfg, backends, arg, torch_ok, log=log)
        log(f"{name} done in {time.perf_counter() - t0:.1f} s")
    if fused:
        _engine_rows(cfg, backends, rows, meta, log, selected, scaling)
    for name, why in skipped.items():
        rows.append(workloads.Row("all", "-", workloads.ENGINE, name, "-", None, note=why))
    if with_structure:
        t0 = time.perf_counter()
        meta["structure"] = structure.structure_report(cfg)
        log(f"structure done in {time.perf_counter() - t0:.1f} s")
    return rows, meta


def _engine_rows(cfg: workloads.Config, backends: list, rows: list[workloads.Row], meta: dict[str, Any], log: Any,
                 selected: tuple[str, ...], scaling: tuple[int, ...]) -> None:
    """The fused and JAX engines' rows, W1's roofline and the scaling rows (:mod:`benchmarks.engines`)."""
    t0 = time.perf_counter()
    rate = eng.fp_rate()
    if rate:
        meta["limits"]["FP rate, float64 FMA loop (GFLOP/s)"] = (
            f"{rate['all cores'] / 1e9:.1f} on {rate['threads']:.0f} threads, {rate['one core'] / 1e9:.1f} on one")
    if "W1" in selected:
        new, notes = eng.run_w1_engines(cfg, backends, rate, log=log)
        rows += new
        meta["limits"] |= notes
        meta["limits"] |= eng.roofline_notes(rows, rate, eng.flops_by_case(notes))
    if "W2" in selected:
        rows += eng.run_w2_jax(cfg, backends, log=log)
    if scaling:
        rows += eng.scaling_rows(cfg, scaling, log=log)
    workloads._finish(rows)
    log(f"fused engines done in {time.perf_counter() - t0:.1f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="small sizes, about a minute")
    g.add_argument("--profile", choices=sorted(PROFILES), default=None, help="sizes (default: full)")
    p.add_argument("--out", default="benchmarks/out", help="output folder (default benchmarks/out)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (median reported)")
    p.add_argument("--no-structure", action="store_true", help="skip the call-count and memory measurements")
    p.add_argument("--torch-threads", type=int, default=1, metavar="N",
                   help="torch intra-op threads during the run (default 1: on a machine with few cores torch's "
                        "default pool competes with NumPy's BLAS threads; 0: torch's default); reported in the output")
    p.add_argument("--workloads", default="W1,W2,W3", help="comma-separated workloads to run (default W1,W2,W3)")
    p.add_argument("--fused", action="store_true",
                   help="add the fused (numba) and JAX engines' rows beside the array engine, and W1's roofline "
                        "(the FP rate of a compiled FMA loop against the counted flops); implied by --gpu")
    p.add_argument("--scaling", default="", metavar="B1,B2,...",
                   help="trial counts for the fused engine's scaling rows (e.g. 256,4096,65536; default none)")
    p.add_argument("--gpu", action="store_true",
                   help="the GPU rows: W1 and W2 on every GPU backend present (torch CUDA, CuPy, JAX; absent ones "
                        "are listed as skipped) beside NumPy, the JAX engine on the GPU; no structure")
    args = p.parse_args(argv)
    try:
        out = check_out_dir(args.out)
    except ValueError as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    if args.torch_threads < 0:
        p.error(f"--torch-threads must be >= 0 (0: torch's default); got {args.torch_threads}")
    cfg = PROFILES["quick" if args.quick else (args.profile or "full")]
    if args.repeats is not None:
        if args.repeats < 1:
            p.error(f"--repeats must be >= 1; got {args.repeats}")
        cfg = workloads.Config(**(cfg.__dict__ | {"repeats": args.repeats}))
    selected = ("W1", "W2") if args.gpu else tuple(w.strip().upper() for w in args.workloads.split(",") if w.strip())
    if not selected or any(w not in ("W1", "W2", "W3") for w in selected):
        p.error(f"--workloads must be a comma-separated subset of W1,W2,W3; got {args.workloads!r}")
    try:
        scaling = tuple(int(b) for b in args.scaling.split(",") if b.strip())
    except ValueError:
        p.error(f"--scaling must be comma-separated trial counts >= 1; got {args.scaling!r}")
    if any(b < 1 for b in scaling):
        p.error(f"--scaling must be comma-separated trial counts >= 1; got {args.scaling!r}")
    t0 = time.perf_counter()
    rows, meta = run(cfg, with_structure=not (args.no_structure or args.gpu), threads=args.torch_threads or None,
                     selected=selected, fused=args.fused or args.gpu, scaling=scaling)
    meta["wall_seconds"] = time.perf_counter() - t0
    meta["machine"]["loadavg_end"] = _loadavg()
    print(report.format_table(rows))
    for key, val in meta["limits"].items():
        print(f"{key}: {val}")
    for key, val in meta["threads"].items():
        print(f"threads, {key}: {val}")
    if "structure" in meta:
        for key, val in meta["structure"].items():
            print(f"{key}: {val}")
    pj, pm = report.write(rows, meta, out)
    print(f"wrote {pj} and {pm} ({meta['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
