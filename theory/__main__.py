"""``python -m theory [--out DIR] [--only NAME ...]``: derive, verify and report.

Prints one line per derivation with its verification status and time; writes ``derivations.md`` and
``derivations.tex`` to ``--out``; exits 1 if any derivation fails to verify (or raises), 2 on bad arguments
(checked before anything is derived: an unknown name, or an ``--out`` that is a file, not writable or empty).

With ``--only`` the report is partial, so it never replaces the full one: it is written as
``derivations-only-<names>.md`` / ``.tex`` (names joined by ``+``, in report order) and says at its top that it is
partial. Both files are written atomically: an interrupt leaves the previous report and no temporary file.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
import traceback

from . import _io, registry, report
from .record import Check, Derivation

#: a partial report's file stem longer than this uses a digest of the names instead (file names have limits)
_MAX_STEM = 120


def report_stem(names: list[str]) -> str:
    """File stem of the report of ``names``: ``derivations`` for all of them, else ``derivations-only-<names>``.

    A partial report (``--only``) must not overwrite the full one silently, and the name says what it holds; many
    names give ``derivations-only-<n>-of-<total>-<digest>`` (the report itself lists them).
    """
    if set(names) == set(registry.DERIVATIONS):
        return "derivations"
    stem = "derivations-only-" + "+".join(names)
    if len(stem) <= _MAX_STEM:
        return stem
    digest = hashlib.sha1("+".join(names).encode()).hexdigest()[:8]
    return f"derivations-only-{len(names)}-of-{len(registry.DERIVATIONS)}-{digest}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="theory_report",
                        help="directory for derivations.md and derivations.tex (default: theory_report/)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=list(registry.DERIVATIONS),
                        help="run only these derivations; the partial report is written as "
                             "derivations-only-<names>.md/.tex, never over the full derivations.md")
    parser.add_argument("--list", action="store_true", help="list the derivation names and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(registry.DERIVATIONS))
        return 0
    try:
        out = _io.check_out_dir(args.out)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    names = list(dict.fromkeys(args.only)) if args.only else list(registry.DERIVATIONS)
    stem = report_stem(names)
    note = "" if stem == "derivations" else (
        f"Partial report (`--only`): {len(names)} of {len(registry.DERIVATIONS)} derivations "
        f"({', '.join(names)}); the full report is derivations.md.")
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
    md, tex = report.write(results, out, stem=stem, note=note)
    n_bad = sum(not r.verified for r in results)
    print(f"{len(results) - n_bad}/{len(results)} derivations verified in {time.perf_counter() - t_all:.1f} s; "
          f"report: {md}, {tex}")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
