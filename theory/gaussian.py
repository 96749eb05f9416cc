"""Gaussian moments of the ReLU: the mean E[sigma(u.x)] and the arc-cosine kernel g(u, v) (theory page section 2).

Both are derived with SymPy from the defining Gaussian integrals: by rotation invariance of N(0, I_d) we may take
``u = |u| e1`` and ``v = |v| (cos t e1 + sin t e2)``, so only the first two coordinates of ``x`` matter. The 2-D
integral over the wedge where both ReLUs are active is then done in polar coordinates, radial and angular parts each
by ``sp.integrate``.

Public API
----------
``relu_mean_expr()``          E[sigma(u.x)] as an expression in ``NU`` (= |u|).
``arccos_kernel_expr()``      g(u, v) as an expression in ``NU``, ``NV`` (= |v|) and ``theta`` (= angle(u, v)).
``independent_patch_expr()``  E[sigma(u.Z_i) sigma(v.Z_j)], i != j, in ``NU``, ``NV``.
``verify_relu_mean``, ``verify_arccos_kernel_mc``, ``verify_arccos_kernel_quadrature``,
``verify_independent_patch`` take the *candidate* expression as an argument and return a :class:`Check`.
``derive_gaussian_moments()`` returns the :class:`Derivation` ``"gaussian_moments"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import sympy as sp
from scipy import integrate

from .record import Check, Derivation
from .symbols import theta
from .verify import verify_monte_carlo, verify_symbolic_zero

NU = sp.Symbol("n_u", positive=True)  #: |u|
NV = sp.Symbol("n_v", positive=True)  #: |v|

_r = sp.Symbol("r", positive=True)  # polar radius
_phi = sp.Symbol("phi", real=True)  # polar angle
_x = sp.Symbol("x", real=True)  # a scalar standard normal

#: (|u|, |v|, t) at which the kernel is checked numerically: acute, right, obtuse, near-antipodal and t = 0, pi.
KERNEL_CASES: tuple[tuple[float, float, float], ...] = (
    (1.0, 1.0, 0.0),
    (1.3, 0.7, 0.6),
    (0.8, 2.1, np.pi / 2),
    (2.0, 1.5, 2.2),
    (1.1, 0.9, 3.0),
    (1.0, 1.7, np.pi),
)


def _std_normal_pdf(z: sp.Expr) -> sp.Expr:
    return sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi)


@lru_cache(maxsize=1)
def _relu_mean_steps() -> dict[str, sp.Expr]:
    # u.x = |u| x_1 with x_1 ~ N(0, 1) after the rotation; sigma(|u| x_1) = |u| x_1 on x_1 > 0, 0 otherwise.
    integrand = NU * _x * _std_normal_pdf(_x)
    mean = sp.simplify(sp.integrate(integrand, (_x, 0, sp.oo)))
    return {"relu_mean": mean}


def relu_mean_expr() -> sp.Expr:
    """E[sigma(u.x)] for x ~ N(0, I_d), derived by integration.

    Returns
    -------
    sympy expression
        In the symbol :data:`NU` (= |u|).

    Notes
    -----
    .. math:: \\mathbb E[\\sigma(u\\cdot x)] = \\int_0^\\infty |u| x\\, \\varphi(x)\\,dx = \\frac{|u|}{\\sqrt{2\\pi}}.
    """
    return _relu_mean_steps()["relu_mean"]


@lru_cache(maxsize=1)
def _kernel_steps() -> dict[str, sp.Expr]:
    # After the rotation, x = r (cos phi, sin phi) in the (e1, e2) plane, density exp(-r^2/2)/(2 pi) r dr dphi.
    # u.x = |u| r cos(phi) > 0  <=>  phi in (-pi/2, pi/2);   v.x = |v| r cos(phi - t) > 0  <=>  phi in (t-pi/2, t+pi/2).
    # The wedge where both are active is the intersection; for t in [0, pi] SymPy resolves the Max/Min itself
    # (theta is declared nonnegative; t <= pi keeps it non-empty).
    lo = sp.Max(-sp.pi / 2, theta - sp.pi / 2)
    hi = sp.Min(sp.pi / 2, theta + sp.pi / 2)
    radial = sp.integrate(_r**2 * sp.exp(-(_r**2) / 2) / (2 * sp.pi) * _r, (_r, 0, sp.oo))
    angular = sp.integrate(sp.cos(_phi) * sp.cos(_phi - theta), (_phi, lo, hi))
    kernel = sp.simplify(NU * NV * radial * angular)
    mean_u = relu_mean_expr()
    mean_v = mean_u.subs(NU, NV)
    return {
        "wedge_lower": lo,
        "wedge_upper": hi,
        "radial_integral": radial,
        "angular_integral": sp.simplify(angular),
        "arccos_kernel": kernel,
        "kernel_same_vector": sp.simplify(kernel.subs({NV: NU, theta: 0})),
        # Different patches are independent Gaussian vectors, so the expectation factorizes.
        "independent_patch": sp.simplify(mean_u * mean_v),
    }


def arccos_kernel_expr() -> sp.Expr:
    """The arc-cosine kernel g(u, v) = E[sigma(u.x) sigma(v.x)], x ~ N(0, I_d), derived in polar coordinates.

    Returns
    -------
    sympy expression
        In :data:`NU` (= |u|), :data:`NV` (= |v|) and ``theory.symbols.theta`` (= angle(u, v), in [0, pi]).

    Notes
    -----
    With ``u = |u| e1``, ``v = |v|(cos t e1 + sin t e2)`` and ``x = r(cos phi, sin phi)``:

    .. math:: g = \\frac{|u||v|}{2\\pi} \\int_0^\\infty r^3 e^{-r^2/2} dr \\int_{t-\\pi/2}^{\\pi/2}
              \\cos\\phi\\cos(\\phi - t)\\,d\\phi = \\frac{|u||v|}{2\\pi}\\big(\\sin t + (\\pi - t)\\cos t\\big).
    """
    return _kernel_steps()["arccos_kernel"]


def independent_patch_expr() -> sp.Expr:
    """E[sigma(u.Z_i) sigma(v.Z_j)] for independent patches Z_i, Z_j (i != j): the product of the two means.

    Notes
    -----
    .. math:: \\mathbb E[\\sigma(u\\cdot Z_i)]\\,\\mathbb E[\\sigma(v\\cdot Z_j)] = \\frac{|u||v|}{2\\pi}.
    """
    return _kernel_steps()["independent_patch"]


# ----------------------------------------------------------------------------------------------------------------
# Verifications (each takes the candidate expression, so a wrong formula can be fed through the same code).
# ----------------------------------------------------------------------------------------------------------------


def _combine(checks: Sequence[Check], method: str, description: str) -> Check:
    return Check(method, description, all(c.passed for c in checks), " | ".join(c.detail for c in checks))


def _rotated_pair(nu: float, nv: float, t: float, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Vectors u, v in R^dim with the given norms and angle, in a random orientation (not the reduced frame)."""
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    u = nu * q[:, 0]
    v = nv * (np.cos(t) * q[:, 0] + np.sin(t) * q[:, 1])
    return u, v


