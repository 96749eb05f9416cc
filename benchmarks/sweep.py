"""``python -m benchmarks.sweep SPEC --store DIR [--workers N] [--plain]``: a sweep's throughput and peak memory.

Runs ``numerics.sweep.run_sweep`` on a local cluster while a thread samples (every 0.2 s) the resident set size of
this process (the client) and of every process it started (the scheduler runs in the client; the workers are
nanny-spawned children), and prints the peak RSS of the client, of the largest worker and of all together, the
load average before and after, and the throughput in trial-iterations per second (the sum over trials of the
iterations performed, divided by the wall time of the sweep, cluster start included).

With ``--plain`` it then runs the same trials (teachers, start points, options) with the plain engine in this one
process, ``numerics.run`` alone (no predictions, no store), once with one call per cell and once with one call per
task-sized block, and prints their trial-iterations per second, so the rates come from the same machine in the same
run (run it with ``OMP_NUM_THREADS=1``: the sweep's workers use one BLAS thread each). On a shared machine the CPU
seconds (the tasks' CPU time in the workers, the process's CPU time of the plain run) compare the work done without
the other users' load. The store must
not exist (a resumed sweep would measure only the missing tasks).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


class _RssSampler(threading.Thread):
    """Peak RSS (bytes) of this process and of its descendants, sampled every ``period`` seconds."""

    def __init__(self, period: float = 0.2):
        super().__init__(daemon=True)
        import psutil

        self.psutil, self.period, self.stop_flag = psutil, period, threading.Event()
        self.me = psutil.Process()
        self.client = 0
        self.worker = 0
        self.total = 0

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                client = self.me.memory_info().rss
                kids = []
                for c in self.me.children(recursive=True):
                    try:
                        kids.append(c.memory_info().rss)
                    except self.psutil.Error:
                        pass
            except self.psutil.Error:
                continue
            self.client = max(self.client, client)
            self.worker = max([self.worker, *kids])
            self.total = max(self.total, client + sum(kids))
            self.stop_flag.wait(self.period)


def _gib(n: float) -> str:
    return f"{n / 2**30:.3f} GiB"


def plain_engine(spec: Any, *, per_cell: bool) -> tuple[float, float, int]:
    """The sweep's trials with the plain engine in this process: ``(wall seconds, CPU seconds, trial-iterations)``.

    The same teachers and start points as the sweep's tasks (:mod:`numerics.sweep.task`), iterated by
    :func:`numerics.run` alone (no prediction, no store): one call per cell over all its trials (``per_cell``) or
    one call per task-sized block.
    """
    import numerics as nm
    from numerics.sweep.plan import cell_values, task
    from numerics.sweep.task import cell_problem, cell_teacher, start_points

    t0, c0 = time.perf_counter(), time.process_time()
    work = 0
    for c in range(spec.n_cells):
        tasks = [task(spec, c * spec.n_blocks + b) for b in range(spec.n_blocks)]
        v = cell_values(spec, tasks[0].cell)
        ws = cell_teacher(spec, tasks[0].cell)
        starts = [start_points(spec, t, ws) for t in tasks]
        batches = [np.concatenate(starts)] if per_cell else starts
        for w0 in batches:
            res = nm.run(cell_problem(ws, v), w0, eta=v["eta"], iters=spec.iters, tol=spec.tol)
            work += int(np.sum(res.iterations))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return wall, cpu, work


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sweep", description=__doc__.splitlines()[0])
    p.add_argument("spec")
    p.add_argument("--store", required=True)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--plain", action="store_true", help="also run the plain engine in this process")
    a = p.parse_args(argv)
    from numerics.sweep import load_spec, run_sweep

    spec = load_spec(a.spec)
    if Path(a.store).exists():
        print(f"{p.prog}: error: argument --store: {a.store!r} exists; give a new path", file=sys.stderr)
        return 2
    print(f"spec {a.spec}: {spec.n_cells} cells x {spec.trials} trials = {spec.n_cells * spec.trials} trials, "
          f"{spec.n_tasks} tasks of up to {spec.block}; load average before {os.getloadavg()}", flush=True)
    sampler = _RssSampler()
    sampler.start()
    summary = run_sweep(spec, a.store, workers=a.workers)
    sampler.stop_flag.set()
    sampler.join()
    print(summary.line())
    rate_sweep = summary.trial_iterations / summary.wall_s
    cpu_sweep = summary.trial_iterations / summary.task_cpu_seconds
    print(f"sweep: wall {summary.wall_s:.1f} s, {summary.trial_iterations} trial-iterations, {rate_sweep:.4g} "
          f"trial-iterations/s; tasks' CPU {summary.task_cpu_seconds:.1f} s ({cpu_sweep:.4g} trial-iterations per "
          f"CPU second); peak RSS client {_gib(sampler.client)}, largest worker {_gib(sampler.worker)}, all processes "
          f"{_gib(sampler.total)}; load average after {os.getloadavg()}", flush=True)
    if a.plain:
        for per_cell in (True, False):
            wall, cpu, work = plain_engine(spec, per_cell=per_cell)
            how = f"one call per cell ({spec.trials} trials)" if per_cell else f"one call per task ({spec.block})"
            print(f"plain engine in one process, {how}: wall {wall:.1f} s, CPU {cpu:.1f} s, {work} trial-iterations, "
                  f"{work / wall:.4g} trial-iterations/s (sweep / plain = {rate_sweep * wall / work:.3f}), "
                  f"{work / cpu:.4g} per CPU second (sweep / plain = {cpu_sweep * cpu / work:.3f}); load average "
                  f"{os.getloadavg()}", flush=True)
            if work != summary.trial_iterations:
                print(f"warning: the plain run did {work} trial-iterations, the sweep {summary.trial_iterations}: "
                      "the same trials should stop at the same iteration", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
