"""Command line of :mod:`numerics`: ``python -m numerics run ...`` runs a batch of RVSM trials.

Example::

    python -m numerics run --penalty tl1 --a 1 --lam 1e-3 --beta 0.1 --eta 0.5 --d 20 --k 10 --trials 1000 \\
        --iters 100000 --tol 1e-10 --seed 0 --out results/tl1

It prints a summary (converged fraction, trials at the critical point opposite w*, trials that reached the limit
predicted by :func:`numerics.predict`, sparsity of u, support recovery, distances to the prediction) and writes
``results.csv`` (one row per trial) and ``settings.json`` (the options that were used, the CSV's columns, row count
and SHA-256, and the summary) to ``--out``. A bad argument prints one line naming it and its allowed range and exits
with code 2; so does a run too large for the memory available, before anything is computed.

Teachers (``--teacher``), seeded by ``--seed``:

- ``gaussian``: w* has i.i.d. N(0, 1) entries (so E|w*|^2 = d; the scale of the original statement's examples);
- ``sparse``: the same Gaussian entries, then exactly ``round(sparsity * d)`` coordinates (chosen uniformly per
  trial) set to 0; ``sparsity`` in [0, 1) and at least one coordinate stays nonzero (E|w*|^2 = d - zeros).

Start points (``--init``): ``sphere`` draws w^0 uniformly on the unit sphere (:func:`numerics.init.uniform_sphere`);
``angle`` draws w^0 at angle ``--init-angle`` (degrees) to w* with norm |w*| (:func:`numerics.init.at_angle`).
The teacher, the start points and the samples use independent streams spawned from ``--seed``.

Large runs: the trials are processed in chunks (``--chunk``, chosen from the memory available by default); each
chunk is iterated, compared with its predicted limits and appended to the CSV, so memory stays bounded by the
chunk's working set plus the teachers and start points (16 d bytes per trial) and a few numbers per trial for the
summary. A per-trial result does not depend on the chunk size (trials are independent; with the empirical gradient
up to the rounding of the matrix products). Every file is written under a temporary name in ``--out`` and renamed
into place at the end, so an interrupted run leaves no partial ``results.csv`` or ``settings.json`` behind.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

import numerics as nm
from numerics import limits, model, population
from numerics._arrays import to_numpy
from numerics.engines import ENGINES, EngineUnavailableError, check_engine
from numerics.penalties import PENALTIES

__all__ = ["main"]

CSV_COLUMNS = ("trial", "converged", "residual", "opposite", "iterations", "loss", "angle_deg", "support_u",
               "support_true", "false_pos", "false_neg", "support_match", "band_coords", "dist_u", "dist_w",
               "dist_u_support", "dist_w_support", "support_consistent", "reached_limit", "norm_w_star")
#: Columns written as integers (booleans as 0/1); the others as floats in their shortest round-trip form.
_INT_COLUMNS = frozenset({"trial", "converged", "opposite", "iterations", "support_u", "support_true", "false_pos",
                          "false_neg", "support_match", "band_coords", "support_consistent", "reached_limit"})

PROGRESS_SECONDS = 2.0

# Memory model of one chunk (bytes per trial), measured with tracemalloc on NumPy (d = 20, k = 10, TL1, tol run):
# the loop peaks at 16.5 x its (chunk, d) state (iterates, temporaries, finished trials awaiting compaction, the
# result), the empirical gradient adds 2.35 x its (N k, chunk) pre-activations, and numerics.predict peaks at 55 x
# the float64 (chunk, d) teachers. The factors below round those up.
_LOOP_FACTOR = 20
_EMPIRICAL_FACTOR = 3
_PREDICT_FACTOR = 64
#: Bytes per trial kept for the summary across chunks (iterations, residual, distances, flags, counts).
_SUMMARY_BYTES = 96
#: At most this many bytes of working set per chunk, and at most this many (chunk, d) elements (CPU: the loop is
#: fastest with arrays of a few MB; larger chunks only add page faults; a GPU wants larger ones).
_WORKSET_CAP = 2 << 30
_CHUNK_ELEMENTS = {"cpu": 1 << 20, "device": 1 << 24}
#: Fraction of the available memory a run may plan to use.
_MEMORY_FRACTION = 0.8


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2 (argparse's own convention)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m numerics", description="RVSM experiments from the shell.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run a batch of RVSM trials and summarise it against the predicted limit",
                       description="Run a batch of RVSM trials on seeded teachers and compare every trial with the "
                                   "limit predicted by numerics.predict. Options marked 'only with' are rejected "
                                   "without the option they belong to.")
    r.add_argument("--penalty", choices=tuple(PENALTIES), default="tl1",
                   help="penalty, any registered in numerics.penalties (default: tl1)")
    r.add_argument("--a", type=float, default=None,
                   help="parameter a of TL1 (a > 0) or SCAD (a > 2); only with those penalties (default: 1 for TL1, "
                        "none for SCAD: required)")
    r.add_argument("--gamma", type=float, default=None,
                   help="MCP parameter gamma > 1; only with --penalty mcp (default: none, required)")
    r.add_argument("--eps", type=float, default=None,
                   help="log-sum parameter eps > 0; only with --penalty log_sum (default: none, required)")
    r.add_argument("--engine", choices=ENGINES, default="array",
                   help="engine of numerics.run: array (the reference, any backend), fused (numba; NumPy, the "
                        "population gradient, built-in penalties) or jax (default: array)")
    r.add_argument("--lam", type=float, default=1e-3, help="penalty weight lam >= 0 (default: 1e-3)")
    r.add_argument("--beta", type=float, default=0.1, help="relaxation beta > 0 (default: 0.1)")
    r.add_argument("--eta", type=float, default=0.5, help="step size eta > 0 (default: 0.5)")
    r.add_argument("--d", type=int, default=20, help="patch dimension d >= 1 (default: 20)")
    r.add_argument("--k", type=int, default=10, help="number of patches k >= 1 (default: 10)")
    r.add_argument("--trials", type=int, default=1000, help="number of trials >= 1 (default: 1000)")
    r.add_argument("--iters", type=int, default=100_000, help="maximal iterations >= 1 (default: 100000)")
    r.add_argument("--tol", type=float, default=1e-10,
                   help="stop a trial once its stationarity residual |grad l(w) + beta (w - u)| = |w_next - w| / eta "
                        "is below tol, tol > 0 (default: 1e-10)")
    r.add_argument("--seed", type=int, default=0, help="seed >= 0 (default: 0)")
    r.add_argument("--teacher", choices=("gaussian", "sparse"), default="gaussian",
                   help="teacher family (default: gaussian)")
    r.add_argument("--sparsity", type=float, default=None,
                   help="fraction of zeros of a sparse teacher, in [0, 1) with round(sparsity d) < d; only with "
                        "--teacher sparse (default: 0.5)")
    r.add_argument("--init", choices=("sphere", "angle"), default="sphere", help="start points (default: sphere)")
    r.add_argument("--init-angle", type=float, default=None,
                   help="angle of w0 to w* in degrees, in [0, 180]; only with --init angle (default: 45)")
    r.add_argument("--gradient", choices=("population", "empirical"), default="population",
                   help="closed-form population gradient or the empirical one on --samples samples "
                        "(default: population)")
    r.add_argument("--samples", type=int, default=None,
                   help="samples N >= 1; only with --gradient empirical (default: 10000)")
    r.add_argument("--backend", choices=("numpy", "torch"), default="numpy", help="array backend (default: numpy)")
    r.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0; only with --backend torch "
                                                  "(default: cpu)")
    r.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="(default: float64)")
    r.add_argument("--chunk", type=int, default=None,
                   help="trials per chunk >= 1 (default: chosen from the memory available, at most 2^20/d trials "
                        "on the CPU)")
    r.add_argument("--match-tol", type=float, default=None,
                   help="max-norm distance of (w, u) to the predicted limit below which a trial counts as having "
                        "reached it, > 0 (default: max(1e-6, 100 k max(tol, eps)), eps of --dtype: a stop at "
                        "residual tol leaves ~k tol, rounding ~k eps)")
    r.add_argument("--out", default=None,
                   help="output directory for results.csv and settings.json, created if needed (default: none, "
                        "nothing is written)")
    r.add_argument("--quiet", action="store_true", help="no progress lines on stderr (default: off)")
    f = sub.add_parser("front", help="the exact loss-penalty trade-off front of one teacher (numerics.fronts)",
                       description="Compute the exact front of (sum_i P(w_i), l(w)) for one teacher and write "
                                   "front.csv (one row per critical point, with its lam and a Pareto flag) and "
                                   "front.json (parameters and the lam folds).")
    f.add_argument("--penalty", choices=("l1", "l0", "tl1"), default="l1", help="penalty (default: l1)")
    f.add_argument("--a", type=float, default=None, help="TL1 parameter a > 0; only with --penalty tl1 (default: 1)")
    f.add_argument("--d", type=int, default=4, help="dimension of a seeded Gaussian teacher (default: 4)")
    f.add_argument("--k", type=int, default=8, help="number of patches k >= 1 (default: 8)")
    f.add_argument("--seed", type=int, default=0, help="seed of the teacher >= 0 (default: 0)")
    f.add_argument("--w-star", default=None, help="explicit teacher, comma-separated, e.g. 1,0.95,0.9,0 "
                                                  "(replaces --d and --seed)")
    f.add_argument("--points", type=int, default=400, help="l1: points on the closed-form path (default: 400)")
    f.add_argument("--out", required=True, help="output folder for front.csv and front.json")
    _add_sweep_parser(sub)
    return p


def front_cli(args: argparse.Namespace) -> int:
    """``python -m numerics front``: parse-level glue; the computation is :func:`numerics.fronts.front_command`."""
    import json as _json

    from numerics.fronts import front_command

    try:
        summary = front_command(penalty=args.penalty, a=args.a, d=args.d, k=args.k, seed=args.seed,
                                w_star=args.w_star, out=args.out, n_points=args.points)
    except ValueError as exc:
        print(f"python -m numerics front: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    print(_json.dumps(summary))
    return 0


def _add_sweep_parser(sub: Any) -> None:
    """``sweep``: a parameter sweep on Dask into a resumable Zarr store (options in numerics.sweep.command)."""
    from numerics.sweep.command import add_arguments

    add_arguments(sub.add_parser("sweep", help="run a parameter sweep (TOML spec) on Dask into a resumable Zarr store",
                                 description="Run the tasks of a sweep spec that its store still misses, on a local "
                                             "Dask cluster or an existing one (--scheduler); see docs/sweeps.rst."))


# ----------------------------------------------------------------------------------------------------------------------
# Validation: everything that can be wrong with the arguments is found before any computation
# ----------------------------------------------------------------------------------------------------------------------
_CONDITIONAL = (  # (option, attribute, the option it belongs to, test on the namespace, default)
    ("--sparsity", "sparsity", "--teacher sparse", lambda a: a.teacher == "sparse", 0.5),
    ("--init-angle", "init_angle", "--init angle", lambda a: a.init == "angle", 45.0),
    ("--samples", "samples", "--gradient empirical", lambda a: a.gradient == "empirical", 10_000),
    ("--device", "device", "--backend torch", lambda a: a.backend == "torch", "cpu"),
)


#: Penalty parameters with a command-line default (TL1's a = 1 as before); every other parameter must be given.
_PARAM_DEFAULTS = {("tl1", "a"): 1.0}


def _check_penalty_params(a: argparse.Namespace) -> None:
    """The options of the penalties' parameters (``--a``, ``--gamma``, ``--eps``), read off the registry: each is
    accepted only with a penalty that takes it, required by one that does (but TL1's ``a``, default 1), and checked
    against the parameter's own range (:class:`numerics.penalties.ParamSpec`)."""
    takes = {spec.name: spec for spec in PENALTIES[a.penalty].PARAMS}
    for attr in sorted({spec.name for cls in PENALTIES.values() for spec in cls.PARAMS}):
        value = getattr(a, attr)
        if attr not in takes:
            if value is not None:
                owners = " or ".join(f"--penalty {n}" for n, c in PENALTIES.items()
                                     if attr in {spec.name for spec in c.PARAMS})
                raise ValueError(f"argument --{attr}: only used with {owners}; got --{attr} {value} without it")
            continue
        if value is None:
            if (a.penalty, attr) not in _PARAM_DEFAULTS:
                raise ValueError(f"argument --{attr}: required with --penalty {a.penalty} ({takes[attr].allowed})")
            value = _PARAM_DEFAULTS[(a.penalty, attr)]
            setattr(a, attr, value)
        if not (math.isfinite(value) and value > takes[attr].low):
            raise ValueError(f"argument --{attr}: got {value}; allowed {takes[attr].allowed}")


def _check_engine_args(a: argparse.Namespace) -> None:
    """``--engine``: installed, and able to run what the other options ask for (the fused engine runs NumPy arrays,
    the population gradient and the built-in l1 / l0 / TL1 penalties; the JAX engine NumPy arrays)."""
    try:
        check_engine(a.engine)
    except EngineUnavailableError as exc:
        raise ValueError(f"argument --engine: {exc}") from None
    if a.engine != "array" and a.backend != "numpy":
        raise ValueError(f"argument --engine: {a.engine} runs NumPy arrays; got --backend {a.backend} "
                         "(use --engine array with torch)")
    if a.engine == "fused" and a.gradient != "population":
        raise ValueError("argument --engine: fused runs the population gradient; got --gradient empirical")
    if a.engine == "fused" and a.penalty not in ("l1", "l0", "tl1"):
        raise ValueError(f"argument --engine: fused runs the penalties l1, l0 and tl1; got --penalty {a.penalty}")


def _check_args(a: argparse.Namespace) -> None:
    """Range checks that argparse's types do not do, and options given without the option they belong to (they
    would be recorded but ignored). Raises ValueError naming the option; fills in the defaults of the conditional
    options that apply."""
    _check_penalty_params(a)
    _check_engine_args(a)
    for name, attr, owner, applies, default in _CONDITIONAL:
        if getattr(a, attr) is not None and not applies(a):
            raise ValueError(f"argument {name}: only used with {owner}; got {name} {getattr(a, attr)} without it")
        if getattr(a, attr) is None and applies(a):
            setattr(a, attr, default)
    checks = [("--lam", a.lam >= 0, "lam >= 0"), ("--beta", a.beta > 0, "beta > 0"),
              ("--eta", a.eta > 0, "eta > 0"), ("--d", a.d >= 1, "d >= 1"), ("--k", a.k >= 1, "k >= 1"),
              ("--trials", a.trials >= 1, "trials >= 1"), ("--iters", a.iters >= 1, "iters >= 1"),
              ("--tol", a.tol > 0, "tol > 0"), ("--seed", a.seed >= 0, "seed >= 0")]
    opt = [("--sparsity", "sparsity", lambda v: 0 <= v < 1, "0 <= sparsity < 1"),
           ("--init-angle", "init_angle", lambda v: 0 <= v <= 180, "0 <= init-angle <= 180 (degrees)"),
           ("--samples", "samples", lambda v: v >= 1, "samples >= 1"),
           ("--chunk", "chunk", lambda v: v >= 1, "chunk >= 1"),
           ("--match-tol", "match_tol", lambda v: v > 0, "match-tol > 0")]
    checks += [(name, getattr(a, attr) is None or ok(getattr(a, attr)), allowed) for name, attr, ok, allowed in opt]
    for name, ok, allowed in checks:
        value = getattr(a, name[2:].replace("-", "_"))
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(f"argument {name}: got {value}; allowed {allowed}")
    if a.teacher == "sparse" and round(a.sparsity * a.d) >= a.d:
        raise ValueError(f"argument --sparsity: round(sparsity * d) = {round(a.sparsity * a.d)} zeros leave no "
                         f"nonzero coordinate for --d {a.d}; allowed round(sparsity * d) < d")
    if a.out is not None and not a.out.strip():
        raise ValueError("argument --out: empty path; give a directory (or omit --out to write nothing)")


def _backend(name: str, device: str | None, dtype_name: str) -> tuple[Any, Any, Any]:
    """The namespace, device and dtype of the run; a device that cannot hold an array of the dtype is a ValueError
    (checked with a one-element allocation, so every error of the backend is reported before the run)."""
    if name == "numpy":
        import array_api_compat.numpy as xp

        return xp, None, getattr(xp, dtype_name)
    try:
        import torch
    except ImportError as exc:
        raise ValueError("argument --backend: torch is not installed; allowed numpy") from exc
    dtype = getattr(torch, dtype_name)
    try:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA is not available to this torch build or machine")
        torch.zeros(1, dtype=dtype, device=dev)
    except Exception as exc:  # any torch error (unknown device string, missing driver, bad index, dtype): one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"argument --device: torch cannot use device {device!r} with {dtype_name}: {first}") from exc
    return torch, dev, dtype


def _check_out(out: str | None) -> tuple[str | None, bool]:
    """The output directory (absolute), created if needed, and whether it was created here. A file in the way,
    an unwritable or uncreatable path is a ValueError."""
    if out is None:
        return None, False
    path = os.path.abspath(os.path.expanduser(out))
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"argument --out: {out!r} exists and is not a directory")
    created = not os.path.exists(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"argument --out: cannot create directory {out!r}: {exc.strerror or exc}") from exc
    try:  # the probe is what matters (permissions, read-only file systems, quotas), not os.access
        with tempfile.NamedTemporaryFile(dir=path, prefix=".numerics-probe-"):
            pass
    except OSError as exc:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(path)
        raise ValueError(f"argument --out: cannot write to directory {out!r}: {exc.strerror or exc}") from exc
    return path, created


