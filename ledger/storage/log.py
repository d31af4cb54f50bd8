"""The append-only RFC 9162 Merkle log, stored through the ``Database`` seam.

Tables (component ``merkle_log``, schema version 1):

- ``log_entries(leaf_index, leaf_hash, leaf, record_id, record)``: one row per leaf; the
  leaf hash is level 0 of the tree; ``record_id`` is unique when present.
- ``log_nodes(level, node_index, hash)``: every perfect subtree hash of level >= 1, written
  once when its last leaf arrives and never changed.
- ``log_checkpoints(tree_size, root, note, created_at)``: signed checkpoint notes (the note
  text is built and verified elsewhere; here it is stored next to the root it commits to).

and (component ``merkle_log_tiles``, version 1):

- ``log_tiles(tile, hashes)``: for each complete chunk of ``TILE_LEAVES`` (32) leaves, the
  hashes of its levels 0 to ``TILE_HEIGHT - 1`` (32 leaf hashes, then 16, 8, 4 and 2 nodes:
  62 hashes, 1984 bytes), written in the append that completes the chunk, as C2SP
  tlog-tiles keep the low levels of a tree together. They repeat what ``log_entries`` and
  ``log_nodes`` hold, so that the low part of any proof is one primary-key read. A log
  written before tiles gets them when first opened; a tile that is missing all the same
  (say, an older version of this code appended after that) only sends its proofs down the
  general path below.

Append is O(log n) amortized: the right frontier (the perfect subtrees on the right edge of
the tree, at most log2(n) nodes) is read in the write transaction, and every new interior
node is computed from it without further reads. No tree state is carried between
transactions, so another process's append, or a caller's transaction that rolled back after
appending, can never leave a stale frontier behind. The frontier (``range_nodes(0, size)``)
and the stored size come back from one query: the size after the last append is the guess
for which nodes to ask, and a wrong guess costs a second query. An append that completes
chunks computes their tiles from the leaf hashes (reading those of earlier appends).

Proofs take the quick path when they can: the nodes of level >= ``TILE_HEIGHT`` come from
the node cache, a partial right sibling from the edge cache, the lower ones from one tile,
and whatever is missing (the tile, uncached nodes, the check that the tree reaches the size
asked) is one statement. Warm, an inclusion proof of a known size is one primary-key read
of a tile; a consistency proof from a size that is a multiple of 32 runs no SQL. Otherwise
(a tile not complete in the tree asked for, an unknown edge) the general path reads the
perfect subtrees of the proof's plan (``ledger.storage._plans``) in one batched statement
and fills the caches. Reads without a caller's transaction run as single statements: the
log is append-only, so a tree of any stored size never changes under a reader.

Caches: a committed perfect subtree never changes, so each ``MerkleLog`` keeps the nodes of
level >= ``CACHE_MIN_LEVEL`` it has read from committed state (at most ``CACHE_MAX_NODES``,
cleared when full), the right-edge hashes (folds of ``range_nodes(start, size)``) of trees
it has read from committed state, and the largest size it has seen committed. The quick
path reads an uncached upper node together with its strip (the ``1 << STRIP_BITS`` aligned
nodes of its level around it), so a few hundred reads warm the cache of a million-leaf log.
Only reads outside any transaction on the connection fill the caches (a write
transaction's nodes may still roll back); any read may use them. A read of a size beyond
the known committed size, or inside a transaction (whose snapshot may be older), still asks
the database whether the tree reaches that size, in the same statement.

Measured figures and the commands that produce them: BENCHMARKS.md, section Log.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from ledger.errors import (
    ConflictError,
    IndexRangeError,
    MalformedInputError,
    NotFoundError,
    StorageError,
)
from ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    NodeId,
    Plan,
    check_hash,
    fold_right,
    range_nodes,
)
from ledger.storage._plans import fast_consistency_plan, fast_inclusion_plan
from ledger.storage.db import Database, IntegrityViolation, Transaction

SCHEMA_COMPONENT = "merkle_log"
SCHEMA_VERSION = 1
MAX_RECORD_ID_LENGTH = 256
_SAVEPOINT = "merkle_log_append"
TILE_HEIGHT = 5
TILE_LEAVES = 1 << TILE_HEIGHT
TILE_HASHES = 2 * TILE_LEAVES - 2
TILE_BYTES = TILE_HASHES * HASH_SIZE
# The first hash of each level in a tile: 32 leaf hashes, then 16, 8, 4 and 2 nodes.
_TILE_START = tuple(2 * TILE_LEAVES - (2 * TILE_LEAVES >> lv) for lv in range(TILE_HEIGHT))
CACHE_MIN_LEVEL = TILE_HEIGHT
CACHE_MAX_NODES = 1 << 18
EDGES_MAX = 1 << 14
STRIP_BITS = 8
TILES_COMPONENT = "merkle_log_tiles"
TILES_VERSION = 1
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256
_T = TypeVar("_T")

_ENTRY_COLUMNS = ("leaf_index", "leaf_hash", "leaf", "record_id", "record")
_ENTRY_TYPES = ("int8", "bytea", "bytea", "text", "bytea")
_NODE_COLUMNS = ("level", "node_index", "hash")
_NODE_TYPES = ("int4", "int8", "bytea")

_SCHEMA = [
    "CREATE TABLE log_entries ("
    " leaf_index {bigint} PRIMARY KEY,"
    " leaf_hash {blob} NOT NULL,"
    " leaf {blob} NOT NULL,"
    " record_id TEXT UNIQUE,"
    " record {blob})",
    "CREATE TABLE log_nodes ("
    " level INTEGER NOT NULL,"
    " node_index {bigint} NOT NULL,"
    " hash {blob} NOT NULL,"
    " PRIMARY KEY (level, node_index)){without_rowid}",
    "CREATE TABLE log_checkpoints ("
    " tree_size {bigint} PRIMARY KEY,"
    " root {blob} NOT NULL,"
    " note TEXT NOT NULL,"
    " created_at TEXT NOT NULL)",
]
_TILES_SCHEMA = ["CREATE TABLE log_tiles (tile {bigint} PRIMARY KEY, hashes {blob} NOT NULL)"]
_TILE_COLUMNS = ("tile", "hashes")
_TILE_TYPES = ("int8", "bytea")


@dataclass(frozen=True)
class LogEntry:
    """What to append: the leaf bytes, and optionally the record they commit to."""

    leaf: bytes
    record_id: str | None = None
    record: bytes | None = None


@dataclass(frozen=True)
class StoredEntry:
    """One stored leaf and what came with it."""

    index: int
    leaf: bytes
    leaf_hash: bytes
    record_id: str | None
    record: bytes | None


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint note stored with the tree size and root it commits to."""

    tree_size: int
    root: bytes
    note: str
    created_at: str


