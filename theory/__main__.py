"""``python -m theory [--out DIR] [--only NAME ...]``: derive, verify and report.

Prints one line per derivation with its verification status and time; writes ``derivations.md`` and
``derivations.tex`` to ``--out``; exits 1 if any derivation fails to verify (or raises), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

from . import registry, report
from .record import Check, Derivation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("theory_report"),
                        help="directory for derivations.md and derivations.tex (default: theory_report/)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(registry.DERIVATIONS),
                        help="run only these derivations")
    parser.add_argument("--list", action="store_true", help="list the derivation names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(registry.DERIVATIONS))
        return 0
    names = args.only or list(registry.DERIVATIONS)
    results: list[Derivation] = []
    t_all = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        try:
            der = registry.get(name)()
        except Exception as exc:  # a derivation that raises is reported as failed, never hidden
            tb = traceback.format_exc(limit=3)
            der = Derivation(name=name, title=name, statement={},
                             checks=(Check("error", "derivation raised", False, f"{exc!r}\n{tb}"),), latex="")
        results.append(der)
        print(f"{der.summary()}  {time.perf_counter() - t0:6.1f} s", flush=True)
        for c in der.checks:
            if not c.passed:
                print(f"    failed [{c.method}] {c.description}: {c.detail}", flush=True)
    md, tex = report.write(results, args.out)
    n_bad = sum(not r.verified for r in results)
    print(f"{len(results) - n_bad}/{len(results)} derivations verified in {time.perf_counter() - t_all:.1f} s; "
          f"report: {md}, {tex}")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
