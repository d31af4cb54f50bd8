"""One small database seam for SQLite (embedded default) and PostgreSQL (scale backend).

Everything that persists (the Merkle log, checkpoints, trade state) writes through a
``Transaction`` so that a record and the state it changes commit together or not at all.

- SQL is written once with ``?`` placeholders; PostgreSQL gets ``%s``.
- DDL uses ``{blob}`` and ``{bigint}`` for the two types that differ between dialects.
- ``Database.write()`` is the only way to write: SQLite takes ``BEGIN IMMEDIATE`` (one writer
  at a time), PostgreSQL a transaction-scoped advisory lock, so appends are serialized on both.
- Connections are per thread; SQLite runs in WAL mode with ``synchronous=FULL`` so a commit
  that returned is on disk.

URLs: ``sqlite:///relative/or/absolute/path.db`` (``sqlite:///:memory:`` for a throwaway
database) and ``postgresql://user@host:port/dbname?options=...``.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ledger.errors import MalformedInputError, StorageError

Row = tuple[Any, ...]
WRITE_LOCK_KEY = 0x6C6F7470726F6F66  # "lotproof" as an advisory lock key (PostgreSQL)
SQLITE_MMAP_BYTES = 1 << 30
# Values per ``IN (...)`` list in ``Transaction.query_in``: far below SQLite's and
# PostgreSQL's limits on placeholders, and statements stay small to parse and plan.
IN_LIST_CHUNK = 400


@dataclass(frozen=True)
class Dialect:
    name: str
    blob: str
    bigint: str
    placeholder: str

    def sql(self, statement: str) -> str:
        """Translate ``?`` placeholders to this dialect's."""
        if self.placeholder == "?":
            return statement
        return statement.replace("%", "%%").replace("?", self.placeholder)

    def ddl(self, statement: str) -> str:
        return statement.format(blob=self.blob, bigint=self.bigint)


SQLITE = Dialect("sqlite", blob="BLOB", bigint="INTEGER", placeholder="?")
POSTGRES = Dialect("postgresql", blob="BYTEA", bigint="BIGINT", placeholder="%s")


