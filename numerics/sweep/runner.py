"""Run a sweep: the missing tasks of its store, on a Dask cluster (or in this process), with progress.

Each task is one batched :func:`numerics.run` over a block of one cell's trials (:mod:`numerics.sweep.task`); the
engine keeps its vectorization inside the task, and Dask only distributes tasks (no ``dask.array`` in the
iteration). A worker writes its task's own chunk-aligned region of the store and returns a few numbers for the
progress line and the summary, so the client never holds the results.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

import numerics as nm
from numerics.sweep.plan import task
from numerics.sweep.spec import SweepSpec, spec_from_json
from numerics.sweep.store import create_or_open, missing_tasks, write_task
from numerics.sweep.task import check_engine, run_task

__all__ = ["SchedulerError", "SweepSummary", "execute_task", "run_sweep"]

PROGRESS_SECONDS = 2.0
#: Environment of local workers: one BLAS / OpenMP thread each (a worker is one process with one thread, and the
#: tasks are independent, so parallelism comes from the workers).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}


class SchedulerError(ValueError):
    """The Dask scheduler given by ``--scheduler`` cannot be reached."""


@dataclass
class SweepSummary:
    """What a call of :func:`run_sweep` did. Counts over the trials of the tasks run in this call; ``task_seconds``
    and ``task_cpu_seconds`` sum the tasks' wall and CPU time (the CPU time of the worker process during the task)."""

    store: str
    tasks_total: int
    tasks_before: int
    tasks_run: int = 0
    trials: int = 0
    trial_iterations: int = 0
    reached: int = 0
    support: int = 0
    reached_and_support: int = 0
    converged: int = 0
    diverged_blocks: int = 0
    task_seconds: float = 0.0
    task_cpu_seconds: float = 0.0
    wall_s: float = 0.0
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)

    def add(self, r: dict[str, Any]) -> None:
        self.tasks_run += 1
        for key in ("trials", "trial_iterations", "reached", "support", "reached_and_support", "converged",
                    "diverged_blocks"):
            setattr(self, key, getattr(self, key) + int(r[key]))
        self.task_seconds += float(r["seconds"])
        self.task_cpu_seconds += float(r["cpu_seconds"])

    def line(self) -> str:
        """The one-line summary printed at the end."""
        done = self.tasks_before + self.tasks_run
        rate = self.trial_iterations / self.wall_s if self.wall_s > 0 else math.nan
        pct = (lambda c: f"{100 * c / self.trials:.1f}%") if self.trials else (lambda c: "n/a")
        state = "interrupted" if self.interrupted else "done"
        return (f"sweep {state}: {done}/{self.tasks_total} tasks ({self.tasks_run} run now, {self.tasks_before} "
                f"before) in {self.wall_s:.1f} s; {self.trials} trials, {self.trial_iterations:.3g} trial-iterations "
                f"({rate:.3g}/s); reached the predicted limit {pct(self.reached)}, support recovered "
                f"{pct(self.support)}, both {pct(self.reached_and_support)}, diverged blocks {self.diverged_blocks}; "
                f"store {self.store}")


@lru_cache(maxsize=4)
def _spec(text: str) -> SweepSpec:
    return spec_from_json(text)