def _check_entry(entry: LogEntry, position: int) -> tuple[bytes, str | None, bytes | None]:
    where = f"log entry [{position}]"
    if not isinstance(entry, LogEntry):
        raise MalformedInputError(f"{where} must be a LogEntry, got {type(entry).__name__}")
    if not isinstance(entry.leaf, bytes):
        raise MalformedInputError(f"{where}: leaf must be bytes, got {type(entry.leaf).__name__}")
    rid = entry.record_id
    if rid is not None and (not isinstance(rid, str) or not 0 < len(rid) <= MAX_RECORD_ID_LENGTH):
        raise MalformedInputError(
            f"{where}: record id must be a string of 1-{MAX_RECORD_ID_LENGTH} characters,"
            f" got {rid!r}"
        )
    if entry.record is not None and not isinstance(entry.record, bytes):
        raise MalformedInputError(
            f"{where}: record must be bytes or None, got {type(entry.record).__name__}"
        )
    return entry.leaf, rid, entry.record


def _check_count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInputError(f"{what} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise MalformedInputError(f"{what} must not be negative, got {value}")
    return value


def _checked_tile(tile: int, value: bytes) -> bytes:
    """A stored tile's bytes, refused unless it holds exactly one tile of hashes."""
    if len(value) != TILE_BYTES:
        raise StorageError(f"stored tile {tile} has {len(value)} bytes, want {TILE_BYTES}")
    return bytes(value)


class MerkleLog:
    """An append-only RFC 9162 log in a SQLite or PostgreSQL database.

    Writes go through a caller's ``db.write()`` transaction (``append``, ``save_checkpoint``)
    so a record and the state it changes commit together. Reads take an optional ``tx`` to
    share a snapshot; without one each read opens its own.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        without_rowid = " WITHOUT ROWID" if db.is_sqlite else ""
        db.ensure_schema(
            SCHEMA_COMPONENT,
            SCHEMA_VERSION,
            [s.replace("{without_rowid}", without_rowid) for s in _SCHEMA],
        )
        db.ensure_schema(TILES_COMPONENT, TILES_VERSION, _TILES_SCHEMA)
        # The last size seen: a guess that lets one query return the size and the frontier.
        self._size_hint = 0
        # Committed state only (see the module docstring): nodes of level >= CACHE_MIN_LEVEL,
        # right-edge hashes by (first leaf, tree size) and the largest committed tree size.
        self._cache: dict[NodeId, bytes] = {}
        self._edges: dict[tuple[int, int], bytes] = {}
        self._committed_size = 0
        self._fill_tiles()

    # --- appending ------------------------------------------------------------------------

    def append(self, tx: Transaction, entries: Sequence[LogEntry]) -> list[int]:
        """Append ``entries`` in the caller's write transaction; return their leaf indices.

        A record id already in the log (or twice in ``entries``) raises ``ConflictError``
        naming it, and nothing of ``entries`` is written.
        """
        checked = [_check_entry(entry, i) for i, entry in enumerate(entries)]
        if not checked:
            return []
        size, frontier = self._frontier(tx)
        entry_rows: list[tuple[int, bytes, bytes, str | None, bytes | None]] = []
        node_rows: list[tuple[int, int, bytes]] = []
        sha256 = _sha256
        index = size
        for leaf, record_id, record in checked:
            node = sha256(_LEAF_PREFIX + leaf).digest()
            entry_rows.append((index, node, leaf, record_id, record))
            level, j = 0, index
            while j & 1:
                node = sha256(_NODE_PREFIX + frontier.pop() + node).digest()
                level += 1
                j >>= 1
                node_rows.append((level, j, node))
            frontier.append(node)
            index += 1
        tx.execute(f"SAVEPOINT {_SAVEPOINT}")
        try:
            tile_rows = self._new_tiles(tx, size, entry_rows)
            tx.insert_rows("log_entries", _ENTRY_COLUMNS, _ENTRY_TYPES, entry_rows)
            if node_rows:
                tx.insert_rows("log_nodes", _NODE_COLUMNS, _NODE_TYPES, node_rows)
            if tile_rows:
                tx.insert_rows("log_tiles", _TILE_COLUMNS, _TILE_TYPES, tile_rows)
        except IntegrityViolation as e:
            tx.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            tx.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            raise self._conflict(tx, [rid for _, rid, _ in checked]) from e
        except BaseException:
            tx.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            tx.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            raise
        tx.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        self._size_hint = index
        return list(range(size, index))

    def append_batch(self, entries: Sequence[LogEntry]) -> list[int]:
        """Append ``entries`` in a write transaction of their own, committed on return."""
        with self.db.write() as tx:
            return self.append(tx, entries)

    def _new_tiles(
        self,
        tx: Transaction,
        size: int,
        entry_rows: Sequence[tuple[int, bytes, object, object, object]],
    ) -> list[tuple[int, bytes]]:
        """The tiles that appending ``entry_rows`` to a log of ``size`` leaves completes."""
        first, stop = size >> TILE_HEIGHT, (size + len(entry_rows)) >> TILE_HEIGHT
        if first == stop:
            return []
        hashes = [row[1] for row in entry_rows]
        start = first << TILE_HEIGHT
        if start < size:  # the first tile began in an earlier append
            hashes = self._leaf_hashes(tx, start, size) + hashes
        return _tiles(first, stop, hashes)

    def _leaf_hashes(self, tx: Transaction, start: int, stop: int) -> list[bytes]:
        rows = tx.query(
            "SELECT leaf_hash FROM log_entries WHERE leaf_index >= ? AND leaf_index < ?"
            " ORDER BY leaf_index",
            (start, stop),
        )
        if len(rows) != stop - start:
            raise StorageError(f"the log lacks leaf hashes in [{start}, {stop})")
        return [bytes(row[0]) for row in rows]

    def _fill_tiles(self) -> None:
        """Write the complete tiles past the last stored one (a log written before tiles)."""
        sql = (
            "SELECT (SELECT COALESCE(MAX(leaf_index), -1) + 1 FROM log_entries),"
            " (SELECT COALESCE(MAX(tile), -1) + 1 FROM log_tiles)"
        )
        row = self.db.reader().query_one(sql)
        if row is None or int(row[1]) >= int(row[0]) >> TILE_HEIGHT:
            return
        with self.db.write() as tx:
            row = tx.query_one(sql)
            assert row is not None
            have, stop = int(row[1]), int(row[0]) >> TILE_HEIGHT
            for lo in range(have, stop, 1024):
                hi = min(lo + 1024, stop)
                hashes = self._leaf_hashes(tx, lo << TILE_HEIGHT, hi << TILE_HEIGHT)
                tx.insert_rows("log_tiles", _TILE_COLUMNS, _TILE_TYPES, _tiles(lo, hi, hashes))

    def _frontier(self, tx: Transaction) -> tuple[int, list[bytes]]:
        """The stored size and the hashes of ``range_nodes(0, size)``, left to right."""
        guess = self._size_hint
        found, size = self._fetch(tx, range_nodes(0, guess), with_size=True)
        assert size is not None
        if size != guess:
            found, _ = self._fetch(tx, range_nodes(0, size))
        self._size_hint = size
        ids = range_nodes(0, size)
        missing = [n for n in ids if n not in found]
        if missing:
            raise StorageError(
                f"the log has {size} leaves but its frontier nodes {missing} are missing"
            )
        return size, [found[n] for n in ids]

    def _conflict(self, tx: Transaction, record_ids: list[str | None]) -> ConflictError:
        """The conflict that refused an append: a record id taken or given twice."""
        counts = Counter(rid for rid in record_ids if rid is not None)
        for rid, count in counts.items():
            if count > 1:
                return ConflictError(f"record id {rid!r} appears {count} times in one append")
        for rid in counts:
            row = tx.query_one("SELECT leaf_index FROM log_entries WHERE record_id = ?", (rid,))
            if row is not None:
                return ConflictError(f"record id {rid!r} is already in the log at index {row[0]}")
        raise StorageError(
            "appending refused by a constraint on stored leaves, though no record id is taken:"
            " was the log written other than through MerkleLog.append?"
        )

    # --- reading ----------------------------------------------------------------------------

    def _reader(self, tx: Transaction | None) -> Transaction:
        # The log is append-only, so reads need no snapshot spanning statements: whatever
        # size a read resolves, every node of that tree is stored and never changes. Without
        # a caller's transaction, statements run on their own (``Database.reader``).
        return self.db.reader() if tx is None else tx

    def size(self, tx: Transaction | None = None) -> int:
        """The number of leaves in the log."""
        return self._stored_size(self._reader(tx))

    def _stored_size(self, tx: Transaction) -> int:
        row = tx.query_one("SELECT MAX(leaf_index) FROM log_entries")
        size = 0 if row is None or row[0] is None else int(row[0]) + 1
        self._size_hint = size
        if size > self._committed_size and tx.sees_only_committed:
            self._committed_size = size
        return size

    def _committed(self, tx: Transaction) -> bool:
        """Whether ``tx``'s statements see only committed state: no transaction is open on
        its connection (``Database.reader()`` runs inside one if this thread has one open)."""
        return tx.sees_only_committed

    def _fetch(
        self, tx: Transaction, ids: Iterable[NodeId], *, with_size: bool = False
    ) -> tuple[dict[NodeId, bytes], int | None]:
        """Look up perfect subtree hashes (and, if asked, the size) in one query."""
        leaves: list[int] = []
        levels: list[int] = []
        indices: list[int] = []
        for level, index in ids:
            if level == 0:
                leaves.append(index)
            else:
                levels.append(level)
                indices.append(index)
        if self.db.is_sqlite:
            sql, params = _sqlite_fetch(leaves, levels, indices, with_size)
        else:
            sql, params = _postgres_fetch(leaves, levels, indices, with_size)
        found: dict[NodeId, bytes] = {}
        size: int | None = None
        if not sql:
            return found, size
        for level, index, value in tx.hot_query(sql, params):
            if level == -1:
                size = index
            else:
                found[level, index] = value
        return found, size

    def read_nodes(
        self, ids: Iterable[NodeId], tx: Transaction | None = None
    ) -> dict[NodeId, bytes]:
        """Perfect subtree hashes by ``(level, index)``; raises ``NotFoundError`` if absent.

        This makes a ``MerkleLog`` a ``ledger.merkle.NodeReader``.
        """
        wanted = set(ids)
        t = self._reader(tx)
        found, _ = self._fetch(t, wanted)
        missing = wanted - found.keys()
        if missing:
            raise NotFoundError(
                f"subtrees {sorted(missing)} are not in the log of size {self._stored_size(t)}"
            )
        return found

    def _plan_nodes(self, tx: Transaction, plan: Plan, size: int) -> dict[NodeId, bytes]:
        """The nodes a plan needs, after checking that the log reaches ``size``."""
        cache = self._cache
        found: dict[NodeId, bytes] = {}
        wanted: list[NodeId] = []
        for element in plan:
            for node in element:
                value = cache.get(node)
                if value is None:
                    wanted.append(node)
                else:
                    found[node] = value
        committed = self._committed(tx)
        checked = committed and size <= self._committed_size
        if not checked:
            wanted.append((0, size - 1))  # the last leaf of the tree asked for must exist
        if not wanted:
            return found
        fetched, _ = self._fetch(tx, wanted)
        if len(fetched) != len(set(wanted)):
            stored = self._stored_size(tx)
            if stored < size:
                raise IndexRangeError(f"tree size {size} is beyond the log's size {stored}")
            missing = sorted(set(wanted) - fetched.keys())
            raise StorageError(f"the log of size {stored} lacks the subtrees {missing}")
        for node, value in fetched.items():
            if len(value) != HASH_SIZE:
                raise StorageError(f"stored subtree {node} has {len(value)} bytes, want 32")
        if committed:
            self._committed_size = max(self._committed_size, size)
            if len(cache) + len(fetched) > CACHE_MAX_NODES:
                cache.clear()
            for node, value in fetched.items():
                if node[0] >= CACHE_MIN_LEVEL:
                    cache[node] = value
        found.update(fetched)
        return found

    def _resolve_size(self, tx: Transaction, size: int | None) -> int:
        return self._stored_size(tx) if size is None else _check_count(size, "tree size")

    def root(self, size: int | None = None, tx: Transaction | None = None) -> bytes:
        """The root hash of the first ``size`` leaves (default: the whole log)."""
        t = self._reader(tx)
        size = self._resolve_size(t, size)
        if size == 0:
            return EMPTY_ROOT
        known = self._edges.get((0, size))
        if known is not None and self._holds(t, size):
            return known
        ids = range_nodes(0, size)
        found = self._plan_nodes(t, [ids], size)
        root = fold_right([found[n] for n in ids])
        if t.sees_only_committed:
            self._remember_edge(0, size, root)
        return root

    def inclusion_proof(
        self, index: int, size: int | None = None, tx: Transaction | None = None
    ) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
        t = self._reader(tx)
        size = self._resolve_size(t, size)
        if type(index) is int and 0 <= index < size:
            path = self._quick_path(t, 0, index, size, False)
            if path is not None:
                return path
        plan = fast_inclusion_plan(index, size)
        return self._proof(t, plan, size)

    def consistency_proof(
        self, size1: int, size2: int | None = None, tx: Transaction | None = None
    ) -> list[bytes]:
        """RFC 9162 consistency proof from the tree of ``size1`` to that of ``size2``."""
        t = self._reader(tx)
        size2 = self._resolve_size(t, size2)
        if type(size1) is int and 0 < size1 < size2:
            level = (size1 & -size1).bit_length() - 1
            index = (size1 - 1) >> level
            path = self._quick_path(t, level, index, size2, index != 0)
            if path is not None:
                return path
        plan = fast_consistency_plan(size1, size2)
        if size2 == 0:
            return []
        return self._proof(t, plan, size2)

    def _proof(self, tx: Transaction, plan: Plan, size: int) -> list[bytes]:
        """A proof by the general path, remembering the right-edge hashes it folds."""
        nodes = self._plan_nodes(tx, plan, size)
        committed = tx.sees_only_committed  # and the size was checked: committed state
        path: list[bytes] = []
        for element in plan:
            value = (
                nodes[element[0]] if len(element) == 1 else fold_right([nodes[n] for n in element])
            )
            path.append(value)
            level, index = element[-1]
            if committed and (index + 1) << level == size:
                first_level, first_index = element[0]
                self._remember_edge(first_index << first_level, size, value)
        return path

    def _remember_edge(self, start: int, size: int, value: bytes) -> None:
        edges = self._edges
        if len(edges) >= EDGES_MAX:
            edges.clear()
        edges[start, size] = value

    def _holds(self, tx: Transaction, size: int) -> bool:
        """Whether ``tx`` sees a tree of ``size`` leaves (size > 0)."""
        if size <= self._committed_size and tx.sees_only_committed:
            return True
        return tx.first_row(_LEAF_SQL, (size - 1,)) is not None

    def _quick_path(
        self, tx: Transaction, level: int, index: int, size: int, first: bool
    ) -> list[bytes] | None:
        """``node_path(level, index, size)`` as hashes, led by the node's own if ``first``.

        Nodes of level >= TILE_HEIGHT come from the cache, a partial right sibling from the
        edge cache, and lower nodes from the one tile that holds them; what is not cached is
        read in one statement with the tile (and with the check that ``tx`` sees a tree of
        ``size``, unless that is known). None when the tile or an edge is not at hand: the
        general path then serves the proof and fills the caches. This is the hot path of
        every proof, so it walks the levels once, without building a plan.
        """
        tile = -1
        if level < TILE_HEIGHT:
            tile = (index << level) >> TILE_HEIGHT
            if (tile + 1) << TILE_HEIGHT > size:
                return None  # the tile is not complete in this tree
        # Below the fork level every sibling is in the proof (the one at the fork may be
        # partial); above it only the left siblings. Levels ascend along the path, so the
        # hashes from the tile come first, then those of the upper levels.
        fork = level + (index ^ ((size - 1) >> level)).bit_length() - 1
        offsets: list[int] = []  # byte offsets in the tile
        upper: list[bytes] = []
        missing: list[tuple[int, NodeId]] = []  # (position in upper, node) not cached
        get, add = self._cache.get, upper.append
        lv, j = level, index
        if first:
            if lv < TILE_HEIGHT:
                offsets.append((_TILE_START[lv] + (j & (TILE_LEAVES - 1 >> lv))) * HASH_SIZE)
            else:
                value = get((lv, j))
                if value is None:
                    missing.append((0, (lv, j)))
                    value = b""
                add(value)
        while lv < TILE_HEIGHT:
            if lv <= fork or j & 1:
                offsets.append((_TILE_START[lv] + ((j ^ 1) & (TILE_LEAVES - 1 >> lv))) * HASH_SIZE)
            lv += 1
            j >>= 1
        while lv < fork:
            value = get((lv, j ^ 1))
            if value is None:
                missing.append((len(upper), (lv, j ^ 1)))
                value = b""
            add(value)
            lv += 1
            j >>= 1
        if lv == fork:
            sibling = j ^ 1
            if (sibling + 1) << lv > size:  # a part of the right edge
                value = self._edges.get((sibling << lv, size))
                if value is None:
                    return None
            else:
                value = get((lv, sibling))
                if value is None:
                    missing.append((len(upper), (lv, sibling)))
                    value = b""
            add(value)
            lv += 1
            j >>= 1
        while j:
            if j & 1:
                value = get((lv, j ^ 1))
                if value is None:
                    missing.append((len(upper), (lv, j ^ 1)))
                    value = b""
                add(value)
            lv += 1
            j >>= 1
        committed = tx.sees_only_committed
        check = not committed or size > self._committed_size
        if not (offsets or missing or check):
            return upper
        read = self._quick_read(
            tx,
            tile if offsets else -1,
            [node for _, node in missing],
            size - 1 if check else -1,
            committed,
        )
        if read is None:
            return None
        hashes, fetched = read
        for position, node in missing:
            upper[position] = fetched[node]
        path = [hashes[at : at + HASH_SIZE] for at in offsets]
        path += upper
        return path

    def _quick_read(
        self, tx: Transaction, tile: int, nodes: list[NodeId], leaf: int, committed: bool
    ) -> tuple[bytes, dict[NodeId, bytes]] | None:
        """One statement: the tile (if >= 0), the nodes, whether the leaf (if >= 0) exists.

        From committed state each node comes with its strip (the ``1 << STRIP_BITS`` aligned
        nodes of its level around it, those stored), all cached: warming the cache for a
        large log then takes a few hundred reads instead of one per upper node.
        """
        if not nodes and leaf < 0:  # the usual case: the tile alone
            row = tx.first_row(_TILE_SQL, (tile,))
            return None if row is None else (_checked_tile(tile, row[0]), {})
        strips: list[tuple[int, int, int]] = []
        if committed and nodes:
            taken: set[tuple[int, int]] = set()
            for level, index in nodes:
                key = (level, index >> STRIP_BITS)
                if key not in taken:
                    taken.add(key)
                    strips.append((level, key[1] << STRIP_BITS, (key[1] + 1) << STRIP_BITS))
        points = [] if strips else nodes
        sql = _quick_sql(self.db.is_sqlite, len(points), len(strips), tile >= 0, leaf >= 0)
        params: list[int] = []
        for node in points:
            params += node
        for strip in strips:
            params += strip
        if tile >= 0:
            params.append(tile)
        if leaf >= 0:
            params.append(leaf)
        rows = tx.hot_query(sql, params)
        hashes = b""
        fetched: dict[NodeId, bytes] = {}
        seen = leaf < 0
        for kind, index, value in rows:
            if kind == -1:
                hashes = _checked_tile(index, value)
            elif kind == -2:
                seen = True
            else:
                if len(value) != HASH_SIZE:
                    raise StorageError(
                        f"stored subtree {(kind, index)} has {len(value)} bytes, want 32"
                    )
                fetched[kind, index] = bytes(value)
        if committed and fetched:
            cache = self._cache
            if len(cache) + len(fetched) > CACHE_MAX_NODES:
                cache.clear()
            for node, value in fetched.items():
                if node[0] >= CACHE_MIN_LEVEL:
                    cache[node] = value
        if not seen or (tile >= 0 and not hashes) or any(n not in fetched for n in nodes):
            return None
        if committed and leaf >= 0:
            self._committed_size = max(self._committed_size, leaf + 1)
        return hashes, fetched

    def entry(self, index: int, tx: Transaction | None = None) -> StoredEntry:
        """The stored leaf at ``index``; ``NotFoundError`` if the log is shorter."""
        _check_count(index, "leaf index")
        t = self._reader(tx)
        row = t.query_one(
            "SELECT leaf_index, leaf, leaf_hash, record_id, record FROM log_entries"
            " WHERE leaf_index = ?",
            (index,),
        )
        if row is None:
            raise NotFoundError(
                f"no leaf at index {index}: the log has {self._stored_size(t)} leaves"
            )
        return _stored_entry(row)

    def entries_at(
        self, indices: Iterable[int], tx: Transaction | None = None
    ) -> dict[int, StoredEntry]:
        """The stored leaves at ``indices``, by index; indices past the log are absent."""
        wanted = sorted(set(indices))
        for index in wanted:
            _check_count(index, "leaf index")
        rows = self._reader(tx).query_in(
            "SELECT leaf_index, leaf, leaf_hash, record_id, record FROM log_entries"
            " WHERE leaf_index IN ({in})",
            wanted,
        )
        return {entry.index: entry for entry in map(_stored_entry, rows)}

    def entries(
        self, start: int = 0, stop: int | None = None, tx: Transaction | None = None
    ) -> list[StoredEntry]:
        """Stored leaves with ``start <= index < stop`` (default: to the end), in order."""
        _check_count(start, "start index")
        t = self._reader(tx)
        if stop is None:
            rows = t.query(
                "SELECT leaf_index, leaf, leaf_hash, record_id, record FROM log_entries"
                " WHERE leaf_index >= ? ORDER BY leaf_index",
                (start,),
            )
        else:
            rows = t.query(
                "SELECT leaf_index, leaf, leaf_hash, record_id, record FROM log_entries"
                " WHERE leaf_index >= ? AND leaf_index < ? ORDER BY leaf_index",
                (start, _check_count(stop, "stop index")),
            )
        return [_stored_entry(row) for row in rows]

    def leaf(self, index: int, tx: Transaction | None = None) -> bytes:
        """The leaf bytes at ``index``."""
        return self.entry(index, tx).leaf

    def leaf_hash(self, index: int, tx: Transaction | None = None) -> bytes:
        """The leaf hash (level 0 node) at ``index``."""
        _check_count(index, "leaf index")
        t = self._reader(tx)
        row = t.query_one("SELECT leaf_hash FROM log_entries WHERE leaf_index = ?", (index,))
        if row is None:
            raise NotFoundError(
                f"no leaf at index {index}: the log has {self._stored_size(t)} leaves"
            )
        return bytes(row[0])

    def index_of_record(self, record_id: str, tx: Transaction | None = None) -> int:
        """The leaf index of the record with this id; ``NotFoundError`` if never appended."""
        if not isinstance(record_id, str):
            raise MalformedInputError(f"record id must be a string, got {type(record_id).__name__}")
        t = self._reader(tx)
        row = t.query_one("SELECT leaf_index FROM log_entries WHERE record_id = ?", (record_id,))
        if row is None:
            raise NotFoundError(f"no record with id {record_id!r} in the log")
        return int(row[0])

    # --- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(
        self,
        tx: Transaction,
        tree_size: int,
        root: bytes,
        note: str,
        created_at: str | None = None,
    ) -> StoredCheckpoint:
        """Store a checkpoint note for ``tree_size``, in the caller's write transaction.

        The root must be the log's root at that size (``ConflictError`` otherwise; a size
        beyond the log raises ``IndexRangeError``). Saving again for the same size replaces
        the note (say, with more cosignatures) and keeps the first ``created_at``.
        """
        _check_count(tree_size, "tree size")
        check_hash(root, "checkpoint root")
        if not isinstance(note, str) or not note:
            raise MalformedInputError("checkpoint note must be a non-empty string")
        actual = self.root(tree_size, tx)
        if actual != root:
            raise ConflictError(
                f"checkpoint root {root.hex()} for tree size {tree_size} is not the log's"
                f" root {actual.hex()}"
            )
        stamp = created_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        tx.execute(
            "INSERT INTO log_checkpoints (tree_size, root, note, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (tree_size) DO UPDATE SET note = excluded.note",
            (tree_size, root, note, stamp),
        )
        stored = self.checkpoint(tree_size, tx)
        assert stored is not None
        return stored

    def checkpoint(self, tree_size: int, tx: Transaction | None = None) -> StoredCheckpoint | None:
        """The checkpoint stored for exactly ``tree_size``, if any."""
        _check_count(tree_size, "tree size")
        t = self._reader(tx)
        row = t.query_one(
            "SELECT tree_size, root, note, created_at FROM log_checkpoints WHERE tree_size = ?",
            (tree_size,),
        )
        return None if row is None else _stored_checkpoint(row)

    def latest_checkpoint(self, tx: Transaction | None = None) -> StoredCheckpoint | None:
        """The checkpoint with the largest tree size, if any."""
        t = self._reader(tx)
        row = t.query_one(
            "SELECT tree_size, root, note, created_at FROM log_checkpoints"
            " ORDER BY tree_size DESC LIMIT 1"
        )
        return None if row is None else _stored_checkpoint(row)

    def checkpoints_after(self, size: int, tx: Transaction | None = None) -> list[StoredCheckpoint]:
        """Checkpoints with a tree size greater than ``size``, smallest first."""
        _check_count(size, "tree size")
        t = self._reader(tx)
        rows = t.query(
            "SELECT tree_size, root, note, created_at FROM log_checkpoints"
            " WHERE tree_size > ? ORDER BY tree_size",
            (size,),
        )
        return [_stored_checkpoint(row) for row in rows]


_SIZE_SQL = "SELECT -1, COALESCE(MAX(leaf_index), -1) + 1, NULL FROM log_entries"
_TILE_SQL = "SELECT hashes FROM log_tiles WHERE tile = ?"
_STRIP_SQL = (
    "SELECT level, node_index, hash FROM log_nodes"
    " WHERE level = ? AND node_index >= ? AND node_index < ?"
)
_LEAF_SQL = "SELECT 1 FROM log_entries WHERE leaf_index = ?"


@functools.cache
def _quick_sql(sqlite: bool, points: int, strips: int, tile: bool, leaf: bool) -> str:
    """The statement of ``MerkleLog._quick_read``: node point lookups (on SQLite a join
    against a VALUES list, as in ``_sqlite_fetch``), strips, a tile, a leaf's existence.
    Cached, so the driver's statement cache sees the same text for the same shape."""
    if not sqlite:
        return _postgres_points_sql(0, points, tile, leaf, False, strips=strips)
    parts: list[str] = []
    if points:
        parts.append(
            "SELECT level, node_index, hash FROM q CROSS JOIN log_nodes"
            " ON level = q.l AND node_index = q.i"
        )
    parts += [_STRIP_SQL] * strips
    if tile:
        parts.append("SELECT -1, tile, hashes FROM log_tiles WHERE tile = ?")
    if leaf:
        parts.append("SELECT -2, leaf_index, NULL FROM log_entries WHERE leaf_index = ?")
    sql = " UNION ALL ".join(parts)
    if points:
        sql = f"WITH q(l, i) AS (VALUES {', '.join(['(?, ?)'] * points)}) {sql}"
    return sql


