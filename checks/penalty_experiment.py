"""``python -m checks.penalty_experiment [N] [SEED]``: the counts behind the generalized statement of the limit map.

For every registered penalty, ``N`` (default 80) generated instances (parameters log-uniform over the penalty's
``ParamSpec.sample`` range, d in 2..6, k in 1..8, a teacher with entries of magnitude 0.2..2 and one zero with
probability 0.3, ``lam`` log-uniform in [1e-3, 1], ``beta`` in [0.05, 1], ``eta`` a fraction 0.1..0.8 of
``2/(L + beta)``, a perturbed start) are run with RVSM (population gradient, stationarity 1e-13, at most 5e4 updates)
and counted: converged; in the predictor's scope (``k q >= 1e-3``); ``matched`` (a predicted stable fixed point,
:func:`numerics.limits.matches_a_stable_limit`); ``free_ok`` (the free prediction is a fixed point) and
``free_equal`` (it is the reached one); ``prox_form`` (``u_bar = prox_{mu_bar P}(r w*)`` coordinatewise at the
limit's own ``(s, q)``, to 1e-8); ``band_trials`` (some coordinate with both branches self-consistent); and
``small_root`` (some kept coordinate below the fold of ``u + mu_bar P'(u)``). One JSON line per penalty on stdout.
docs/theory.rst ("Bring your own penalty") quotes the run with ``N = 80``, ``SEED = 3``.
"""

from __future__ import annotations

import json
import sys

import numpy as np

import numerics as nm
from numerics.limits import matches_a_stable_limit, predict, reached_branches
from numerics.penalties import PENALTIES, get_penalty
from numerics.population import gradient_coefficients, lipschitz_estimate


def count(name: str, n: int, rng: np.random.Generator) -> dict:
    """The counts of the module docstring for ``n`` instances of the registered penalty ``name``."""
    cls = PENALTIES[name]
    st = dict(penalty=name, n=0, converged=0, q_scope=0, matched=0, free_ok=0, free_equal=0, prox_form=0,
              band_trials=0, small_root=0, mismatches=[])
    for _ in range(n):
        params = {p.name: float(np.exp(rng.uniform(np.log(p.sample[0]), np.log(p.sample[1])))) for p in cls.PARAMS}
        pen = get_penalty(name, **params)
        d, k = int(rng.integers(2, 7)), int(rng.integers(1, 9))
        ws = rng.choice([-1, 1], d) * rng.uniform(0.2, 2.0, d)
        if rng.random() < 0.3:
            ws[rng.integers(0, d)] = 0.0
        if not np.any(ws):
            ws[0] = 1.0
        lam, beta = float(np.exp(rng.uniform(np.log(1e-3), 0.0))), float(np.exp(rng.uniform(np.log(0.05), 0.0)))
        eta = rng.uniform(0.1, 0.8) * 2 / (float(lipschitz_estimate(ws, k)) + beta)
        w0 = ws * rng.uniform(0.5, 2) + rng.normal(size=d) * rng.uniform(0, 1.5)
        prob = nm.Problem(ws, k, pen, lam, beta)
        res = nm.run(prob, w0, eta=eta, iters=50_000, tol=1e-13)
        st["n"] += 1
        if not bool(res.converged):
            continue
        st["converged"] += 1
        w, u = np.asarray(res.w), np.asarray(res.u)
        q, s = gradient_coefficients(w, ws, k)
        if k * float(q) < 1e-3:
            continue
        st["q_scope"] += 1
        m = matches_a_stable_limit(prob, w, u, eta=eta, atol=1e-8, w0=w0)
        st["matched"] += bool(m.matched)
        if not bool(m.matched):
            st["mismatches"].append(dict(params=params, w_star=ws.tolist(), k=k, lam=lam, beta=beta, eta=eta,
                                         w0=w0.tolist(), error=float(m.error)))
        free = predict(prob)
        st["free_ok"] += bool(free.ok)
        st["free_equal"] += bool(free.ok) and float(np.max(np.abs(free.u - u))) <= 1e-8
        r, mub = float(s / q), float(lam * (1 / beta + 1 / q))
        st["prox_form"] += float(np.max(np.abs(np.asarray(pen.prox(r * ws, mub)) - u))) <= 1e-8
        st["band_trials"] += bool(np.any(m.prediction.band))
        st["small_root"] += bool(np.any(reached_branches(prob, w, u, atol=1e-8)[1]))
    return st


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 80
    rng = np.random.default_rng(int(args[1]) if len(args) > 1 else 3)
    for name in sorted(PENALTIES):
        print(json.dumps(count(name, n, rng)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