def verify_relu_mean(
    candidate: sp.Expr, *, norms: Sequence[float] = (0.5, 1.0, 2.3), dim: int = 4, n_samples: int = 400_000,
    seed: int = 0, n_se: float = 4.0,
) -> Check:
    """Monte Carlo in ``dim`` dimensions of E[sigma(u.x)] against ``candidate`` (an expression in :data:`NU`)."""
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}")
    rng = np.random.default_rng(seed)
    f = sp.lambdify(NU, candidate, "numpy")
    checks = []
    for nu in norms:
        u = rng.standard_normal(dim)
        u *= nu / np.linalg.norm(u)
        x = rng.standard_normal((n_samples, dim))
        checks.append(verify_monte_carlo(np.maximum(x @ u, 0.0), float(f(nu)), f"|u|={nu}", n_se=n_se))
    return _combine(checks, "monte-carlo", f"E[relu(u.x)] vs sample mean, x ~ N(0, I_{dim}), |u| in {tuple(norms)}")


def verify_arccos_kernel_mc(
    candidate: sp.Expr, *, cases: Sequence[tuple[float, float, float]] = KERNEL_CASES, dim: int = 5,
    n_samples: int = 400_000, seed: int = 1, n_se: float = 4.0,
) -> Check:
    """Monte Carlo of E[sigma(u.x) sigma(v.x)] in ``dim`` dimensions (random orientation) against ``candidate``.

    This checks the rotation to the (e1, e2) plane as well as the 2-D integral.
    """
    if dim < 2:
        raise ValueError(f"dim must be >= 2, got {dim}")
    rng = np.random.default_rng(seed)
    f = sp.lambdify((NU, NV, theta), candidate, "numpy")
    checks = []
    for nu, nv, t in cases:
        u, v = _rotated_pair(nu, nv, t, dim, rng)
        x = rng.standard_normal((n_samples, dim))
        samples = np.maximum(x @ u, 0.0) * np.maximum(x @ v, 0.0)
        checks.append(verify_monte_carlo(samples, float(f(nu, nv, t)), f"(|u|,|v|,t)=({nu},{nv},{t:.3f})", n_se=n_se))
    return _combine(checks, "monte-carlo", f"g(u,v) vs Monte Carlo in d={dim}, {len(cases)} (|u|,|v|,t) cases")


