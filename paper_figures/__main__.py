"""``python -m paper_figures [--out DIR] [--only NAME ...] [--preset tiny|quick|full] [--redraw]``.

Regenerates each figure: computes its data into ``<name>.csv`` and draws ``<name>.png`` / ``.pdf`` from that CSV;
prints one line per figure with its time. With ``--redraw`` only the drawing is done, from the CSVs already in
``--out`` (nothing is recomputed; seconds for all figures). The RVSM runs use the fused engine where numba is installed
and the engine runs the problem (``--engine auto``, the default; results agree with the array engine's to 1e-12),
else the array engine. Exits 1 if a figure fails (the others are still made),
2 on bad arguments (an ``--out`` that is a file, not writable or empty is refused before anything is computed) or,
with ``--redraw``, when a CSV is missing (nothing is drawn then). Every file is written atomically (a temporary name,
then ``os.replace``): an interrupt leaves the previous CSV, PNG and PDF, never a truncated one.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import traceback

from numerics._io import check_out_dir
from numerics.engines import prefer

from .registry import FIGURES, PRESET_NAMES, module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper_figures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="paper_figures/out",
                        help="output directory (default: paper_figures/out/)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=FIGURES, help="make only these figures")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="quick",
                        help="tiny (smoke test), quick (default, under a minute for all), full (publication, minutes)")
    parser.add_argument("--redraw", action="store_true",
                        help="draw from the CSVs already in --out without recomputing (ignores --preset)")
    parser.add_argument("--engine", choices=("auto", "array", "fused"), default="auto",
                        help="engine of the RVSM runs: fused where numba is installed (auto, the default) or as named; "
                             "a run the fused engine cannot take (empirical gradients, torch) uses the array engine")
    args = parser.parse_args(argv)
    engine = args.engine
    if engine == "auto":
        engine = "fused" if importlib.util.find_spec("numba") is not None else "array"
    try:
        out = check_out_dir(args.out)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    names = args.only or list(FIGURES)
    if args.redraw:
        missing = [str(out / f"{name}.csv") for name in names if not (out / f"{name}.csv").is_file()]
        if missing:
            print(f"{parser.prog}: error: --redraw needs the CSV of every figure; missing: {', '.join(missing)} "
                  "(run without --redraw to compute it)", file=sys.stderr)
            return 2
    failed = []
    t_all = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        try:
            mod = module(name)
            if args.redraw:
                paths = mod.draw(out / f"{name}.csv", out)
            else:
                with prefer(engine):
                    paths = mod.make(out, args.preset)
        except Exception:
            failed.append(name)
            print(f"FAILED  {name}  ({time.perf_counter() - t0:.1f} s)", flush=True)
            traceback.print_exc()
            continue
        files = ", ".join(p.name for p in paths)
        print(f"ok      {name:18s} {time.perf_counter() - t0:6.1f} s  {files}", flush=True)
    verb = "redrawn" if args.redraw else "figures"
    used = "" if args.redraw else f" (engine: {engine})"
    print(f"{len(names) - len(failed)}/{len(names)} {verb} in {time.perf_counter() - t_all:.1f} s -> {out}/{used}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
