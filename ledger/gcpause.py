"""Pausing Python's cyclic garbage collector around a burst of allocation.

Parsing a bundle, checking it, or applying a batch of records allocates hundreds of thousands
of small objects; each allocation burst makes the collector walk every tracked object again,
although what these steps build holds no reference cycle. Reference counting still frees
everything while the collector is paused. Nested pauses (or an application that disabled
the collector itself) leave the collector as they found it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused(*, collect_young_after: bool = False, freeze_after: bool = False) -> Iterator[None]:
    """Disable the cyclic collector inside the block; with ``collect_young_after``, collect
    the youngest generation once on leaving, so cycles made inside wait only until then.

    ``freeze_after`` then also moves every object alive in the process out of the collector's
    view (``gc.freeze``): later collections no longer walk a large long-lived heap again and
    again, but cyclic garbage among frozen objects is never collected (objects without cycles
    are still freed by reference counting). Only for a process that does nothing but this
    work, such as a bulk import; never in a server, whose requests' cycles would leak.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        if collect_young_after:
            gc.collect(0)
        if freeze_after:
            gc.freeze()
