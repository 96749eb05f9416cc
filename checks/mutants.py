"""Wrong ingredients shared by several checks' mutations (each check stores its mutations; this holds the parts)."""

from __future__ import annotations

from typing import Any

from numerics.penalties import Penalty

__all__ = ["ScaledMuPenalty"]


class ScaledMuPenalty(Penalty):
    """A penalty whose prox is applied with ``mu * scale``; the penalty value is the real one.

    ``scale = beta`` turns RVSM's ``mu = lam/beta`` into ``lam`` (the mistake "prox with lam instead of lam/beta");
    ``scale = 0`` gives a prox with threshold 0, ``u = w`` (the mistake "a prox that never zeroes").
    """

    def __init__(self, base: Penalty, scale: float) -> None:
        self.base, self.scale = base, float(scale)
        self.name = base.name

    def _value(self, xp: Any, x: Any) -> Any:
        return self.base._value(xp, x)

    def _derivative(self, xp: Any, x: Any) -> Any:
        return self.base._derivative(xp, x)

    def _threshold(self, xp: Any, mu: Any) -> Any:
        return self.base._threshold(xp, mu * self.scale)

    def _shrink(self, xp: Any, x: Any, mu: Any) -> Any:
        return self.base._shrink(xp, x, mu * self.scale)

    def prox_kernel(self, xp: Any, x: Any, mu: Any) -> Any:
        return self.base.prox_kernel(xp, x, mu * self.scale)

    def __repr__(self) -> str:
        return f"ScaledMuPenalty({self.base!r}, {self.scale!r})"
