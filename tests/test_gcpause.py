"""``ledger.gcpause.gc_paused``: the collector is off inside, restored after, even on error,
and a pause inside a pause (or inside an application's own ``gc.disable()``) changes nothing."""

from __future__ import annotations

import gc

import pytest

from ledger.gcpause import gc_paused


def test_paused_inside_and_restored_after_even_on_error() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused(collect_young_after=True):
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_nested_pauses_leave_the_outer_one_in_charge() -> None:
    with gc_paused():
        with gc_paused(collect_young_after=True):
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # the application's choice stands
    finally:
        gc.enable()


def test_a_cycle_made_inside_is_collected_on_leaving_with_collect_young_after() -> None:
    class Node:
        other: object = None

    before = gc.get_count()[0]
    with gc_paused(collect_young_after=True):
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.get_count()[0] > before
    assert gc.get_count()[0] < 5  # the young generation was just collected


def test_freeze_after_moves_the_survivors_out_of_the_collectors_view() -> None:
    assert gc.get_freeze_count() == 0
    keep = [[] for _ in range(100)]
    try:
        with gc_paused(collect_young_after=True, freeze_after=True):
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() >= len(keep)
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