def _available_memory() -> int | None:
    """Bytes of memory this process can still use: MemAvailable of /proc/meminfo (or the available physical pages
    from os.sysconf), lowered to the cgroup's remaining limit when there is one; None when unknown."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    try:
        with open("/sys/fs/cgroup/memory.max") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current") as fh:
            current = int(fh.read().strip())
        if limit != "max":
            avail = min(avail, max(0, int(limit) - current))
    except (OSError, ValueError):
        pass
    return avail


@dataclass(frozen=True)
class _MemoryPlan:
    fixed: int  # bytes for the whole run: teachers, start points (float64, host), summary columns, samples
    per_trial: int  # bytes of working set per trial of a chunk (the larger of the loop and the predictions)
    device_per_trial: int  # bytes per trial on an accelerator (torch not on the CPU), else 0
    chunk: int
    available: int | None


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


def _memory_plan(a: argparse.Namespace, itemsize: int, on_device: bool) -> _MemoryPlan:
    """Chunk size and the memory the run will need; ValueError (naming the sizes) when it cannot fit."""
    d, k, trials = a.d, a.k, a.trials
    loop = _LOOP_FACTOR * d * itemsize
    samples = 0
    if a.gradient == "empirical":
        loop += (_EMPIRICAL_FACTOR * k + 2) * a.samples * itemsize  # (N k, chunk) pre-activations, (N, chunk) labels
        samples = 2 * a.samples * k * d * itemsize  # Z and its flattened copy
    post = _PREDICT_FACTOR * d * 8 + 8 * 4 * d  # predictions; the chunk's float64 w, u, teachers, starts on the host
    per_trial = max(post, 0 if on_device else loop)
    fixed = trials * (16 * d + _SUMMARY_BYTES) + (0 if on_device else samples)
    avail = _available_memory()
    cap = _CHUNK_ELEMENTS["device" if on_device else "cpu"]
    chunk = a.chunk if a.chunk is not None else max(1, min(trials, cap // d, _WORKSET_CAP // per_trial))
    chunk = min(chunk, trials)
    if avail is not None:
        budget = int(_MEMORY_FRACTION * avail)
        if a.chunk is None:
            chunk = max(1, min(chunk, (budget - fixed) // per_trial))
        need = fixed + chunk * per_trial
        if need > budget:
            by_samples = samples + (loop if not on_device else 0) * chunk > trials * (16 * d + _SUMMARY_BYTES)
            what = (f"{_gib(trials * (16 * d + _SUMMARY_BYTES))} for {trials} teachers, start points and summary "
                    f"rows" + (f", {_gib(samples)} for the {a.samples} samples" if samples and not on_device else "")
                    + f", {_gib(chunk * per_trial)} for a chunk of {chunk} trial{'s' * (chunk > 1)}")
            fix = ("use fewer --samples" if by_samples else "use fewer --trials (split the run over several --seed)"
                   if a.chunk is None else "use a smaller --chunk or fewer --trials")
            raise ValueError(f"argument {'--samples' if by_samples else '--trials'}: the run needs about "
                             f"{_gib(need)} of memory ({what}) but {_gib(avail)} is available; {fix}")
    return _MemoryPlan(fixed, per_trial, loop if on_device else 0, chunk, avail)


def _device_chunk(dev: Any, plan: _MemoryPlan, a: argparse.Namespace, itemsize: int) -> int:
    """Lower the chunk to what the accelerator's free memory holds (torch CUDA); ValueError if not one trial."""
    import torch

    if dev.type != "cuda":
        return plan.chunk
    free, _ = torch.cuda.mem_get_info(dev)
    samples = 2 * a.samples * a.k * a.d * itemsize if a.gradient == "empirical" else 0
    fits = int(_MEMORY_FRACTION * free - samples) // plan.device_per_trial
    if fits < 1 or (a.chunk is not None and a.chunk > fits):
        raise ValueError(f"argument --device: {dev} has {_gib(free)} free, not enough for "
                         f"{'one trial' if fits < 1 else f'a chunk of {a.chunk} trials'} "
                         f"({_gib(plan.device_per_trial)} per trial); use a smaller --chunk or --samples")
    return min(plan.chunk, fits)