def _tile_bytes(leaf_hashes: Sequence[bytes]) -> bytes:
    """A tile: levels 0 to TILE_HEIGHT - 1 over TILE_LEAVES leaves, level by level."""
    sha256, prefix = _sha256, _NODE_PREFIX
    parts = list(leaf_hashes)
    level = parts
    for _ in range(TILE_HEIGHT - 1):
        level = [sha256(prefix + level[k] + level[k + 1]).digest() for k in range(0, len(level), 2)]
        parts += level
    return b"".join(parts)


def _tiles(first: int, stop: int, leaf_hashes: list[bytes]) -> list[tuple[int, bytes]]:
    """Rows for tiles ``first`` to ``stop - 1``, from the leaf hashes of all of them."""
    return [
        (tile, _tile_bytes(leaf_hashes[k : k + TILE_LEAVES]))
        for tile, k in zip(
            range(first, stop), range(0, len(leaf_hashes), TILE_LEAVES), strict=False
        )
    ]


def _sqlite_fetch(
    leaves: list[int], levels: list[int], indices: list[int], with_size: bool
) -> tuple[str, list[object]]:
    """SQLite: a join against a VALUES list, so each node is one primary-key search.

    Measured at 1M leaves, this beats an OR of point searches and a UNION ALL of them; a
    row-value ``(level, node_index) IN (...)`` makes SQLite scan the whole table.
    """
    parts: list[str] = []
    params: list[object] = []
    if levels:
        pairs = ", ".join(["(?, ?)"] * len(levels))
        parts.append(
            f"WITH q(l, i) AS (VALUES {pairs}) SELECT level, node_index, hash"
            " FROM q CROSS JOIN log_nodes ON level = q.l AND node_index = q.i"
        )
        for level, index in zip(levels, indices, strict=True):
            params += (level, index)
    if leaves:
        marks = ", ".join("?" * len(leaves))
        parts.append(
            f"SELECT 0, leaf_index, leaf_hash FROM log_entries WHERE leaf_index IN ({marks})"
        )
        params += leaves
    if with_size:
        parts.append(_SIZE_SQL)
    return " UNION ALL ".join(parts), params


