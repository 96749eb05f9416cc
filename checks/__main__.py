"""``python -m checks [--profile quick|thorough] [--only NAME ...] [--list] [--engine array|fused|jax]``.

Runs the named theorem checks, prints a table (name, status, examples checked, examples rejected as outside
the check's documented scope, worst discrepancy as a fraction of its tolerance, seconds) and, for each failure, the
shrunk falsifying example and a one-line call that replays it.
Exits 1 if any check fails, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import framework


def _table(results: list[framework.CheckResult]) -> str:
    rows = [("check", "status", "examples", "rejected", "worst/tol", "seconds")]
    for r in results:
        rows.append((r.name, "pass" if r.passed else "FAIL", str(r.examples), str(r.rejected), f"{r.worst:.3g}",
                     f"{r.seconds:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in pairs]
        lines.append("  ".join(cells))
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    framework._load_all()
    parser = argparse.ArgumentParser(prog="python -m checks", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=framework.PROFILES, default="quick",
                        help="quick (CI, under a minute for all) or thorough (many more examples, several minutes)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(framework.REGISTRY),
                        help="run only these checks")
    parser.add_argument("--list", action="store_true", help="list the checks with their statements and exit")
    parser.add_argument("--engine", choices=("array", "fused", "jax"), default="array",
                        help="the engine of the checks' RVSM runs where it runs them (numerics.engines.prefer; the "
                             "array engine elsewhere, e.g. for sampled gradients); default array")
    args = parser.parse_args(argv)
    if args.list:
        for spec in framework.REGISTRY.values():
            print(f"{spec.name:28s} [{spec.section}] {spec.statement}")
        return 0
    names = args.only or list(framework.REGISTRY)
    t0 = time.perf_counter()
    results = []
    from numerics import engines

    try:
        engines.check_engine(args.engine)
    except (ValueError, ImportError) as exc:  # e.g. fused without numba: one line naming the extra
        parser.error(str(exc))
    with engines.prefer(args.engine):
        for name in names:
            res = framework.run_check(name, args.profile)
            print(f"{'pass' if res.passed else 'FAIL'}  {name}  ({res.examples} examples, {res.seconds:.1f} s)",
                  file=sys.stderr, flush=True)
            results.append(res)
    print(_table(results))
    failed = [r for r in results if not r.passed]
    for r in failed:
        print(f"\nFAILED {r.name}: {r.statement}")
        if r.error:
            print(f"  error: {r.error}")
        if r.falsifying:
            print(f"  falsifying example (shrunk): {r.falsifying}")
            print(f"  reproduce: python -c \"{r.reproduce}\"")
    print(f"\n{len(results) - len(failed)}/{len(results)} checks passed ({args.profile} profile, {args.engine} engine, "
          f"{time.perf_counter() - t0:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