# ----------------------------------------------------------------------------------------------------------------------
# The run: chunks of trials, each iterated, predicted and written
# ----------------------------------------------------------------------------------------------------------------------
@dataclass
class _Setup:
    """Everything validated before the first computation."""

    args: argparse.Namespace
    xp: Any
    device: Any
    dtype: Any
    chunk: int
    memory: _MemoryPlan
    out: str | None
    out_created: bool
    match_tol: float
    written: bool = False  # set once results.csv and settings.json are in place


def prepare(args: argparse.Namespace) -> _Setup:
    """Validate the arguments, the backend and device, the output directory and the memory; ValueError (one line,
    naming the option) for anything that would make the run fail or be ignored."""
    _check_args(args)
    xp, device, dtype = _backend(args.backend, args.device, args.dtype)
    itemsize = 8 if args.dtype == "float64" else 4
    on_device = device is not None and device.type != "cpu"
    memory = _memory_plan(args, itemsize, on_device)
    chunk = _device_chunk(device, memory, args, itemsize) if on_device else memory.chunk
    eps = float(np.finfo(args.dtype).eps)
    match_tol = args.match_tol if args.match_tol is not None else max(1e-6, 100 * args.k * max(args.tol, eps))
    out, created = _check_out(args.out)
    return _Setup(args, xp, device, dtype, chunk, memory, out, created, match_tol)


