"""A persistent in-process EVM: eth-tester + py-evm whose key-value store lives in a file.

``lotproof serve`` runs on this chain by default and must not lose chain state across a
restart. py-evm keeps everything it knows (state trie nodes, headers, blocks, receipts, the
canonical head) in one key-value store; this module backs that store with an SQLite file:

- reads come from an in-memory dict, loaded from the file when the chain is opened;
- writes go to the dict and are remembered as dirty; ``save()`` writes every dirty key (and
  every deleted key) in one SQLite transaction, so the file always holds the store as it was
  at some ``save()``, never a half-written block;
- with ``autosave`` (the default) ``save()`` runs after every mined block. eth-tester mines
  a block for each transaction, and py-evm moves the canonical head only when a block is
  mined, so every saved store has a complete head block.

Re-opening costs one scan of the file (no transaction is replayed), see BENCHMARKS.md.

The chain is safe to share between threads: every JSON-RPC request runs under one lock.
Accounts added at run time (``add_account``) are not persisted; only the ten below are.

DEVELOPMENT ONLY: the chain is funded through eth-tester's default accounts, whose private
keys are the integers 1..10 (``0x00..01`` to ``0x00..0a``). Anyone can sign for them. Never
use these keys, or this chain, for anything of value; a consortium runs a real network
(``anchors.chain.connect(url)``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth_tester import EthereumTester  # type: ignore[import-untyped]
from eth_tester.backends.pyevm.main import (  # type: ignore[import-untyped]
    ZERO_ADDRESS,
    PyEVMBackend,
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
)
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse

from anchors.chain import Chain
from anchors.errors import ChainError

FORMAT_VERSION = 1
DEV_ACCOUNT_COUNT = 10
#: Development-only private keys of the funded accounts: the integers 1..10 as 32 bytes.
DEV_PRIVATE_KEYS: tuple[bytes, ...] = tuple(
    i.to_bytes(32, "big") for i in range(1, DEV_ACCOUNT_COUNT + 1)
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
"""


class EmbeddedChainError(ChainError):
    """The embedded chain's file is missing, locked, corrupt or from another chain."""


class _JournaledStore(BaseDB):
    """py-evm's key-value store in memory, remembering what changed since the last save."""

    def __init__(self, items: dict[bytes, bytes]) -> None:
        self.kv = items
        self.dirty: set[bytes] = set()
        self.deleted: set[bytes] = set()

    def __getitem__(self, key: bytes) -> bytes:
        return self.kv[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.kv[key] = value
        self.dirty.add(key)
        self.deleted.discard(key)

    def __delitem__(self, key: bytes) -> None:
        del self.kv[key]
        self.dirty.discard(key)
        self.deleted.add(key)

    def _exists(self, key: bytes) -> bool:
        return key in self.kv

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.kv)

    def __len__(self) -> int:
        return len(self.kv)


class _PersistentBackend(PyEVMBackend):  # type: ignore[misc]
    """eth-tester's py-evm backend over a journaled store, saving after every mined block."""

    chain: Any
    account_keys: Any

    def __init__(self, store: _JournaledStore, fresh: bool, on_block: Callable[[], None]) -> None:
        self._store = store
        self._fresh = fresh
        self._on_block = on_block
        super().__init__()

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        # Let eth-tester build its (throwaway, in-memory) default chain only to learn the
        # chain class it defines (chain id, VM schedule, constant gas limit), then build
        # the same class over our store: from genesis the first time, from the stored
        # canonical head afterwards.
        super().reset_to_genesis()
        chain_class: Any = type(self.chain)
        keys = get_default_account_keys(quantity=DEV_ACCOUNT_COUNT)
        db = AtomicDB(self._store)
        chain: Any
        if self._fresh:
            chain = chain_class.from_genesis(
                db, get_default_genesis_params(), generate_genesis_state_for_keys(keys)
            )
        else:
            chain = chain_class(db)
        self.account_keys = keys
        self.chain = chain

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = ZERO_ADDRESS) -> Any:
        hashes = super().mine_blocks(num_blocks, coinbase)
        self._on_block()
        return hashes


class _SerializedProvider(EthereumTesterProvider):
    """eth-tester's provider with one lock around every request: py-evm is not thread-safe,
    and the API's request threads and the anchor publisher share one chain."""

    def __init__(self, tester: Any, lock: threading.RLock) -> None:
        super().__init__(tester)
        self._lock = lock

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._lock:
            return super().make_request(method, params)