_POSTGRES_NODES_SQL = (
    "SELECT 0, leaf_index, leaf_hash FROM log_entries WHERE leaf_index = ANY(?::bigint[])"
    " UNION ALL SELECT n.level, n.node_index, n.hash"
    " FROM unnest(?::int[], ?::bigint[]) AS q(l, i)"
    " JOIN log_nodes n ON n.level = q.l AND n.node_index = q.i"
)
POSTGRES_POINTS_MAX = 16


def _postgres_fetch(
    leaves: list[int], levels: list[int], indices: list[int], with_size: bool
) -> tuple[str, list[object]]:
    """PostgreSQL: up to ``POSTGRES_POINTS_MAX`` lookups as a UNION ALL of primary-key
    lookups, one statement text per count, which psycopg prepares once it repeats
    (measured at 1M leaves: ~5 us a node); more (say, the thousands of a trace bundle's
    ``read_nodes``) as one join against arrays, whose text never changes (~85 us more per
    statement, but a plan that does not grow with the count)."""
    if len(leaves) + len(levels) > POSTGRES_POINTS_MAX:
        sql = _POSTGRES_NODES_SQL
        if with_size:
            sql = f"{_SIZE_SQL} UNION ALL {sql}"
        return sql, [_pg_array(leaves), _pg_array(levels), _pg_array(indices)]
    params: list[object] = list(leaves)
    for level, index in zip(levels, indices, strict=True):
        params += (level, index)
    return _postgres_points_sql(len(leaves), len(levels), False, False, with_size), params