def verify_arccos_kernel_quadrature(
    candidate: sp.Expr, *, cases: Sequence[tuple[float, float, float]] = KERNEL_CASES, rtol: float = 1e-7,
) -> Check:
    """Cartesian 2-D quadrature (``scipy.integrate.dblquad``) of the reduced integral against ``candidate``.

    Independent of the polar wedge: integrates relu(|u| x1) relu(|v|(cos t x1 + sin t x2)) phi(x1) phi(x2) over
    the square [-12, 12]^2 (the Gaussian mass outside it is below 1e-30). On x1 < 0 the integrand vanishes, so the
    outer integral runs over [0, 12].
    """
    f = sp.lambdify((NU, NV, theta), candidate, "numpy")
    worst, ok, rows = 0.0, True, []
    for nu, nv, t in cases:
        c, s = np.cos(t), np.sin(t)

        def integrand(x2: float, x1: float, nu=nu, nv=nv, c=c, s=s) -> float:
            return nu * x1 * max(nv * (c * x1 + s * x2), 0.0) * np.exp(-(x1 * x1 + x2 * x2) / 2) / (2 * np.pi)

        # Split the inner integral at the kink x2 = -c x1 / s (when s > 0) so quad sees smooth pieces.
        def inner(x1: float, c=c, s=s, integrand=integrand) -> float:
            if s > 1e-12:
                kink = -c * x1 / s
                lo = min(max(kink, -12.0), 12.0)
                return integrate.quad(integrand, lo, 12.0, args=(x1,), epsabs=1e-13, epsrel=1e-11)[0]
            return integrate.quad(integrand, -12.0, 12.0, args=(x1,), epsabs=1e-13, epsrel=1e-11)[0]

        ref = integrate.quad(inner, 0.0, 12.0, epsabs=1e-13, epsrel=1e-11)[0]
        val = float(f(nu, nv, t))
        err = abs(val - ref)
        scale = rtol * max(abs(ref), 1e-12)
        ok &= err <= scale
        worst = max(worst, err / max(abs(ref), 1e-12))
        rows.append(f"({nu},{nv},{t:.3f}): {val:.10g} vs {ref:.10g}")
    return Check("quadrature", f"g(u,v) vs Cartesian quadrature of the reduced 2-D integral, {len(cases)} cases",
                 ok, f"worst relative error {worst:.2e} (rtol {rtol}); " + "; ".join(rows))


def verify_independent_patch(
    candidate: sp.Expr, *, cases: Sequence[tuple[float, float]] = ((1.0, 1.0), (0.6, 2.2)), dim: int = 3,
    n_samples: int = 400_000, seed: int = 2, n_se: float = 4.0,
) -> Check:
    """Monte Carlo of E[sigma(u.Z_i) sigma(v.Z_j)] with independent patches Z_i, Z_j against ``candidate``."""
    rng = np.random.default_rng(seed)
    f = sp.lambdify((NU, NV), candidate, "numpy")
    checks = []
    for nu, nv in cases:
        u, v = _rotated_pair(nu, nv, 0.4, dim, rng)  # the angle between u and v is irrelevant across patches
        zi = rng.standard_normal((n_samples, dim))
        zj = rng.standard_normal((n_samples, dim))
        samples = np.maximum(zi @ u, 0.0) * np.maximum(zj @ v, 0.0)
        checks.append(verify_monte_carlo(samples, float(f(nu, nv)), f"(|u|,|v|)=({nu},{nv})", n_se=n_se))
    return _combine(checks, "monte-carlo", "independent-patch term vs Monte Carlo over two independent patches")


