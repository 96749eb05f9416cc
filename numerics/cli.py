"""Command line of :mod:`numerics`: ``python -m numerics run ...`` runs a batch of RVSM trials.

Example::

    python -m numerics run --penalty tl1 --a 1 --lam 1e-3 --beta 0.1 --eta 0.5 --d 20 --k 10 --trials 1000 \\
        --iters 100000 --tol 1e-10 --seed 0 --out results/tl1

It prints a summary (converged fraction, sparsity of u, distance to the limit predicted by
:func:`numerics.predict`, support recovery) and writes ``results.csv`` (one row per trial) and
``settings.json`` to ``--out``. A bad argument prints one line naming it and its allowed range and exits with code 2.

Teachers (``--teacher``), seeded by ``--seed``:

- ``gaussian``: w* has i.i.d. N(0, 1) entries (so E|w*|^2 = d; the scale of the original statement's examples);
- ``sparse``: the same Gaussian entries, then exactly ``round(sparsity * d)`` coordinates (chosen uniformly per
  trial) set to 0; ``sparsity`` in [0, 1) and at least one coordinate stays nonzero (E|w*|^2 = d - zeros).

Start points (``--init``): ``sphere`` draws w^0 uniformly on the unit sphere (:func:`numerics.init.uniform_sphere`);
``angle`` draws w^0 at angle ``--init-angle`` (degrees) to w* with norm |w*| (:func:`numerics.init.at_angle`).
The teacher, the start points and the samples use independent streams spawned from ``--seed``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

import numerics as nm
from numerics import population
from numerics._arrays import to_numpy

__all__ = ["main"]

CSV_COLUMNS = ("trial", "converged", "iterations", "loss", "angle_deg", "support_u", "support_true",
               "false_pos", "false_neg", "support_match", "band_coords", "dist_u", "dist_w", "dist_u_support",
               "support_consistent", "norm_w_star")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2 (argparse's own convention)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m numerics", description="RVSM experiments from the shell.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run a batch of RVSM trials and summarise it against the predicted limit")
    r.add_argument("--penalty", choices=("l1", "l0", "tl1"), default="tl1")
    r.add_argument("--a", type=float, default=1.0, help="TL1 parameter a > 0 (tl1 only; default 1)")
    r.add_argument("--lam", type=float, default=1e-3, help="penalty weight lam >= 0")
    r.add_argument("--beta", type=float, default=0.1, help="relaxation beta > 0")
    r.add_argument("--eta", type=float, default=0.5, help="step size eta > 0")
    r.add_argument("--d", type=int, default=20, help="patch dimension d >= 1")
    r.add_argument("--k", type=int, default=10, help="number of patches k >= 1")
    r.add_argument("--trials", type=int, default=1000, help="number of trials >= 1")
    r.add_argument("--iters", type=int, default=100_000, help="maximal iterations >= 1")
    r.add_argument("--tol", type=float, default=1e-10, help="stop a trial when its update norm < tol (tol > 0)")
    r.add_argument("--seed", type=int, default=0, help="seed >= 0")
    r.add_argument("--teacher", choices=("gaussian", "sparse"), default="gaussian")
    r.add_argument("--sparsity", type=float, default=0.5, help="fraction of zeros of a sparse teacher, in [0, 1)")
    r.add_argument("--init", choices=("sphere", "angle"), default="sphere")
    r.add_argument("--init-angle", type=float, default=45.0, help="angle of w0 to w* in degrees (--init angle)")
    r.add_argument("--gradient", choices=("population", "empirical"), default="population")
    r.add_argument("--samples", type=int, default=10_000, help="samples N >= 1 (--gradient empirical)")
    r.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    r.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default cpu)")
    r.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    r.add_argument("--out", default=None, help="output directory for results.csv and settings.json")
    r.add_argument("--quiet", action="store_true", help="no progress line")
    return p


def _check_args(a: argparse.Namespace) -> None:
    """Range checks that argparse's types do not do (raise ValueError naming the option)."""
    checks = [("--a", a.a > 0, "a > 0"), ("--lam", a.lam >= 0, "lam >= 0"), ("--beta", a.beta > 0, "beta > 0"),
              ("--eta", a.eta > 0, "eta > 0"), ("--d", a.d >= 1, "d >= 1"), ("--k", a.k >= 1, "k >= 1"),
              ("--trials", a.trials >= 1, "trials >= 1"), ("--iters", a.iters >= 1, "iters >= 1"),
              ("--tol", a.tol > 0, "tol > 0"), ("--seed", a.seed >= 0, "seed >= 0"),
              ("--sparsity", 0 <= a.sparsity < 1, "0 <= sparsity < 1"),
              ("--init-angle", 0 <= a.init_angle <= 180, "0 <= init-angle <= 180 (degrees)"),
              ("--samples", a.samples >= 1, "samples >= 1")]
    for name, ok, allowed in checks:
        value = getattr(a, name[2:].replace("-", "_"))
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise ValueError(f"argument {name}: got {value}; allowed {allowed}")


