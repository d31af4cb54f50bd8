"""The service's fast inclusion plans equal the reference plans of ledger.merkle."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from api.service import _inclusion_plan
from ledger.merkle import inclusion_plan


def test_every_leaf_of_small_trees() -> None:
    for size in range(1, 130):
        for index in range(size):
            assert _inclusion_plan(index, size) == inclusion_plan(index, size), (index, size)


@settings(max_examples=300, derandomize=True)
@given(st.integers(1, 2**40).flatmap(lambda n: st.tuples(st.integers(0, n - 1), st.just(n))))
def test_large_trees(case: tuple[int, int]) -> None:
    index, size = case
    assert _inclusion_plan(index, size) == inclusion_plan(index, size)
