"""Every registered penalty of numerics.penalties against its derivation in theory.penalty_machinery (never the
other way round), the house contract (mu = 0, NaN, inf, ties), the backends, validation, and the limit predictor."""

import math

import numpy as np
import pytest

import numerics as nm
from numerics.limits import matches_a_stable_limit
from numerics.penalties import MCP, PENALTIES, SCAD, LogSum, get_penalty
from theory import penalty_machinery as pm


def _mid(cls):
    return {p.name: math.sqrt(p.sample[0] * p.sample[1]) for p in cls.PARAMS}


def _instances():
    out = []
    for name, cls in sorted(PENALTIES.items()):
        out.append(get_penalty(name, **_mid(cls)))
        if cls.PARAMS:  # also the edges of the sample range
            out.append(get_penalty(name, **{p.name: p.sample[0] for p in cls.PARAMS}))
            out.append(get_penalty(name, **{p.name: p.sample[1] for p in cls.PARAMS}))
    return out


ALL = _instances()
MID = [get_penalty(name, **_mid(cls)) for name, cls in sorted(PENALTIES.items())]
EDGES = [p for p in ALL if repr(p) not in {repr(m) for m in MID}]
MUS = (1e-3, 0.05, 0.4, 1.0, 2.0, 5.0, 15.0)  # across every regime boundary (gamma, a - 1, a + 1, mu_c)


def _values(pen):
    spec = pm.SPECS[pen.name]
    return {s: pen.params[str(s)] for s in spec.params}


def test_every_registered_penalty_has_a_derivation():
    assert set(PENALTIES) <= set(pm.SPECS)


# the middle and both edges of every parameter's sample range (the derivation evaluates in 30-digit arithmetic, ~0.1 s
# per penalty and mu list)
PARAMS_BY_COST = [*MID, *EDGES]


@pytest.mark.parametrize("pen", PARAMS_BY_COST, ids=repr)
def test_threshold_equals_derivation(pen):
    # the derivation's inf_y T(y); log-sum's supercritical threshold is a bisection on both sides (float64 to ~1e-15
    # in z; T is flat at its minimum, so the threshold is accurate to rounding)
    dp, v = pm.derived(pen.name), _values(pen)
    got = np.asarray(pen.threshold(np.asarray(MUS)))
    ref = np.array([dp.threshold(m, v)[0] for m in MUS])
    np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("pen", PARAMS_BY_COST, ids=repr)
def test_prox_equals_derived_prox(pen):
    # away from the threshold and from SCAD's interior jump (+- 1e-6 relative), where two minimizers nearly tie and
    # rounding may pick either; there the check penalty_prox_global_minimizer compares objective values instead
    dp, v = pm.derived(pen.name), _values(pen)
    rng = np.random.default_rng(7)
    for m in MUS:
        t = float(pen.threshold(m))
        xs = np.concatenate([t * np.array([0.5, 0.999, 1.001, 1.2, 2.0, 4.0]), rng.uniform(0, 3 * t + 3, 4)])
        xs = np.concatenate([xs, -xs[:3]])
        if isinstance(pen, SCAD):
            xs = xs[np.abs(np.abs(xs) - (pen.a + 1 + m) / 2) > 1e-6 * (1 + np.abs(xs))]
        got = np.asarray(pen.prox(xs, m))
        ref = np.array([dp.prox(float(xx), m, v) for xx in xs])
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12, err_msg=f"{pen!r} mu={m}")


