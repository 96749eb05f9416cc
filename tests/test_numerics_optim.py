"""numerics.optim: the RVSM optimizer against the engine (iterate for iterate), the brute-force prox, and its API
(parameter groups, state_dict, the sparse copy, validation)."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import numerics as nm  # noqa: E402
from numerics import model  # noqa: E402
from numerics.gradients import Empirical  # noqa: E402
from numerics.optim import RVSM, ProximalSGD  # noqa: E402

PENALTIES = [("l1", None, 0.05), ("l0", None, 0.02), ("tl1", 1.0, 0.05)]
D, K, N, ETA, BETA, T = 6, 4, 50, 0.3, 0.5, 40


@pytest.fixture(scope="module")
def instance():
    rng = np.random.default_rng(0)
    ws, w0 = rng.standard_normal(D), rng.standard_normal(D)
    Z = np.asarray(model.sample_patches(N, K, D, seed=1))
    return ws, w0, Z, np.asarray(model.labels(Z, ws))


def engine_iterates(instance, pen, a, lam, update="gauss-seidel"):
    """(w^t, u^t) for t = 1..T from numerics.run with the empirical gradient on the fixed samples."""
    ws, w0, Z, y = instance
    prob = nm.Problem(ws, K, pen, lam, BETA, a=a)
    out = []
    for t in range(1, T + 1):
        r = nm.run(prob, w0, eta=ETA, iters=t, gradient=Empirical(samples=(Z, y)), update=update)
        assert r.iterations == t
        out.append((np.asarray(r.w), np.asarray(r.u)))
    return out


def optimizer_iterates(instance, pen, a, lam, dtype=torch.float64, update="gauss-seidel"):
    """The same with RVSM on a torch parameter, the loss (1/N) sum (f(Z; w) - y)^2 differentiated by autograd."""
    _, w0, Z, y = instance
    w = torch.tensor(w0, dtype=dtype, requires_grad=True)
    Zt, yt = torch.tensor(Z, dtype=dtype), torch.tensor(y, dtype=dtype)
    opt = RVSM([w], lr=ETA, penalty=pen, a=a, lam=lam, beta=BETA, update=update)
    out = []
    for _ in range(T):
        opt.zero_grad()
        (((torch.relu(Zt @ w).mean(1) - yt) ** 2).mean()).backward()
        opt.step()
        out.append((w.detach().double().numpy().copy(), opt.state[w]["u"].double().numpy().copy()))
    return out


@pytest.mark.parametrize("update", ["gauss-seidel", "jacobi"])
@pytest.mark.parametrize(("pen", "a", "lam"), PENALTIES)
def test_reproduces_engine_float64(instance, pen, a, lam, update):
    ref = engine_iterates(instance, pen, a, lam, update)
    got = optimizer_iterates(instance, pen, a, lam, update=update)
    n_zero = 0
    for (w_e, u_e), (w_o, u_o) in zip(ref, got, strict=True):
        np.testing.assert_allclose(w_o, w_e, rtol=0, atol=1e-12)
        np.testing.assert_allclose(u_o, u_e, rtol=0, atol=1e-12)
        assert np.array_equal(u_o == 0, u_e == 0)
        n_zero = max(n_zero, int(np.sum(u_e == 0)))
    assert n_zero > 0, "the instance must threshold something, or the prox is not exercised"


def test_parity_comparison_detects_the_wrong_update_order(instance):
    """Mutation: the Jacobi order against the Gauss-Seidel engine is far outside the 1e-12 of the parity test."""
    ref = engine_iterates(instance, "l1", None, 0.05)
    got = optimizer_iterates(instance, "l1", None, 0.05, update="jacobi")
    assert max(np.abs(w_o - w_e).max() for (w_e, _), (w_o, _) in zip(ref, got, strict=True)) > 1e-4


@pytest.mark.parametrize(("pen", "a", "lam"), PENALTIES)
def test_float32_within_rounding(instance, pen, a, lam):
    """float32 iterates within 2e-5 of the float64 engine's.

    Tolerance: one step changes w by a map with Lipschitz constant <= 1 + ETA (L + BETA) ~ 1.5 here, but the run is
    contracting toward its limit (the float64 iterates' step shrinks), so the rounding of each step (a few eps32
    times |w| ~ 1, eps32 = 6e-8, from sums of N k = 200 terms whose error grows like sqrt(N k) eps32 ~ 1e-6) does not
    accumulate beyond T = 40 times that in the worst case: 4e-5; we measured <= 1.7e-7 and assert 2e-5. The prox cannot
    flip a coordinate on that scale because every float64 iterate stays at least 1e-3 from the threshold (asserted),
    so the float32 sparsity pattern must be the float64 one.
    """
    ref = engine_iterates(instance, pen, a, lam)
    pen_obj = nm.penalties.get_penalty(pen, **({} if a is None else {"a": a}))
    thr = float(pen_obj.threshold(lam / BETA))
    margin = min(float(np.min(np.abs(np.abs(w) - thr))) for w, _ in ref)
    assert margin > 1e-3
    got = optimizer_iterates(instance, pen, a, lam, dtype=torch.float32)
    for (w_e, u_e), (w_o, u_o) in zip(ref, got, strict=True):
        np.testing.assert_allclose(w_o, w_e, rtol=0, atol=2e-5)
        np.testing.assert_allclose(u_o, u_e, rtol=0, atol=2e-5)
        assert np.array_equal(u_o == 0, u_e == 0)


def brute_prox(pen, a, x, mu):
    """argmin_y mu P(y) + (y - x)^2 / 2 on a grid of spacing 1e-5 around 0 and x (the penalty written here)."""
    grid = np.concatenate([np.linspace(-3, 3, 600_001), [0.0]])
    if pen == "l1":
        P = np.abs(grid)
    elif pen == "l0":
        P = (grid != 0).astype(float)
    else:
        P = (a + 1.0) * np.abs(grid) / (a + np.abs(grid))
    return np.array([grid[np.argmin(mu * P + (grid - xi) ** 2 / 2)] for xi in x])


@pytest.mark.parametrize(("pen", "a"), [("l1", None), ("l0", None), ("tl1", 1.0), ("tl1", 0.2)])
def test_u_is_the_brute_force_prox(pen, a):
    rng = np.random.default_rng(3)
    w0 = rng.uniform(-2, 2, 12)
    lam, beta = 0.3, 0.75
    w = torch.tensor(w0, requires_grad=True)
    opt = RVSM([w], lr=0.1, penalty=pen, a=a, lam=lam, beta=beta)
    np.testing.assert_allclose(opt.state[w]["u"].numpy(), brute_prox(pen, a, w0, lam / beta), atol=2e-5)
    w.grad = torch.tensor(rng.standard_normal(12))
    opt.step()
    w1 = w.detach().numpy()
    np.testing.assert_allclose(opt.state[w]["u"].numpy(), brute_prox(pen, a, w1, lam / beta), atol=2e-5)


def test_step_formula_with_momentum_and_weight_decay():
    """The documented recursion, written out here: m = mom m + (1 - mom) (g + wd w), w -= lr (m + beta (w - u))."""
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal(8)
    lr, lam, beta, mom, wd = 0.1, 0.05, 2.0, 0.8, 0.01
    w = torch.tensor(w0, requires_grad=True)
    opt = RVSM([w], lr=lr, penalty="l1", lam=lam, beta=beta, momentum=mom, weight_decay=wd)
    soft = lambda x, t: np.sign(x) * np.maximum(np.abs(x) - t, 0)  # noqa: E731
    x, u, m = w0.copy(), soft(w0, lam / beta), None
    for _ in range(3):
        g = rng.standard_normal(8)
        w.grad = torch.tensor(g)
        opt.step()
        gg = g + wd * x
        m = gg if m is None else mom * m + (1 - mom) * gg
        x = x - lr * (m + beta * (x - u))
        u = soft(x, lam / beta)
        np.testing.assert_allclose(w.detach().numpy(), x, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(opt.state[w]["u"].numpy(), u, rtol=1e-14, atol=1e-15)


def test_momentum_keeps_the_fixed_points(instance):
    """Damped momentum converges to the engine's RVSM limit (the fixed points do not depend on momentum)."""
    ws, w0, Z, y = instance
    r = nm.run(nm.Problem(ws, K, "l1", 0.05, BETA), w0, eta=ETA, iters=5000, tol=1e-13,
               gradient=Empirical(samples=(Z, y)))
    assert bool(r.converged)
    w = torch.tensor(w0, requires_grad=True)
    Zt, yt = torch.tensor(Z), torch.tensor(y)
    opt = RVSM([w], lr=ETA, penalty="l1", lam=0.05, beta=BETA, momentum=0.5)
    for _ in range(3000):
        opt.zero_grad()
        (((torch.relu(Zt @ w).mean(1) - yt) ** 2).mean()).backward()
        opt.step()
    np.testing.assert_allclose(w.detach().numpy(), np.asarray(r.w), atol=1e-9)
    np.testing.assert_allclose(opt.state[w]["u"].numpy(), np.asarray(r.u), atol=1e-9)