def execute_task(spec_json: str, store: str, index: int) -> dict[str, Any]:
    """Run task ``index`` of the spec, write it to the store; a few counts for the progress line.

    This is what a Dask worker runs (the spec travels as its canonical JSON). A block whose iteration diverges
    (:class:`numerics.DivergenceError`: the engine stops the batch at the first non-finite iterate) is stored with
    ``diverged`` set for all its trials and NaN distances.
    """
    t0, c0 = time.perf_counter(), time.process_time()
    spec = _spec(spec_json)
    t = task(spec, index)
    try:
        trial, cell = run_task(spec, t)
        trial["diverged"] = np.zeros(t.n, dtype=bool)
    except nm.DivergenceError:
        trial = {"dist_u": np.full(t.n, np.nan), "dist_w": np.full(t.n, np.nan), "q": np.full(t.n, np.nan),
                 "iterations": np.zeros(t.n, dtype=np.int64), "diverged": np.ones(t.n, dtype=bool),
                 **{k: np.zeros(t.n, dtype=bool) for k in ("reached", "support", "converged", "opposite")}}
        cell = None
        if t.block == 0:  # the prediction does not depend on the run: still store it
            cell = _cell_only(spec, t)
    write_task(spec, store, t, trial, cell)
    return {"trials": t.n, "trial_iterations": int(trial["iterations"].sum()), "reached": int(trial["reached"].sum()),
            "support": int(trial["support"].sum()),
            "reached_and_support": int(np.sum(trial["reached"] & trial["support"])),
            "converged": int(trial["converged"].sum()), "diverged_blocks": int(trial["diverged"][0]),
            "seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}


def _cell_only(spec: SweepSpec, t: Any) -> dict[str, np.ndarray]:
    """The per-cell variables of a cell whose first block diverged (same code path as a normal task, on one trial
    that is not iterated)."""
    from dataclasses import replace

    spec1 = replace(spec, iters=1)
    _, cell = run_task(spec1, replace(t, stop=t.start + 1))
    return cell


class _Progress:
    def __init__(self, quiet: bool, total: int, before: int):
        self.quiet, self.total, self.before = quiet, total, before
        self.t0 = self.last = time.monotonic()

    def update(self, summary: SweepSummary, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or not (force or now - self.last >= PROGRESS_SECONDS):
            return
        self.last = now
        el = now - self.t0
        done = self.before + summary.tasks_run
        rate = summary.tasks_run / el if el > 0 else 0.0
        left = (self.total - done) / rate if rate > 0 else math.inf
        eta = f"about {left:.0f} s left" if math.isfinite(left) else "time left unknown"
        print(f"sweep: {done}/{self.total} tasks ({100 * done / self.total:.1f}%), {rate:.2f} tasks/s, "
              f"{summary.trial_iterations / el if el > 0 else 0:.3g} trial-iterations/s, {eta}", file=sys.stderr,
              flush=True)


#: Dask settings of the local cluster. The nanny's default MALLOC_TRIM_THRESHOLD_=65536 fixes glibc's mmap threshold
#: at 128 KiB, so every temporary (B, d) array of the engine above that size is mapped and unmapped again: measured
#: on one task of specs/throughput.toml (1024 x 20 float64 temporaries), 162,667 page faults and 0.59 s CPU against
#: 776 faults and 0.27 s without the setting (glibc's defaults, as in a plain process). The statistical profiler
#: samples the task thread every 10 ms, which only costs here. Without queuing on the scheduler
#: (worker-saturation inf) a worker holds the next submitted task while it runs one, instead of waiting for the
#: scheduler's next assignment after each task (on a loaded machine the scheduler, in the client process, answers
#: late, and the workers idled between tasks).
CLUSTER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                  "distributed.worker.profile.enabled": False,
                  "distributed.scheduler.worker-saturation": float("inf")}


def _local_cluster(workers: int | None) -> Any:
    import dask
    from distributed import LocalCluster

    n = workers if workers is not None else (os.cpu_count() or 1)
    with dask.config.set(CLUSTER_CONFIG):  # read when the nannies and workers are made, i.e. here
        # everything on the loopback address: the scheduler, the workers and the scheduler's HTTP endpoint (no
        # dashboard; its port is chosen free, so two sweeps on one machine do not collide)
        return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, scheduler_kwargs={"dashboard": False,
                                                                      "dashboard_address": "127.0.0.1:0"},
                            env=dict(WORKER_ENV))