_LATEX = r"""
For $x\sim N(0,I_d)$ the law of $x$ is rotation invariant, so we may take $u = |u|e_1$ and
$v = |v|(\cos t\,e_1 + \sin t\,e_2)$ with $t = \angle(u,v)\in[0,\pi]$; only $(x_1,x_2)$ enters.

**Mean.** $\mathbb E[\sigma(u\cdot x)] = \int_0^\infty |u|\,x\,\varphi(x)\,dx = |u|/\sqrt{2\pi}$.

**Kernel.** In polar coordinates $x = r(\cos\phi,\sin\phi)$, $u\cdot x>0 \iff \phi\in(-\pi/2,\pi/2)$ and
$v\cdot x>0\iff \phi\in(t-\pi/2,t+\pi/2)$; for $t\in[0,\pi]$ the wedge is $(t-\pi/2,\pi/2)$. Hence
$$ g(u,v) = |u||v| \underbrace{\int_0^\infty \frac{r^3 e^{-r^2/2}}{2\pi}\,dr}_{=1/\pi}
  \underbrace{\int_{t-\pi/2}^{\pi/2}\cos\phi\cos(\phi-t)\,d\phi}_{=\frac12(\sin t + (\pi-t)\cos t)}
  = \frac{|u||v|}{2\pi}\big(\sin t + (\pi - t)\cos t\big). $$
Both integrals are evaluated by SymPy. Setting $v=u$ ($t=0$) gives $g(u,u)=|u|^2/2$. For different patches
$Z_i, Z_j$ ($i\ne j$) independence factorizes the expectation: $\mathbb E[\sigma(u\cdot Z_i)\sigma(v\cdot Z_j)]
= |u||v|/(2\pi)$.
"""


def derive_gaussian_moments() -> Derivation:
    """Derive and verify E[sigma(u.x)], the arc-cosine kernel, g(u,u) and the independent-patch term.

    Returns
    -------
    Derivation
        Named ``"gaussian_moments"``.

    Notes
    -----
    .. math:: \\mathbb E[\\sigma(u\\cdot x)] = \\frac{|u|}{\\sqrt{2\\pi}},\\qquad
              g(u,v) = \\frac{|u||v|}{2\\pi}\\big(\\sin t + (\\pi - t)\\cos t\\big),\\qquad g(u,u) = \\frac{|u|^2}{2}.
    """
    steps = _kernel_steps()
    mean = relu_mean_expr()
    kernel = steps["arccos_kernel"]
    checks = (
        verify_relu_mean(mean),
        verify_arccos_kernel_mc(kernel),
        verify_arccos_kernel_quadrature(kernel),
        verify_independent_patch(steps["independent_patch"]),
        # g(u, u) = |u|^2/2 is E[relu(u.x)^2] = |u|^2 E[x_1^2 1{x_1>0}]: an independent 1-D integral.
        verify_symbolic_zero(
            steps["kernel_same_vector"] - sp.integrate(NU**2 * _x**2 * _std_normal_pdf(_x), (_x, 0, sp.oo)),
            "g(u,u) from the kernel at t=0 equals the direct 1-D integral |u|^2 E[x^2 1{x>0}]",
        ),
    )
    statement = {
        "relu_mean": mean,
        "arccos_kernel": kernel,
        "kernel_same_vector": steps["kernel_same_vector"],
        "independent_patch": steps["independent_patch"],
        "angular_integral": steps["angular_integral"],
        "radial_integral": steps["radial_integral"],
    }
    return Derivation(
        name="gaussian_moments",
        title="Gaussian moments of the ReLU and the arc-cosine kernel",
        statement=statement,
        checks=checks,
        latex=_LATEX,
        conventions=("x ~ N(0, I_d)", "theta = angle(u, v) in [0, pi]", "sigma = ReLU"),
    )
