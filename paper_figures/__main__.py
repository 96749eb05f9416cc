"""``python -m paper_figures [--out DIR] [--only NAME ...] [--preset tiny|quick|full] [--redraw]``.

Regenerates each figure: computes its data into ``<name>.csv`` and draws ``<name>.png`` / ``.pdf`` from that CSV;
prints one line per figure with its time. With ``--redraw`` only the drawing is done, from the CSVs already in
``--out`` (nothing is recomputed; seconds for all figures). Exits 1 if a figure fails (the others are still made),
2 on bad arguments (an ``--out`` that is a file, not writable or empty is refused before anything is computed) or,
with ``--redraw``, when a CSV is missing (nothing is drawn then). Every file is written atomically (a temporary name,
then ``os.replace``): an interrupt leaves the previous CSV, PNG and PDF, never a truncated one.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from numerics._io import check_out_dir

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
    args = parser.parse_args(argv)
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
                paths = mod.make(out, args.preset)
        except Exception:
            failed.append(name)
            print(f"FAILED  {name}  ({time.perf_counter() - t0:.1f} s)", flush=True)
            traceback.print_exc()
            continue
        files = ", ".join(p.name for p in paths)
        print(f"ok      {name:18s} {time.perf_counter() - t0:6.1f} s  {files}", flush=True)
    verb = "redrawn" if args.redraw else "figures"
    print(f"{len(names) - len(failed)}/{len(names)} {verb} in {time.perf_counter() - t_all:.1f} s -> {out}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
