"""Symbolic derivations (SymPy) of every closed form the toolkit uses, each verified independently.

Run ``python -m theory`` to derive, verify and write the report. Each derivation lives in a small module and
returns a :class:`theory.record.Derivation`; :mod:`theory.registry` lists them in report order.
"""

from .record import Check, Derivation

__all__ = ["Check", "Derivation"]