def _pg_array(values: list[int]) -> str:
    # An array literal is dumped as one string: measured ~80 us faster per proof than
    # letting psycopg adapt three Python lists.
    return "{" + ",".join(map(str, values)) + "}"


@functools.cache
def _postgres_points_sql(
    leaves: int, nodes: int, tile: bool, leaf: bool, with_size: bool, *, strips: int = 0
) -> str:
    """Point lookups of leaf hashes and nodes, strips of nodes, a tile and a leaf's
    existence, in that order."""
    parts = ["SELECT 0, leaf_index, leaf_hash FROM log_entries WHERE leaf_index = ?"] * leaves
    parts += [
        "SELECT level, node_index, hash FROM log_nodes WHERE level = ? AND node_index = ?"
    ] * nodes
    parts += [_STRIP_SQL] * strips
    if tile:
        parts.append("SELECT -1, tile, hashes FROM log_tiles WHERE tile = ?")
    if leaf:
        parts.append("SELECT -2, leaf_index, NULL FROM log_entries WHERE leaf_index = ?")
    if with_size:
        parts.append(_SIZE_SQL)
    return " UNION ALL ".join(parts)


def _stored_entry(row: tuple[object, ...]) -> StoredEntry:
    index, leaf, leaf_hash, record_id, record = row
    return StoredEntry(
        index=_stored(index, int, "leaf_index"),
        leaf=_stored(leaf, bytes, "leaf"),
        leaf_hash=_stored(leaf_hash, bytes, "leaf_hash"),
        record_id=None if record_id is None else _stored(record_id, str, "record_id"),
        record=None if record is None else _stored(record, bytes, "record"),
    )


def _stored_checkpoint(row: tuple[object, ...]) -> StoredCheckpoint:
    tree_size, root, note, created_at = row
    return StoredCheckpoint(
        tree_size=_stored(tree_size, int, "tree_size"),
        root=_stored(root, bytes, "root"),
        note=_stored(note, str, "note"),
        created_at=_stored(created_at, str, "created_at"),
    )


def _stored(value: object, kind: type[_T], column: str) -> _T:
    if not isinstance(value, kind):
        raise StorageError(f"stored {column} is {type(value).__name__}, want {kind.__name__}")
    return value
