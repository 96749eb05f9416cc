"""The check runner reports passes and failures faithfully, shrinks failures, and validates its inputs."""

import pytest
from hypothesis import strategies as st

from checks.framework import REGISTRY, CheckSpec, Mutation, Outcome, _load_all, register, run_check


def _spec(prop, ingredients=None):
    return CheckSpec(
        name="toy",
        statement="x^2 >= 0 (toy)",
        section="none",
        strategy=lambda profile: st.floats(-10, 10),
        prop=prop,
        ingredients=ingredients or (lambda: {"square": lambda x: x * x}),
        max_examples={"quick": 30, "thorough": 100},
    )


def test_true_property_passes_and_counts_examples():
    res = run_check(_spec(lambda x, ing: Outcome(0.0 if ing["square"](x) >= 0 else float("inf"))))
    assert res.passed
    assert res.examples == 30
    assert res.falsifying is None


def test_false_property_fails_with_shrunk_example():
    # Mutation: "square" replaced by the identity, which is negative for x < 0.
    spec = _spec(lambda x, ing: Outcome(0.0 if ing["square"](x) >= 0 else 2.0, f"value {ing['square'](x)}"))
    res = run_check(spec, overrides={"square": lambda x: x})
    assert not res.passed
    assert res.falsifying is not None
    # Hypothesis shrinks towards the simplest negative float, -1.0.
    assert res.falsifying.startswith("-1.0 ")
    assert "replay('toy', -1.0)" in res.reproduce
    assert res.worst >= 2.0


def test_exception_in_property_is_a_failure():
    def boom(x, ing):
        raise ZeroDivisionError("boom")

    res = run_check(_spec(boom))
    assert not res.passed
    assert "ZeroDivisionError" in res.error


def test_bad_profile_and_unknown_ingredient():
    with pytest.raises(ValueError, match="profile"):
        run_check(_spec(lambda x, ing: Outcome(0.0)), profile="slow")
    with pytest.raises(ValueError, match="ingredient"):
        run_check(_spec(lambda x, ing: Outcome(0.0)), overrides={"cube": None})


def test_rejected_examples_are_counted_and_all_rejected_fails():
    from hypothesis import reject

    def half(x, ing):
        if x < 0:
            reject()
        return Outcome(0.0)

    res = run_check(_spec(half))
    assert res.passed and res.rejected > 0 and res.examples > 0

    def never(x, ing):
        reject()

    res = run_check(_spec(never))
    assert not res.passed and "rejected" in res.error


def test_replay_snippet_runs_as_printed():
    # The printed reproduce line must run on its own: it imports the example's class and NumPy.
    import subprocess
    import sys

    from checks.framework import replay_snippet
    from checks.strategies import Instance

    inst = Instance(d=2, k=2, w_star=(1.0, 0.0), penalty="l1", a=None, lam=0.01, beta=0.5, eta=0.5, w0=(0.5, 0.5))
    code = replay_snippet("no_false_positives", inst)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Outcome(" in proc.stdout


def test_every_check_stores_mutations_of_its_own_ingredients():
    # Every check shows it can fail: at least one mutation, stored once on its spec as a Mutation record whose
    # overrides name ingredients the check has (the mutation tests of each module run them from there).
    _load_all()
    for spec in REGISTRY.values():
        assert spec.mutations, spec.name
        ingredients = set(spec.ingredients())
        for m in spec.mutations:
            assert isinstance(m, Mutation) and m.description, (spec.name, m)
            assert m.overrides and set(m.overrides) <= ingredients, (spec.name, m.name, sorted(ingredients))
            assert spec.mutation(m.name) is m


def test_mutation_records_are_validated():
    square = Mutation("identity_for_square", "the identity instead of the square", {"square": lambda x: x})
    spec = CheckSpec(**{**_spec(lambda x, ing: Outcome(0.0)).__dict__, "mutations": (square,)})
    with pytest.raises(ValueError, match="no mutation 'cube'"):
        spec.mutation("cube")
    with pytest.raises(ValueError, match="unique"):
        register(CheckSpec(**{**spec.__dict__, "name": "toy_twice", "mutations": (square, square)}))
    with pytest.raises(ValueError, match="Mutation records"):
        register(CheckSpec(**{**spec.__dict__, "name": "toy_dict", "mutations": {"identity_for_square": "..."}}))
    assert "toy_twice" not in REGISTRY and "toy_dict" not in REGISTRY


def test_explicit_examples_run_first_in_every_profile_whatever_is_drawn():
    # The strategy draws only from [0, 1], where the property holds; the explicit example 50.0 is outside it, so the
    # check fails only because the example is run (in both profiles), and it is reported as the falsifying example.
    seen = []

    def prop(x, ing):
        seen.append(x)
        return Outcome(0.0 if x < 10 else 2.0, f"x = {x}")

    base = _spec(prop)
    spec = CheckSpec(**{**base.__dict__, "strategy": lambda profile: st.floats(0, 1), "examples": (50.0, 0.5)})
    for profile in ("quick", "thorough"):
        seen.clear()
        res = run_check(spec, profile, max_examples=5)
        assert not res.passed and res.falsifying.startswith("50.0 ->") and seen[0] == 50.0
    ok = CheckSpec(**{**spec.__dict__, "examples": (0.25,)})
    seen.clear()
    assert run_check(ok, "quick", max_examples=5).passed and seen[0] == 0.25
