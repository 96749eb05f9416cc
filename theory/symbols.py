"""Shared SymPy symbols, so that every derivation speaks about the same objects.

Notation (theory page sections 1-5): ``k`` patches of dimension ``d``; ``nw = |w|``, ``ns = |w*|``; ``theta`` the angle
between w and w*; ``lam`` the penalty weight lambda, ``beta`` the splitting parameter, ``mu`` a prox parameter,
``a`` the TL1 shape parameter.
"""

from __future__ import annotations

import sympy as sp

k = sp.Symbol("k", positive=True, integer=True)
d = sp.Symbol("d", positive=True, integer=True)
theta = sp.Symbol("theta", nonnegative=True)  # angle between w and w*, in [0, pi]
nw = sp.Symbol("n_w", positive=True)  # |w|
ns = sp.Symbol("n_s", positive=True)  # |w*|
lam = sp.Symbol("lambda", nonnegative=True)
beta = sp.Symbol("beta", positive=True)
mu = sp.Symbol("mu", positive=True)
a = sp.Symbol("a", positive=True)
eta = sp.Symbol("eta", positive=True)
