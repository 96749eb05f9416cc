"""The ``sweep`` subcommand: ``python -m numerics sweep SPEC.toml --store DIR [--scheduler ADDRESS] [--workers N]``.

Argument parsing lives in :mod:`numerics.cli`; this module runs the parsed command. Exit codes: 0 done (also when
nothing was left to do), 2 a bad argument or spec (one line naming the key, before anything runs), 130 interrupted
(the store keeps every finished task: rerun the same command to finish).
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_arguments", "main"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``sweep`` (called by :mod:`numerics.cli` on its subparser)."""
    p.add_argument("spec", help="the sweep spec, a TOML file (examples: numerics/sweep/specs/*.toml)")
    p.add_argument("--store", required=True,
                   help="results store (a Zarr directory): created if absent, resumed if it holds this spec")
    p.add_argument("--scheduler", default=None,
                   help="address of a running Dask scheduler, e.g. tcp://10.0.0.1:8786 (default: a local cluster "
                        "on 127.0.0.1); its workers must see --store at the same path")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes, one thread each, >= 0; 0 runs the tasks in this process (default: "
                        "the number of cores); not with --scheduler")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr (default: off)")


def main(args: argparse.Namespace, prog: str = "python -m numerics") -> int:
    """Run ``sweep`` for the parsed ``args``; returns the exit code."""
    from numerics.sweep import SpecError, StoreError, load_spec, run_sweep
    from numerics.sweep.runner import SchedulerError

    try:
        if args.workers is not None and args.workers < 0:
            raise SpecError(f"argument --workers: got {args.workers}; allowed an integer >= 0")
        if args.workers is not None and args.scheduler is not None:
            raise SpecError("argument --workers: only without --scheduler (the cluster has its own workers)")
        spec = load_spec(args.spec)
    except SpecError as exc:
        print(f"{prog} sweep: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    try:
        summary = run_sweep(spec, args.store, scheduler=args.scheduler, workers=args.workers, quiet=args.quiet)
    except (SpecError, StoreError, SchedulerError) as exc:
        print(f"{prog} sweep: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog} sweep: interrupted; every finished task is in the store: rerun the same command to finish",
              file=sys.stderr)
        return 130
    try:
        print(summary.line(), flush=True)
    except BrokenPipeError:
        pass
    return 0
