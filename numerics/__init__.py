"""The RVSM engine: state a problem, run the method on it, predict its limit.

>>> import numpy as np
>>> import numerics as nm
>>> problem = nm.Problem(np.array([1.0, -0.5, 0.0, 0.25]), k=4, penalty="l1", lam=1e-2, beta=0.5)
>>> w0 = nm.uniform_sphere(100, 4, seed=0)                     # 100 random starts, one batch
>>> result = nm.run(problem, w0, eta=0.5, iters=20_000, tol=1e-12)
>>> limit = nm.predict(problem)                                # the predicted thresholding of w*
>>> bool(np.abs(result.u - limit.u).max() < 1e-9)
True

The pieces, bottom to top:

* :class:`Problem` (``problem.py``): teacher ``w*``, patches ``k``, penalty, ``lam``, ``beta``; validated once; the
  home of ``mu = lam / beta`` and the relaxed Lagrangian.
* penalties (``penalties.py``): :class:`Penalty` and :class:`L1`, :class:`L0`, :class:`TL1`, :func:`get_penalty`.
* closed forms and sampled networks: :func:`loss`, :func:`grad` (``population.py``), ``model.py``, ``binary.py``.
* gradient sources (``gradients.py``): :class:`Population` (default), :class:`Empirical`, :class:`ExpectedCoarse`,
  :class:`SampledCoarse`; a new model is a new class there.
* the method (``rvsm.py``): :func:`run`; its bookkeeping in ``bookkeeping.py``; results in ``results.py``.
* the predicted limits: :func:`predict` (ReLU, ``limits.py``), :func:`predict_binary` (binarized, ``binary_limits.py``).
* start points and teachers: :func:`uniform_sphere`, :func:`at_angle` (``init.py``), :func:`make_teachers`.

``import numerics`` loads NumPy and array-api-compat only (no SymPy, no SciPy until a prediction needs its fallback
root finder, no torch).
"""

from numerics.binary_limits import BinaryLimitPrediction, predict_binary
from numerics.gradients import Empirical, ExpectedCoarse, GradientSource, Population, SampledCoarse
from numerics.init import at_angle, uniform_sphere
from numerics.limits import LimitPrediction, predict
from numerics.penalties import L0, L1, MCP, SCAD, TL1, LHalf, LogSum, Penalty, get_penalty
from numerics.population import grad, loss
from numerics.problem import Problem
from numerics.results import DivergenceError, History, RVSMResult
from numerics.rvsm import run
from numerics.teachers import make_teachers

__all__ = [
    "L0",
    "L1",
    "MCP",
    "SCAD",
    "TL1",
    "BinaryLimitPrediction",
    "DivergenceError",
    "Empirical",
    "ExpectedCoarse",
    "GradientSource",
    "History",
    "LHalf",
    "LimitPrediction",
    "LogSum",
    "Penalty",
    "Population",
    "Problem",
    "RVSMResult",
    "SampledCoarse",
    "at_angle",
    "get_penalty",
    "grad",
    "loss",
    "make_teachers",
    "predict",
    "predict_binary",
    "run",
    "uniform_sphere",
]
