"""The record every derivation returns, and the verification outcome it carries.

A derivation is a small function ``derive_<name>() -> Derivation``. It builds its result from first principles with
SymPy, then runs one or more *independent* verifications (symbolic simplification of a difference to zero, Monte
Carlo within the estimator's own standard error, quadrature, finite differences, brute-force minimization). Each
verification is a :class:`Check`; the derivation is verified only when it has at least one check and all pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Check:
    """Outcome of one verification of a derived statement.

    Parameters
    ----------
    method : str
        How it was verified, e.g. ``"symbolic"``, ``"monte-carlo"``, ``"quadrature"``, ``"finite-difference"``,
        ``"brute-force"``.
    description : str
        What was compared with what, in one sentence.
    passed : bool
        Whether the comparison held.
    detail : str
        The numbers behind the verdict (worst discrepancy, number of standard errors, cases tried).
    """

    method: str
    description: str
    passed: bool
    detail: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "passed", bool(self.passed))


@dataclass(frozen=True)
class Derivation:
    """A derived result: named SymPy expressions, how they were verified, and LaTeX for the report.

    Parameters
    ----------
    name : str
        Stable identifier (``snake_case``), used on the command line and in tests.
    title : str
        Human-readable heading for the report.
    statement : dict of str to sympy expression
        The derived expressions, by name. Other packages lambdify these.
    checks : tuple of Check
        The verifications that were run.
    latex : str
        LaTeX body (no preamble) stating the result and the steps of the derivation.
    conventions : tuple of str
        Conventions the result depends on (e.g. "loss without a factor 1/2").
    """

    name: str
    title: str
    statement: dict[str, sp.Expr]
    checks: tuple[Check, ...]
    latex: str
    conventions: tuple[str, ...] = field(default_factory=tuple)

    @property
    def verified(self) -> bool:
        """True when at least one check ran and every check passed."""
        return len(self.checks) > 0 and all(c.passed for c in self.checks)

    def summary(self) -> str:
        """One line: status, name, number of checks passed."""
        n_ok = sum(c.passed for c in self.checks)
        status = "VERIFIED" if self.verified else "FAILED"
        return f"{status:8s}  {self.name:32s}  {n_ok}/{len(self.checks)} checks"
