"""A running API over a real database, fed with the trade story through HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, make_api


@pytest.fixture
def api_factory(tmp_path: Path) -> Iterator[object]:
    """make(database_url=None, chain="none") -> Api, closed after the test."""
    made: list[Api] = []

    def make(database_url: str | None = None, chain: str = "none") -> Api:
        a = make_api(tmp_path / f"api{len(made)}", database_url, chain)
        made.append(a)
        return a

    try:
        yield make
    finally:
        for a in made:
            a.http.__exit__(None, None, None)
            a.service.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    a = make_api(tmp_path)
    try:
        a.client().submit(a.story.records)
        yield a
    finally:
        a.http.__exit__(None, None, None)
        a.service.close()