def _backend(name: str, device: str | None) -> tuple[Any, Any]:
    if name == "numpy":
        if device not in (None, "cpu"):
            raise ValueError(f"argument --device: numpy runs on the cpu only; got {device!r}")
        import array_api_compat.numpy as xp

        return xp, None
    try:
        import torch
    except ImportError as exc:
        raise ValueError("argument --backend: torch is not installed; allowed numpy") from exc
    return torch, torch.device(device or "cpu")


def _problem(w_star: Any, args: argparse.Namespace) -> nm.Problem:
    """The RVSM problem of the arguments for the teachers ``w_star`` (``--a`` is used by TL1 only)."""
    return nm.Problem(w_star, args.k, args.penalty, args.lam, args.beta, a=args.a if args.penalty == "tl1" else None)


def run_command(args: argparse.Namespace) -> dict[str, Any]:
    """Execute ``run``: returns the summary dictionary (also printed and written to ``settings.json``)."""
    _check_args(args)
    xp, device = _backend(args.backend, args.device)
    dtype = getattr(xp, args.dtype)
    ss = np.random.SeedSequence(args.seed)
    s_teacher, s_init, s_samples = ss.spawn(3)
    ws_np = nm.make_teachers(args.trials, args.d, kind=args.teacher,
                             sparsity=args.sparsity if args.teacher == "sparse" else 0.0, seed=s_teacher)
    kw = {"dtype": dtype} if device is None else {"dtype": dtype, "device": device}
    ws = xp.asarray(ws_np, **kw)
    init_seed = int(s_init.generate_state(1)[0])
    if args.init == "sphere":
        w0 = nm.uniform_sphere(args.trials, args.d, seed=init_seed, xp=xp, device=device, dtype=dtype)
    else:
        w0 = nm.at_angle(ws, math.radians(args.init_angle), seed=init_seed)
    if args.gradient == "empirical":
        gradient: nm.GradientSource = nm.Empirical(n_samples=args.samples,
                                                   seed=int(s_samples.generate_state(1)[0]))
    else:
        gradient = nm.Population()
    t0 = time.perf_counter()
    res = nm.run(_problem(ws, args), w0, eta=args.eta, iters=args.iters, tol=args.tol, gradient=gradient,
                 progress=not args.quiet)
    wall = time.perf_counter() - t0

    w, u = to_numpy(res.w).astype(np.float64), to_numpy(res.u).astype(np.float64)
    loss = to_numpy(population.loss(res.w, ws, args.k)).astype(np.float64)
    ang = np.degrees(to_numpy(population.angle(res.w, ws)).astype(np.float64))
    rows = _rows(ws_np, w, u, args)
    summary = _summary(rows, res, args, wall)

    print(_format_summary(summary))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "results.csv"), "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            conv, its = to_numpy(res.converged), to_numpy(res.iterations)
            for i in range(args.trials):
                r = rows[i]
                writer.writerow([i, int(conv[i]), int(its[i]), repr(float(loss[i])), repr(float(ang[i])),
                                 r["support_u"], r["support_true"], r["false_pos"], r["false_neg"],
                                 int(r["support_match"]), r["band_coords"], repr(r["dist_u"]), repr(r["dist_w"]),
                                 repr(r["dist_u_support"]), int(r["support_consistent"]),
                                 repr(r["norm_w_star"])])
        settings = {"command": "run", **{k: v for k, v in vars(args).items() if k != "command"},
                    "csv_columns": list(CSV_COLUMNS), "summary": summary}
        with open(os.path.join(args.out, "settings.json"), "w") as fh:
            json.dump(settings, fh, indent=2, sort_keys=True)
    return summary


