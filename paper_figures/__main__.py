"""``python -m paper_figures [--out DIR] [--only NAME ...] [--preset tiny|quick|full]``.

Regenerates each figure (PNG + PDF) and the CSV of its data; prints one line per figure with its time. Exits 1 if a
figure fails (the others are still made), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from .registry import FIGURES, PRESET_NAMES, module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper_figures", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("paper_figures/out"),
                        help="output directory (default: paper_figures/out/)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=FIGURES, help="make only these figures")
    parser.add_argument("--preset", choices=PRESET_NAMES, default="quick",
                        help="tiny (smoke test), quick (default, a few minutes for all), full (publication)")
    args = parser.parse_args(argv)
    names = args.only or list(FIGURES)
    failed = []
    t_all = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        try:
            paths = module(name).make(args.out, args.preset)
        except Exception:
            failed.append(name)
            print(f"FAILED  {name}  ({time.perf_counter() - t0:.1f} s)", flush=True)
            traceback.print_exc()
            continue
        files = ", ".join(p.name for p in paths)
        print(f"ok      {name:18s} {time.perf_counter() - t0:6.1f} s  {files}", flush=True)
    print(f"{len(names) - len(failed)}/{len(names)} figures in {time.perf_counter() - t_all:.1f} s -> {args.out}/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
