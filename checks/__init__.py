"""The theorems of the theory page as named, Hypothesis-driven executable checks.

``checks.run(names=None, profile="quick")`` returns a list of :class:`CheckResult`; ``python -m checks`` prints a
table and exits non-zero on any failure. Each check lives in :mod:`checks.catalog` with its statement, its strategy
and the ingredients a mutation test can swap for a deliberate mistake.
"""

from .framework import CheckResult, CheckSpec, Mutation, Outcome, replay, run, run_check

__all__ = ["CheckResult", "CheckSpec", "Mutation", "Outcome", "replay", "run", "run_check"]
