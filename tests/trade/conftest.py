"""Fixtures for the trade tests."""

from __future__ import annotations

import pytest
from trade_support import World


@pytest.fixture
def world(sqlite_url: str) -> World:
    """The cast on SQLite (most rule tests; the story runs on both backends)."""
    return World(sqlite_url)