class Transaction:
    """A live transaction on one connection. Valid only inside its ``with`` block."""

    def __init__(self, conn: Any, dialect: Dialect, hot_cursor: Any) -> None:
        self._conn = conn
        self.dialect = dialect
        # A cursor kept with the connection for ``first_row``/``hot_query`` (on PostgreSQL
        # a binary one: bytea arrives as bytes, not hex to decode).
        self._hot = hot_cursor

    @property
    def sees_only_committed(self) -> bool:
        """True when no transaction is open on this connection, so every statement reads
        committed state (a ``reader()`` read inside this thread's open write does not)."""
        if self.dialect is SQLITE:
            return not self._conn.in_transaction
        return int(self._conn.info.transaction_status) == 0  # psycopg TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(lambda cur: cur.execute(self.dialect.sql(sql), params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._run(lambda cur: cur.executemany(self.dialect.sql(sql), rows))

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        pg_types: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> None:
        """Insert many rows: ``executemany`` on SQLite, binary ``COPY`` on PostgreSQL.

        ``pg_types`` names each column's PostgreSQL type (``int8``, ``bytea``, ``text``...),
        which the binary format needs. COPY measured about twice as fast as executemany
        (scripts/bench_log.py). ``table`` and ``columns`` are trusted identifiers.
        """
        if self.dialect is not POSTGRES:
            marks = ", ".join("?" * len(columns))
            self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
            return

        def copy(cur: Any) -> None:
            statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)"
            with cur.copy(statement) as out:
                out.set_types(list(pg_types))
                for row in rows:
                    out.write_row(row)

        self._run(copy)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        result: list[Row] = []

        def run(cur: Any) -> None:
            cur.execute(self.dialect.sql(sql), params)
            result.extend(tuple(row) for row in cur.fetchall())

        self._run(run)
        return result

    def query_in(self, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> list[Row]:
        """The rows of ``sql`` for every value of ``values``: its ``{in}`` becomes a list of
        placeholders, run ``IN_LIST_CHUNK`` values at a time (bounded statements); ``params``
        bind the placeholders before it, the same for every chunk."""
        rows: list[Row] = []
        for begin in range(0, len(values), IN_LIST_CHUNK):
            chunk = list(values[begin : begin + IN_LIST_CHUNK])
            rows += self.query(sql.replace("{in}", ", ".join("?" * len(chunk))), [*params, *chunk])
        return rows

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def first_row(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first row of a query, as the driver returns it, or None: ``query_one`` with
        the least work per call, for hot point lookups (``sql`` in ``?`` style).

        Measured per primary-key read of a 2 KB blob at 1M leaves: a kept cursor saves
        ~0.2 us on SQLite; a kept binary cursor ~9 us of ~32 us on PostgreSQL."""
        try:
            return self._hot.execute(self.dialect.sql(sql), params).fetchone()
        except (sqlite3.Error, _psycopg_error()) as e:
            raise _storage_error(e) from e

    def hot_query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """``query`` through the kept cursor: rows as the driver returns them."""
        try:
            return list(self._hot.execute(self.dialect.sql(sql), params).fetchall())
        except (sqlite3.Error, _psycopg_error()) as e:
            raise _storage_error(e) from e

    def _run(self, action: Any) -> None:
        cur = self._conn.cursor()
        try:
            action(cur)
        except (sqlite3.Error, _psycopg_error()) as e:
            raise _storage_error(e) from e
        finally:
            cur.close()


def _psycopg_error() -> type[Exception]:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return sqlite3.Error
    return psycopg.Error


class IntegrityViolation(StorageError):
    """A unique or foreign-key constraint refused a write."""


def _storage_error(e: Exception) -> StorageError:
    message = f"{type(e).__name__}: {e}".strip()
    if isinstance(e, sqlite3.IntegrityError) or type(e).__name__ in (
        "UniqueViolation",
        "ForeignKeyViolation",
        "IntegrityError",
    ):
        return IntegrityViolation(message)
    return StorageError(message)


class Database:
    """A SQLite file or a PostgreSQL database, with per-thread connections."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite://"):
            self.dialect = SQLITE
            self._path = url.removeprefix("sqlite://").removeprefix("/") or ":memory:"
            if url.startswith("sqlite:////"):
                self._path = "/" + self._path.lstrip("/")
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = POSTGRES
            self._path = url
        else:
            raise MalformedInputError(
                f"database URL must start with sqlite:/// or postgresql://, got {url!r}"
            )
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        self._memory_conn: Any = None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect is SQLITE

    def _connect(self) -> Any:
        try:
            if self.dialect is SQLITE:
                if self._path == ":memory:":
                    if self._memory_conn is None:
                        self._memory_conn = sqlite3.connect(
                            ":memory:", isolation_level=None, check_same_thread=False
                        )
                    return self._memory_conn
                conn = sqlite3.connect(self._path, isolation_level=None, timeout=30.0)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                # Reads through a memory map skip a copy per page: proofs at 1M leaves are
                # about twice as fast (scripts/bench_log.py).
                conn.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
                # 64 MiB of page cache per connection (the default 2 MiB thrashes on indexes
                # of a log past a few hundred thousand records).
                conn.execute("PRAGMA cache_size=-65536")
                conn.execute("PRAGMA foreign_keys=ON")
                return conn
            import psycopg

            return psycopg.connect(self._path, autocommit=True)
        except (sqlite3.Error, _psycopg_error()) as e:
            raise StorageError(f"cannot open database {self._redacted()}: {e}") from e

    def _redacted(self) -> str:
        head, sep, tail = self.url.partition("@")
        if sep and ":" in head.split("//", 1)[-1]:
            return head.split("//", 1)[0] + "//***@" + tail
        return self.url

    def _hot_cursor(self) -> Any:
        """This thread's kept cursor (see ``Transaction.first_row``)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            conn = self._connection()
            binary = {} if self.dialect is SQLITE else {"binary": True}
            cursor = self._local.cursor = conn.cursor(**binary)
        return cursor

    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """A write transaction; commits on success, rolls back on any exception."""
        conn = self._connection()
        tx = Transaction(conn, self.dialect, self._hot_cursor())
        try:
            if self.dialect is SQLITE:
                conn.execute("BEGIN IMMEDIATE")
            else:
                conn.execute("BEGIN")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
        except (sqlite3.Error, _psycopg_error()) as e:
            raise _storage_error(e) from e
        try:
            yield tx
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except (sqlite3.Error, _psycopg_error()) as e:
            raise _storage_error(e) from e

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A read-only snapshot (one transaction, so all reads agree)."""
        conn = self._connection()
        try:
            conn.execute("BEGIN")
            if self.dialect is POSTGRES:
                conn.execute("SET TRANSACTION READ ONLY")
        except (sqlite3.Error, _psycopg_error()) as e:
            raise _storage_error(e) from e
        try:
            yield Transaction(conn, self.dialect, self._hot_cursor())
        finally:
            conn.execute("ROLLBACK")

    def reader(self) -> Transaction:
        """Statements that each run on their own, without BEGIN/ROLLBACK round trips.

        Only for reads that need no snapshot spanning statements, such as reads of
        append-only data (the Merkle log). Inside an open ``write()``/``read()`` on this
        thread, the statements run in that transaction.
        """
        conn = self._connection()
        return Transaction(conn, self.dialect, self._hot_cursor())

    def ensure_schema(self, component: str, version: int, statements: Sequence[str]) -> None:
        """Create ``component``'s tables once; ``statements`` use ``{blob}``/``{bigint}``."""
        with self.write() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_versions "
                "(component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
            row = tx.query_one(
                "SELECT version FROM schema_versions WHERE component = ?", (component,)
            )
            if row is not None:
                if row[0] != version:
                    raise StorageError(
                        f"{component} schema is version {row[0]}, this code needs {version}"
                    )
                return
            for statement in statements:
                tx.execute(self.dialect.ddl(statement))
            tx.execute(
                "INSERT INTO schema_versions (component, version) VALUES (?, ?)",
                (component, version),
            )

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(Exception):  # closing is best effort
                    conn.close()
            self._all.clear()
        self._local = threading.local()
        self._memory_conn = None


def open_database(url: str) -> Database:
    return Database(url)