@pytest.mark.parametrize("pen", ALL, ids=repr)
def test_derivative_is_the_derivative_of_the_value(pen):
    # central differences (h = 1e-6 |x|: error ~ h^2 P''' + eps P/h ~ 1e-9 relative) away from the kinks
    xs = np.array([0.137, 0.61, 1.37, 2.9, 4.3, 7.7])
    kinks = np.array([1.0, pen.params.get("a", np.inf), pen.params.get("gamma", np.inf)])
    xs = xs[np.min(np.abs(xs[:, None] - kinks[None, :]), axis=1) > 1e-3]
    h = 1e-6 * xs
    fd = (np.asarray(pen.value(xs + h)) - np.asarray(pen.value(xs - h))) / (2 * h)
    np.testing.assert_allclose(np.asarray(pen.derivative(xs)), fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(np.asarray(pen.derivative(-xs)), -fd, rtol=1e-7, atol=1e-9)
    assert float(pen.derivative(np.asarray(0.0))) == 0.0 and float(pen.value(np.asarray(0.0))) == 0.0


@pytest.mark.parametrize("pen", ALL, ids=repr)
def test_house_contract(pen):
    x = np.array([-3.0, -0.2, 0.0, 0.7, 2.5, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(np.asarray(pen.prox(x, 0.0)), x)  # mu = 0: exactly the identity
    out = np.asarray(pen.prox(x, 0.3))
    assert np.isnan(out[5]) and out[6] == np.inf and out[7] == -np.inf
    for m in MUS:  # ties at the threshold go to 0
        t = np.asarray(pen.threshold(m))
        assert float(pen.prox(t, m)) == 0.0 and float(pen.prox(-t, m)) == 0.0
        assert float(pen.prox(np.nextafter(t, np.inf) * (1 + 1e-12), m)) != 0.0


@pytest.mark.parametrize("pen", [p for p in ALL if p.name in ("mcp", "scad", "l_half", "log_sum")], ids=repr)
def test_backends_agree_with_numpy(backend, pen):
    rng = np.random.default_rng(3)
    x_np = rng.normal(size=(4, 7)) * 3
    mu_np = np.array([0.05, 0.8, 3.0, 12.0])
    x = backend.asarray(x_np)
    out = pen.prox(x, backend.asarray(mu_np))
    assert out.dtype == x.dtype
    np.testing.assert_allclose(backend.to_numpy(out), pen.prox(x_np, mu_np), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(backend.to_numpy(pen.threshold(backend.asarray(mu_np))), pen.threshold(mu_np),
                               rtol=1e-12)


def test_validation_messages():
    with pytest.raises(ValueError, match=r"needs the parameter gamma \(gamma > 1\)"):
        get_penalty("mcp")
    with pytest.raises(ValueError, match=r"gamma.*gamma > 1"):
        get_penalty("mcp", gamma=1.0)
    with pytest.raises(ValueError, match=r"\ba\b.*a > 2"):
        SCAD(2.0)
    with pytest.raises(ValueError, match=r"eps.*eps > 0"):
        LogSum(-1.0)
    with pytest.raises(ValueError, match=r"eps.*eps > 0"):
        get_penalty("log_sum", eps=math.nan)
    with pytest.raises(ValueError, match="takes only the parameter gamma"):
        get_penalty("mcp", gamma=2.0, a=1.0)
    with pytest.raises(ValueError, match="no parameters"):
        get_penalty("l_half", a=1.0)
    assert get_penalty("MCP", gamma=3).params == {"gamma": 3.0} and repr(MCP(3.0)) == "MCP(gamma=3.0)"


def test_problem_takes_params():
    ws = np.array([1.0, -0.5, 0.3])
    p = nm.Problem(ws, 4, "mcp", 0.05, 0.5, params={"gamma": 3.0})
    assert isinstance(p.penalty, MCP) and p.penalty.gamma == 3.0
    assert isinstance(nm.Problem(ws, 4, "scad", 0.05, 0.5, a=3.7).penalty, SCAD)
    with pytest.raises(ValueError, match="a given twice"):
        nm.Problem(ws, 4, "scad", 0.05, 0.5, a=3.7, params={"a": 3.0})
    with pytest.raises(ValueError, match="already carries"):
        nm.Problem(ws, 4, MCP(2.0), 0.05, 0.5, params={"gamma": 3.0})
    with pytest.raises(ValueError, match="params must be a mapping"):
        nm.Problem(ws, 4, "mcp", 0.05, 0.5, params=[("gamma", 3.0)])


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_predict_and_run_agree_for_every_penalty(name):
    # one dense teacher per penalty, well inside every branch: RVSM's limit is the predicted fixed point
    pen = get_penalty(name, **_mid(PENALTIES[name]))
    prob = nm.Problem(np.array([1.3, -0.9, 0.05]), 3, pen, 0.04, 0.5)
    res = nm.run(prob, np.array([0.9, -0.6, 0.4]), eta=0.5, iters=50_000, tol=1e-13)
    assert bool(res.converged)
    match = matches_a_stable_limit(prob, res.w, res.u, eta=0.5, atol=1e-8)
    assert bool(match.matched), (match.error, match.spectral_radius, match.prediction.consistent)


def test_band_where_the_prox_is_continuous_but_the_kept_branch_is_not():
    # MCP gamma = 2 with mu = lam/beta = 0.5 < gamma: prox_mu is firm thresholding (continuous), but the kept branch
    # works at mu_bar = lam (1/beta + 1/q) = 4.5 > gamma, where prox_mu_bar jumps: two stable fixed points coexist and
    # RVSM reaches each from its own start (hysteresis), both the predicted ones
    pen, k, lam, beta, eta = MCP(2.0), 8, 0.5, 1.0, 0.5
    ws = np.array([2.4, 2.5, -2.0])
    prob = nm.Problem(ws, k, pen, lam, beta)
    pred = nm.predict(prob)
    assert bool(pred.band[0]) and float(pred.mu_bar) > pen.gamma > prob.mu
    limits = []
    for w0_1 in (4.8, 0.0):
        start = np.array([w0_1, 2.5, -2.0])
        res = nm.run(prob, start, eta=eta, iters=50_000, tol=1e-13)
        assert bool(matches_a_stable_limit(prob, res.w, res.u, eta=eta, atol=1e-8, w0=start).matched)
        limits.append(float(np.asarray(res.u)[0]))
    assert limits[0] > 2.0 and limits[1] == 0.0


def test_log_sum_prox_at_extreme_inputs():
    """A huge input keeps its magnitude (the discriminant (|x| + eps)^2 - 4 mu overflowed and the prox returned
    inf), and an eps whose eps^2/(2 mu) underflows is refused instead of thresholding with NaN (which kept every
    entry). The prox of a huge x is x - mu/(eps + x) + O(mu^2/x^3): x itself in float64."""
    import warnings

    from numerics.penalties import LogSum

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        out = LogSum(eps=0.5).prox(np.array([1e155, -1e155, 1e300]), 1.3)
    np.testing.assert_array_equal(out, [1e155, -1e155, 1e300])
    with pytest.raises(ValueError, match="underflows"):
        LogSum(eps=1e-200).prox(np.array([1.0, 2.0]), 1.0)


def test_log_sum_runs_on_the_jax_engine_like_the_array_engine():
    """The log-sum threshold's underflow check cannot look at an abstract mu under jax.jit: there it is skipped and
    the JAX engine gives the array engine's result."""
    pytest.importorskip("jax")
    import numerics as nm

    ws = np.array([[1.0, -0.6, 0.3, 0.0]])
    problem = nm.Problem(ws, 4, "log_sum", 0.01, 0.2, params={"eps": 0.5})
    w0 = nm.uniform_sphere(1, 4, seed=0)
    ref = nm.run(problem, w0, eta=0.5, iters=300)
    got = nm.run(problem, w0, eta=0.5, iters=300, engine="jax")
    np.testing.assert_allclose(np.asarray(got.u), np.asarray(ref.u), rtol=0, atol=1e-12)