def run_sweep(spec: SweepSpec, store: str | os.PathLike, *, scheduler: str | None = None, workers: int | None = None,
              quiet: bool = False) -> SweepSummary:
    """Run the tasks of ``spec`` missing from ``store`` and return what was done.

    Parameters
    ----------
    spec : SweepSpec
        The validated spec (:func:`numerics.sweep.load_spec`).
    store : path
        The results store: created when absent, resumed when it holds this spec; another spec's store is refused.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); its workers must see ``store`` at the same path
        and import this ``numerics``. Default: a local cluster on 127.0.0.1.
    workers : int, optional
        Local workers (processes with one thread each; default: the number of cores). ``0`` runs the tasks in this
        process without Dask. Not used with ``scheduler``.
    quiet : bool
        No progress lines on stderr.

    Returns
    -------
    SweepSummary

    Raises
    ------
    numerics.sweep.SpecError, numerics.sweep.store.StoreError
        Before any task runs: an engine this ``numerics`` lacks, a store of another spec or in the way.
    numerics.sweep.runner.SchedulerError
        When ``scheduler`` cannot be reached (Dask's connect timeout, ``distributed.comm.timeouts.connect``).
    KeyboardInterrupt
        Propagated after the tasks in flight are cancelled; the store keeps every finished task.

    Notes
    -----
    The work is ``sum over trials of the iterations performed``; the summary reports it per second of wall time
    (trial-iterations per second), comparable with one process running :func:`numerics.run` on the same cells.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 0):
        raise ValueError(f"argument --workers: got {workers!r}; allowed an integer >= 0")
    if scheduler is not None and workers is not None:
        raise ValueError("argument --workers: only without --scheduler (the cluster has its own workers)")
    check_engine(spec)
    path, _ = create_or_open(spec, store)
    todo = [int(i) for i in missing_tasks(spec, path)]
    summary = SweepSummary(str(path), spec.n_tasks, spec.n_tasks - len(todo))
    progress = _Progress(quiet, spec.n_tasks, summary.tasks_before)
    t0 = time.perf_counter()
    try:
        if todo and workers == 0:
            for i in todo:
                summary.add(execute_task(spec.canonical_json(), str(path), i))
                progress.update(summary)
        elif todo:
            _run_on_dask(spec, str(path), todo, summary, progress, scheduler, workers)
    except KeyboardInterrupt:
        summary.interrupted = True
        raise
    finally:
        summary.wall_s = time.perf_counter() - t0
        progress.update(summary, force=bool(todo))
    return summary


def _test_signal_after() -> tuple[int, int] | None:
    """Fault injection for the resume tests: ``RVSM_SWEEP_SIGNAL_AFTER="N:KILL"`` (or ``"N:INT"``) makes the client
    send itself SIGKILL (SIGINT) once N tasks have come back, the same as a kill from outside at that moment but
    at a point that does not depend on how fast a poller sees the store (a poller starved by a loaded machine saw
    a 16-task sweep only once it had finished). Unset in normal use."""
    raw = os.environ.get("RVSM_SWEEP_SIGNAL_AFTER")
    if not raw:
        return None
    n, _, name = raw.partition(":")
    return int(n), {"KILL": signal.SIGKILL, "INT": signal.SIGINT}[name]


def _run_on_dask(spec: SweepSpec, path: str, todo: list[int], summary: SweepSummary, progress: _Progress,
                 scheduler: str | None, workers: int | None) -> None:
    from distributed import Client, as_completed

    cluster = None if scheduler is not None else _local_cluster(workers)
    try:
        try:
            client = Client(scheduler if scheduler is not None else cluster)
        except (OSError, TimeoutError) as exc:
            if scheduler is None:
                raise
            raise SchedulerError(f"argument --scheduler: cannot connect to {scheduler!r}: {exc}") from exc
        with client:
            n_threads = max(1, sum(client.nthreads().values()))
            window = 2 * n_threads  # tasks in flight: enough to keep every worker busy, few futures held
            text = spec.canonical_json()
            pending = iter(todo)

            def submit(i: int) -> Any:
                return client.submit(execute_task, text, path, i, key=f"rvsm-sweep-{spec.sha256[:16]}-{i}",
                                     pure=False, retries=0)

            signal_after = _test_signal_after()
            futures = as_completed([submit(i) for _, i in zip(range(window), pending, strict=False)])
            for n_done, fut in enumerate(futures, start=1):
                summary.add(fut.result())
                fut.release()
                if signal_after is not None and n_done == signal_after[0]:
                    os.kill(os.getpid(), signal_after[1])
                nxt = next(pending, None)
                if nxt is not None:
                    futures.add(submit(nxt))
                progress.update(summary)
    finally:
        if cluster is not None:
            cluster.close()