def _rows(ws: np.ndarray, w: np.ndarray, u: np.ndarray, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per-trial support statistics and distances to the predicted limit (NumPy, float64)."""
    problem = _problem(ws, args)  # the float64 teachers, whatever the run's dtype
    pred = nm.predict(problem)
    du, dw, band = _limit_distances(pred, w, u)
    # Exact reference for every trial: the fixed point with the support the simulation reached (in the band the
    # branch choice moves (s, q), so the nearer candidate at the default (s, q) is only an O(lam) comparison).
    fixed = nm.predict(problem, support=u != 0)
    du_fixed = np.max(np.abs(u - fixed.u), axis=-1)
    fixed_ok = np.asarray(fixed.ok)
    true_s, u_s = ws != 0, u != 0
    out = []
    for i in range(ws.shape[0]):
        out.append({"support_u": int(u_s[i].sum()), "support_true": int(true_s[i].sum()),
                    "false_pos": int((u_s[i] & ~true_s[i]).sum()), "false_neg": int((~u_s[i] & true_s[i]).sum()),
                    "support_match": bool(np.array_equal(u_s[i], true_s[i])), "band_coords": int(band[i].sum()),
                    "dist_u": float(du[i]), "dist_w": float(dw[i]), "dist_u_support": float(du_fixed[i]),
                    "support_consistent": bool(fixed_ok[i]),
                    "norm_w_star": float(np.linalg.norm(ws[i]))})
    return out


def _limit_distances(pred: Any, w: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Max-norm distances |u - u_bar|, |w - w_bar| per trial; in the band, each coordinate is compared with the
    nearer of the two candidate fixed points (kept / zeroed branch at the predicted (s, q))."""
    band = np.asarray(pred.band, dtype=bool)
    out = []
    for sim, unique, kept, zeroed in ((u, pred.u, pred.u_kept, pred.u_zeroed), (w, pred.w, pred.w_kept,
                                                                                 pred.w_zeroed)):
        nearer = np.fmin(np.abs(sim - kept), np.abs(sim - zeroed))  # fmin: a missing (NaN) kept branch is ignored
        out.append(np.max(np.where(band, nearer, np.abs(sim - unique)), axis=-1))
    return out[0], out[1], band


def _summary(rows: list[dict[str, Any]], res: Any, args: argparse.Namespace, wall: float) -> dict[str, Any]:
    conv = to_numpy(res.converged)
    its = to_numpy(res.iterations)
    du = np.array([r["dist_u"] for r in rows])
    dw = np.array([r["dist_w"] for r in rows])
    return {"trials": int(args.trials), "wall_time_s": round(wall, 3), "converged_fraction": float(conv.mean()),
            "iterations_median": float(np.median(its)), "iterations_max": int(its.max()),
            "sparsity_u_mean": float(np.mean([1 - r["support_u"] / args.d for r in rows])),
            "support_recovery_fraction": float(np.mean([r["support_match"] for r in rows])),
            "false_pos_mean": float(np.mean([r["false_pos"] for r in rows])),
            "false_neg_mean": float(np.mean([r["false_neg"] for r in rows])),
            "trials_with_band_coords": int(sum(r["band_coords"] > 0 for r in rows)),
            "dist_u_max": float(du.max()), "dist_u_median": float(np.median(du)),
            "dist_w_max": float(dw.max()),
            "dist_u_support_max": float(max(r["dist_u_support"] for r in rows)),
            "support_consistent_fraction": float(np.mean([r["support_consistent"] for r in rows]))}


def _format_summary(s: dict[str, Any]) -> str:
    return "\n".join([
        f"trials {s['trials']}  wall time {s['wall_time_s']:.2f} s  converged {100 * s['converged_fraction']:.1f}%  "
        f"iterations median {s['iterations_median']:.0f} max {s['iterations_max']}",
        f"sparsity of u (mean fraction of zeros) {s['sparsity_u_mean']:.4f}  support recovery "
        f"{100 * s['support_recovery_fraction']:.1f}%  (false pos {s['false_pos_mean']:.3f}, false neg "
        f"{s['false_neg_mean']:.3f} per trial)",
        f"distance to predicted limit (max-norm): u max {s['dist_u_max']:.3e} median {s['dist_u_median']:.3e}, "
        f"w max {s['dist_w_max']:.3e}; trials with band coordinates {s['trials_with_band_coords']} (band coordinates "
        f"vs the nearer candidate)",
        f"distance to the fixed point with the reached support: u max {s['dist_u_support_max']:.3e}; "
        f"self-consistent {100 * s['support_consistent_fraction']:.1f}%",
    ])


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m numerics``; returns the exit code.

    0 on success; 2 on a bad argument (one line naming it); 1 when the iteration diverges (one line with the
    stable step size). Any other error past argument validation is a bug, not a bad argument: it propagates with
    its traceback.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _check_args(args)
    except ValueError as exc:
        msg = " ".join(str(exc).split())
        print(f"{parser.prog}: error: {msg}", file=sys.stderr)
        return 2
    try:
        run_command(args)
    except nm.DivergenceError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    return 0
