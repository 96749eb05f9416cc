"""numerics.Problem: validated once (messages name the parameter), the one home of the penalty object, mu and the
relaxed Lagrangian, its host view for the predictors, and immutability."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import numerics as nm
from numerics import penalties
from numerics.problem import relaxed_lagrangian, resolve_penalty

WS = np.array([[1.0, 0.5, 0.0], [0.3, -1.0, 0.0]])


def _build(**kwargs):
    args = {"w_star": WS, "k": 4, "penalty": "l1", "lam": 1e-3, "beta": 0.1, **kwargs}
    return nm.Problem(args.pop("w_star"), args.pop("k"), args.pop("penalty"), args.pop("lam"), args.pop("beta"),
                      **args)


# ----------------------------------------------------------------------------------------------------------------------
# Validation: every message names the parameter (the regex anchors the name at the start of the message)
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"w_star": 3.0}, r"^w_star must be an array"),
    ({"w_star": "abc"}, r"^w_star must be an array"),
    ({"w_star": np.ones((2, 2, 3))}, r"^w_star must have shape \(d,\) or \(B, d\)"),
    ({"w_star": np.ones((2, 0))}, r"^w_star must have shape"),
    ({"w_star": np.zeros(3)}, r"^w_star must be nonzero"),
    ({"w_star": np.array([[1.0, 0.0], [0.0, 0.0]])}, r"^w_star must be nonzero"),
    ({"w_star": np.array([np.nan, 1.0, 1.0])}, r"^w_star must be finite"),
    ({"w_star": np.array([1.0, -np.inf, 1.0])}, r"^w_star must be finite"),
    ({"k": 0}, r"^k out of range.*k >= 1"),
    ({"k": 2.5}, r"^k must be an integer"),
    ({"k": True}, r"^k must be an integer"),
    ({"k": "3"}, r"^k must be an integer"),
    ({"penalty": "l2"}, r"^penalty: unknown name 'l2'"),
    ({"penalty": 3}, r"^penalty must be a Penalty object or a name"),
    ({"penalty": "tl1"}, r"^penalty 'tl1' needs the parameter a \(a > 0\)"),
    ({"penalty": "tl1", "a": -1.0}, r"^a out of range.*a > 0"),
    ({"penalty": "tl1", "a": 0.0}, r"^a out of range"),
    ({"penalty": "tl1", "a": math.nan}, r"^a out of range"),
    ({"penalty": penalties.L1(), "a": 1.0}, r"^a is only used with a penalty name"),
    ({"penalty": "l1", "a": 1.0}, r"^penalty 'l1' takes no parameters; got \['a'\]"),
    ({"lam": -1e-3}, r"^lam out of range.*lam >= 0"),
    ({"lam": math.inf}, r"^lam out of range"),
    ({"lam": math.nan}, r"^lam out of range"),
    ({"lam": True}, r"^lam must be a real number"),
    ({"lam": None}, r"^lam must be a real number"),
    ({"lam": "0.1"}, r"^lam must be a real number or an array"),
    ({"lam": np.ones((2, 2))}, r"^lam must be a scalar or have shape \(B,\)"),
    ({"lam": np.array([1e-3, np.nan])}, r"^lam out of range"),
    ({"lam": np.array([True, False])}, r"^lam must be real numbers"),
    ({"beta": 0.0}, r"^beta out of range.*beta > 0"),
    ({"beta": -1}, r"^beta out of range"),
    ({"beta": np.array([1.0, 0.0])}, r"^beta out of range"),
    ({"beta": np.ones(3)}, r"^batch sizes do not match.*w_star: 2, beta: 3"),
    ({"lam": np.full(3, 1e-3)}, r"^batch sizes do not match.*w_star: 2, lam: 3"),
    ({"w_star": np.ones(3), "lam": np.full(2, 1e-3), "beta": np.ones(4)},
     r"^batch sizes do not match.*lam: 2, beta: 4"),
])
def test_validation_messages_name_the_parameter(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        _build(**kwargs)


def test_accepted_inputs_are_normalized():
    p = nm.Problem([1, 2, 0], 3, "l0", 0, 1)  # a list of ints, integer weights
    assert isinstance(p.w_star, np.ndarray) and p.w_star.dtype == np.float64
    assert isinstance(p.lam, float) and isinstance(p.beta, float) and p.lam == 0.0 and p.beta == 1.0
    q = nm.Problem(WS, np.int64(2), "L1", np.float32(0.5), np.array(2))  # NumPy scalars and a 0-d array
    assert q.k == 2 and type(q.k) is int and isinstance(q.penalty, penalties.L1)
    assert isinstance(q.lam, float) and q.lam == 0.5 and isinstance(q.beta, float) and q.beta == 2.0
    r = nm.Problem(WS, 2, "l1", [1e-3, 2e-3], (0.1, 0.2))  # lists / tuples of weights
    assert r.lam.dtype == np.float64 and r.lam.shape == (2,) and r.beta.shape == (2,)


def test_shape_properties():
    assert _build().d == 3 and _build().batch_size == 2
    one = _build(w_star=WS[0])
    assert one.d == 3 and one.batch_size is None
    # a shared teacher with per-trial weights is a batch of B problems
    assert _build(w_star=WS[0], lam=np.full(5, 1e-3)).batch_size == 5
    assert _build(w_star=WS[0], beta=np.full(4, 0.1)).batch_size == 4
    # a batch axis of size 1 is a batch
    assert _build(w_star=WS[:1]).batch_size == 1


def test_backend_of_the_teacher_is_kept(backend):
    ws = backend.asarray(WS)
    p = nm.Problem(ws, 4, "l1", 1e-3, 0.1)
    assert type(p.w_star) is type(ws) and p.w_star.dtype == backend.xp.float64
    assert p.batch_size == 2 and p.d == 3
    with pytest.raises(ValueError, match=r"^w_star must be nonzero"):
        nm.Problem(backend.asarray(np.zeros((2, 3))), 4, "l1", 1e-3, 0.1)


# ----------------------------------------------------------------------------------------------------------------------
# The penalty: by name (+ a) or as an object, resolved once
# ----------------------------------------------------------------------------------------------------------------------
def test_penalty_by_name_or_object():
    for name, cls in (("l1", penalties.L1), ("l0", penalties.L0)):
        assert type(_build(penalty=name).penalty) is cls
    tl1 = _build(penalty="tl1", a=0.5).penalty
    assert type(tl1) is penalties.TL1 and tl1.a == 0.5
    obj = penalties.TL1(2.0)
    assert _build(penalty=obj).penalty is obj  # an object is kept as it is


def test_resolve_penalty_is_the_one_place_a_name_becomes_an_object():
    obj = penalties.L0()
    assert resolve_penalty(obj) is obj
    assert isinstance(resolve_penalty("l1"), penalties.L1)
    assert resolve_penalty("tl1", 3.0).a == 3.0
    with pytest.raises(ValueError, match=r"^a is only used with a penalty name"):
        resolve_penalty(obj, 1.0)
    with pytest.raises(ValueError, match=r"^penalty must be a Penalty object"):
        resolve_penalty(None)


def test_penalty_is_resolved_once(monkeypatch):
    # building, running, predicting and evaluating the Lagrangian construct the TL1 penalty exactly once
    made = []
    init = penalties.TL1.__init__

    def counting_init(self, a):
        made.append(a)
        init(self, a)

    monkeypatch.setattr(penalties.TL1, "__init__", counting_init)
    rng = np.random.default_rng(0)
    ws = rng.standard_normal((3, 5))
    p = nm.Problem(ws, 2, "tl1", 1e-3, 0.1, a=1.0)
    assert made == [1.0]
    res = nm.run(p, rng.standard_normal((3, 5)), eta=0.5, iters=20, record_every=5)
    nm.predict(p)
    nm.predict_binary(p)
    p.lagrangian(nm.loss(res.w, ws, 2), res.w, res.u)
    dataclasses.replace(p, lam=2e-3)
    assert made == [1.0]


# ----------------------------------------------------------------------------------------------------------------------
# Derived quantities: mu and the relaxed Lagrangian
# ----------------------------------------------------------------------------------------------------------------------
def test_mu_is_lam_over_beta():
    assert _build(lam=0.02, beta=0.5).mu == pytest.approx(0.04, rel=1e-15)
    assert isinstance(_build(lam=0.02, beta=0.5).mu, float)
    assert _build(lam=0.0).mu == 0.0
    lam, beta = np.array([1e-3, 0.0]), np.array([0.1, 2.0])
    mu = _build(lam=lam, beta=beta).mu
    assert mu.shape == (2,)
    np.testing.assert_allclose(mu, [1e-2, 0.0], rtol=1e-15)
    np.testing.assert_allclose(_build(lam=lam, beta=0.5).mu, lam / 0.5, rtol=1e-15)


def _penalty_by_hand(name, a, x):
    if name == "l1":
        return abs(x)
    if name == "l0":
        return 1.0 if x != 0 else 0.0
    return (a + 1) * abs(x) / (a + abs(x))


def _lagrangian_by_hand(name, a, loss, w, u, lam, beta):
    """l + lam sum_i P(u_i) + beta/2 sum_i (w_i - u_i)^2, one trial and one coordinate at a time."""
    out = []
    for b in range(w.shape[0]):
        pen, quad = 0.0, 0.0
        for i in range(w.shape[1]):
            pen += _penalty_by_hand(name, a, u[b, i])
            quad += (w[b, i] - u[b, i]) ** 2
        out.append(loss[b] + lam[b] * pen + 0.5 * beta[b] * quad)
    return np.array(out)


@pytest.mark.parametrize(("name", "a"), [("l1", None), ("l0", None), ("tl1", 0.7)])
def test_lagrangian_equals_the_sum_by_hand(name, a):
    rng = np.random.default_rng(1)
    B, d = 4, 6
    ws, w = rng.standard_normal((B, d)), rng.standard_normal((B, d))
    u = np.where(rng.random((B, d)) < 0.4, 0.0, w + 0.1 * rng.standard_normal((B, d)))
    loss = rng.random(B)
    lam, beta = np.array([0.0, 1e-3, 0.05, 0.2]), np.array([0.1, 1.0, 0.3, 2.0])
    for lam_p, beta_p in ((lam, beta), (0.05, 0.3), (lam, 0.3)):
        p = nm.Problem(ws, 3, name, lam_p, beta_p, a=a)
        ref = _lagrangian_by_hand(name, a, loss, w, u, np.broadcast_to(lam_p, (B,)), np.broadcast_to(beta_p, (B,)))
        got = p.lagrangian(loss, w, u)
        assert got.shape == (B,)
        np.testing.assert_allclose(got, ref, rtol=1e-14, atol=0)
        np.testing.assert_allclose(relaxed_lagrangian(p.penalty, loss, w, u, lam_p, beta_p), ref, rtol=1e-14)
    # one unbatched problem: a scalar
    p = nm.Problem(ws[0], 3, name, 0.05, 0.3, a=a)
    ref = _lagrangian_by_hand(name, a, loss[:1], w[:1], u[:1], [0.05], [0.3])[0]
    assert float(p.lagrangian(loss[0], w[0], u[0])) == pytest.approx(ref, rel=1e-14)
    # mutation: the same comparison sees a missing 1/2 on the coupling term
    wrong = ref + 0.5 * 0.3 * np.sum((w[0] - u[0]) ** 2)
    assert abs(float(p.lagrangian(loss[0], w[0], u[0])) - wrong) > 1e-3


def test_lagrangian_on_other_backends(backend):
    rng = np.random.default_rng(2)
    ws, w, u = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    loss = rng.random(3)
    lam, beta = np.array([1e-3, 0.0, 0.1]), np.array([0.1, 0.2, 0.3])
    p = nm.Problem(ws, 2, "tl1", lam, beta, a=1.0)
    got = p.lagrangian(backend.asarray(loss), backend.asarray(w), backend.asarray(u))
    assert got.dtype == backend.xp.float64
    np.testing.assert_allclose(backend.to_numpy(got), _lagrangian_by_hand("tl1", 1.0, loss, w, u, lam, beta),
                               rtol=1e-14)


# ----------------------------------------------------------------------------------------------------------------------
# Host view for the predictors
# ----------------------------------------------------------------------------------------------------------------------
def test_on_host():
    ws, lam, beta = _build(lam=np.array([1e-3, 2e-3])).on_host()
    np.testing.assert_array_equal(ws, WS)
    np.testing.assert_array_equal(lam, [1e-3, 2e-3])
    np.testing.assert_array_equal(beta, [0.1, 0.1])
    assert ws.dtype == lam.dtype == beta.dtype == np.float64
    # an unbatched problem is one row
    ws1, lam1, beta1 = _build(w_star=WS[0]).on_host()
    assert ws1.shape == (1, 3) and lam1.shape == (1,) and beta1.shape == (1,)
    # a shared teacher is broadcast to the batch of the weights
    wsb, lamb, _ = _build(w_star=WS[1], beta=np.full(4, 0.2)).on_host()
    assert wsb.shape == (4, 3) and lamb.shape == (4,)
    np.testing.assert_array_equal(wsb, np.tile(WS[1], (4, 1)))
    # the rows are copies: writing to them changes nothing in the problem
    p = _build()
    ws2, lam2, _ = p.on_host()
    ws2[0, 0], lam2[0] = 99.0, 99.0
    assert float(p.w_star[0, 0]) == 1.0 and p.lam == 1e-3


def test_on_host_converts_other_backends(backend):
    p = nm.Problem(backend.asarray(WS), 4, "l1", backend.asarray(np.array([1e-3, 0.0])), 0.1)
    ws, lam, beta = p.on_host()
    assert isinstance(ws, np.ndarray) and isinstance(lam, np.ndarray) and isinstance(beta, np.ndarray)
    np.testing.assert_array_equal(ws, WS)
    np.testing.assert_array_equal(lam, [1e-3, 0.0])


def test_support_mask():
    p = _build()
    full = p.support_mask(np.array([True, True, False]))  # (d,): the same kept set for every trial
    assert full.shape == (2, 3) and full.dtype == bool
    np.testing.assert_array_equal(full, [[True, True, False], [True, True, False]])
    per = np.array([[True, False, False], [False, True, False]])
    np.testing.assert_array_equal(p.support_mask(per), per)
    assert _build(w_star=WS[0]).support_mask(np.array([True, False, False])).shape == (1, 3)
    for bad, pattern in ((np.ones(3), "^support must be a boolean mask"),
                         (np.ones((2, 4), dtype=bool), r"^support must have shape \(d,\)"),
                         (np.ones((3, 3), dtype=bool), r"^support must have shape"),
                         (np.array([True, False, True]), "^support must be False where w_star is 0")):
        with pytest.raises(ValueError, match=pattern):
            p.support_mask(bad)
    # an unbatched problem does not accept a batch of supports
    with pytest.raises(ValueError, match=r"^support must have shape"):
        _build(w_star=WS[0]).support_mask(per)


# ----------------------------------------------------------------------------------------------------------------------
# Frozen
# ----------------------------------------------------------------------------------------------------------------------
def test_frozen():
    lam = np.array([1e-3, 2e-3])
    p = _build(lam=lam)
    for field in ("w_star", "k", "penalty", "lam", "beta"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(p, field, getattr(p, field))
    with pytest.raises(ValueError, match="read-only"):
        p.lam[0] = 1.0
    # the caller's array is neither shared nor made read-only
    lam[0] = 5.0
    assert p.lam[0] == 1e-3
    # variations are new problems, validated again; the penalty object is carried over as it is
    q = dataclasses.replace(p, lam=0.5)
    assert q is not p and q.lam == 0.5 and q.penalty is p.penalty and q.batch_size == 2 and p.lam[1] == 2e-3
    with pytest.raises(ValueError, match=r"^lam out of range"):
        dataclasses.replace(p, lam=-1.0)
    tl1 = _build(penalty="tl1", a=1.0)
    assert dataclasses.replace(tl1, beta=0.2).penalty is tl1.penalty


def test_repr_names_the_fields():
    text = repr(_build(penalty="tl1", a=1.0, lam=np.array([1e-3, 2e-3])))
    assert text == "Problem(w_star=array(shape=(2, 3)), k=4, penalty=TL1(a=1.0), lam=array(shape=(2,)), beta=0.1)"


# ----------------------------------------------------------------------------------------------------------------------
# Review findings: the problem owns its teacher; empty batches are refused at the boundary
# ----------------------------------------------------------------------------------------------------------------------
def test_a_later_change_of_the_callers_teacher_does_not_change_the_problem():
    ws = np.array([1.0, 2.0])
    p = nm.Problem(ws, 4, "l1", 0.1, 1.0)
    ws[:] = 0.0
    np.testing.assert_array_equal(p.w_star, [1.0, 2.0])
    with pytest.raises(ValueError):
        p.w_star[0] = 5.0  # read-only: the validated teacher cannot be edited through the problem either


def test_empty_batches_are_refused():
    with pytest.raises(ValueError, match="w_star"):
        nm.Problem(np.ones((0, 3)), 2, "l1", 0.1, 1.0)
    with pytest.raises(ValueError, match="lam"):
        nm.Problem(np.ones(3), 2, "l1", np.ones(0), 1.0)
    with pytest.raises(ValueError, match="w0"):
        nm.run(nm.Problem(np.ones(3), 2, "l1", 0.1, 1.0), np.ones((0, 3)), eta=0.1, iters=3)
