"""The small_lambda checks pass their quick profile, and each documented mutation makes its check fail."""

import pytest

from checks import small_lambda
from checks.framework import run_check


def test_quick_profile_passes():
    res = run_check(small_lambda.SMALL_LAMBDA_ORDERS, "quick")
    assert res.passed, (res.falsifying, res.error)
    assert res.examples == small_lambda.SMALL_LAMBDA_ORDERS.max_examples["quick"]


@pytest.mark.parametrize("mutation", small_lambda.SMALL_LAMBDA_ORDERS.mutations, ids=lambda m: m.name)
def test_mutation_fails(mutation):
    res = run_check(small_lambda.SMALL_LAMBDA_ORDERS, "quick", overrides=mutation.overrides, max_examples=10)
    assert not res.passed
    assert res.falsifying is not None and res.error is None