def test_dense_group_and_per_group_options():
    lin = torch.nn.Linear(5, 3).double()
    opt = RVSM([{"params": [lin.weight]}, {"params": [lin.bias], "lam": 0.0, "lr": 0.2}], lr=0.1,
               penalty="l0", lam=0.4, beta=1.0)
    b0 = lin.bias.detach().clone()
    x = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lin(x).pow(2).sum().backward()
    gb = lin.bias.grad.clone()
    opt.step()
    # lam = 0: u is w exactly and the step is plain gradient descent with the group's own lr
    assert torch.equal(opt.state[lin.bias]["u"], lin.bias.detach())
    torch.testing.assert_close(lin.bias.detach(), b0 - 0.2 * gb, rtol=1e-15, atol=1e-15)
    rep = opt.sparsity()
    assert rep[1] == {"group": 1, "zeros": 0, "total": 3, "fraction": 0.0}
    u = opt.state[lin.weight]["u"]
    assert rep[0]["zeros"] == int((u == 0).sum()) and rep[0]["total"] == 15
    thr = float(np.sqrt(2 * 0.4))
    assert torch.equal(u == 0, lin.weight.detach().abs() <= thr)


def test_stacked_configurations_equal_separate_runs():
    """A (G, ...) parameter with lam, beta of shape (G,) runs G independent optimizers at once."""
    gen = torch.Generator().manual_seed(1)
    G, lams, betas = 3, torch.tensor([0.0, 0.05, 0.2]), torch.tensor([1.0, 0.5, 2.0])
    W0 = torch.randn(G, 4, 5, dtype=torch.float64, generator=gen)
    grads = [torch.randn(G, 4, 5, dtype=torch.float64, generator=gen) for _ in range(4)]
    Ws = W0.clone().requires_grad_(True)
    opt = RVSM([Ws], lr=0.1, penalty="tl1", a=0.5, lam=lams.double(), beta=betas.double(), momentum=0.5)
    for g in grads:
        Ws.grad = g.clone()
        opt.step()
    for i in range(G):
        w = W0[i].clone().requires_grad_(True)
        o = RVSM([w], lr=0.1, penalty="tl1", a=0.5, lam=float(lams[i]), beta=float(betas[i]), momentum=0.5)
        for g in grads:
            w.grad = g[i].clone()
            o.step()
        torch.testing.assert_close(Ws.detach()[i], w.detach(), rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(opt.state[Ws]["u"][i], o.state[w]["u"], rtol=1e-14, atol=1e-15)
    assert bool((opt.state[Ws]["u"][2] == 0).any()) and not bool((opt.state[Ws]["u"][0] == 0).any())


def test_state_dict_round_trip_with_weights_only_load():
    gen = torch.Generator().manual_seed(2)
    grads = [torch.randn(6, dtype=torch.float64, generator=gen) for _ in range(6)]
    w = torch.randn(6, dtype=torch.float64, generator=gen).requires_grad_(True)
    opt = RVSM([w], lr=0.1, penalty="tl1", a=1.0, lam=0.1, beta=1.0, momentum=0.9)
    for g in grads[:3]:
        w.grad = g.clone()
        opt.step()
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    w2 = w.detach().clone().requires_grad_(True)
    opt2 = RVSM([w2], lr=0.5, penalty="l1", lam=9.0, beta=3.0)  # overwritten by the loaded state
    opt2.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(opt2.state[w2]["u"], opt.state[w]["u"])
    for g in grads[3:]:
        w.grad, w2.grad = g.clone(), g.clone()
        opt.step()
        opt2.step()
    assert torch.equal(w2, w) and torch.equal(opt2.state[w2]["u"], opt.state[w]["u"])


def test_sparse_weights_context_and_export():
    w = torch.tensor([0.05, -1.0, 0.3, -0.01], dtype=torch.float64, requires_grad=True)
    opt = RVSM([w], lr=0.1, penalty="l1", lam=0.1, beta=1.0)
    u = opt.state[w]["u"].clone()
    np.testing.assert_allclose(u.numpy(), [0.0, -0.9, 0.2, 0.0], atol=1e-15)
    w_before = w.detach().clone()
    with opt.sparse_weights():
        assert torch.equal(w.detach(), u)
    assert torch.equal(w.detach(), w_before)
    with pytest.raises(RuntimeError), opt.sparse_weights():
        raise RuntimeError("evaluation failed")
    assert torch.equal(w.detach(), w_before)
    opt.export_sparse()
    assert torch.equal(w.detach(), u)
    assert opt.sparsity()[0]["fraction"] == 0.5


def test_proximal_sgd_step():
    w0 = np.array([0.5, -0.02, 0.04, -2.0])
    g = np.array([1.0, 0.0, -1.0, 0.5])
    w = torch.tensor(w0, requires_grad=True)
    opt = ProximalSGD([w], lr=0.1, penalty="l1", lam=0.5)
    w.grad = torch.tensor(g)
    opt.step()
    x = w0 - 0.1 * g
    np.testing.assert_allclose(w.detach().numpy(), np.sign(x) * np.maximum(np.abs(x) - 0.05, 0), atol=1e-15)
    assert opt.sparsity()[0]["zeros"] == 1


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lam": -0.1}, "lam"), ({"beta": 0.0}, "beta"), ({"lr": 0.0}, "lr"), ({"momentum": 1.0}, "momentum"),
    ({"penalty": "l2"}, "unknown name"), ({"penalty": "tl1"}, "needs the parameter a"),
    ({"update": "sideways"}, "update"), ({"lam": torch.tensor([[0.1]])}, "lam"), ({"weight_decay": -1}, "weight_decay"),
])
def test_bad_options_name_the_parameter(kwargs, match):
    opts = {"lr": 0.1, "penalty": "l1", "lam": 0.1, "beta": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        RVSM([torch.zeros(3, requires_grad=True)], **opts)


def test_import_numerics_does_not_import_torch():
    code = "import sys, numerics; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_groups_keep_their_own_penalty_parameters_through_a_state_dict():
    """Two MCP groups with different gamma prox with their own gamma (the group's parameters are plain data, not a
    name and ``a`` only), and a state dict restores a log-sum eps into an optimizer built with another one."""
    from numerics.optim import RVSM
    from numerics.penalties import MCP, LogSum

    x = torch.linspace(-3.0, 3.0, 61, dtype=torch.float64)
    p1, p2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    groups = [{"params": [p1], "penalty_params": {"gamma": 1.5}}, {"params": [p2], "penalty_params": {"gamma": 10.0}}]
    opt = RVSM(groups, lr=0.1, penalty="mcp", lam=0.5, beta=1.0)
    g1, g2 = opt.param_groups
    assert opt.penalty_of(g1).gamma == 1.5 and opt.penalty_of(g2).gamma == 10.0
    for p, gamma in ((p1, 1.5), (p2, 10.0)):
        expect = MCP(gamma=gamma).prox(x.numpy(), 0.5)
        # the same elementwise formula in torch and NumPy: equal to a few ulp whatever the vector kernels
        np.testing.assert_allclose(opt.state[p]["u"].numpy(), expect, rtol=4 * np.finfo(float).eps, atol=0)
    assert not torch.equal(opt.state[p1]["u"], opt.state[p2]["u"])

    q = x.clone().requires_grad_()
    saved = RVSM([q], lr=0.1, penalty="log_sum", penalty_params={"eps": 0.5}, lam=0.5, beta=1.0)
    buf = io.BytesIO()
    torch.save(saved.state_dict(), buf)
    buf.seek(0)
    other = RVSM([x.clone().requires_grad_()], lr=0.1, penalty=LogSum(eps=2.0), lam=0.5, beta=1.0)
    other.load_state_dict(torch.load(buf, weights_only=True))
    assert other.penalty_of(other.param_groups[0]).eps == 0.5