def _problem(w_star: Any, args: argparse.Namespace) -> nm.Problem:
    """The RVSM problem of the arguments for the teachers ``w_star`` (with the parameters its penalty takes)."""
    params = {spec.name: getattr(args, spec.name) for spec in PENALTIES[args.penalty].PARAMS}
    return nm.Problem(w_star, args.k, args.penalty, args.lam, args.beta, params=params)


class _Progress:
    """Phase lines on stderr (``numerics run: ...``), at most one per PROGRESS_SECONDS unless forced (every phase of
    a chunked run is announced: iterating, predicting, writing)."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.t0 = self.last = time.monotonic()

    def say(self, msg: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or not (force or now - self.last >= PROGRESS_SECONDS):
            return
        self.last = now
        print(f"numerics run: {msg}; elapsed {now - self.t0:.1f} s", file=sys.stderr, flush=True)


@dataclass
class _Timer:
    """Seconds spent in each phase, over all chunks."""

    loop: float = 0.0
    predict: float = 0.0
    write: float = 0.0


def _start_points(args: argparse.Namespace, ws: np.ndarray, s_init: Any) -> np.ndarray:
    """All start points as float64 on the host (the draw of :func:`numerics.uniform_sphere` / ``at_angle``)."""
    init_seed = int(s_init.generate_state(1)[0])
    if args.init == "sphere":
        return np.asarray(nm.uniform_sphere(args.trials, args.d, seed=init_seed))
    return np.asarray(nm.at_angle(ws, math.radians(args.init_angle), seed=init_seed))


def _run_chunk(setup: _Setup, ws: np.ndarray, w0: np.ndarray, samples: Any, start: int) -> Any:
    """RVSM on the trials ``start, start + 1, ...`` (host float64 teachers and starts, moved to the backend)."""
    args, xp = setup.args, setup.xp
    kw = {"dtype": setup.dtype} if setup.device is None else {"dtype": setup.dtype, "device": setup.device}
    gradient = nm.Population() if samples is None else nm.Empirical(samples=samples)
    try:
        return nm.run(_problem(xp.asarray(ws, **kw), args), xp.asarray(w0, **kw), eta=args.eta, iters=args.iters,
                      tol=args.tol, gradient=gradient, progress=not args.quiet, engine=args.engine)
    except nm.DivergenceError as exc:  # the trial index of the whole run, not of the chunk
        raise nm.DivergenceError(exc.trial + start, exc.iteration, exc.eta, exc.stable_eta) from None


def _columns(ws: np.ndarray, res: Any, args: argparse.Namespace, match_tol: float, start: int
             ) -> dict[str, np.ndarray]:
    """The CSV columns of one chunk (NumPy, float64), all vectorized: one prediction for the chunk, and one with
    the reached support only for the trials whose support differs from the predicted one."""
    w, u = to_numpy(res.w).astype(np.float64), to_numpy(res.u).astype(np.float64)
    n = ws.shape[0]
    problem = _problem(ws, args)  # the float64 teachers, whatever the run's dtype
    pred = nm.predict(problem)
    du, dw = pred.distances(w, u)
    band = np.asarray(pred.band, dtype=bool)
    true_s, u_s = ws != 0, u != 0
    false_pos = np.sum(u_s & ~true_s, axis=1)
    # The exact reference for every trial: the fixed point with the branches the run reached (its support, and for
    # each kept coordinate the root of the kept equation, numerics.limits.reached_branches). Where the trial is at
    # the default prediction, that is the prediction itself; the others (a band coordinate on the other branch, a
    # missed coordinate, a TL1 coordinate on the smaller root, an unfinished or spurious trial) get one batched
    # prediction with their branches. A support with u != 0 where w* = 0 needs q <= 0, outside predict's scope:
    # reported as not self-consistent (NaN distance).
    dus, dws = np.max(np.abs(u - pred.u), axis=1), np.max(np.abs(w - pred.w), axis=1)
    consistent = np.asarray(pred.ok, dtype=bool).reshape(n).copy()
    differs = np.any(u_s != np.asarray(pred.support, dtype=bool), axis=1) | (np.maximum(dus, dws) > match_tol)
    redo = np.flatnonzero(differs & (false_pos == 0))
    if redo.size:
        sub = _problem(ws[redo], args)
        support, small = limits.reached_branches(sub, w[redo], u[redo], atol=0.0)
        fixed = nm.predict(sub, support=support, root=small)
        dus[redo] = np.max(np.abs(u[redo] - fixed.u), axis=1)
        dws[redo] = np.max(np.abs(w[redo] - fixed.w), axis=1)
        consistent[redo] = np.asarray(fixed.ok, dtype=bool)
    bad = differs & (false_pos > 0)
    dus[bad], dws[bad], consistent[bad] = np.nan, np.nan, False
    with np.errstate(invalid="ignore"):
        reached = (np.maximum(du, dw) <= match_tol) | (consistent & (np.maximum(dus, dws) <= match_tol))
    return {
        "trial": np.arange(start, start + n), "converged": to_numpy(res.converged).astype(bool),
        "residual": to_numpy(res.residual).astype(np.float64), "opposite": to_numpy(res.opposite).astype(bool),
        "iterations": to_numpy(res.iterations).astype(np.int64),
        "loss": np.asarray(population.loss(w, ws, args.k), dtype=np.float64),
        "angle_deg": np.degrees(np.asarray(population.angle(w, ws), dtype=np.float64)),
        "support_u": u_s.sum(axis=1), "support_true": true_s.sum(axis=1), "false_pos": false_pos,
        "false_neg": np.sum(~u_s & true_s, axis=1), "support_match": np.all(u_s == true_s, axis=1),
        "band_coords": band.sum(axis=1), "dist_u": du, "dist_w": dw, "dist_u_support": dus, "dist_w_support": dws,
        "support_consistent": consistent, "reached_limit": reached, "norm_w_star": np.linalg.norm(ws, axis=1),
    }


_ROW_FORMAT = ",".join("%d" if c in _INT_COLUMNS else "%r" for c in CSV_COLUMNS)


def _csv_text(cols: dict[str, np.ndarray]) -> str:
    """The rows of one chunk as CSV text (floats in Python's shortest round-trip form, as ``repr``)."""
    lists = [cols[c].astype(np.int64).tolist() if c in _INT_COLUMNS else cols[c].astype(np.float64).tolist()
             for c in CSV_COLUMNS]
    return "".join(_ROW_FORMAT % row + "\n" for row in zip(*lists, strict=True))


#: Per-trial numbers the summary needs across chunks, and their types (_SUMMARY_BYTES rounds their size up).
_SUMMARY_COLUMNS = {"converged": bool, "opposite": bool, "reached_limit": bool, "support_match": bool,
                    "support_consistent": bool, "iterations": np.int64, "residual": np.float64,
                    "support_u": np.int32, "false_pos": np.int32, "false_neg": np.int32, "band_coords": np.int32,
                    "dist_u": np.float64, "dist_w": np.float64, "dist_u_support": np.float64}


class _Summary:
    """Per-trial numbers the summary needs, filled chunk by chunk (a few bytes per trial)."""

    def __init__(self, trials: int):
        self.cols = {c: np.empty(trials, dtype=t) for c, t in _SUMMARY_COLUMNS.items()}

    def add(self, cols: dict[str, np.ndarray], start: int) -> None:
        for c, arr in self.cols.items():
            arr[start:start + cols[c].shape[0]] = cols[c]

    def result(self, args: argparse.Namespace, setup: _Setup, timer: _Timer, wall: float) -> dict[str, Any]:
        c = self.cols
        not_reached = np.flatnonzero(~c["reached_limit"])
        return {"trials": int(args.trials), "wall_time_s": round(wall, 3), "loop_time_s": round(timer.loop, 3),
                "predict_time_s": round(timer.predict, 3), "write_time_s": round(timer.write, 3),
                "chunk": int(setup.chunk), "empirical": args.gradient == "empirical",
                "converged_fraction": float(c["converged"].mean()),
                "residual_max": float(np.max(c["residual"])),
                "opposite_count": int(c["opposite"].sum()),
                "opposite_converged_count": int(np.sum(c["opposite"] & c["converged"])),
                "reached_limit_count": int(c["reached_limit"].sum()),
                "reached_limit_fraction": float(c["reached_limit"].mean()), "match_tol": float(setup.match_tol),
                "not_reached_trials_first": [int(i) for i in not_reached[:10]],
                "iterations_median": float(np.median(c["iterations"])), "iterations_max": int(c["iterations"].max()),
                "sparsity_u_mean": float(np.mean(1 - c["support_u"] / args.d)),
                "support_recovery_fraction": float(c["support_match"].mean()),
                "false_pos_mean": float(c["false_pos"].mean()), "false_neg_mean": float(c["false_neg"].mean()),
                "trials_with_band_coords": int(np.sum(c["band_coords"] > 0)),
                "dist_u_max": float(c["dist_u"].max()), "dist_u_median": float(np.median(c["dist_u"])),
                "dist_w_max": float(c["dist_w"].max()),
                "dist_u_support_max": float(np.nanmax(c["dist_u_support"], initial=0.0)),
                "support_consistent_fraction": float(c["support_consistent"].mean())}


def _format_summary(s: dict[str, Any]) -> str:
    n = s["trials"]
    listed = ", ".join(map(str, s["not_reached_trials_first"]))
    more = n - s["reached_limit_count"] - len(s["not_reached_trials_first"])
    not_reached = "" if not listed else f"; not reached: trial {listed}" + (f" and {more} more" if more > 0 else "")
    return "\n".join([
        f"trials {n}  wall time {s['wall_time_s']:.2f} s (loop {s['loop_time_s']:.2f} s, predictions "
        f"{s['predict_time_s']:.2f} s, writing {s['write_time_s']:.2f} s)",
        f"converged {100 * s['converged_fraction']:.1f}% (stationary: residual |grad l(w) + beta (w - u)| < tol; max "
        f"{s['residual_max']:.3e})  iterations median {s['iterations_median']:.0f} max {s['iterations_max']}",
        f"at the critical point opposite w* (angle pi, not the predicted limit): {s['opposite_count']} trials "
        f"({s['opposite_converged_count']} of them converged)",
        f"reached the predicted limit (w and u within {s['match_tol']:.1e} of numerics.predict, or of its fixed "
        f"point with the reached support): {s['reached_limit_count']} of {n} "
        f"({100 * s['reached_limit_fraction']:.1f}%){not_reached}" + (
            "" if not s["empirical"] else " (the prediction is the population loss's limit; an empirical gradient "
                                          "on N samples ends O(N^-1/2) away from it)"),
        f"sparsity of u (mean fraction of zeros) {s['sparsity_u_mean']:.4f}  support recovery "
        f"{100 * s['support_recovery_fraction']:.1f}%  (false pos {s['false_pos_mean']:.3f}, false neg "
        f"{s['false_neg_mean']:.3f} per trial)",
        f"distance to predicted limit (max-norm): u max {s['dist_u_max']:.3e} median {s['dist_u_median']:.3e}, "
        f"w max {s['dist_w_max']:.3e}; trials with band coordinates {s['trials_with_band_coords']} (band coordinates "
        f"vs the nearer candidate)",
        f"distance to the fixed point with the reached support: u max {s['dist_u_support_max']:.3e}; "
        f"self-consistent {100 * s['support_consistent_fraction']:.1f}% (the fixed point with that support exists; "
        f"whether the trial is at it: 'reached')",
    ])


def _used_options(setup: _Setup) -> dict[str, Any]:
    """The options of this run as used: conditional options only where they apply, with their effective values."""
    a = setup.args
    skip = {"command"} | {attr for _, attr, _, applies, _ in _CONDITIONAL if not applies(a)}
    used = {k: v for k, v in vars(a).items() if k not in skip}
    used["chunk"], used["match_tol"] = setup.chunk, setup.match_tol
    if "device" in used:
        used["device"] = str(setup.device)
    return used


class _AtomicFile:
    """A text file written under a temporary name in its final folder and moved into place by :meth:`commit`
    (``os.replace``: readers see the old file or the whole new one, never a part). :meth:`discard` removes it."""

    def __init__(self, folder: str, name: str):
        self.final = os.path.join(folder, name)
        fd, self.tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        self.fh = os.fdopen(fd, "w", newline="")
        self.sha = hashlib.sha256()
        self.rows = 0

    def write(self, text: str) -> None:
        self.fh.write(text)
        self.sha.update(text.encode())

    def close(self) -> None:
        if not self.fh.closed:
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()

    def commit(self) -> None:
        self.close()
        os.chmod(self.tmp, 0o666 & ~_umask())
        os.replace(self.tmp, self.final)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()
        with contextlib.suppress(OSError):
            os.remove(self.tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def execute(setup: _Setup) -> dict[str, Any]:
    """Run the validated ``setup`` chunk by chunk; print the summary; move the output files into place."""
    args, t_start = setup.args, time.perf_counter()
    progress, timer = _Progress(args.quiet), _Timer()
    n_chunks = -(-args.trials // setup.chunk)
    avail = "" if setup.memory.available is None else f" of {_gib(setup.memory.available)} available"
    progress.say(f"{args.trials} trials in {n_chunks} chunk{'s' * (n_chunks > 1)} of up to {setup.chunk}; "
                 f"planned memory {_gib(setup.memory.fixed + setup.chunk * setup.memory.per_trial)}{avail}",
                 force=n_chunks > 1)
    ss = np.random.SeedSequence(args.seed)
    s_teacher, s_init, s_samples = ss.spawn(3)
    ws_all = nm.make_teachers(args.trials, args.d, kind=args.teacher,
                              sparsity=args.sparsity if args.teacher == "sparse" else 0.0, seed=s_teacher)
    w0_all = _start_points(args, ws_all, s_init)
    samples = None
    if args.gradient == "empirical":
        samples = model.sample_patches(args.samples, args.k, args.d, seed=int(s_samples.generate_state(1)[0]),
                                       xp=setup.xp, device=setup.device, dtype=setup.dtype)
    csv_file = _AtomicFile(setup.out, "results.csv") if setup.out else None
    summary_cols = _Summary(args.trials)
    ok = False
    try:
        if csv_file:
            csv_file.write(",".join(CSV_COLUMNS) + "\n")
        for i, start in enumerate(range(0, args.trials, setup.chunk)):
            stop = min(args.trials, start + setup.chunk)
            where = f"trials {start}-{stop - 1} of {args.trials}" + (f" (chunk {i + 1}/{n_chunks})" * (n_chunks > 1))
            progress.say(f"{where}: iterating", force=n_chunks > 1)
            t = time.perf_counter()
            res = _run_chunk(setup, ws_all[start:stop], w0_all[start:stop], samples, start)
            timer.loop += time.perf_counter() - t
            progress.say(f"{where}: predicting the limits", force=n_chunks > 1)
            t = time.perf_counter()
            cols = _columns(ws_all[start:stop], res, args, setup.match_tol, start)
            del res
            timer.predict += time.perf_counter() - t
            summary_cols.add(cols, start)
            if csv_file:
                progress.say(f"{where}: writing rows", force=n_chunks > 1)
                t = time.perf_counter()
                csv_file.write(_csv_text(cols))
                timer.write += time.perf_counter() - t
            del cols
        t = time.perf_counter()
        if csv_file:
            csv_file.close()
        timer.write += time.perf_counter() - t
        summary = summary_cols.result(args, setup, timer, time.perf_counter() - t_start)
        if setup.out:  # files first: a summary that cannot be printed (a closed pipe) loses no output
            t = time.perf_counter()
            settings = {"command": "run", **_used_options(setup), "csv_columns": list(CSV_COLUMNS),
                        "csv_rows": int(args.trials), "csv_sha256": csv_file.sha.hexdigest(), "summary": summary}
            js = _AtomicFile(setup.out, "settings.json")
            try:
                js.write(json.dumps(settings, indent=2, sort_keys=True) + "\n")
                js.close()
                csv_file.commit()
                js.commit()
                setup.written = True
            except BaseException:
                js.discard()
                raise
            progress.say(f"wrote results.csv ({args.trials} rows) and settings.json to {setup.out} in "
                         f"{timer.write + time.perf_counter() - t:.2f} s", force=True)
        ok = True
    finally:
        if csv_file and not ok:
            csv_file.discard()
        if not ok and setup.out_created:
            with contextlib.suppress(OSError):
                os.rmdir(setup.out)  # only if still empty
    print(_format_summary(summary), flush=True)
    return summary


def run_command(args: argparse.Namespace) -> dict[str, Any]:
    """Execute ``run``: validate (ValueError for a bad argument), run, print and write; returns the summary."""
    return execute(prepare(args))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m numerics``; returns the exit code.

    0 on success; 2 on a bad argument, a combination of options that would be ignored, an output path that cannot
    be written, a device the backend cannot use or a run too large for the memory available (one line naming it,
    before any computation); 1 when the iteration diverges (one line with the stable step size) or memory runs out
    after all; 130 on an interrupt (no partial output is left). Any other error is a bug, not a bad argument: it
    propagates with its traceback.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "front":
        return front_cli(args)
    if args.command == "sweep":
        from numerics.sweep.command import main as sweep_main

        return sweep_main(args, parser.prog)
    try:
        setup = prepare(args)
    except ValueError as exc:
        msg = " ".join(str(exc).split())
        print(f"{parser.prog}: error: {msg}", file=sys.stderr)
        return 2
    try:
        execute(setup)
    except nm.DivergenceError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        # running out of memory after all (NumPy's MemoryError, torch's OutOfMemoryError on a device): one line
        if not (isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"):
            raise
        print(f"{parser.prog}: error: out of memory during the run (planned "
              f"{_gib(setup.memory.fixed + setup.chunk * setup.memory.per_trial)} on the host); use a smaller --chunk",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        done = "the output was written before" if setup.written else "no output was written"
        print(f"{parser.prog}: interrupted; {done}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (`... | head`): the files are written; say nothing more
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0
