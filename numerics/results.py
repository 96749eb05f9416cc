"""What a run of :func:`numerics.run` returns, and how it fails."""

from __future__ import annotations

from dataclasses import dataclass

from numerics._arrays import Array

__all__ = ["DivergenceError", "History", "RVSMResult"]


class DivergenceError(ArithmeticError):
    """Raised when an iterate becomes non-finite (NaN or inf).

    Attributes
    ----------
    trial : int
        Index of the first diverging trial in the batch (0 for an unbatched run).
    iteration : int
        The update (1-based) that produced the first non-finite iterate of that trial.
    stable_eta : float or None
        The largest stable step size 2/(L + beta) for that instance, L the gradient source's smoothness estimate
        near the teacher (:func:`numerics.population.lipschitz_estimate` for the ReLU network); None for a model
        without one (the binarized network's coarse gradients).
    eta : float
        The step size that was used for that trial.
    """

    def __init__(self, trial: int, iteration: int, eta: float, stable_eta: float | None):
        self.trial, self.iteration, self.eta, self.stable_eta = trial, iteration, eta, stable_eta
        advice = ("use a smaller eta" if stable_eta is None else "the largest stable step size for this instance is "
                  f"2/(L + beta) = {stable_eta:.6g}: use eta below it")
        super().__init__(
            f"RVSM diverged: trial {trial} has a non-finite iterate at iteration {iteration} with eta = {eta:.6g}; "
            f"{advice}")


@dataclass(frozen=True)
class History:
    """Quantities recorded every ``record_every`` iterations (plus the start and the end of the run).

    Trials that stopped (``tol``) repeat their final values in later records. For an unbatched run (all inputs
    without a batch axis) the trailing B axis is absent.

    Attributes
    ----------
    iteration : array (n_records,)
        The iteration numbers t of the records (0 is the start w^0, u^0).
    lagrangian : array (n_records, B)
        Relaxed Lagrangian ``L_beta(w^t, u^t) = l(w^t) + lam sum_i P(u^t_i) + (beta/2) |w^t - u^t|^2``, with the
        loss of the gradient source's model (population, empirical, binarized).
    angle : array (n_records, B)
        Angle between w^t and w* in radians.
    support : array (n_records, B)
        Number of nonzero coordinates of u^t.
    step : array (n_records, B)
        ``|w^t - w^{t-1}|`` (NaN at t = 0).
    """

    iteration: Array
    lagrangian: Array
    angle: Array
    support: Array
    step: Array


@dataclass(frozen=True)
class RVSMResult:
    """Result of :func:`numerics.run`.

    Attributes
    ----------
    w, u : arrays (B, d) (or (d,) for an unbatched run)
        Final iterates; u is the sparse output. With ``update="gauss-seidel"`` ``u = prox(w)``; with ``"jacobi"``
        ``u`` is the prox of the previous ``w`` (the Jacobi order's own pair), which equals ``prox(w)`` at a limit.
    iterations : int array (B,) (or ())
        Number of updates each trial performed (the step at which it stopped, or ``iters``).
    converged : bool array (B,) (or ())
        Whether the trial stopped at a stationary point: its stationarity residual fell below ``tol`` (all False when
        tol is None). A stationary point is not necessarily the predicted limit: see ``opposite``.
    residual : float array (B,) (or ())
        The stationarity residual of each trial's last update (the one at ``iterations``), measured at the iterate
        before that update (the returned ``w`` is one step further):
        ``|w^{t+1} - w^t| / eta = |grad l(w^t) + beta (w^t - u^t)|``, the gradient in ``w`` of the relaxed
        Lagrangian, independent of ``eta`` (for a normalized iteration a bound on its tangential component; see
        :func:`numerics.run`, Notes). ``converged`` is ``residual < tol``.
    opposite : bool array (B,) (or ())
        Whether the final ``w`` lies on the ray opposite ``w*`` within rounding (angle pi:
        ``|w/|w| + w*/|w*|| <= sqrt(eps)``). With ``converged`` it marks a trial that stopped at the critical point
        opposite the teacher (for the ReLU network the gradient there no longer sees ``w*``; a saddle for ``d >= 2``,
        a spurious local minimum for ``d = 1``), which is never the predicted limit.
    history : History or None
        Recorded quantities, or None when ``record_every`` is None.
    """

    w: Array
    u: Array
    iterations: Array
    converged: Array
    residual: Array
    opposite: Array
    history: History | None
