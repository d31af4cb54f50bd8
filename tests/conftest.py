"""Shared fixtures: database URLs for both storage backends.

PostgreSQL tests run whenever ``DATABASE_URL`` is set or the machine's local server answers
on 127.0.0.1:5432; each test gets a schema of its own, dropped afterwards, so tests can run
in parallel (pytest-xdist) against one database.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def _postgres_base_url() -> str | None:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return LOCAL_POSTGRES
    except OSError:
        return None


POSTGRES_BASE_URL = _postgres_base_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if POSTGRES_BASE_URL is None:
        pytest.fail("PostgreSQL is required: set DATABASE_URL or start the local server")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(POSTGRES_BASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in POSTGRES_BASE_URL else "?"
    url = f"{POSTGRES_BASE_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_BASE_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Parametrizes a test over both storage backends."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))
