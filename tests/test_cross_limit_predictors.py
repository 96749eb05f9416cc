"""Two independent implementations of the RVSM limit agree.

``theory.fixed_points.predicted_limit`` solves the symbolically derived limit map with ``scipy.optimize.root`` on
(|w_bar|, t_bar); ``numerics.predict`` solves the self-consistency with a vectorized Newton iteration on (s, q)
and the numerics prox/shrink. They share no code (theory and numerics do not import each other), so agreement to
rounding is evidence for both; a disagreement points at one of them.
"""

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numerics import Problem, predict
from theory.fixed_points import predicted_limit


@st.composite
def cases(draw):
    d = draw(st.integers(2, 6))
    k = draw(st.integers(1, 10))
    w = np.array([draw(st.sampled_from((1.0, -1.0))) * draw(st.floats(0.2, 2.0)) for _ in range(d)])
    zeros = draw(st.lists(st.integers(0, d - 1), max_size=d - 1, unique=True))
    w[zeros] = 0.0
    penalty = draw(st.sampled_from(("l1", "l0", "tl1")))
    a = draw(st.floats(0.2, 3.0)) if penalty == "tl1" else None
    lam = 10.0 ** draw(st.floats(-4, -2))
    beta = 10.0 ** draw(st.floats(-1.3, 0))
    return w, k, penalty, a, lam, beta


@settings(max_examples=40, deadline=None, derandomize=True)
@given(cases())
def test_theory_and_numerics_limits_agree(case):
    w_star, k, penalty, a, lam, beta = case
    num = predict(Problem(w_star, k, penalty, lam, beta, a=a), band="keep")
    # Outside numerics' solved range (q <= 0 at large lam, see numerics.limits) the comparison is not defined.
    assume(bool(num.ok))
    th = predicted_limit(w_star, k, penalty=penalty, lam=lam, beta=beta, a=a, prefer_kept=num.support)
    assert th["consistent"]
    np.testing.assert_array_equal(th["kept"], num.support)
    # Both solve to ~1e-14 residual; the map is well conditioned away from its edges.
    np.testing.assert_allclose(th["u"], num.u, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(th["w"], num.w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose([th["s"], th["q"]], [float(num.s), float(num.q)], rtol=1e-9)
