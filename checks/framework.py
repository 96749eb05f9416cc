"""The machinery behind every named check: a registry, a Hypothesis-driven runner, and swappable ingredients.

A check is a property of generated problem instances. It is registered with :func:`register` as a
:class:`CheckSpec`: a stable name, a one-sentence statement with its theory page section, a Hypothesis strategy per
profile, and a property ``prop(example, ingredients) -> Outcome``. *Ingredients* are the pieces of theory or
numerics the property relies on (a prox, a gradient, a limit predictor, ...), passed as a dict with the real ones as
defaults. A *mutation* (:class:`Mutation`) is a plausible mistake stored once, on its check's spec: a name, a
one-line description and the ingredient overrides that make it. A mutation test runs the check with those overrides
and asserts the check then fails: that is how each check shows it can fail.

:func:`run_check` drives the property with Hypothesis (derandomized, no example database, so a run is
reproducible; see :func:`_load_all`), counts the examples tried, keeps the worst discrepancy (as a fraction of the
tolerance, so 1.0 is the pass/fail edge), and on failure reports the example Hypothesis shrank to, with a one-line
call that replays it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import example as explicit_example
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable, UnsatisfiedAssumption

PROFILES = ("quick", "thorough")


@dataclass(frozen=True)
class Outcome:
    """What a property returns for one example.

    Parameters
    ----------
    discrepancy : float
        The measured error divided by its tolerance: ``<= 1`` passes. Use ``float('inf')`` for a qualitative failure.
    detail : str
        The numbers behind it (error, tolerance, standard errors, ...).
    """

    discrepancy: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.discrepancy <= 1.0)


@dataclass(frozen=True)
class Mutation:
    """A deliberate, plausible mistake in one or more ingredients of a check; the check must fail with it.

    Parameters
    ----------
    name : str
        Stable snake_case name (unique within its check).
    description : str
        The mistake in one line.
    overrides : mapping
        Ingredient name -> the wrong ingredient (passed to :func:`run_check` as ``overrides``).
    """

    name: str
    description: str
    overrides: Mapping[str, Any]


@dataclass(frozen=True)
class CheckSpec:
    """A registered check (see module docstring); ``mutations`` holds its :class:`Mutation` records."""

    name: str
    statement: str
    section: str
    strategy: Callable[[str], st.SearchStrategy]
    prop: Callable[[Any, Mapping[str, Any]], Outcome]
    ingredients: Callable[[], dict[str, Any]]
    max_examples: Mapping[str, int] = field(default_factory=lambda: {"quick": 10, "thorough": 200})
    mutations: tuple[Mutation, ...] = ()
    #: examples run first in every profile, whatever Hypothesis draws (regressions, cases a mutation needs): Hypothesis
    #: biases its draws towards the literals of the loaded modules, so drawn examples can differ between processes
    examples: tuple[Any, ...] = ()

    def mutation(self, name: str) -> Mutation:
        """The mutation called ``name`` (ValueError listing this check's mutations otherwise)."""
        for m in self.mutations:
            if m.name == name:
                return m
        raise ValueError(f"check {self.name!r} has no mutation {name!r}; it has "
                         f"{', '.join(m.name for m in self.mutations) or 'none'}")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of running one check under a profile."""

    name: str
    statement: str
    passed: bool
    examples: int
    worst: float
    worst_detail: str
    falsifying: str | None
    reproduce: str | None
    seconds: float
    error: str | None = None
    rejected: int = 0


REGISTRY: dict[str, CheckSpec] = {}


def register(spec: CheckSpec) -> CheckSpec:
    """Add ``spec`` to the registry (names are unique)."""
    if spec.name in REGISTRY:
        raise ValueError(f"check {spec.name!r} is already registered")
    if not spec.name.replace("_", "").isalnum():
        raise ValueError(f"check names are snake_case identifiers; got {spec.name!r}")
    if not all(isinstance(m, Mutation) for m in spec.mutations):
        raise ValueError(f"check {spec.name!r}: mutations must be a tuple of Mutation records; got {spec.mutations!r}")
    names = [m.name for m in spec.mutations]
    if len(set(names)) != len(names):
        raise ValueError(f"check {spec.name!r}: mutation names must be unique; got {names}")
    REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> CheckSpec:
    """The registered check called ``name`` (ValueError listing the known names otherwise)."""
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown check {name!r}; known: {', '.join(REGISTRY)}") from None


def _load_all() -> None:
    """Register every check, and import every module of theory, numerics and checks.

    Importing the check modules registers the checks. Importing *all* project modules up front is for
    reproducibility: Hypothesis biases its draws towards numeric literals found in the local modules loaded so far
    (its "local constants"), so a property that lazily imported a new module mid-run would change the examples that
    follow. With the pool fixed before any check runs, a ``python -m checks`` run is the same on every run. (Inside
    pytest the test modules add their own literals, so a check drawn there can see different examples than on the
    command line; each run is still deterministic for a given set of test files.)
    """
    import importlib
    import pkgutil

    from . import catalog  # noqa: F401

    for pkg_name in ("theory", "numerics", "checks"):
        pkg = importlib.import_module(pkg_name)
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name != "__main__":
                importlib.import_module(f"{pkg_name}.{info.name}")


def _validate_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}; got {profile!r}")


def replay_snippet(name: str, example: Any) -> str:
    """Python source that re-evaluates check ``name`` on ``example``: it imports the example's class (and NumPy,
    whose scalars appear in reprs) and calls :func:`replay`. Run it with ``python -c``."""
    cls = type(example)
    imports = "import checks; import numpy as np"
    if cls.__module__ not in ("builtins",):
        imports += f"; from {cls.__module__} import {cls.__qualname__}"
    return f"{imports}; print(checks.replay({name!r}, {example!r}))"


def replay(name: str, example: Any, ingredients: Mapping[str, Any] | None = None) -> Outcome:
    """Evaluate check ``name`` on one ``example`` (e.g. a falsifying example printed by :func:`run_check`)."""
    spec = get(name)
    ingr = spec.ingredients()
    ingr.update(ingredients or {})
    return spec.prop(example, ingr)


def run_check(
    spec: CheckSpec | str,
    profile: str = "quick",
    *,
    overrides: Mapping[str, Any] | None = None,
    max_examples: int | None = None,
) -> CheckResult:
    """Run one check under a profile; never raises for a failing property (the result says so).

    Parameters
    ----------
    spec : CheckSpec or str
        The check or its name.
    profile : {"quick", "thorough"}
        Chooses the number of examples and the instance strategy.
    overrides : mapping, optional
        Ingredients to replace (used by mutation tests).
    max_examples : int, optional
        Overrides the profile's example count.
    """
    _validate_profile(profile)
    if isinstance(spec, str):
        spec = get(spec)
    unknown = set(overrides or {}) - set(spec.ingredients())
    if unknown:
        raise ValueError(f"check {spec.name!r} has no ingredient(s) {sorted(unknown)}; "
                         f"it has {sorted(spec.ingredients())}")
    ingr = spec.ingredients()
    ingr.update(overrides or {})
    n = max_examples if max_examples is not None else spec.max_examples[profile]

    state: dict[str, Any] = {"tried": 0, "rejected": 0, "worst": 0.0, "worst_detail": "", "failing": None}

    def prop(example: Any) -> None:
        try:
            out = spec.prop(example, ingr)
        except UnsatisfiedAssumption:
            # The property declined the example (outside the check's documented scope); counted, not hidden.
            state["rejected"] += 1
            raise
        state["tried"] += 1
        if not out.discrepancy <= state["worst"] or state["tried"] == 1:
            state["worst"], state["worst_detail"] = out.discrepancy, out.detail
        if not out.passed:
            state["failing"] = (example, out)
            raise AssertionError(f"{spec.name}: {out.detail}")

    test = given(spec.strategy(profile))(prop)
    for ex in reversed(spec.examples):  # decorators apply bottom-up: keep the declared order
        test = explicit_example(ex)(test)
    runner = settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )(test)

    t0 = time.perf_counter()
    error = None
    try:
        runner()
        passed = state["failing"] is None
    except AssertionError:
        passed = False
    except Unsatisfiable:
        passed = False
        error = "every generated example was outside the check's scope (rejected): nothing was checked"
    except Exception as exc:  # an exception inside a property is a failure, reported with its type
        passed = False
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - t0
    falsifying = reproduce = None
    if state["failing"] is not None:
        example, out = state["failing"]
        falsifying = f"{example!r} -> {out.detail}"
        reproduce = replay_snippet(spec.name, example)
    return CheckResult(
        name=spec.name,
        statement=spec.statement,
        passed=passed and error is None,
        examples=state["tried"],
        worst=float(state["worst"]),
        worst_detail=state["worst_detail"],
        falsifying=falsifying,
        reproduce=reproduce,
        seconds=seconds,
        error=error,
        rejected=state["rejected"],
    )


def run(names: list[str] | None = None, profile: str = "quick") -> list[CheckResult]:
    """Run the named checks (all registered ones by default) under ``profile``."""
    _validate_profile(profile)
    _load_all()
    selected = list(REGISTRY) if names is None else names
    for name in selected:
        get(name)  # validates names before spending time
    return [run_check(REGISTRY[name], profile) for name in selected]