class EmbeddedChain:
    """An in-process EVM whose state survives ``close()`` and re-opening the same file.

    ``w3`` is a ``Web3`` over eth-tester; ``accounts`` are the funded development accounts
    (see the module docstring: their keys are public). One process at a time may hold a
    file open; a second ``open_embedded_chain`` of the same file raises
    ``EmbeddedChainError``.
    """

    def __init__(self, path: Path, *, autosave: bool = True) -> None:
        self.path = path
        self.autosave = autosave
        #: Held around every JSON-RPC request, save and time travel; hold it yourself to run
        #: several steps on the chain without another thread in between.
        self.lock = threading.RLock()
        #: How many saves wrote something, and the time they took (for monitoring).
        self.saves = 0
        self.save_seconds = 0.0
        self._closed = False
        self._lock_fd = _lock(path)
        try:
            # Saved from whichever thread mined the block, always under self.lock.
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            meta = dict(self._conn.execute("SELECT name, value FROM meta").fetchall())
            fresh = not meta
            items: dict[bytes, bytes] = (
                {} if fresh else dict(self._conn.execute("SELECT key, value FROM kv"))
            )
            self._store = _JournaledStore(items)
            self._backend = _PersistentBackend(self._store, fresh, self._after_block)
            self.tester = EthereumTester(self._backend)
            self.w3 = Web3(_SerializedProvider(self.tester, self.lock))
            chain: Any = self._backend.chain
            genesis_hash = bytes(chain.get_canonical_block_header_by_number(0).hash)
            if fresh:
                self._write_meta(int(chain.chain_id), genesis_hash)
                self.save()
            else:
                self._check_meta(meta, int(chain.chain_id), genesis_hash)
        except sqlite3.Error as exc:
            self._release()
            raise EmbeddedChainError(f"cannot open embedded chain file {path}: {exc}") from exc
        except BaseException:
            self._release()
            raise
        self.chain_id = int(chain.chain_id)
        self.genesis_hash = genesis_hash
        self.accounts: list[str] = [Web3.to_checksum_address(a) for a in self.tester.get_accounts()]

    # -- persistence -------------------------------------------------------------------

    def _write_meta(self, chain_id: int, genesis_hash: bytes) -> None:
        rows = [
            ("format", str(FORMAT_VERSION).encode()),
            ("chain_id", str(chain_id).encode()),
            ("genesis_hash", genesis_hash),
        ]
        with _transaction(self._conn):
            self._conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rows)

    def _check_meta(self, meta: dict[str, bytes], chain_id: int, genesis_hash: bytes) -> None:
        want = {
            "format": str(FORMAT_VERSION).encode(),
            "chain_id": str(chain_id).encode(),
            "genesis_hash": genesis_hash,
        }
        for name, value in want.items():
            found = meta.get(name)
            if found != value:
                shown = value.hex() if name == "genesis_hash" else value.decode()
                got = "nothing" if found is None else bytes(found).hex()
                raise EmbeddedChainError(
                    f"embedded chain file {self.path}: {name} is {got}, expected {shown}"
                )

    def _after_block(self) -> None:
        if self.autosave:
            self.save()

    def save(self) -> int:
        """Write every change since the last save in one transaction; returns keys written."""
        with self.lock:
            return self._save()

    def _save(self) -> int:
        self._check_open()
        store = self._store
        if not store.dirty and not store.deleted:
            return 0
        started = time.perf_counter()
        rows = [(key, store.kv[key]) for key in store.dirty]
        gone = [(key,) for key in store.deleted]
        try:
            with _transaction(self._conn):
                self._conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", rows)
                self._conn.executemany("DELETE FROM kv WHERE key = ?", gone)
        except sqlite3.Error as exc:
            raise EmbeddedChainError(f"cannot save embedded chain to {self.path}: {exc}") from exc
        store.dirty.clear()
        store.deleted.clear()
        self.saves += 1
        self.save_seconds += time.perf_counter() - started
        return len(rows) + len(gone)

    def close(self) -> None:
        """Save and release the file. Idempotent."""
        with self.lock:
            if self._closed:
                return
            try:
                self._save()
            finally:
                self._release()

    def _release(self) -> None:
        self._closed = True
        conn = getattr(self, "_conn", None)
        if conn is not None:
            conn.close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)

    def _check_open(self) -> None:
        if self._closed:
            raise EmbeddedChainError(f"embedded chain {self.path} is closed")

    # -- conveniences ------------------------------------------------------------------

    def connect(self) -> Chain:
        """This chain as an ``anchors.chain.Chain`` (deploy, transact, revert decoding)."""
        self._check_open()
        return Chain(self.w3, None)

    @property
    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def time_travel(self, timestamp: int) -> None:
        """Mine one empty block whose timestamp is exactly ``timestamp`` (seconds).

        The timestamp must be later than the latest block's; contracts then see
        ``block.timestamp == timestamp`` in that block and later ones in the next.
        """
        with self.lock:
            self._check_open()
            latest = int(self.w3.eth.get_block("latest")["timestamp"])
            if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp <= latest:
                raise EmbeddedChainError(
                    f"time travel to {timestamp!r}: want an integer after the latest block's"
                    f" {latest}"
                )
            mining: Any = self._backend.chain
            mining.header = mining.header.copy(timestamp=timestamp)
            self.tester.mine_blocks(1)

    def __enter__(self) -> EmbeddedChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _lock(path: Path) -> int:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise EmbeddedChainError(f"cannot create lock file {lock_path}: {exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise EmbeddedChainError(
            f"embedded chain {path} is open in another process (lock {lock_path} is held)"
        ) from None
    return fd


def open_embedded_chain(path: Path, *, autosave: bool = True) -> EmbeddedChain:
    """Open (creating on first use) the persistent in-process chain stored at ``path``."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise EmbeddedChainError(f"embedded chain path {path} is not a file")
    if not path.parent.is_dir():
        raise EmbeddedChainError(f"directory {path.parent} for the embedded chain does not exist")
    return EmbeddedChain(path, autosave=autosave)
